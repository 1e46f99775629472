/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * PRIVATE to libplexus: not installed, not part of the API. The functions
 * are exported only because the library exports every plexus_* symbol.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonNode *plexus_json_parse_strict (const gchar  *data,
                                    gsize         length,
                                    guint         max_depth,
                                    const gchar **error_code,
                                    GError      **error);
gboolean  plexus_json_set_error    (const gchar **error_code,
                                    const gchar  *code,
                                    GError      **error,
                                    const gchar  *format,
                                    ...) G_GNUC_PRINTF (4, 5);
gchar    *plexus_json_quote        (const gchar  *str);
gchar    *plexus_json_to_string    (JsonNode     *node,
                                    gsize        *length);

G_END_DECLS
