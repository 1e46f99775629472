/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <plexus.h>

#include "plexus-stun-client.h"
#include "plexus-stun-message.h"
#include "plexus-stun-server.h"

/* The stun plugin: the glue between sockets, the clock and the broker on
 * one side and the sans-I/O STUN engines on the other.
 *
 * Server half, on the super and server roles: Binding over UDP and TCP on
 * [stun] listen, a local provider of `stun` at `stun:HOST:PORT`, and the
 * `stun` service in the capabilities with the request load.
 *
 * Client half, on every role: once the daemon runs, and again when a new
 * STUN provider appears and every REFRESH_SECONDS, it asks the servers of
 * [stun] servers and up to MAX_DISCOVERY_SERVERS providers the broker
 * selects, and classifies the NAT.
 *
 * What the lead may wire to D-Bus are the properties (see class_init) and
 * the log lines "STUN server listening on udp A:P and tcp A:P" and
 * "NAT: TYPE, mapped address A:P". */

#define LOAD_INTERVAL_SECONDS 1
#define REFRESH_SECONDS 600
#define PROVIDER_DEBOUNCE_MS 1000
#define MAX_DISCOVERY_SERVERS 4
#define MAX_TCP_CONNECTIONS 128
#define TCP_IDLE_USEC (30 * G_TIME_SPAN_SECOND)
#define UDP_BATCH 32
#define UDP_BUFFER_SIZE (PLEXUS_STUN_MAX_MESSAGE_SIZE + 1)
#define STUN_URI_SCHEME "stun:"
#define WHERE_TIMEOUT_MS 5000

typedef struct _PlexusStunPlugin PlexusStunPlugin;

typedef struct {
  PlexusStunPlugin  *plugin;
  GSocket           *socket;
  GSource           *source;
  PlexusStunAddress  peer;
  GByteArray        *buffer;
  gint64             last_active;
} TcpConnection;

struct _PlexusStunPlugin {
  PlexusPlugin       parent_instance;

  /* server half */
  PlexusStunServer  *server;
  GSocket           *udp;
  GSource           *udp_source;
  GSocket           *tcp;
  GSource           *tcp_source;
  GPtrArray         *connections;    /* (element-type TcpConnection) */
  gchar             *udp_address;
  gchar             *tcp_address;
  PlexusProvider    *provider;
  guint              capacity;
  gdouble            last_load;
  guint              load_id;
  gboolean           log_answers;
  guint8            *udp_buffers;    /* UDP_BATCH x UDP_BUFFER_SIZE */

  /* client half */
  GCancellable      *cancellable;
  PlexusStunClient  *client;
  GPtrArray         *client_providers; /* (element-type PlexusProvider) (nullable), by server index */
  GSocket           *client4;
  GSource           *client4_source;
  GSocket           *client6;
  GSource           *client6_source;
  guint              client_timer_id;
  guint              start_id;
  guint              refresh_id;
  gulong             provider_added_id;
  guint              pending_resolves;
  GArray            *resolved;        /* (element-type PlexusStunAddress) */
  GPtrArray         *resolved_providers;
  gboolean           rerun;
  PlexusStunNatType  nat_type;
  PlexusStunAddress  mapped;
  gboolean           discovered;

  /* neighbours' STUN servers, asked over node links (`stun.where`) */
  PlexusMessenger   *messenger;
  gulong             peer_linked_id;
  gulong             peer_unlinked_id;
  GHashTable        *neighbour_providers; /* peer ID → PlexusProvider we added */
};

enum {
  PROP_0,
  PROP_NAT_TYPE,
  PROP_MAPPED_ADDRESS,
  PROP_SUPER_ELIGIBLE,
  PROP_UDP_ADDRESS,
  PROP_TCP_ADDRESS,
  PROP_COUNTERS,
  PROP_STUN_URIS,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DECLARE_FINAL_TYPE (PlexusStunPlugin, plexus_stun_plugin, PLEXUS, STUN_PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (PlexusStunPlugin, plexus_stun_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (PlexusStunPlugin, plexus_stun_plugin)

static void discovery_schedule (PlexusStunPlugin *self, guint delay_ms);

static PlexusConfig *
get_config (PlexusStunPlugin *self)
{
  return plexus_context_get_config (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));
}

static void
unref_nullable (gpointer object)
{
  if (object != NULL)
    g_object_unref (object);
}

/* [stun] servers, from the plugin's metadata; none if it is not there. */
static GStrv
configured_servers (PlexusStunPlugin *self)
{
  if (!plexus_config_has_key (get_config (self), "stun", "servers"))
    return g_new0 (gchar *, 1);
  return plexus_config_get_string_list (get_config (self), "stun", "servers");
}

/* A plugin key left at its default reads as 0; @fallback stands in. */
static gint64
config_integer (PlexusStunPlugin *self, const gchar *key, gint64 fallback)
{
  PlexusConfig *config = get_config (self);

  if (!plexus_config_has_key (config, "stun", key) ||
      g_strcmp0 (plexus_config_get_origin (config, "stun", key), "default") == 0)
    return fallback;
  return plexus_config_get_integer (config, "stun", key);
}

static gchar *
format_socket_address (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = g_socket_get_local_address (socket, NULL);
  PlexusStunAddress stun;

  if (address == NULL || !plexus_stun_address_from_socket_address (address, &stun))
    return g_strdup ("(unknown)");
  return plexus_stun_address_to_string (&stun);
}

/* ---- server half: UDP ---- */

/* With G_MESSAGES_DEBUG=stun, one line per packet: what the tests compare
 * a client's view of its reflexive address with. */
static void
log_answer (GSocketAddress *from, GBytes *answer, const gchar *transport)
{
  PlexusStunAddress address;
  g_autofree gchar *text = NULL;

  if (!plexus_stun_address_from_socket_address (from, &address))
    return;
  text = plexus_stun_address_to_string (&address);
  g_debug ("STUN %s %s over %s", answer != NULL ? "answer to" : "no answer to", text, transport);
}

/* Up to UDP_BATCH datagrams per system call each way (recvmmsg and
 * sendmmsg underneath), and per wake-up, so a flood cannot starve the
 * rest of the main loop. */
static gboolean
on_udp_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  PlexusStunPlugin *self = user_data;
  GInputVector in_vectors[UDP_BATCH];
  GInputMessage in[UDP_BATCH];
  GSocketAddress *from[UDP_BATCH] = { NULL, };
  GOutputVector out_vectors[UDP_BATCH];
  GOutputMessage out[UDP_BATCH];
  GBytes *answers[UDP_BATCH];
  g_autoptr(GError) error = NULL;
  guint n_out = 0;
  gint64 now;
  gint n;

  for (guint i = 0; i < UDP_BATCH; i++) {
    in_vectors[i].buffer = self->udp_buffers + i * UDP_BUFFER_SIZE;
    in_vectors[i].size = UDP_BUFFER_SIZE;
    memset (&in[i], 0, sizeof in[i]);
    in[i].address = &from[i];
    in[i].vectors = &in_vectors[i];
    in[i].num_vectors = 1;
  }
  n = g_socket_receive_messages (socket, in, UDP_BATCH, 0, NULL, &error);
  if (n < 0) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
      g_debug ("STUN UDP receive: %s", error->message);
    return G_SOURCE_CONTINUE;
  }
  now = g_get_monotonic_time ();
  for (gint i = 0; i < n; i++) {
    GBytes *answer = NULL;

    /* A datagram larger than the buffer arrives cut to one byte over the
     * limit: the server drops it as too large. */
    if (from[i] != NULL)
      answer = plexus_stun_server_handle_from (self->server, now, in_vectors[i].buffer, in[i].bytes_received,
                                               from[i], PLEXUS_STUN_TRANSPORT_UDP);
    if (self->log_answers && from[i] != NULL)
      log_answer (from[i], answer, "udp");
    if (answer == NULL)
      continue;
    answers[n_out] = answer;
    out_vectors[n_out].buffer = g_bytes_get_data (answer, &out_vectors[n_out].size);
    memset (&out[n_out], 0, sizeof out[n_out]);
    out[n_out].address = from[i];
    out[n_out].vectors = &out_vectors[n_out];
    out[n_out].num_vectors = 1;
    n_out++;
  }
  for (guint sent = 0; sent < n_out;) {
    g_autoptr(GError) send_error = NULL;
    gint done = g_socket_send_messages (socket, out + sent, n_out - sent, 0, NULL, &send_error);

    /* A full send buffer drops answers, as the network would. */
    if (done <= 0) {
      g_debug ("STUN UDP send: %s", send_error != NULL ? send_error->message : "nothing sent");
      break;
    }
    sent += done;
  }
  for (guint i = 0; i < n_out; i++)
    g_bytes_unref (answers[i]);
  for (gint i = 0; i < n; i++)
    g_clear_object (&from[i]);
  return G_SOURCE_CONTINUE;
}

