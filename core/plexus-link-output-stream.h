/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "plexus-poll-set.h"

G_BEGIN_DECLS

/* The writing half of an accepted link's connection. libsoup writes each
 * WebSocket frame as soon as it is queued, one send() per frame; this
 * stream keeps what is written during the poll set's dispatch (where a
 * relay handles what its links bring) and sends it at the end of it
 * (plexus_poll_set_defer()), so a relay that passes several signals to
 * one link in one iteration sends them at once. A write from anywhere
 * else goes out at once.
 *
 * A write is taken whole while less than PLEXUS_LINK_OUTPUT_HIGH_WATER
 * bytes wait; beyond that it would block, and the stream's pollable
 * source runs once the socket has taken enough. Only while the socket
 * refuses more does the stream watch it for room, with a socket source
 * in the poll set's context. An error from the socket is told by the next
 * write. Closing sends what is left, if the socket takes it at once.
 * Private to the daemon. */

#define PLEXUS_LINK_OUTPUT_HIGH_WATER (256 * 1024)

#define PLEXUS_TYPE_LINK_OUTPUT_STREAM (plexus_link_output_stream_get_type ())
G_DECLARE_FINAL_TYPE (PlexusLinkOutputStream, plexus_link_output_stream, PLEXUS, LINK_OUTPUT_STREAM,
                      GOutputStream)

/* @socket is the connection's; what it writes goes to @socket directly
 * (the HTTP layer keeps nothing back once the upgrade is sent). */
PlexusLinkOutputStream *plexus_link_output_stream_new (GSocket       *socket,
                                                       PlexusPollSet *poll_set);
/* Sends what waits, as far as the socket takes it now, and stops. */
void                    plexus_link_output_stream_stop (PlexusLinkOutputStream *self);
/* How many bytes wait to be sent. */
gsize                   plexus_link_output_stream_get_queued (PlexusLinkOutputStream *self);

G_END_DECLS
