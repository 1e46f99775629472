/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* An accepted link's connection as libsoup's WebSocket sees it: the
 * stolen HTTP connection, with a PlexusLinkInputStream for reading so that
 * idle links cost the main loop almost nothing (see
 * plexus-link-input-stream.h), and a PlexusLinkOutputStream for writing,
 * which sends what an iteration wrote at once.
 * Closing it stops the watch, then closes the connection, in the calling
 * thread. Private to the daemon. */

#define PLEXUS_TYPE_LINK_STREAM (plexus_link_stream_get_type ())
G_DECLARE_FINAL_TYPE (PlexusLinkStream, plexus_link_stream, PLEXUS, LINK_STREAM, GIOStream)

GIOStream    *plexus_link_stream_new (GIOStream  *base,
                                      GSocket    *socket,
                                      GError    **error);
/* Make the WebSocket with this as the thread default, so that its first
 * reading source waits there (plexus-link-input-stream.h); NULL when the
 * process was out of descriptors. */
GMainContext *plexus_link_stream_get_context (PlexusLinkStream *self);

G_END_DECLS