/* ---- server half: TCP ---- */

static void
tcp_connection_free (gpointer data)
{
  TcpConnection *connection = data;

  if (connection->source != NULL) {
    g_source_destroy (connection->source);
    g_source_unref (connection->source);
  }
  g_socket_close (connection->socket, NULL);
  g_object_unref (connection->socket);
  g_byte_array_unref (connection->buffer);
  g_free (connection);
}

static void
tcp_connection_close (TcpConnection *connection)
{
  g_ptr_array_remove_fast (connection->plugin->connections, connection);
}

/* Sends all of @answer or fails: answers are small, and a client that
 * does not read them is closed rather than buffered for. */
static gboolean
tcp_send (TcpConnection *connection, GBytes *answer)
{
  gsize length;
  const gchar *data = g_bytes_get_data (answer, &length);
  gsize done = 0;

  while (done < length) {
    gssize n = g_socket_send (connection->socket, data + done, length - done, NULL, NULL);

    if (n <= 0)
      return FALSE;
    done += n;
  }
  return TRUE;
}

static gboolean
on_tcp_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  TcpConnection *connection = user_data;
  PlexusStunPlugin *self = connection->plugin;
  guint8 chunk[4096];
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_socket_receive (socket, (gchar *) chunk, sizeof chunk, NULL, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    tcp_connection_close (connection);
    return G_SOURCE_REMOVE;
  }
  connection->last_active = g_get_monotonic_time ();
  g_byte_array_append (connection->buffer, chunk, n);

  while (connection->buffer->len >= PLEXUS_STUN_HEADER_SIZE) {
    gsize size = plexus_stun_message_peek_length (connection->buffer->data, connection->buffer->len);
    g_autoptr(GBytes) answer = NULL;

    if (size == 0 || size > PLEXUS_STUN_MAX_MESSAGE_SIZE) {
      /* Not STUN, or too large to hold: the stream cannot be framed.
       * Handed in as it is, so the server counts it. */
      g_autoptr(GBytes) ignored = NULL;

      ignored = plexus_stun_server_handle (self->server, connection->last_active, connection->buffer->data,
                                           MIN (connection->buffer->len, PLEXUS_STUN_MAX_MESSAGE_SIZE + 1),
                                           &connection->peer, PLEXUS_STUN_TRANSPORT_TCP);
      tcp_connection_close (connection);
      return G_SOURCE_REMOVE;
    }
    if (connection->buffer->len < size)
      break;
    answer = plexus_stun_server_handle (self->server, connection->last_active, connection->buffer->data,
                                        size, &connection->peer, PLEXUS_STUN_TRANSPORT_TCP);
    g_byte_array_remove_range (connection->buffer, 0, size);
    if (self->log_answers) {
      g_autoptr(GSocketAddress) from = plexus_stun_address_to_socket_address (&connection->peer);

      log_answer (from, answer, "tcp");
    }
    if (answer != NULL && !tcp_send (connection, answer)) {
      tcp_connection_close (connection);
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_tcp_acceptable (GSocket *listener, GIOCondition condition, gpointer user_data)
{
  PlexusStunPlugin *self = user_data;

  for (guint i = 0; i < 16; i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketAddress) peer = NULL;
    GSocket *socket = g_socket_accept (listener, NULL, &error);
    TcpConnection *connection;

    if (socket == NULL)
      break;
    peer = g_socket_get_remote_address (socket, NULL);
    if (self->connections->len >= MAX_TCP_CONNECTIONS || peer == NULL) {
      g_debug ("STUN TCP: refusing a connection (%u open)", self->connections->len);
      g_socket_close (socket, NULL);
      g_object_unref (socket);
      continue;
    }
    g_socket_set_blocking (socket, FALSE);
    connection = g_new0 (TcpConnection, 1);
    connection->plugin = self;
    connection->socket = socket;
    connection->buffer = g_byte_array_new ();
    connection->last_active = g_get_monotonic_time ();
    plexus_stun_address_from_socket_address (peer, &connection->peer);
    connection->source = g_socket_create_source (socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback (connection->source, G_SOURCE_FUNC (on_tcp_readable), connection, NULL);
    g_source_attach (connection->source, NULL);
    g_ptr_array_add (self->connections, connection);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- server half: load, capabilities, provider ---- */

static void
update_capability (PlexusStunPlugin *self, gdouble load)
{
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  PlexusServiceCapability capability = {
    .available = TRUE,
    .load = load,
    .capacity = self->capacity,
    .bandwidth_mbps = -1,
  };

  plexus_capabilities_set_service (plexus_context_get_capabilities (context), "stun", &capability);
  if (self->provider != NULL)
    plexus_provider_set_load (self->provider, load);
  self->last_load = load;
}

static gboolean
on_load_tick (gpointer user_data)
{
  PlexusStunPlugin *self = user_data;
  gint64 now = g_get_monotonic_time ();
  gdouble load = plexus_stun_server_get_load (self->server, now);

  /* Idle TCP connections go. */
  for (guint i = self->connections->len; i > 0; i--) {
    TcpConnection *connection = g_ptr_array_index (self->connections, i - 1);

    if (now - connection->last_active > TCP_IDLE_USEC)
      g_ptr_array_remove_index_fast (self->connections, i - 1);
  }
  /* Capabilities change only when the load does, to two places. */
  if (ABS (load - self->last_load) >= 0.01)
    update_capability (self, load);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_COUNTERS]);
  return G_SOURCE_CONTINUE;
}

static GInetAddress *
listen_inet_address (const gchar *host, GError **error)
{
  g_autoptr(GResolver) resolver = NULL;
  GList *addresses = NULL;
  GInetAddress *inet = g_inet_address_new_from_string (host);

  if (inet != NULL)
    return inet;
  /* A host name, e.g. localhost: resolved once at start-up. */
  resolver = g_resolver_get_default ();
  addresses = g_resolver_lookup_by_name (resolver, host, NULL, error);
  if (addresses == NULL)
    return NULL;
  inet = g_object_ref (addresses->data);
  g_resolver_free_addresses (addresses);
  return inet;
}

static GSocket *
bind_socket (GInetAddress *inet, guint16 port, GSocketType type, GError **error)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, port);

  socket = g_socket_new (g_inet_address_get_family (inet), type,
                         type == G_SOCKET_TYPE_DATAGRAM ? G_SOCKET_PROTOCOL_UDP : G_SOCKET_PROTOCOL_TCP,
                         error);
  if (socket == NULL)
    return NULL;
  g_socket_set_blocking (socket, FALSE);
  if (!g_socket_bind (socket, address, type == G_SOCKET_TYPE_STREAM, error))
    return NULL;
  if (type == G_SOCKET_TYPE_STREAM) {
    g_socket_set_listen_backlog (socket, 64);
    if (!g_socket_listen (socket, error))
      return NULL;
  }
  return g_steal_pointer (&socket);
}

