/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "plexus-listener.h"

struct _PlexusListener {
  GObject         parent_instance;

  SoupServer     *server;
  GSocket        *socket;
  GSocketAddress *address;
  GSource        *source;     /* accepting, or waiting to retry */
  gint64          warned_at;  /* monotonic µs of the last warning */
};

/* A process short of descriptors for long would otherwise say so four
 * times a second. */
#define WARN_INTERVAL_US (60 * G_USEC_PER_SEC)
/* Per dispatch, so that a full backlog does not starve the links, and an
 * error that persists does not spin. */
#define ACCEPTS_PER_DISPATCH 64
#define ERRORS_PER_DISPATCH  16

G_DEFINE_FINAL_TYPE (PlexusListener, plexus_listener, G_TYPE_OBJECT)

static void listener_watch (PlexusListener *self);

static gboolean
on_retry (gpointer user_data)
{
  PlexusListener *self = user_data;

  g_clear_pointer (&self->source, g_source_unref);
  listener_watch (self);
  return G_SOURCE_REMOVE;
}

static void
listener_pause (PlexusListener *self)
{
  g_source_destroy (self->source);
  g_clear_pointer (&self->source, g_source_unref);
  self->source = g_timeout_source_new (PLEXUS_LISTENER_RETRY_MS);
  g_source_set_static_name (self->source, "PlexusListener retry");
  g_source_set_callback (self->source, on_retry, self, NULL);
  g_source_attach (self->source, g_main_context_get_thread_default ());
}

static void
listener_hand_over (PlexusListener *self, GSocket *client)
{
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GSocketAddress) remote = NULL;
  g_autoptr(GError) error = NULL;

  /* Links carry small frames that should not wait for more. */
  g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  local = g_socket_get_local_address (client, &error);
  if (local != NULL)
    remote = g_socket_get_remote_address (client, &error);
  if (remote == NULL) {
    /* Gone before it was taken (reset in the backlog). */
    g_debug ("dropping a connection: %s", error->message);
    g_socket_close (client, NULL);
    return;
  }
  connection = g_socket_connection_factory_create_connection (client);
  if (!soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, &error)) {
    g_warning ("cannot serve a connection: %s", error->message);
    g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  }
}

static gboolean
on_incoming (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  PlexusListener *self = user_data;
  guint accepted = 0;
  guint errors = 0;

  while (accepted < ACCEPTS_PER_DISPATCH) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) client = g_socket_accept (self->socket, NULL, &error);

    if (client != NULL) {
      accepted++;
      listener_hand_over (self, client);
      continue;
    }
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      return G_SOURCE_CONTINUE;
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES) ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE)) {
      /* The connection stays in the backlog until a descriptor is free. */
      gint64 now = g_get_monotonic_time ();

      if (self->warned_at == 0 || now - self->warned_at >= WARN_INTERVAL_US) {
        g_warning ("cannot accept connections for now: %s; trying again every %d ms",
                   error->message, PLEXUS_LISTENER_RETRY_MS);
        self->warned_at = now;
      }
      listener_pause (self);
      return G_SOURCE_REMOVE;
    }
    /* Aborted by the peer before it was taken, and the like: the next;
     * but not for ever. */
    g_debug ("accept: %s", error->message);
    if (++errors >= ERRORS_PER_DISPATCH) {
      g_warning ("cannot accept connections for now: %s; trying again in %d ms",
                 error->message, PLEXUS_LISTENER_RETRY_MS);
      listener_pause (self);
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_CONTINUE;
}

static void
listener_watch (PlexusListener *self)
{
  self->source = g_socket_create_source (self->socket, G_IO_IN, NULL);
  g_source_set_static_name (self->source, "PlexusListener");
  g_source_set_callback (self->source, G_SOURCE_FUNC (on_incoming), self, NULL);
  g_source_attach (self->source, g_main_context_get_thread_default ());
}

/**
 * plexus_listener_new:
 * @server: where accepted connections go
 * @address: the address to bind (port 0: the system chooses)
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a listener accepting on @address, or %NULL
 */
PlexusListener *
plexus_listener_new (SoupServer *server, GSocketAddress *address, GError **error)
{
  g_autoptr(PlexusListener) self = NULL;

  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);
  g_return_val_if_fail (G_IS_SOCKET_ADDRESS (address), NULL);

  self = g_object_new (PLEXUS_TYPE_LISTENER, NULL);
  self->server = g_object_ref (server);
  self->socket = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                               G_SOCKET_PROTOCOL_TCP, error);
  if (self->socket == NULL)
    return NULL;
  g_socket_set_blocking (self->socket, FALSE);
  /* As libsoup's listener: [::] is IPv6 only, so an IPv4 listener may
   * share the port. */
  if (g_socket_address_get_family (address) == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option (self->socket, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, NULL);
  /* A relay's peers may all come back at once after a restart. */
  g_socket_set_listen_backlog (self->socket, SOMAXCONN);
  if (!g_socket_bind (self->socket, address, TRUE, error) || !g_socket_listen (self->socket, error))
    return NULL;
  self->address = g_socket_get_local_address (self->socket, error);
  if (self->address == NULL)
    return NULL;
  listener_watch (self);
  return g_steal_pointer (&self);
}

/**
 * plexus_listener_get_address:
 * @self: a listener
 *
 * Returns: (transfer none): the bound address
 */
GSocketAddress *
plexus_listener_get_address (PlexusListener *self)
{
  g_return_val_if_fail (PLEXUS_IS_LISTENER (self), NULL);
  return self->address;
}

/**
 * plexus_listener_find_socket:
 * @connection: a connection stolen from a #SoupServerMessage
 *
 * libsoup keeps the socket only for connections it accepted itself; for
 * the others, it is the `socket` of the socket stream under libsoup's
 * filter streams.
 *
 * Returns: (transfer full) (nullable): the socket
 */
GSocket *
plexus_listener_find_socket (GIOStream *connection)
{
  GInputStream *input;
  GSocket *socket = NULL;

  g_return_val_if_fail (G_IS_IO_STREAM (connection), NULL);

  if (G_IS_SOCKET_CONNECTION (connection))
    return g_object_ref (g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection)));
  input = g_io_stream_get_input_stream (connection);
  while (G_IS_FILTER_INPUT_STREAM (input))
    input = g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (input));
  if (input != NULL && g_object_class_find_property (G_OBJECT_GET_CLASS (input), "socket") != NULL)
    g_object_get (input, "socket", &socket, NULL);
  if (socket != NULL && !G_IS_SOCKET (socket))
    g_clear_object (&socket);
  return socket;
}

static void
plexus_listener_dispose (GObject *object)
{
  PlexusListener *self = PLEXUS_LISTENER (object);

  if (self->source != NULL) {
    g_source_destroy (self->source);
    g_clear_pointer (&self->source, g_source_unref);
  }
  if (self->socket != NULL)
    g_socket_close (self->socket, NULL);
  G_OBJECT_CLASS (plexus_listener_parent_class)->dispose (object);
}

static void
plexus_listener_finalize (GObject *object)
{
  PlexusListener *self = PLEXUS_LISTENER (object);

  g_clear_object (&self->address);
  g_clear_object (&self->socket);
  g_clear_object (&self->server);
  G_OBJECT_CLASS (plexus_listener_parent_class)->finalize (object);
}

static void
plexus_listener_class_init (PlexusListenerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_listener_dispose;
  object_class->finalize = plexus_listener_finalize;
}

static void
plexus_listener_init (PlexusListener *self)
{
}
