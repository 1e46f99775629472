/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * PlexusConfigType:
 * @PLEXUS_CONFIG_TYPE_STRING: any string
 * @PLEXUS_CONFIG_TYPE_STRING_LIST: a `;`-separated list of strings
 * @PLEXUS_CONFIG_TYPE_BOOLEAN: `true` or `false`
 * @PLEXUS_CONFIG_TYPE_INTEGER: an integer within [min, max]
 * @PLEXUS_CONFIG_TYPE_DOUBLE: a number within [min, max]
 * @PLEXUS_CONFIG_TYPE_ENUM: one of a fixed set of strings
 * @PLEXUS_CONFIG_TYPE_ENUM_LIST: a list whose items are each one of a fixed set
 * @PLEXUS_CONFIG_TYPE_ADDRESS: `HOST:PORT` (IPv6 hosts in brackets), port 0..65535
 * @PLEXUS_CONFIG_TYPE_URI: a `ws://` or `wss://` URI with a host
 * @PLEXUS_CONFIG_TYPE_URI_LIST: a list of such URIs
 *
 * The type of a configuration key; the value is checked against it when a
 * file is loaded or an override is set.
 */
typedef enum {
  PLEXUS_CONFIG_TYPE_STRING,
  PLEXUS_CONFIG_TYPE_STRING_LIST,
  PLEXUS_CONFIG_TYPE_BOOLEAN,
  PLEXUS_CONFIG_TYPE_INTEGER,
  PLEXUS_CONFIG_TYPE_DOUBLE,
  PLEXUS_CONFIG_TYPE_ENUM,
  PLEXUS_CONFIG_TYPE_ENUM_LIST,
  PLEXUS_CONFIG_TYPE_ADDRESS,
  PLEXUS_CONFIG_TYPE_URI,
  PLEXUS_CONFIG_TYPE_URI_LIST,
} PlexusConfigType;

#define PLEXUS_TYPE_CONFIG (plexus_config_get_type ())
G_DECLARE_FINAL_TYPE (PlexusConfig, plexus_config, PLEXUS, CONFIG, GObject)

PlexusConfig *plexus_config_new (void);

/* Schema: every key a file or option may set. plexus_config_new() already
 * knows the core keys of every group in doc/architecture.md; plugins add
 * theirs from the [Config] group of their metadata. */
void          plexus_config_add_key (PlexusConfig       *self,
                                     const gchar        *group,
                                     const gchar        *key,
                                     PlexusConfigType    type,
                                     const gchar        *default_value,
                                     const gchar        *description);
void          plexus_config_add_integer_key (PlexusConfig *self,
                                             const gchar  *group,
                                             const gchar  *key,
                                             gint64        min,
                                             gint64        max,
                                             gint64        default_value,
                                             const gchar  *description);
void          plexus_config_add_double_key (PlexusConfig *self,
                                            const gchar  *group,
                                            const gchar  *key,
                                            gdouble       min,
                                            gdouble       max,
                                            gdouble       default_value,
                                            const gchar  *description);
void          plexus_config_add_enum_key (PlexusConfig        *self,
                                          const gchar         *group,
                                          const gchar         *key,
                                          gboolean             is_list,
                                          const gchar * const *choices,
                                          const gchar         *default_value,
                                          const gchar         *description);
gboolean      plexus_config_has_key (PlexusConfig *self,
                                     const gchar  *group,
                                     const gchar  *key);

/* Layers, later ones win: system file, user file, command-line overrides. */
gboolean      plexus_config_load_file (PlexusConfig *self,
                                       const gchar  *path,
                                       gboolean      must_exist,
                                       GError      **error);
gboolean      plexus_config_load_data (PlexusConfig *self,
                                       const gchar  *data,
                                       gssize        length,
                                       const gchar  *origin,
                                       GError      **error);
gboolean      plexus_config_set_override (PlexusConfig *self,
                                          const gchar  *group,
                                          const gchar  *key,
                                          const gchar  *value,
                                          GError      **error);
gboolean      plexus_config_set_override_list (PlexusConfig        *self,
                                               const gchar         *group,
                                               const gchar         *key,
                                               const gchar * const *values,
                                               GError             **error);
/* As above, with @origin (e.g. "--listen") naming the source in errors and
 * in plexus_config_get_origin() instead of "command line". */
gboolean      plexus_config_set_override_from (PlexusConfig *self,
                                               const gchar  *origin,
                                               const gchar  *group,
                                               const gchar  *key,
                                               const gchar  *value,
                                               GError      **error);
gboolean      plexus_config_set_override_list_from (PlexusConfig        *self,
                                                    const gchar         *origin,
                                                    const gchar         *group,
                                                    const gchar         *key,
                                                    const gchar * const *values,
                                                    GError             **error);

/* Effective values: the last layer that set the key, else the default.
 * Asking for a key not in the schema is a programming error. */
gchar        *plexus_config_get_string (PlexusConfig *self,
                                        const gchar  *group,
                                        const gchar  *key);
gchar       **plexus_config_get_string_list (PlexusConfig *self,
                                             const gchar  *group,
                                             const gchar  *key);
gboolean      plexus_config_get_boolean (PlexusConfig *self,
                                         const gchar  *group,
                                         const gchar  *key);
gint64        plexus_config_get_integer (PlexusConfig *self,
                                         const gchar  *group,
                                         const gchar  *key);
gdouble       plexus_config_get_double (PlexusConfig *self,
                                        const gchar  *group,
                                        const gchar  *key);
/* Where the effective value came from: a file path, "command line" or "default". */
const gchar  *plexus_config_get_origin (PlexusConfig *self,
                                        const gchar  *group,
                                        const gchar  *key);

/* The names plugin metadata uses for a PlexusConfigType: "string",
 * "string-list", "boolean", "integer", "double", "enum", "enum-list",
 * "address", "uri", "uri-list". */
const gchar  *plexus_config_type_to_string (PlexusConfigType type);
gboolean      plexus_config_type_from_string (const gchar      *str,
                                              PlexusConfigType *type,
                                              GError          **error);

/* Parses HOST:PORT ("[::1]:0", "127.0.0.1:4000", "localhost:0"). */
gboolean      plexus_config_parse_address (const gchar *address,
                                           gchar      **host,
                                           guint16     *port,
                                           GError     **error);

G_END_DECLS