static gboolean
server_start (PlexusStunPlugin *self, GError **error)
{
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  PlexusBroker *broker = plexus_context_get_broker (context);
  g_autofree gchar *listen = plexus_config_get_string (get_config (self), "stun", "listen");
  g_autofree gchar *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(PlexusProvider) provider = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree gchar *uri = NULL;
  guint16 port = 0;
  gint64 rate;

  if (!plexus_config_parse_address (listen, &host, &port, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG, "[stun] listen: %s", local_error->message);
    return FALSE;
  }
  inet = listen_inet_address (host, &local_error);
  if (inet == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG, "[stun] listen: cannot resolve %s: %s",
                 host, local_error->message);
    return FALSE;
  }

  /* UDP first; TCP on the same port, which with port 0 the system chose
   * for UDP and may have given to another TCP socket: then try again. */
  for (guint attempt = 0; attempt < 8 && self->tcp == NULL; attempt++) {
    g_clear_object (&self->udp);
    g_clear_error (&local_error);
    self->udp = bind_socket (inet, port, G_SOCKET_TYPE_DATAGRAM, &local_error);
    if (self->udp == NULL)
      break;
    g_clear_object (&bound);
    bound = g_socket_get_local_address (self->udp, &local_error);
    if (bound == NULL)
      break;
    self->tcp = bind_socket (inet, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)),
                             G_SOCKET_TYPE_STREAM, &local_error);
    if (port != 0)
      break;
  }
  if (self->udp == NULL || self->tcp == NULL) {
    g_clear_object (&self->udp);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, "cannot listen for STUN on %s: %s",
                 listen, local_error != NULL ? local_error->message : "unknown error");
    return FALSE;
  }

  self->server = plexus_stun_server_new ();
  /* Checked once: a line per packet costs when nobody reads it. */
  self->log_answers = !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
  rate = config_integer (self, "rate-limit", PLEXUS_STUN_SERVER_DEFAULT_RATE);
  if (rate < 0)
    rate = PLEXUS_STUN_SERVER_DEFAULT_RATE;
  plexus_stun_server_set_rate_limit (self->server, MIN (rate, G_MAXUINT / 2), MIN (2 * rate, G_MAXUINT));
  self->capacity = CLAMP (config_integer (self, "capacity", PLEXUS_STUN_SERVER_DEFAULT_CAPACITY), 1, G_MAXUINT);
  plexus_stun_server_set_capacity (self->server, self->capacity);

  self->udp_source = g_socket_create_source (self->udp, G_IO_IN, NULL);
  g_source_set_callback (self->udp_source, G_SOURCE_FUNC (on_udp_readable), self, NULL);
  g_source_attach (self->udp_source, NULL);
  self->tcp_source = g_socket_create_source (self->tcp, G_IO_IN, NULL);
  g_source_set_callback (self->tcp_source, G_SOURCE_FUNC (on_tcp_acceptable), self, NULL);
  g_source_attach (self->tcp_source, NULL);
  self->udp_address = format_socket_address (self->udp);
  self->tcp_address = format_socket_address (self->tcp);
  g_message ("STUN server listening on udp %s and tcp %s", self->udp_address, self->tcp_address);

  uri = g_strconcat (STUN_URI_SCHEME, self->udp_address, NULL);
  provider = plexus_provider_new ("stun", plexus_identity_get_peer_id (plexus_context_get_identity (context)),
                                  PLEXUS_PROVIDER_KIND_LOCAL);
  plexus_provider_set_address (provider, uri);
  plexus_provider_set_capacity (provider, self->capacity);
  if (!plexus_broker_add_provider (broker, provider, error))
    return FALSE;
  self->provider = g_steal_pointer (&provider);
  update_capability (self, 0.0);
  self->load_id = g_timeout_add_seconds (LOAD_INTERVAL_SECONDS, on_load_tick, self);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_UDP_ADDRESS]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_TCP_ADDRESS]);
  return TRUE;
}

