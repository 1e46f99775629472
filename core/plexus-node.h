/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "plexus.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_NODE (plexus_node_get_type ())
G_DECLARE_FINAL_TYPE (PlexusNode, plexus_node, PLEXUS, NODE, GObject)

/* This daemon as a node of the network: the one listener other nodes link
 * to ([node] listen, --listen). Links are added on top of it. */
PlexusNode  *plexus_node_new (PlexusContext *context);

/* Binds HOST:PORT (port 0: the OS chooses). A port in use, or a host that
 * is not an address of this machine, is an error naming the address. */
gboolean     plexus_node_listen (PlexusNode  *self,
                                 const gchar *host_port,
                                 GError     **error);
/* ws://HOST:PORT/ once listening, else NULL. */
const gchar *plexus_node_get_address (PlexusNode *self);
SoupServer  *plexus_node_get_server (PlexusNode *self);
void         plexus_node_stop (PlexusNode *self);

G_END_DECLS
