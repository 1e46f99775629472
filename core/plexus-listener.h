/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

/* The node's listening socket. It accepts connections itself and hands
 * each to a SoupServer (soup_server_accept_iostream()), because libsoup
 * 3.2 stops accepting for good after the first accept() that fails: a
 * process out of descriptors for a moment would never accept again. This
 * listener waits a quarter of a second and tries again. Private to the
 * daemon. */

#define PLEXUS_TYPE_LISTENER (plexus_listener_get_type ())
G_DECLARE_FINAL_TYPE (PlexusListener, plexus_listener, PLEXUS, LISTENER, GObject)

#define PLEXUS_LISTENER_RETRY_MS 250

PlexusListener *plexus_listener_new (SoupServer     *server,
                                     GSocketAddress *address,
                                     GError        **error);
/* The address bound, with the port the system chose for port 0. */
GSocketAddress *plexus_listener_get_address (PlexusListener *self);

/* The socket under a connection that came through a listener (or through
 * libsoup's own), found below its filter streams; NULL if none. */
GSocket        *plexus_listener_find_socket (GIOStream *connection);

G_END_DECLS