static void
destroy_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
server_stop (PlexusStunPlugin *self)
{
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));

  g_clear_handle_id (&self->load_id, g_source_remove);
  destroy_source (&self->udp_source);
  destroy_source (&self->tcp_source);
  g_ptr_array_set_size (self->connections, 0);
  if (self->udp != NULL)
    g_socket_close (self->udp, NULL);
  if (self->tcp != NULL)
    g_socket_close (self->tcp, NULL);
  g_clear_object (&self->udp);
  g_clear_object (&self->tcp);
  if (self->provider != NULL) {
    plexus_broker_remove_provider (plexus_context_get_broker (context),
                                   plexus_provider_get_service (self->provider),
                                   plexus_provider_get_peer_id (self->provider));
    plexus_capabilities_remove_service (plexus_context_get_capabilities (context), "stun");
    g_clear_object (&self->provider);
  }
}

/* ---- client half ---- */

/* stun:0.0.0.0:P or stun:[::]:P: where a server listens, not where to
 * reach it. */
static gboolean
is_wildcard_uri (const gchar *uri)
{
  g_autofree gchar *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;

  if (!g_str_has_prefix (uri, STUN_URI_SCHEME) ||
      !plexus_config_parse_address (uri + strlen (STUN_URI_SCHEME), &host, NULL, NULL))
    return FALSE;
  inet = g_inet_address_new_from_string (host);
  return inet != NULL && g_inet_address_get_is_any (inet);
}

/* A server listening on every address advertises one it is reachable at
 * once discovery shows the node has no NAT: its mapped IP address. */
static void
advertise_mapped (PlexusStunPlugin *self, PlexusStunNatType type, const PlexusStunAddress *mapped)
{
  g_autoptr(GSocketAddress) bound = NULL;
  PlexusStunAddress reachable;
  g_autofree gchar *text = NULL;
  g_autofree gchar *uri = NULL;

  if (self->provider == NULL || type != PLEXUS_STUN_NAT_NONE ||
      !is_wildcard_uri (plexus_provider_get_address (self->provider)))
    return;
  bound = g_socket_get_local_address (self->udp, NULL);
  if (bound == NULL || !plexus_stun_address_from_socket_address (bound, &reachable))
    return;
  /* An IPv4 socket cannot be reached at an IPv6 address. */
  if (reachable.family == G_SOCKET_FAMILY_IPV4 && mapped->family == G_SOCKET_FAMILY_IPV6)
    return;
  memcpy (reachable.bytes, mapped->bytes, sizeof reachable.bytes);
  reachable.family = mapped->family;
  text = plexus_stun_address_to_string (&reachable);
  uri = g_strconcat (STUN_URI_SCHEME, text, NULL);
  plexus_provider_set_address (self->provider, uri);
  g_message ("STUN server reachable at %s", uri);
}

/* Parses "stun:HOST:PORT" or "HOST:PORT"; the port defaults to 3478. */
static gboolean
parse_server (const gchar *text, gchar **host, guint16 *port)
{
  const gchar *rest = text;
  g_autofree gchar *with_port = NULL;

  if (g_ascii_strncasecmp (rest, STUN_URI_SCHEME, strlen (STUN_URI_SCHEME)) == 0)
    rest += strlen (STUN_URI_SCHEME);
  if (plexus_config_parse_address (rest, host, port, NULL))
    return TRUE;
  with_port = g_strconcat (rest, ":3478", NULL);
  return plexus_config_parse_address (with_port, host, port, NULL);
}

static void
client_stop (PlexusStunPlugin *self)
{
  g_clear_handle_id (&self->client_timer_id, g_source_remove);
  destroy_source (&self->client4_source);
  destroy_source (&self->client6_source);
  if (self->client4 != NULL)
    g_socket_close (self->client4, NULL);
  if (self->client6 != NULL)
    g_socket_close (self->client6, NULL);
  g_clear_object (&self->client4);
  g_clear_object (&self->client6);
  g_clear_object (&self->client);
  g_clear_pointer (&self->client_providers, g_ptr_array_unref);
}

/* The node's own addresses with @port, to tell a mapped address that is
 * no translation at all. */
static GArray *
local_addresses (guint16 port4, guint16 port6)
{
  GArray *locals = g_array_new (FALSE, TRUE, sizeof (PlexusStunAddress));
  struct ifaddrs *list = NULL;

  if (getifaddrs (&list) != 0)
    return locals;
  for (struct ifaddrs *ifa = list; ifa != NULL; ifa = ifa->ifa_next) {
    PlexusStunAddress address = { 0, };

    if (ifa->ifa_addr == NULL)
      continue;
    if (ifa->ifa_addr->sa_family == AF_INET) {
      address.family = G_SOCKET_FAMILY_IPV4;
      address.port = port4;
      memcpy (address.bytes, &((struct sockaddr_in *) (gpointer) ifa->ifa_addr)->sin_addr, 4);
    } else if (ifa->ifa_addr->sa_family == AF_INET6) {
      address.family = G_SOCKET_FAMILY_IPV6;
      address.port = port6;
      memcpy (address.bytes, &((struct sockaddr_in6 *) (gpointer) ifa->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    g_array_append_val (locals, address);
  }
  freeifaddrs (list);
  return locals;
}

static guint16
socket_port (GSocket *socket)
{
  g_autoptr(GSocketAddress) address = NULL;

  if (socket == NULL)
    return 0;
  address = g_socket_get_local_address (socket, NULL);
  return address != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address)) : 0;
}

static void
client_finish (PlexusStunPlugin *self)
{
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));
  g_autoptr(GArray) locals = local_addresses (socket_port (self->client4), socket_port (self->client6));
  g_autofree gchar *mapped_text = NULL;
  PlexusStunNatType type;
  PlexusStunAddress mapped;

  type = plexus_stun_client_classify (self->client, (const PlexusStunAddress *) (gpointer) locals->data,
                                      locals->len, &mapped);
  /* What the servers did is news for the broker. */
  for (guint i = 0; i < plexus_stun_client_get_n_servers (self->client); i++) {
    const PlexusStunQueryResult *result = plexus_stun_client_get_result (self->client, i);
    PlexusProvider *provider = g_ptr_array_index (self->client_providers, i);

    if (provider == NULL)
      continue;
    if (result->state == PLEXUS_STUN_QUERY_MAPPED)
      plexus_broker_report_success (broker, provider, result->rtt / 1000.0);
    else
      plexus_broker_report_failure (broker, provider,
                                    result->state == PLEXUS_STUN_QUERY_TIMED_OUT ? "STUN request timed out"
                                                                                  : "STUN error response");
  }

  self->nat_type = type;
  self->mapped = mapped;
  self->discovered = TRUE;
  /* Into the capabilities the node advertises: others judge from it
   * whether this node can serve as a super peer. */
  plexus_capabilities_set_nat (plexus_context_get_capabilities (plexus_plugin_get_context (PLEXUS_PLUGIN (self))),
                               type == PLEXUS_STUN_NAT_UNKNOWN ? NULL : plexus_stun_nat_type_to_string (type));
  advertise_mapped (self, type, &mapped);
  if (mapped.family != 0) {
    mapped_text = plexus_stun_address_to_string (&mapped);
    g_message ("NAT: %s, mapped address %s", plexus_stun_nat_type_to_string (type), mapped_text);
  } else {
    g_message ("NAT: %s, no mapped address", plexus_stun_nat_type_to_string (type));
  }
  client_stop (self);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_NAT_TYPE]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MAPPED_ADDRESS]);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SUPER_ELIGIBLE]);
  if (self->rerun) {
    self->rerun = FALSE;
    discovery_schedule (self, PROVIDER_DEBOUNCE_MS);
  }
}

