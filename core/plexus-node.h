/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "plexus.h"
#include "plexus-link.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_NODE (plexus_node_get_type ())
G_DECLARE_FINAL_TYPE (PlexusNode, plexus_node, PLEXUS, NODE, GObject)

/* Reconnection backoff: the first retry after this many seconds, doubling
 * up to the cap, each delay varied by the jitter fraction either way. */
#define PLEXUS_NODE_BACKOFF_INITIAL_SECONDS 1.0
#define PLEXUS_NODE_BACKOFF_MAX_SECONDS     60.0
#define PLEXUS_NODE_BACKOFF_JITTER          0.2

/* This daemon as a node of the network: the one listener other nodes link
 * to ([node] listen, --listen), the links it accepts and the ones it dials
 * ([node] bootstrap and [node] server). At most one live link per peer. */
PlexusNode  *plexus_node_new (PlexusContext *context);

/* Binds HOST:PORT (port 0: the OS chooses). A port in use, or a host that
 * is not an address of this machine, is an error naming the address. */
gboolean     plexus_node_listen (PlexusNode  *self,
                                 const gchar *host_port,
                                 GError     **error);
/* Dials every [node] bootstrap and [node] server URI, reconnecting with
 * backoff while the node runs. */
void         plexus_node_start (PlexusNode *self);
/* ws://HOST:PORT/ once listening, else NULL. */
const gchar *plexus_node_get_address (PlexusNode *self);
SoupServer  *plexus_node_get_server (PlexusNode *self);
/* The live links, one per peer, in no particular order. */
GPtrArray   *plexus_node_get_links (PlexusNode *self);
PlexusLink  *plexus_node_get_link (PlexusNode  *self,
                                   const gchar *peer_id);
/* Stops listening and dialing and closes every link. */
void         plexus_node_stop (PlexusNode *self);

G_END_DECLS
