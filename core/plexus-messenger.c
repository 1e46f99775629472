/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-error.h"
#include "plexus-messenger.h"

/**
 * SECTION:plexus-messenger
 * @title: PlexusMessenger
 * @short_description: Messages to and from other nodes
 *
 * A plugin speaks to other nodes through the messenger: it registers the
 * message types it handles, sends envelopes and requests to any peer the
 * node can reach (directly linked, or through a neighbour that is), and
 * tells the node about routes it learned (e.g. which super peer a peer is
 * attached to). doc/protocol.md specifies the envelope and routing.
 *
 * The messenger emits #PlexusMessenger::peer-linked and
 * #PlexusMessenger::peer-unlinked as links to neighbours come and go.
 */

enum {
  SIGNAL_PEER_LINKED,
  SIGNAL_PEER_UNLINKED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_INTERFACE (PlexusMessenger, plexus_messenger, G_TYPE_OBJECT)

static void
plexus_messenger_default_init (PlexusMessengerInterface *iface)
{
  /**
   * PlexusMessenger::peer-linked:
   * @messenger: the messenger
   * @peer_id: the neighbour
   *
   * A link to @peer_id is up: envelopes to it go straight to it.
   */
  signals[SIGNAL_PEER_LINKED] =
    g_signal_new ("peer-linked", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * PlexusMessenger::peer-unlinked:
   * @messenger: the messenger
   * @peer_id: the neighbour
   *
   * The link to @peer_id is gone, and with it the routes through it.
   */
  signals[SIGNAL_PEER_UNLINKED] =
    g_signal_new ("peer-unlinked", G_TYPE_FROM_INTERFACE (iface), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

/**
 * plexus_messenger_register_handler:
 * @self: a #PlexusMessenger
 * @type: a message type, see plexus_envelope_type_is_valid()
 * @func: (scope notified): acts on envelopes of @type addressed to this node
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data when the handler goes
 * @error: return location for a #GError
 *
 * Has envelopes of @type handled by @func from now on. Plugins name their
 * types after themselves (`swim.ping`, `signaling.offer`); a type that
 * already has a handler is refused with %PLEXUS_ERROR_EXISTS, so that two
 * plugins cannot silently take each other's messages. @destroy is called
 * on @user_data when registration fails too.
 *
 * Returns: %TRUE if @func now handles @type
 */
gboolean
plexus_messenger_register_handler (PlexusMessenger      *self,
                                   const gchar          *type,
                                   PlexusMessageHandler  func,
                                   gpointer              user_data,
                                   GDestroyNotify        destroy,
                                   GError              **error)
{
  g_return_val_if_fail (PLEXUS_IS_MESSENGER (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!plexus_envelope_type_is_valid (type)) {
    if (destroy != NULL)
      destroy (user_data);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "'%s' is not a valid message type", type != NULL ? type : "(null)");
    return FALSE;
  }
  return PLEXUS_MESSENGER_GET_IFACE (self)->register_handler (self, type, func, user_data,
                                                               destroy, error);
}

/**
 * plexus_messenger_unregister_handler:
 * @self: a #PlexusMessenger
 * @type: a message type
 *
 * Envelopes of @type are answered `unknown-type` from now on; the
 * handler's data is freed. Nothing happens if @type has no handler.
 */
void
plexus_messenger_unregister_handler (PlexusMessenger *self, const gchar *type)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (type != NULL);
  PLEXUS_MESSENGER_GET_IFACE (self)->unregister_handler (self, type);
}

/**
 * plexus_messenger_send_async:
 * @self: a #PlexusMessenger
 * @envelope: the envelope; its `to` names the addressee
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the envelope left, or cannot
 * @user_data: data for @callback
 *
 * Sends @envelope towards its addressee: over the link to it, or through
 * the neighbour that routes to it, finding one first if need be. It
 * completes when the envelope is handed to a link: that says nothing of
 * its arrival, which only an answer proves (see
 * plexus_messenger_request_async()).
 */
void
plexus_messenger_send_async (PlexusMessenger     *self,
                             PlexusEnvelope      *envelope,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (PLEXUS_IS_ENVELOPE (envelope));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  PLEXUS_MESSENGER_GET_IFACE (self)->send_async (self, envelope, cancellable, callback, user_data);
}

/**
 * plexus_messenger_send_finish:
 * @self: a #PlexusMessenger
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Fails with %PLEXUS_ERROR_NOT_FOUND when no route to the addressee is
 * known or found, and %PLEXUS_ERROR_FAILED when the link refused it (its
 * send queue is full, or it closed).
 *
 * Returns: %TRUE if the envelope is on its way
 */
gboolean
plexus_messenger_send_finish (PlexusMessenger *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (PLEXUS_IS_MESSENGER (self), FALSE);
  return PLEXUS_MESSENGER_GET_IFACE (self)->send_finish (self, result, error);
}

/**
 * plexus_messenger_request_async:
 * @self: a #PlexusMessenger
 * @peer_id: the addressee, linked or not
 * @type: the request's message type
 * @body: (nullable): its body; %NULL for `{}`
 * @timeout_ms: how long to wait for the answer, route finding included;
 *   0 for no limit
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Sends a new @type envelope to @peer_id and waits for the envelope that
 * answers it. Finish with plexus_messenger_request_finish().
 */
void
plexus_messenger_request_async (PlexusMessenger     *self,
                                const gchar         *peer_id,
                                const gchar         *type,
                                JsonObject          *body,
                                guint                timeout_ms,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (peer_id != NULL);
  g_return_if_fail (plexus_envelope_type_is_valid (type));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  PLEXUS_MESSENGER_GET_IFACE (self)->request_async (self, peer_id, type, body, timeout_ms,
                                                    cancellable, callback, user_data);
}

/**
 * plexus_messenger_request_envelope_async:
 * @self: a #PlexusMessenger
 * @envelope: the request, made with plexus_envelope_new() (its `to` is
 *   the addressee), with what it carries set (an attachment, say)
 * @timeout_ms: how long to wait for the answer, route finding included;
 *   0 for no limit
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Like plexus_messenger_request_async(), for a request made by the
 * caller, who must not change it afterwards nor use it for another
 * request (the answer is matched by its ID). Finish with
 * plexus_messenger_request_finish().
 */
void
plexus_messenger_request_envelope_async (PlexusMessenger     *self,
                                         PlexusEnvelope      *envelope,
                                         guint                timeout_ms,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (PLEXUS_IS_ENVELOPE (envelope));
  g_return_if_fail (plexus_envelope_get_to (envelope)[0] != '\0');
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  PLEXUS_MESSENGER_GET_IFACE (self)->request_envelope_async (self, envelope, timeout_ms, cancellable, callback,
                                                             user_data);
}

/**
 * plexus_messenger_request_finish:
 * @self: a #PlexusMessenger
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Fails with %PLEXUS_ERROR_NOT_FOUND when there is no route to the peer,
 * %PLEXUS_ERROR_TIMED_OUT when no answer came in time,
 * %PLEXUS_ERROR_FAILED when the peer (or a node on the way) answered with
 * an `error`, whose code and explanation the message gives, or the link
 * the request left on closed first, and %G_IO_ERROR_CANCELLED when
 * cancelled.
 *
 * Returns: (transfer full): the answer, or %NULL with @error set
 */
PlexusEnvelope *
plexus_messenger_request_finish (PlexusMessenger *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (PLEXUS_IS_MESSENGER (self), NULL);
  return PLEXUS_MESSENGER_GET_IFACE (self)->request_finish (self, result, error);
}

/**
 * plexus_messenger_add_route:
 * @self: a #PlexusMessenger
 * @peer_id: a peer this node may not be linked to
 * @via_peer_id: the neighbour that reaches it
 *
 * Tells the node that @via_peer_id reaches @peer_id directly, e.g. because
 * membership gossip said @peer_id is attached to it. The route is used
 * while the link to @via_peer_id lasts, until removed or replaced, and is
 * offered to neighbours that look for @peer_id (doc/protocol.md, Routing).
 */
void
plexus_messenger_add_route (PlexusMessenger *self,
                            const gchar     *peer_id,
                            const gchar     *via_peer_id)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (peer_id != NULL);
  g_return_if_fail (via_peer_id != NULL);
  PLEXUS_MESSENGER_GET_IFACE (self)->add_route (self, peer_id, via_peer_id);
}

/**
 * plexus_messenger_remove_route:
 * @self: a #PlexusMessenger
 * @peer_id: a peer
 *
 * Forgets the route to @peer_id added with plexus_messenger_add_route()
 * or learned, if any. A direct link is not a route and stays.
 */
void
plexus_messenger_remove_route (PlexusMessenger *self, const gchar *peer_id)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (peer_id != NULL);
  PLEXUS_MESSENGER_GET_IFACE (self)->remove_route (self, peer_id);
}

/**
 * plexus_messenger_list_linked_peers:
 * @self: a #PlexusMessenger
 *
 * Returns: (transfer full) (array zero-terminated=1): the peer IDs of the
 *   neighbours linked now, sorted
 */
gchar **
plexus_messenger_list_linked_peers (PlexusMessenger *self)
{
  g_return_val_if_fail (PLEXUS_IS_MESSENGER (self), NULL);
  return PLEXUS_MESSENGER_GET_IFACE (self)->list_linked_peers (self);
}

/**
 * plexus_messenger_get_peer_address:
 * @self: a #PlexusMessenger
 * @peer_id: a neighbour
 *
 * Where the link to @peer_id goes, as this node sees it: the remote end
 * of the connection (`HOST:PORT`, IPv6 hosts in brackets). A plugin that
 * learns a service port from a neighbour reaches it at that host.
 *
 * Returns: (transfer full) (nullable): the address, or %NULL when
 *   @peer_id is not linked
 */
gchar *
plexus_messenger_get_peer_address (PlexusMessenger *self, const gchar *peer_id)
{
  g_return_val_if_fail (PLEXUS_IS_MESSENGER (self), NULL);
  g_return_val_if_fail (peer_id != NULL, NULL);
  return PLEXUS_MESSENGER_GET_IFACE (self)->get_peer_address (self, peer_id);
}

/**
 * plexus_messenger_get_server_peer_id:
 * @self: a #PlexusMessenger
 *
 * The node's server is the one configured (`[node] server`, `--server`),
 * proven by the link's handshake: not any node that says it has the server
 * role.
 *
 * Returns: (transfer full) (nullable): the peer ID of the configured server
 *   while this node is linked to it, or %NULL
 *
 * Since: 1.2
 */
gchar *
plexus_messenger_get_server_peer_id (PlexusMessenger *self)
{
  g_return_val_if_fail (PLEXUS_IS_MESSENGER (self), NULL);
  if (PLEXUS_MESSENGER_GET_IFACE (self)->get_server_peer_id == NULL)
    return NULL;
  return PLEXUS_MESSENGER_GET_IFACE (self)->get_server_peer_id (self);
}

/**
 * plexus_messenger_connect:
 * @self: a #PlexusMessenger
 * @uri: a node address, `ws://HOST:PORT/`, with `#PEER-ID` to require
 *   that peer
 *
 * Keeps a link to @uri: dials it now and again with backoff whenever the
 * link fails, like a `[node] bootstrap` URI, until
 * plexus_messenger_disconnect(). If @uri is dialed already and waiting
 * out its backoff, it is dialed again at once: call this when the peer is
 * known to be back (a member the group sees alive again), so that the link
 * does not wait up to a minute.
 */
void
plexus_messenger_connect (PlexusMessenger *self, const gchar *uri)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (uri != NULL);
  PLEXUS_MESSENGER_GET_IFACE (self)->connect (self, uri);
}

/**
 * plexus_messenger_disconnect:
 * @self: a #PlexusMessenger
 * @uri: a URI given to plexus_messenger_connect()
 *
 * Stops dialing @uri and closes the link it made, if any. The URIs of
 * the configuration (`[node] bootstrap`, `[node] server`) are not a
 * plugin's to drop: they stay.
 */
void
plexus_messenger_disconnect (PlexusMessenger *self, const gchar *uri)
{
  g_return_if_fail (PLEXUS_IS_MESSENGER (self));
  g_return_if_fail (uri != NULL);
  PLEXUS_MESSENGER_GET_IFACE (self)->disconnect (self, uri);
}