static void client_pump (PlexusStunPlugin *self);

static gboolean
on_client_timer (gpointer user_data)
{
  PlexusStunPlugin *self = user_data;

  self->client_timer_id = 0;
  plexus_stun_client_handle_timeout (self->client, g_get_monotonic_time ());
  client_pump (self);
  return G_SOURCE_REMOVE;
}

/* Sends what the engine queued and arms its next deadline. */
static void
client_pump (PlexusStunPlugin *self)
{
  guint index;
  GBytes *message;
  gint64 deadline;

  while (plexus_stun_client_poll_transmit (self->client, &index, &message)) {
    g_autoptr(GBytes) bytes = message;
    const PlexusStunAddress *server = plexus_stun_client_get_server (self->client, index);
    g_autoptr(GSocketAddress) to = plexus_stun_address_to_socket_address (server);
    GSocket *socket = server->family == G_SOCKET_FAMILY_IPV4 ? self->client4 : self->client6;
    g_autoptr(GError) error = NULL;

    if (socket == NULL ||
        g_socket_send_to (socket, to, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), NULL, &error) < 0) {
      g_autofree gchar *text = plexus_stun_address_to_string (server);

      g_debug ("STUN request to %s not sent: %s", text, error != NULL ? error->message : "no socket");
    }
  }
  if (plexus_stun_client_is_done (self->client)) {
    client_finish (self);
    return;
  }
  g_clear_handle_id (&self->client_timer_id, g_source_remove);
  deadline = plexus_stun_client_get_deadline (self->client);
  if (deadline != G_MAXINT64) {
    gint64 wait_ms = (deadline - g_get_monotonic_time () + 999) / 1000;

    self->client_timer_id = g_timeout_add (CLAMP (wait_ms, 0, G_MAXINT), on_client_timer, self);
  }
}

static gboolean
on_client_readable (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  PlexusStunPlugin *self = user_data;
  guint8 buffer[PLEXUS_STUN_MAX_MESSAGE_SIZE + 1];

  for (guint i = 0; i < UDP_BATCH && self->client != NULL; i++) {
    g_autoptr(GSocketAddress) from = NULL;
    g_autoptr(GError) error = NULL;
    PlexusStunAddress address;
    gssize n;

    n = g_socket_receive_from (socket, &from, (gchar *) buffer, sizeof buffer, NULL, &error);
    if (n < 0)
      break;
    if (plexus_stun_address_from_socket_address (from, &address))
      plexus_stun_client_handle_input (self->client, g_get_monotonic_time (), buffer, n, &address);
  }
  if (self->client != NULL)
    client_pump (self);
  return G_SOURCE_CONTINUE;
}

static GSocket *
client_socket (PlexusStunPlugin *self, GSocketFamily family, GSource **source, GError **error)
{
  g_autoptr(GInetAddress) any = g_inet_address_new_any (family);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (any, 0);
  g_autoptr(GSocket) socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, error);

  if (socket == NULL)
    return NULL;
  g_socket_set_blocking (socket, FALSE);
  if (!g_socket_bind (socket, address, FALSE, error))
    return NULL;
  *source = g_socket_create_source (socket, G_IO_IN, NULL);
  g_source_set_callback (*source, G_SOURCE_FUNC (on_client_readable), self, NULL);
  g_source_attach (*source, NULL);
  return g_steal_pointer (&socket);
}

static void
client_start (PlexusStunPlugin *self)
{
  g_autoptr(GError) error = NULL;

  g_clear_object (&self->client);
  self->client = plexus_stun_client_new ();
  self->client_providers = g_ptr_array_new_with_free_func (unref_nullable);
  for (guint i = 0; i < self->resolved->len; i++) {
    const PlexusStunAddress *server = &g_array_index (self->resolved, PlexusStunAddress, i);
    PlexusProvider *provider = g_ptr_array_index (self->resolved_providers, i);
    gboolean duplicate = FALSE;

    for (guint j = 0; j < plexus_stun_client_get_n_servers (self->client) && !duplicate; j++)
      duplicate = plexus_stun_address_equal (server, plexus_stun_client_get_server (self->client, j));
    if (duplicate)
      continue;
    if (server->family == G_SOCKET_FAMILY_IPV4 && self->client4 == NULL)
      self->client4 = client_socket (self, G_SOCKET_FAMILY_IPV4, &self->client4_source, &error);
    if (server->family == G_SOCKET_FAMILY_IPV6 && self->client6 == NULL)
      self->client6 = client_socket (self, G_SOCKET_FAMILY_IPV6, &self->client6_source, &error);
    if (error != NULL) {
      g_debug ("no socket for STUN discovery: %s", error->message);
      g_clear_error (&error);
      continue;
    }
    plexus_stun_client_add_server (self->client, server, PLEXUS_STUN_TRANSPORT_UDP);
    g_ptr_array_add (self->client_providers, provider != NULL ? g_object_ref (provider) : NULL);
  }
  g_array_set_size (self->resolved, 0);
  g_ptr_array_set_size (self->resolved_providers, 0);

  if (plexus_stun_client_get_n_servers (self->client) == 0) {
    g_message ("NAT: unknown, no STUN server to ask");
    client_stop (self);
    return;
  }
  g_debug ("asking %u STUN servers for the mapped address", plexus_stun_client_get_n_servers (self->client));
  plexus_stun_client_start (self->client, g_get_monotonic_time ());
  client_pump (self);
}

typedef struct {
  PlexusStunPlugin *plugin;
  PlexusProvider   *provider;
  guint16           port;
} Resolve;

