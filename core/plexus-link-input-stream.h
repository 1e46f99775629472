/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The reading half of an accepted link's connection: it reads from the
 * connection's own input stream, but learns that the socket is readable
 * from the context's PlexusPollSet instead of polling the socket itself.
 * Its pollable source has no descriptor, so making the source anew after
 * every read (as libsoup does) neither changes the context's poll set nor
 * wakes it.
 *
 * And an idle link costs the main loop nothing at all: GLib walks every
 * source of a context on every iteration, so the source of an idle link
 * waits in a context of the stream's own, which only the poll set's
 * dispatch runs, when the socket has something. libsoup attaches its
 * reading source to the thread-default context; the stream makes its own
 * context the thread default for exactly that moment: from the read that
 * finds the socket drained, inside the dispatch of its source, to the end
 * of that dispatch (after the read libsoup only attaches the new source).
 * Anything else libsoup does stays in the caller's context. Private to
 * the daemon. */

#define PLEXUS_TYPE_LINK_INPUT_STREAM (plexus_link_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (PlexusLinkInputStream, plexus_link_input_stream, PLEXUS, LINK_INPUT_STREAM, GInputStream)

/* @base must be pollable; @socket is the connection's socket. Watches it
 * in the poll set of the thread-default main context. */
PlexusLinkInputStream *plexus_link_input_stream_new (GInputStream  *base,
                                                     GSocket       *socket,
                                                     GError       **error);
/* Stops watching the socket; call it before the socket closes. */
void                   plexus_link_input_stream_detach (PlexusLinkInputStream *self);
/* Where idle sources wait: push it as the thread default while libsoup
 * makes the first source (soup_websocket_connection_new()). */
GMainContext          *plexus_link_input_stream_get_context (PlexusLinkInputStream *self);

G_END_DECLS
