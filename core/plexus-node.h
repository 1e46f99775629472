/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "plexus.h"
#include "plexus-link.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_NODE (plexus_node_get_type ())
G_DECLARE_FINAL_TYPE (PlexusNode, plexus_node, PLEXUS, NODE, GObject)

/* PlexusNode implements PlexusMessenger: plugins see it through that. */

/* Reconnection backoff: the first retry after this many seconds, doubling
 * up to the cap, each delay varied by the jitter fraction either way. */
#define PLEXUS_NODE_BACKOFF_INITIAL_SECONDS 1.0
#define PLEXUS_NODE_BACKOFF_MAX_SECONDS     60.0
#define PLEXUS_NODE_BACKOFF_JITTER          0.2

/* Dispatch: how far a message's ts may be from our clock (either way),
 * and how many bad frames a peer may send within the window before its
 * link is closed with PLEXUS_NODE_CLOSE_TOO_MANY_BAD_MESSAGES. */
#define PLEXUS_NODE_MAX_CLOCK_SKEW_MS           (5 * 60 * 1000)
#define PLEXUS_NODE_MAX_BAD_MESSAGES            20
#define PLEXUS_NODE_BAD_MESSAGE_WINDOW_SECONDS  60
#define PLEXUS_NODE_CLOSE_TOO_MANY_BAD_MESSAGES 4006

/* Routing (doc/protocol.md, "Routing"): how long a node waits for its
 * neighbours to say whether they reach a peer, and how long a route it
 * found or learned from passing traffic is trusted without use. */
#define PLEXUS_NODE_ROUTE_FIND_TIMEOUT_MS       2000
#define PLEXUS_NODE_ROUTE_LIFETIME_SECONDS      60

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
/* Handles envelopes of @type from now on, replacing any handler of it
 * (`ping` has a built-in one that answers `pong`). Plugins use
 * plexus_messenger_register_handler(), which refuses to replace. */
void         plexus_node_register_handler (PlexusNode           *self,
                                           const gchar          *type,
                                           PlexusMessageHandler  func,
                                           gpointer              user_data,
                                           GDestroyNotify        destroy);
/* Sends a @type envelope to @peer_id, linked or reached through a
 * neighbour, and completes with its answer: the answer envelope, or an
 * error (NOT_FOUND: no route; TIMED_OUT: no answer in @timeout_ms;
 * FAILED: an `error` answer, or the link closed first). */
void         plexus_node_request_async (PlexusNode          *self,
                                        const gchar         *peer_id,
                                        const gchar         *type,
                                        JsonObject          *body,
                                        guint                timeout_ms,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
/* The same for a request the caller made (its `to` the peer asked). */
void         plexus_node_request_envelope_async (PlexusNode          *self,
                                                 PlexusEnvelope      *envelope,
                                                 guint                timeout_ms,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
PlexusEnvelope *plexus_node_request_finish (PlexusNode    *self,
                                            GAsyncResult  *result,
                                            GError       **error);
/* Stops listening and dialing and closes every link. */
void         plexus_node_stop (PlexusNode *self);

G_END_DECLS