static void
add_resolved (PlexusStunPlugin *self, GInetAddress *inet, guint16 port, PlexusProvider *provider)
{
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, port);
  PlexusStunAddress stun;

  if (!plexus_stun_address_from_socket_address (address, &stun))
    return;
  g_array_append_val (self->resolved, stun);
  g_ptr_array_add (self->resolved_providers, provider != NULL ? g_object_ref (provider) : NULL);
}

static void
on_resolved (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Resolve *resolve = user_data;
  PlexusStunPlugin *self = resolve->plugin;
  g_autoptr(GError) error = NULL;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_clear_object (&resolve->provider);
    g_free (resolve);
    return;
  }
  if (addresses != NULL)
    add_resolved (self, addresses->data, resolve->port, resolve->provider);
  else
    g_debug ("STUN server not resolved: %s", error->message);
  g_resolver_free_addresses (addresses);
  g_clear_object (&resolve->provider);
  g_free (resolve);
  if (--self->pending_resolves == 0)
    client_start (self);
}

static void
add_server_text (PlexusStunPlugin *self, const gchar *text, PlexusProvider *provider)
{
  g_autofree gchar *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  guint16 port = 0;
  Resolve *resolve;

  if (!parse_server (text, &host, &port)) {
    g_warning ("STUN server '%s' is not HOST:PORT or stun:HOST:PORT; ignored", text);
    return;
  }
  inet = g_inet_address_new_from_string (host);
  if (inet != NULL) {
    add_resolved (self, inet, port, provider);
    return;
  }
  resolve = g_new0 (Resolve, 1);
  resolve->plugin = self;
  resolve->provider = provider != NULL ? g_object_ref (provider) : NULL;
  resolve->port = port;
  self->pending_resolves++;
  {
    g_autoptr(GResolver) resolver = g_resolver_get_default ();

    g_resolver_lookup_by_name_async (resolver, host, self->cancellable, on_resolved, resolve);
  }
}

static gboolean
on_discovery_start (gpointer user_data)
{
  PlexusStunPlugin *self = user_data;
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  PlexusBroker *broker = plexus_context_get_broker (context);
  const gchar *own_id = plexus_identity_get_peer_id (plexus_context_get_identity (context));
  g_auto(GStrv) configured = configured_servers (self);
  g_autoptr(GPtrArray) selected = NULL;

  self->start_id = 0;
  if (self->client != NULL || self->pending_resolves > 0) {
    self->rerun = TRUE;
    return G_SOURCE_REMOVE;
  }
  for (guint i = 0; configured != NULL && configured[i] != NULL; i++)
    add_server_text (self, configured[i], NULL);
  /* The broker's choice, best first; not this node's own server. */
  selected = plexus_broker_select (broker, "stun", MAX_DISCOVERY_SERVERS + 1, NULL);
  for (guint i = 0; selected != NULL && i < selected->len; i++) {
    PlexusProvider *provider = g_ptr_array_index (selected, i);
    const gchar *address = plexus_provider_get_address (provider);

    if (g_strcmp0 (plexus_provider_get_peer_id (provider), own_id) == 0)
      continue;
    /* Only a provider that says where its STUN server is can be asked. */
    if (address == NULL || !g_str_has_prefix (address, STUN_URI_SCHEME) || is_wildcard_uri (address)) {
      g_debug ("STUN provider %s has no usable stun: address (%s)", plexus_provider_get_peer_id (provider),
               address != NULL ? address : "none");
      continue;
    }
    add_server_text (self, address, provider);
  }
  if (self->pending_resolves == 0)
    client_start (self);
  return G_SOURCE_REMOVE;
}

static void
discovery_schedule (PlexusStunPlugin *self, guint delay_ms)
{
  if (self->start_id != 0)
    return;
  self->start_id = g_timeout_add (delay_ms, on_discovery_start, self);
}

static gboolean
on_refresh (gpointer user_data)
{
  discovery_schedule (user_data, 0);
  return G_SOURCE_CONTINUE;
}

static void
on_provider_added (PlexusBroker *broker, PlexusProvider *provider, gpointer user_data)
{
  PlexusStunPlugin *self = user_data;

  if (g_strcmp0 (plexus_provider_get_service (provider), "stun") != 0 || provider == self->provider)
    return;
  /* Several may come at once, from one capability message. */
  discovery_schedule (self, PROVIDER_DEBOUNCE_MS);
}

/* ---- neighbours' servers ---- */

/* `stun.where`: where this node's STUN server listens, if it runs one. The
 * host is left out when the server listens on every address: the asker
 * reaches it at the address of the link. */
static PlexusEnvelope *
on_stun_where (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope,
               gpointer user_data)
{
  PlexusStunPlugin *self = user_data;
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  const gchar *own_id = plexus_identity_get_peer_id (plexus_context_get_identity (context));
  g_autoptr(JsonObject) body = json_object_new ();
  g_autofree gchar *host = NULL;
  guint16 port = 0;

  if (self->udp_address != NULL && plexus_config_parse_address (self->udp_address, &host, &port, NULL)) {
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (host);
    g_auto(GStrv) roles = plexus_roles_to_strv (plexus_context_get_roles (context));
    g_autoptr(JsonArray) array = json_array_new ();

    if (inet != NULL && !g_inet_address_get_is_any (inet))
      json_object_set_string_member (body, "host", host);
    json_object_set_int_member (body, "port", port);
    for (guint i = 0; roles[i] != NULL; i++)
      json_array_add_string_element (array, roles[i]);
    json_object_set_array_member (body, "roles", g_steal_pointer (&array));
  }
  return plexus_envelope_new_reply (envelope, "stun.here", own_id, body);
}

typedef struct {
  PlexusStunPlugin *self;   /* strong */
  gchar            *peer_id;
} WhereCall;

static void
where_call_free (WhereCall *call)
{
  g_object_unref (call->self);
  g_free (call->peer_id);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WhereCall, where_call_free)

/* The neighbour's answer: a provider of `stun` at stun:HOST:PORT, of kind
 * server when the neighbour holds the server role (the fallback the broker
 * ranks last in hybrid mode), else peer. */
