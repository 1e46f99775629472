/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <gio/gio.h>

#include "plexus-envelope.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_MESSENGER (plexus_messenger_get_type ())
G_DECLARE_INTERFACE (PlexusMessenger, plexus_messenger, PLEXUS, MESSENGER, GObject)

/**
 * PlexusMessageHandler:
 * @messenger: the messenger the envelope arrived through
 * @link_peer_id: the peer at the other end of the link it arrived on: the
 *   sender itself, or the last node that passed it on (then the sender is
 *   the envelope's `from`)
 * @envelope: the envelope, of the type the handler was registered for
 * @user_data: the data given at registration
 *
 * Acts on one envelope. The answer it returns goes back to the sender (by
 * the route it came), so a request is answered by returning
 * plexus_envelope_new_reply(); a handler that answers later returns %NULL
 * and sends its answer with plexus_messenger_send_async().
 *
 * Returns: (transfer full) (nullable): the answer, or %NULL for none now
 */
typedef PlexusEnvelope *(*PlexusMessageHandler) (PlexusMessenger *messenger,
                                                 const gchar     *link_peer_id,
                                                 PlexusEnvelope  *envelope,
                                                 gpointer         user_data);

/**
 * PlexusMessengerInterface:
 * @g_iface: the parent interface
 * @register_handler: see plexus_messenger_register_handler()
 * @unregister_handler: see plexus_messenger_unregister_handler()
 * @send_async: see plexus_messenger_send_async()
 * @send_finish: see plexus_messenger_send_finish()
 * @request_async: see plexus_messenger_request_async()
 * @request_finish: see plexus_messenger_request_finish()
 * @add_route: see plexus_messenger_add_route()
 * @remove_route: see plexus_messenger_remove_route()
 * @list_linked_peers: see plexus_messenger_list_linked_peers()
 * @get_peer_address: see plexus_messenger_get_peer_address()
 * @connect: see plexus_messenger_connect()
 * @disconnect: see plexus_messenger_disconnect()
 * @get_server_peer_id: see plexus_messenger_get_server_peer_id()
 * @request_envelope_async: see plexus_messenger_request_envelope_async()
 *
 * How plugins reach other nodes. The daemon's node implements it; a
 * plugin gets it from plexus_context_get_messenger().
 */
struct _PlexusMessengerInterface {
  GTypeInterface g_iface;

  gboolean        (*register_handler)   (PlexusMessenger      *self,
                                         const gchar          *type,
                                         PlexusMessageHandler  func,
                                         gpointer              user_data,
                                         GDestroyNotify        destroy,
                                         GError              **error);
  void            (*unregister_handler) (PlexusMessenger      *self,
                                         const gchar          *type);
  void            (*send_async)         (PlexusMessenger      *self,
                                         PlexusEnvelope       *envelope,
                                         GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
  gboolean        (*send_finish)        (PlexusMessenger      *self,
                                         GAsyncResult         *result,
                                         GError              **error);
  void            (*request_async)      (PlexusMessenger      *self,
                                         const gchar          *peer_id,
                                         const gchar          *type,
                                         JsonObject           *body,
                                         guint                 timeout_ms,
                                         GCancellable         *cancellable,
                                         GAsyncReadyCallback   callback,
                                         gpointer              user_data);
  PlexusEnvelope *(*request_finish)     (PlexusMessenger      *self,
                                         GAsyncResult         *result,
                                         GError              **error);
  void            (*add_route)          (PlexusMessenger      *self,
                                         const gchar          *peer_id,
                                         const gchar          *via_peer_id);
  void            (*remove_route)       (PlexusMessenger      *self,
                                         const gchar          *peer_id);
  gchar         **(*list_linked_peers)  (PlexusMessenger      *self);
  gchar          *(*get_peer_address)   (PlexusMessenger      *self,
                                         const gchar          *peer_id);
  void            (*connect)            (PlexusMessenger      *self,
                                         const gchar          *uri);
  void            (*disconnect)         (PlexusMessenger      *self,
                                         const gchar          *uri);
  gchar          *(*get_server_peer_id) (PlexusMessenger      *self);
  void            (*request_envelope_async) (PlexusMessenger     *self,
                                             PlexusEnvelope      *envelope,
                                             guint                timeout_ms,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);

  /*< private >*/
  gpointer padding[7];
};

gboolean        plexus_messenger_register_handler (PlexusMessenger      *self,
                                                   const gchar          *type,
                                                   PlexusMessageHandler  func,
                                                   gpointer              user_data,
                                                   GDestroyNotify        destroy,
                                                   GError              **error);
void            plexus_messenger_unregister_handler (PlexusMessenger *self,
                                                     const gchar     *type);
void            plexus_messenger_send_async (PlexusMessenger     *self,
                                             PlexusEnvelope      *envelope,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean        plexus_messenger_send_finish (PlexusMessenger  *self,
                                              GAsyncResult     *result,
                                              GError          **error);
void            plexus_messenger_request_async (PlexusMessenger     *self,
                                                const gchar         *peer_id,
                                                const gchar         *type,
                                                JsonObject          *body,
                                                guint                timeout_ms,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
void            plexus_messenger_request_envelope_async (PlexusMessenger     *self,
                                                         PlexusEnvelope      *envelope,
                                                         guint                timeout_ms,
                                                         GCancellable        *cancellable,
                                                         GAsyncReadyCallback  callback,
                                                         gpointer             user_data);
PlexusEnvelope *plexus_messenger_request_finish (PlexusMessenger  *self,
                                                 GAsyncResult     *result,
                                                 GError          **error);
void            plexus_messenger_add_route (PlexusMessenger *self,
                                            const gchar     *peer_id,
                                            const gchar     *via_peer_id);
void            plexus_messenger_remove_route (PlexusMessenger *self,
                                               const gchar     *peer_id);
gchar         **plexus_messenger_list_linked_peers (PlexusMessenger *self);
gchar          *plexus_messenger_get_server_peer_id (PlexusMessenger *self);
gchar          *plexus_messenger_get_peer_address (PlexusMessenger *self,
                                                   const gchar     *peer_id);
void            plexus_messenger_connect (PlexusMessenger *self,
                                          const gchar     *uri);
void            plexus_messenger_disconnect (PlexusMessenger *self,
                                             const gchar     *uri);

G_END_DECLS