static void
on_stun_here (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(WhereCall) call = user_data;
  PlexusStunPlugin *self = call->self;
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(PlexusProvider) provider = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *link_host = NULL;
  g_autofree gchar *link_address = NULL;
  g_autofree gchar *uri = NULL;
  JsonObject *body;
  JsonNode *member;
  const gchar *host;
  gint64 port;
  PlexusProviderKind kind = PLEXUS_PROVIDER_KIND_PEER;

  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, &error);
  if (answer == NULL) {
    g_debug ("cannot ask %s for its STUN server: %s", call->peer_id, error->message);
    return;
  }
  if (self->messenger == NULL)
    return;
  body = plexus_envelope_get_body (answer);
  member = json_object_get_member (body, "port");
  if (member == NULL)
    return;  /* it runs no STUN server */
  port = json_node_get_value_type (member) == G_TYPE_INT64 ? json_node_get_int (member) : -1;
  member = json_object_get_member (body, "host");
  host = member != NULL && json_node_get_value_type (member) == G_TYPE_STRING ? json_node_get_string (member) : NULL;
  if (port < 1 || port > G_MAXUINT16 || (member != NULL && host == NULL)) {
    g_message ("ignoring a malformed stun.here answer from %s", call->peer_id);
    return;
  }
  if (host != NULL) {
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (host);

    if (inet == NULL || g_inet_address_get_is_any (inet)) {
      g_message ("ignoring a stun.here answer from %s: '%s' is not an address to reach", call->peer_id, host);
      return;
    }
  } else {
    link_address = plexus_messenger_get_peer_address (self->messenger, call->peer_id);
    if (link_address == NULL || !plexus_config_parse_address (link_address, &link_host, NULL, NULL))
      return;
    host = link_host;
  }
  member = json_object_get_member (body, "roles");
  if (member != NULL && JSON_NODE_HOLDS_ARRAY (member)) {
    JsonArray *roles = json_node_get_array (member);

    for (guint i = 0; i < json_array_get_length (roles); i++) {
      JsonNode *role = json_array_get_element (roles, i);

      if (json_node_get_value_type (role) == G_TYPE_STRING && g_strcmp0 (json_node_get_string (role), "server") == 0)
        kind = PLEXUS_PROVIDER_KIND_SERVER;
    }
  }
  uri = strchr (host, ':') != NULL ? g_strdup_printf ("%s[%s]:%u", STUN_URI_SCHEME, host, (guint) port)
                                   : g_strdup_printf ("%s%s:%u", STUN_URI_SCHEME, host, (guint) port);
  provider = plexus_provider_new ("stun", call->peer_id, kind);
  plexus_provider_set_address (provider, uri);
  /* Known already (e.g. from its advertisement): that one stays. */
  if (!plexus_broker_add_provider (broker, provider, &error)) {
    g_debug ("not adding %s's STUN server %s: %s", call->peer_id, uri, error->message);
    return;
  }
  g_message ("neighbour %s runs a STUN server at %s", call->peer_id, uri);
  g_hash_table_replace (self->neighbour_providers, g_strdup (call->peer_id), g_steal_pointer (&provider));
}

static void
ask_neighbour (PlexusStunPlugin *self, const gchar *peer_id)
{
  WhereCall *call = g_new0 (WhereCall, 1);

  call->self = g_object_ref (self);
  call->peer_id = g_strdup (peer_id);
  plexus_messenger_request_async (self->messenger, peer_id, "stun.where", NULL, WHERE_TIMEOUT_MS,
                                  self->cancellable, on_stun_here, call);
}

static void
on_peer_linked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  ask_neighbour (user_data, peer_id);
}

static void
on_peer_unlinked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  PlexusStunPlugin *self = user_data;
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));

  /* Learned over the link: it goes with it. */
  if (g_hash_table_remove (self->neighbour_providers, peer_id))
    plexus_broker_remove_provider (broker, "stun", peer_id);
}

static gboolean
neighbours_start (PlexusStunPlugin *self, GError **error)
{
  PlexusMessenger *messenger = plexus_context_get_messenger (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));
  g_auto(GStrv) linked = NULL;

  /* Without a node (a plugin test) there are no neighbours to ask. */
  if (messenger == NULL)
    return TRUE;
  if (!plexus_messenger_register_handler (messenger, "stun.where", on_stun_where, self, NULL, error))
    return FALSE;
  self->messenger = g_object_ref (messenger);
  self->peer_linked_id = g_signal_connect (messenger, "peer-linked", G_CALLBACK (on_peer_linked), self);
  self->peer_unlinked_id = g_signal_connect (messenger, "peer-unlinked", G_CALLBACK (on_peer_unlinked), self);
  linked = plexus_messenger_list_linked_peers (messenger);
  for (guint i = 0; linked[i] != NULL; i++)
    ask_neighbour (self, linked[i]);
  return TRUE;
}

static void
neighbours_stop (PlexusStunPlugin *self)
{
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));
  GHashTableIter iter;
  gpointer key;

  if (self->messenger == NULL)
    return;
  plexus_messenger_unregister_handler (self->messenger, "stun.where");
  g_clear_signal_handler (&self->peer_linked_id, self->messenger);
  g_clear_signal_handler (&self->peer_unlinked_id, self->messenger);
  g_clear_object (&self->messenger);
  g_hash_table_iter_init (&iter, self->neighbour_providers);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    plexus_broker_remove_provider (broker, "stun", key);
  g_hash_table_remove_all (self->neighbour_providers);
}

/* ---- the plugin ---- */

static gboolean
plexus_stun_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  PlexusStunPlugin *self = PLEXUS_STUN_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);
  PlexusRole roles = plexus_context_get_roles (context);

  if ((roles & (PLEXUS_ROLE_SUPER | PLEXUS_ROLE_SERVER)) != 0 && !server_start (self, error)) {
    server_stop (self);
    return FALSE;
  }
  self->cancellable = g_cancellable_new ();
  if (!neighbours_start (self, error)) {
    server_stop (self);
    return FALSE;
  }
  self->provider_added_id = g_signal_connect (plexus_context_get_broker (context), "provider-added",
                                              G_CALLBACK (on_provider_added), self);
  /* Once the main loop runs: the daemon is up and links may be coming. */
  discovery_schedule (self, 0);
  self->refresh_id = g_timeout_add_seconds (REFRESH_SECONDS, on_refresh, self);
  return TRUE;
}

static void
plexus_stun_plugin_shutdown (PlexusPlugin *plugin)
{
  PlexusStunPlugin *self = PLEXUS_STUN_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);

  g_cancellable_cancel (self->cancellable);
  neighbours_stop (self);
  g_clear_signal_handler (&self->provider_added_id, plexus_context_get_broker (context));
  g_clear_handle_id (&self->start_id, g_source_remove);
  g_clear_handle_id (&self->refresh_id, g_source_remove);
  client_stop (self);
  server_stop (self);
}

static GVariant *
build_counters (PlexusStunPlugin *self)
{
  GVariantBuilder builder;
  PlexusStunServerCounters c = { 0, };

  if (self->server != NULL)
    plexus_stun_server_get_counters (self->server, &c);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{st}"));
  g_variant_builder_add (&builder, "{st}", "received", c.received);
  g_variant_builder_add (&builder, "{st}", "answered", c.answered);
  g_variant_builder_add (&builder, "{st}", "bad-request", c.bad_request);
  g_variant_builder_add (&builder, "{st}", "unknown-attribute", c.unknown_attribute);
  g_variant_builder_add (&builder, "{st}", "dropped-not-stun", c.dropped_not_stun);
  g_variant_builder_add (&builder, "{st}", "dropped-too-large", c.dropped_too_large);
  g_variant_builder_add (&builder, "{st}", "dropped-bad-fingerprint", c.dropped_bad_fingerprint);
  g_variant_builder_add (&builder, "{st}", "dropped-malformed", c.dropped_malformed);
  g_variant_builder_add (&builder, "{st}", "dropped-not-request", c.dropped_not_request);
  g_variant_builder_add (&builder, "{st}", "dropped-rate-limited", c.dropped_rate_limited);
  return g_variant_builder_end (&builder);
}

/* The STUN servers a WebRTC stack should use: the broker's selection
 * (with the traditional server as its fallback), then [stun] servers. */
static GStrv
build_stun_uris (PlexusStunPlugin *self)
{
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GPtrArray) selected = NULL;
  g_auto(GStrv) configured = NULL;
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  selected = plexus_broker_select (plexus_context_get_broker (context), "stun", MAX_DISCOVERY_SERVERS, NULL);
  for (guint i = 0; selected != NULL && i < selected->len; i++) {
    const gchar *address = plexus_provider_get_address (g_ptr_array_index (selected, i));

    if (address != NULL && g_str_has_prefix (address, STUN_URI_SCHEME) && !is_wildcard_uri (address) &&
        g_hash_table_add (seen, (gpointer) address))
      g_strv_builder_add (builder, address);
  }
  configured = configured_servers (self);
  for (guint i = 0; configured != NULL && configured[i] != NULL; i++) {
    g_autofree gchar *uri = g_str_has_prefix (configured[i], STUN_URI_SCHEME)
                              ? g_strdup (configured[i]) : g_strconcat (STUN_URI_SCHEME, configured[i], NULL);

    if (!g_hash_table_contains (seen, uri))
      g_strv_builder_add (builder, uri);
  }
  return g_strv_builder_end (builder);
}

static void
plexus_stun_plugin_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  PlexusStunPlugin *self = PLEXUS_STUN_PLUGIN (object);

  switch (prop_id) {
  case PROP_NAT_TYPE:
    g_value_set_string (value, self->discovered ? plexus_stun_nat_type_to_string (self->nat_type) : "unknown");
    break;
  case PROP_MAPPED_ADDRESS:
    g_value_take_string (value, self->mapped.family != 0 ? plexus_stun_address_to_string (&self->mapped) : NULL);
    break;
  case PROP_SUPER_ELIGIBLE:
    g_value_set_boolean (value, self->discovered && plexus_stun_nat_type_is_super_eligible (self->nat_type));
    break;
  case PROP_UDP_ADDRESS:
    g_value_set_string (value, self->udp_address);
    break;
  case PROP_TCP_ADDRESS:
    g_value_set_string (value, self->tcp_address);
    break;
  case PROP_COUNTERS:
    g_value_take_variant (value, build_counters (self));
    break;
  case PROP_STUN_URIS:
    g_value_take_boxed (value, build_stun_uris (self));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_stun_plugin_finalize (GObject *object)
{
  PlexusStunPlugin *self = PLEXUS_STUN_PLUGIN (object);

  g_clear_object (&self->server);
  g_clear_object (&self->cancellable);
  g_ptr_array_unref (self->connections);
  g_array_unref (self->resolved);
  g_ptr_array_unref (self->resolved_providers);
  g_hash_table_unref (self->neighbour_providers);
  g_clear_object (&self->messenger);
  g_free (self->udp_address);
  g_free (self->tcp_address);
  g_free (self->udp_buffers);
  G_OBJECT_CLASS (plexus_stun_plugin_parent_class)->finalize (object);
}

static void
plexus_stun_plugin_class_init (PlexusStunPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PlexusPluginClass *plugin_class = PLEXUS_PLUGIN_CLASS (klass);

  object_class->finalize = plexus_stun_plugin_finalize;
  object_class->get_property = plexus_stun_plugin_get_property;
  plugin_class->setup = plexus_stun_plugin_setup;
  plugin_class->shutdown = plexus_stun_plugin_shutdown;

  /* nat-type: "unknown" until discovery ends, then "none",
   * "endpoint-independent", "address-dependent", "blocked" or "unknown". */
  props[PROP_NAT_TYPE] =
    g_param_spec_string ("nat-type", "NAT type", "What STUN found out about the NAT",
                         "unknown", G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* mapped-address: the reflexive address, "A.B.C.D:P" or "[V6]:P", or NULL. */
  props[PROP_MAPPED_ADDRESS] =
    g_param_spec_string ("mapped-address", "Mapped address", "The reflexive transport address",
                         NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_SUPER_ELIGIBLE] =
    g_param_spec_boolean ("super-eligible", "Super eligible", "Whether the NAT allows the super role",
                          FALSE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* udp-address, tcp-address: where the server listens, NULL when it does not. */
  props[PROP_UDP_ADDRESS] =
    g_param_spec_string ("udp-address", "UDP address", "Where the STUN server listens over UDP",
                         NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_TCP_ADDRESS] =
    g_param_spec_string ("tcp-address", "TCP address", "Where the STUN server listens over TCP",
                         NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* counters: a{st}, the server's PlexusStunServerCounters by name; notified
   * once a second while the server runs. */
  props[PROP_COUNTERS] =
    g_param_spec_variant ("counters", "Counters", "What the STUN server did with what it received",
                          G_VARIANT_TYPE ("a{st}"), NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* stun-uris: stun:HOST:PORT URIs for a WebRTC stack's ICE servers. */
  props[PROP_STUN_URIS] =
    g_param_spec_boxed ("stun-uris", "STUN URIs", "The STUN servers to use, best first",
                        G_TYPE_STRV, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
plexus_stun_plugin_init (PlexusStunPlugin *self)
{
  self->connections = g_ptr_array_new_with_free_func (tcp_connection_free);
  self->udp_buffers = g_malloc (UDP_BATCH * UDP_BUFFER_SIZE);
  self->resolved = g_array_new (FALSE, TRUE, sizeof (PlexusStunAddress));
  self->resolved_providers = g_ptr_array_new_with_free_func (unref_nullable);
  self->neighbour_providers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->nat_type = PLEXUS_STUN_NAT_UNKNOWN;
}
