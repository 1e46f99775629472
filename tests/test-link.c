/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "plexus-link.h"
#include "plexus-test-fixture.h"

/* Every test runs real WebSockets over 127.0.0.1. The "raw" peers below
 * speak the link protocol by hand from doc/protocol.md with the Noise
 * engine, so they can break it on purpose. */

#define TIMEOUT_MS 10000

/* Waiting ----------------------------------------------------------------- */

static void
on_async_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static gboolean
result_is_set (gconstpointer data)
{
  return *(GAsyncResult * const *) data != NULL;
}

static gboolean
flag_is_set (gconstpointer data)
{
  return g_atomic_int_get ((const gint *) data) != 0;
}

/* Every WebSocket a test makes is counted until it is finalized, so that
 * each test can end only when libsoup has finished closing them all. */
static gint live_websockets;

static void
on_websocket_finalized (gpointer data, GObject *where_the_object_was)
{
  live_websockets--;
}

static void
track_websocket (SoupWebsocketConnection *ws)
{
  live_websockets++;
  g_object_weak_ref (G_OBJECT (ws), on_websocket_finalized, NULL);
}

static gboolean
no_live_websockets (gconstpointer data)
{
  return live_websockets == 0;
}

static void
assert_all_closed (void)
{
  g_assert_true (plexus_test_wait_for (no_live_websockets, NULL, TIMEOUT_MS));
}

/* Watching a link ------------------------------------------------------- */

typedef struct {
  PlexusLink *link;
  gboolean    ready;
  gboolean    closed;
  gint        code;
  gchar      *reason;
  GPtrArray  *frames;
  gint64      created_at;
  gint64      closed_at;
} Watch;

static void
on_watch_ready (PlexusLink *link, gpointer user_data)
{
  Watch *watch = user_data;

  watch->ready = TRUE;
}

static void
on_watch_frame (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  Watch *watch = user_data;

  g_ptr_array_add (watch->frames, g_bytes_ref (frame));
}

static void
on_watch_closed (PlexusLink *link, gint code, const gchar *reason, gpointer user_data)
{
  Watch *watch = user_data;

  g_assert_false (watch->closed);
  watch->closed = TRUE;
  watch->code = code;
  watch->reason = g_strdup (reason);
  watch->closed_at = g_get_monotonic_time ();
}

static Watch *
watch_new (PlexusLink *link)
{
  Watch *watch = g_new0 (Watch, 1);

  watch->link = g_object_ref (link);
  watch->created_at = g_get_monotonic_time ();
  watch->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  watch->ready = plexus_link_get_state (link) == PLEXUS_LINK_STATE_READY;
  g_signal_connect (link, "ready", G_CALLBACK (on_watch_ready), watch);
  g_signal_connect (link, "frame", G_CALLBACK (on_watch_frame), watch);
  g_signal_connect (link, "closed", G_CALLBACK (on_watch_closed), watch);
  return watch;
}

static void
watch_free (Watch *watch)
{
  g_signal_handlers_disconnect_by_data (watch->link, watch);
  g_object_unref (watch->link);
  g_ptr_array_unref (watch->frames);
  g_free (watch->reason);
  g_free (watch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Watch, watch_free)

static gboolean
watch_is_ready (gconstpointer data)
{
  return ((const Watch *) data)->ready;
}

static gboolean
watch_is_closed (gconstpointer data)
{
  return ((const Watch *) data)->closed;
}

typedef struct {
  const Watch *watch;
  guint        n;
} FrameCount;

static gboolean
watch_has_frames (gconstpointer data)
{
  const FrameCount *count = data;

  return count->watch->frames->len >= count->n;
}

static void
assert_closed_with (Watch *watch, gint code)
{
  g_assert_true (plexus_test_wait_for (watch_is_closed, watch, TIMEOUT_MS));
  g_assert_cmpint (watch->code, ==, code);
  g_assert_cmpint (plexus_link_get_state (watch->link), ==, PLEXUS_LINK_STATE_CLOSED);
  g_assert_cmpint (plexus_link_get_close_code (watch->link), ==, code);
}

/* A node accepting links ------------------------------------------------ */

typedef struct {
  SoupServer         *server;
  PlexusIdentity     *identity;
  PlexusNoiseKeypair *key;
  gchar              *uri;
  GPtrArray          *accepted;  /* of Watch */
  /* Settings for the links it accepts */
  guint               handshake_timeout_ms;
  gdouble             rate;
  guint               burst;
  guint               keepalive;
} TestServer;

static void
on_accept (PlexusLink *link, gpointer user_data)
{
  TestServer *server = user_data;

  g_assert_cmpint (plexus_link_get_state (link), ==, PLEXUS_LINK_STATE_NEW);
  g_assert_cmpint (plexus_link_get_direction (link), ==, PLEXUS_LINK_DIRECTION_INBOUND);
  track_websocket (plexus_link_get_websocket (link));
  if (server->handshake_timeout_ms > 0)
    plexus_link_set_handshake_timeout (link, server->handshake_timeout_ms);
  if (server->rate > 0)
    plexus_link_set_rate_limit (link, server->rate, server->burst);
  if (server->keepalive > 0)
    plexus_link_set_keepalive_interval (link, server->keepalive);
  g_ptr_array_add (server->accepted, watch_new (link));
}

static gchar *
listen_local (SoupServer *server)
{
  g_autoptr(GError) error = NULL;
  g_autoslist(GUri) uris = NULL;

  g_assert_true (soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (server);
  g_assert_nonnull (uris);
  return g_strdup_printf ("ws://127.0.0.1:%d/", g_uri_get_port (uris->data));
}

static TestServer *
test_server_new (void)
{
  TestServer *server = g_new0 (TestServer, 1);

  server->server = soup_server_new (NULL, NULL);
  server->identity = plexus_identity_new_ephemeral ();
  server->key = plexus_noise_keypair_new ();
  server->accepted = g_ptr_array_new_with_free_func ((GDestroyNotify) watch_free);
  plexus_link_server_add_handler (server->server, NULL, server->identity, server->key,
                                  on_accept, server, NULL);
  server->uri = listen_local (server->server);
  return server;
}

static void
test_server_free (TestServer *server)
{
  g_ptr_array_unref (server->accepted);
  soup_server_disconnect (server->server);
  g_object_unref (server->server);
  g_object_unref (server->identity);
  plexus_noise_keypair_free (server->key);
  g_free (server->uri);
  g_free (server);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestServer, test_server_free)

static gboolean
server_has_accepted (gconstpointer data)
{
  const TestServer *server = data;

  return server->accepted->len > 0;
}

/* The server's newest link, once it has one. */
static Watch *
server_last_link (TestServer *server)
{
  g_assert_true (plexus_test_wait_for (server_has_accepted, server, TIMEOUT_MS));
  return g_ptr_array_index (server->accepted, server->accepted->len - 1);
}

/* Dialing ---------------------------------------------------------------- */

typedef struct {
  gint        done;
  PlexusLink *link;
  GError     *error;
} ConnectResult;

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ConnectResult *connect = user_data;

  connect->link = plexus_link_connect_finish (SOUP_SESSION (source), result, &connect->error);
  connect->done = TRUE;
}

/* Dials with plexus_link_connect_async(); returns the link or NULL with
 * @error set. */
static PlexusLink *
dial (SoupSession        *session,
      const gchar        *uri,
      PlexusIdentity     *identity,
      PlexusNoiseKeypair *key,
      const gchar        *expected_peer_id,
      GError            **error)
{
  ConnectResult connect = { 0 };

  plexus_link_connect_async (session, uri, identity, key, expected_peer_id, NULL,
                             on_connected, &connect);
  g_assert_true (plexus_test_wait_for (flag_is_set, &connect.done, TIMEOUT_MS));
  if (connect.link != NULL) {
    g_assert_no_error (connect.error);
    track_websocket (plexus_link_get_websocket (connect.link));
    g_assert_cmpint (plexus_link_get_state (connect.link), ==, PLEXUS_LINK_STATE_READY);
  } else {
    g_assert_nonnull (connect.error);
    g_propagate_error (error, connect.error);
  }
  return connect.link;
}

/* A client with a fresh identity, linked to @server: both ends watched. */
typedef struct {
  SoupSession        *session;
  PlexusIdentity     *identity;
  PlexusNoiseKeypair *key;
  Watch              *client;
  Watch              *server;
} Pair;

static Pair *
pair_new (TestServer *server)
{
  Pair *pair = g_new0 (Pair, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusLink) link = NULL;

  pair->session = soup_session_new ();
  pair->identity = plexus_identity_new_ephemeral ();
  pair->key = plexus_noise_keypair_new ();
  link = dial (pair->session, server->uri, pair->identity, pair->key, NULL, &error);
  g_assert_no_error (error);
  pair->client = watch_new (link);
  pair->server = server_last_link (server);
  g_assert_true (plexus_test_wait_for (watch_is_ready, pair->server, TIMEOUT_MS));
  g_assert_cmpstr (plexus_link_get_peer_id (pair->server->link), ==,
                   plexus_identity_get_peer_id (pair->identity));
  return pair;
}

static void
pair_free (Pair *pair)
{
  watch_free (pair->client);
  g_object_unref (pair->session);
  g_object_unref (pair->identity);
  plexus_noise_keypair_free (pair->key);
  g_free (pair);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pair, pair_free)

/* A raw WebSocket peer -------------------------------------------------- */

typedef struct {
  SoupSession             *session;
  SoupWebsocketConnection *ws;
  GError                  *error;
  gint                     done;
  GPtrArray               *messages;  /* of GBytes */
  gboolean                 closed;
  gint                     close_code;
  /* The Noise side, for raw_handshake() */
  PlexusNoiseKeypair      *key;
  PlexusNoiseHandshake    *handshake;
  PlexusNoiseCipher       *send;
  PlexusNoiseCipher       *recv;
} Raw;

static void
on_raw_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  Raw *raw = user_data;

  g_ptr_array_add (raw->messages, g_bytes_ref (message));
}

static void
on_raw_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  Raw *raw = user_data;

  raw->closed = TRUE;
  raw->close_code = soup_websocket_connection_get_close_code (ws);
}

static void
on_raw_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Raw *raw = user_data;

  raw->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &raw->error);
  raw->done = TRUE;
}

/* Opens a WebSocket to @uri offering @protocols; NULL when refused. */
static Raw *
raw_connect (const gchar *uri, const gchar * const *protocols)
{
  Raw *raw = g_new0 (Raw, 1);
  g_autoptr(SoupMessage) message = soup_message_new (SOUP_METHOD_GET, uri);

  raw->session = soup_session_new ();
  raw->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  raw->key = plexus_noise_keypair_new ();
  soup_session_websocket_connect_async (raw->session, message, NULL, (gchar **) protocols,
                                        G_PRIORITY_DEFAULT, NULL, on_raw_connected, raw);
  g_assert_true (plexus_test_wait_for (flag_is_set, &raw->done, TIMEOUT_MS));
  if (raw->ws != NULL) {
    track_websocket (raw->ws);
    g_signal_connect (raw->ws, "message", G_CALLBACK (on_raw_message), raw);
    g_signal_connect (raw->ws, "closed", G_CALLBACK (on_raw_closed), raw);
  }
  return raw;
}

static void
raw_free (Raw *raw)
{
  if (raw->ws != NULL) {
    g_signal_handlers_disconnect_by_data (raw->ws, raw);
    if (soup_websocket_connection_get_state (raw->ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (raw->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    g_object_unref (raw->ws);
  }
  g_clear_error (&raw->error);
  g_object_unref (raw->session);
  g_ptr_array_unref (raw->messages);
  plexus_noise_keypair_free (raw->key);
  g_clear_object (&raw->handshake);
  g_clear_object (&raw->send);
  g_clear_object (&raw->recv);
  g_free (raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Raw, raw_free)

static gboolean
raw_is_closed (gconstpointer data)
{
  return ((const Raw *) data)->closed;
}

typedef struct {
  const Raw *raw;
  guint      n;
} MessageCount;

static gboolean
raw_has_messages (gconstpointer data)
{
  const MessageCount *count = data;

  return count->raw->messages->len >= count->n || count->raw->closed;
}

static void
raw_send (Raw *raw, const guint8 *data, gsize len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, len);

  soup_websocket_connection_send_message (raw->ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
}

/* The identity payload of handshake messages 2 and 3, as the protocol
 * defines it: Ed25519 public key || signature of
 * "plexus-noise-static:" || Noise static public key. */
static GBytes *
make_identity_payload (PlexusIdentity *key_owner,
                       PlexusIdentity *signer,
                       const guint8   *noise_static)
{
  g_autoptr(GByteArray) signed_data = g_byte_array_new ();
  g_autoptr(GBytes) signature = NULL;
  GByteArray *payload = g_byte_array_new ();

  g_byte_array_append (signed_data, (const guint8 *) "plexus-noise-static:", 20);
  g_byte_array_append (signed_data, noise_static, PLEXUS_NOISE_KEY_SIZE);
  signature = plexus_identity_sign (signer, signed_data->data, signed_data->len);
  g_byte_array_append (payload, plexus_identity_get_public_key (key_owner), 32);
  g_byte_array_append (payload, g_bytes_get_data (signature, NULL), 64);
  return g_byte_array_free_to_bytes (payload);
}

/* Sends message 1 and reads message 2, checking the server's identity
 * proof as the protocol says. */
static void
raw_handshake_start (Raw *raw, TestServer *server)
{
  g_autoptr(GByteArray) message = g_byte_array_new ();
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) expected = NULL;
  MessageCount count = { raw, 1 };
  GBytes *message2;

  raw->handshake = plexus_noise_handshake_new (TRUE, plexus_noise_keypair_get_private_key (raw->key),
                                               (const guint8 *) "plexus.v1", 9);
  g_assert_true (plexus_noise_handshake_write_message (raw->handshake, NULL, 0, message, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (message->len, ==, 32);
  raw_send (raw, message->data, message->len);

  g_assert_true (plexus_test_wait_for (raw_has_messages, &count, TIMEOUT_MS));
  g_assert_false (raw->closed);
  message2 = g_ptr_array_index (raw->messages, 0);
  g_assert_true (plexus_noise_handshake_read_message (raw->handshake,
                                                      g_bytes_get_data (message2, NULL),
                                                      g_bytes_get_size (message2),
                                                      payload, &error));
  g_assert_no_error (error);
  /* The responder's payload is exactly what a correct node would send. */
  expected = make_identity_payload (server->identity, server->identity,
                                    plexus_noise_handshake_get_remote_static (raw->handshake));
  g_assert_cmpmem (payload->data, payload->len,
                   g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
  g_assert_cmpmem (plexus_noise_handshake_get_remote_static (raw->handshake), 32,
                   plexus_noise_keypair_get_public_key (server->key), 32);
}

/* Sends message 3 with @payload. */
static void
raw_handshake_finish (Raw *raw, GBytes *payload)
{
  g_autoptr(GByteArray) message = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_handshake_write_message (raw->handshake,
                                                       g_bytes_get_data (payload, NULL),
                                                       g_bytes_get_size (payload),
                                                       message, &error));
  g_assert_no_error (error);
  raw_send (raw, message->data, message->len);
  g_assert_true (plexus_noise_handshake_split (raw->handshake, &raw->send, &raw->recv, &error));
  g_assert_no_error (error);
}

static GBytes *
raw_encrypt (Raw *raw, const gchar *text)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_cipher_encrypt (raw->send, NULL, 0, (const guint8 *) text,
                                              strlen (text), out, &error));
  g_assert_no_error (error);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* A raw client that completes the handshake correctly. */
static Raw *
raw_linked (TestServer *server, PlexusIdentity *identity)
{
  const gchar *protocols[] = { "plexus.v1", NULL };
  Raw *raw = raw_connect (server->uri, protocols);
  g_autoptr(GBytes) payload = NULL;

  g_assert_nonnull (raw->ws);
  raw_handshake_start (raw, server);
  payload = make_identity_payload (identity, identity, plexus_noise_keypair_get_public_key (raw->key));
  raw_handshake_finish (raw, payload);
  g_assert_true (plexus_test_wait_for (watch_is_ready, server_last_link (server), TIMEOUT_MS));
  return raw;
}

static GBytes *
bytes_of_size (gsize size, guint8 seed)
{
  guint8 *data = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    data[i] = (guint8) (seed + i * 31);
  return g_bytes_new_take (data, size);
}

/* Tests ----------------------------------------------------------------- */

static void
test_handshake (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(PlexusLink) pinned = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pinned_uri = NULL;
  g_autofree gchar *port = NULL;
  Watch *accepted;

  link = dial (session, server->uri, identity, key, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_link_get_peer_id (link), ==, plexus_identity_get_peer_id (server->identity));
  g_assert_cmpint (plexus_link_get_direction (link), ==, PLEXUS_LINK_DIRECTION_OUTBOUND);
  g_assert_cmpfloat (plexus_link_get_rtt_ms (link), >=, 0);
  g_assert_nonnull (plexus_link_get_created (link));
  port = g_strdup (strrchr (server->uri, ':'));
  port[strlen (port) - 1] = '\0';
  g_assert_true (g_str_has_prefix (plexus_link_get_remote_address (link), "127.0.0.1:"));
  g_assert_true (g_str_has_suffix (plexus_link_get_remote_address (link), port));
  /* Both speak the newest version. */
  g_assert_cmpstr (soup_websocket_connection_get_protocol (plexus_link_get_websocket (link)), ==,
                   "plexus.v2");
  g_assert_cmpuint (plexus_link_get_version (link), ==, 2);
  g_assert_cmpint (plexus_link_get_envelope_encoding (link), ==, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS);

  accepted = server_last_link (server);
  g_assert_true (plexus_test_wait_for (watch_is_ready, accepted, TIMEOUT_MS));
  g_assert_cmpstr (plexus_link_get_peer_id (accepted->link), ==, plexus_identity_get_peer_id (identity));
  g_assert_cmpint (plexus_link_get_state (accepted->link), ==, PLEXUS_LINK_STATE_READY);
  g_assert_cmpuint (plexus_link_get_version (accepted->link), ==, 2);
  g_assert_true (g_str_has_prefix (plexus_link_get_remote_address (accepted->link), "127.0.0.1:"));
  g_assert_cmpfloat (plexus_link_get_rtt_ms (accepted->link), >=, 0);

  /* A bootstrap URI naming the right peer. */
  pinned_uri = g_strdup_printf ("%s#%s", server->uri, plexus_identity_get_peer_id (server->identity));
  pinned = dial (session, pinned_uri, identity, key, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_link_get_peer_id (pinned), ==, plexus_identity_get_peer_id (server->identity));

  g_clear_object (&link);
  g_clear_object (&pinned);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
test_frames (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) pair = pair_new (server);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GBytes) largest = bytes_of_size (PLEXUS_LINK_MAX_FRAME, 7);
  g_autoptr(GBytes) too_large = bytes_of_size (PLEXUS_LINK_MAX_FRAME + 1, 9);
  FrameCount at_server = { pair->server, 0 };
  FrameCount at_client = { pair->client, 0 };
  guint64 bytes = 0;
  const guint n_numbered = 200;

  /* Client to server: an empty frame, the largest, then many in order. */
  g_assert_true (plexus_link_send (pair->client->link, empty, &error));
  g_assert_true (plexus_link_send (pair->client->link, largest, &error));
  bytes += PLEXUS_LINK_MAX_FRAME;
  for (guint i = 0; i < n_numbered; i++) {
    g_autofree gchar *text = g_strdup_printf ("frame %u", i);
    g_autoptr(GBytes) frame = g_bytes_new (text, strlen (text));

    g_assert_true (plexus_link_send (pair->client->link, frame, &error));
    g_assert_no_error (error);
    bytes += strlen (text);
  }
  at_server.n = n_numbered + 2;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &at_server, TIMEOUT_MS));
  g_assert_cmpuint (g_bytes_get_size (g_ptr_array_index (pair->server->frames, 0)), ==, 0);
  g_assert_true (g_bytes_equal (g_ptr_array_index (pair->server->frames, 1), largest));
  for (guint i = 0; i < n_numbered; i++) {
    g_autofree gchar *text = g_strdup_printf ("frame %u", i);
    GBytes *frame = g_ptr_array_index (pair->server->frames, i + 2);

    g_assert_cmpmem (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), text, strlen (text));
  }
  g_assert_cmpuint (plexus_link_get_frames_out (pair->client->link), ==, n_numbered + 2);
  g_assert_cmpuint (plexus_link_get_bytes_out (pair->client->link), ==, bytes);
  g_assert_cmpuint (plexus_link_get_frames_in (pair->server->link), ==, n_numbered + 2);
  g_assert_cmpuint (plexus_link_get_bytes_in (pair->server->link), ==, bytes);

  /* Server to client. */
  g_assert_true (plexus_link_send (pair->server->link, largest, &error));
  g_assert_true (plexus_link_send (pair->server->link, empty, &error));
  g_assert_no_error (error);
  at_client.n = 2;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &at_client, TIMEOUT_MS));
  g_assert_true (g_bytes_equal (g_ptr_array_index (pair->client->frames, 0), largest));
  g_assert_cmpuint (g_bytes_get_size (g_ptr_array_index (pair->client->frames, 1)), ==, 0);

  /* The sender refuses a frame one byte too large, and one beginning
   * with a zero byte (a control message's mark); the link lives on. */
  g_assert_false (plexus_link_send (pair->client->link, too_large, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  {
    g_autoptr(GBytes) ping = g_bytes_new ((const guint8[]) { PLEXUS_LINK_CONTROL_PREFIX, PLEXUS_LINK_CONTROL_PING }, 2);

    g_assert_false (plexus_link_send (pair->client->link, ping, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "zero byte"));
    g_clear_error (&error);
  }
  g_assert_true (plexus_link_send (pair->client->link, empty, &error));
  at_server.n++;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &at_server, TIMEOUT_MS));
  g_assert_false (pair->client->closed);
  g_assert_false (pair->server->closed);

  g_clear_pointer (&pair, pair_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
test_oversized_message (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) pair = pair_new (server);
  g_autoptr(Pair) boundary = NULL;
  g_autoptr(GBytes) too_big = bytes_of_size (PLEXUS_LINK_MAX_MESSAGE + 1, 1);
  g_autoptr(GBytes) largest = bytes_of_size (PLEXUS_LINK_MAX_MESSAGE, 1);

  /* Injected under the link: libsoup refuses it before reading it. */
  soup_websocket_connection_send_message (plexus_link_get_websocket (pair->client->link),
                                          SOUP_WEBSOCKET_DATA_BINARY, too_big);
  assert_closed_with (pair->server, SOUP_WEBSOCKET_CLOSE_TOO_BIG);
  g_assert_true (plexus_test_wait_for (watch_is_closed, pair->client, TIMEOUT_MS));

  /* One byte less is a message size the link reads, and then refuses as
   * not being a transport message. */
  boundary = pair_new (server);
  soup_websocket_connection_send_message (plexus_link_get_websocket (boundary->client->link),
                                          SOUP_WEBSOCKET_DATA_BINARY, largest);
  assert_closed_with (boundary->server, PLEXUS_LINK_CLOSE_DECRYPT_FAILED);

  g_clear_pointer (&pair, pair_free);
  g_clear_pointer (&boundary, pair_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

/* Runs a link over @raw's WebSocket, which must have agreed on
 * @protocol, until it is ready. */
static PlexusLink *
link_over (Raw *raw, PlexusIdentity *identity, PlexusNoiseKeypair *key, const gchar *protocol, Watch **watch)
{
  PlexusLink *link;

  g_assert_nonnull (raw->ws);
  g_assert_cmpstr (soup_websocket_connection_get_protocol (raw->ws), ==, protocol);
  link = plexus_link_new_client (raw->ws, identity, key, NULL);
  *watch = watch_new (link);
  plexus_link_start (link);
  g_assert_true (plexus_test_wait_for (watch_is_ready, *watch, TIMEOUT_MS));
  return link;
}

static void
test_subprotocol (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(Watch) watch = NULL;
  g_autoptr(Raw) none = NULL;
  g_autoptr(Raw) other = NULL;
  g_autoptr(Raw) future = NULL;
  const gchar *other_protocols[] = { "chat", NULL };
  const gchar *future_protocols[] = { "plexus.v3", "plexus.v2", "plexus.v1", NULL };
  const gchar *v1_protocols[] = { "plexus.v1", NULL };
  const gchar *v2_protocols[] = { "plexus.v2", NULL };
  const gchar *oldest_first[] = { "plexus.v1", "plexus.v2", NULL };
  Watch *accepted;

  /* No subprotocol, or not ours: refused before the WebSocket opens. */
  none = raw_connect (server->uri, NULL);
  g_assert_null (none->ws);
  g_assert_nonnull (none->error);
  other = raw_connect (server->uri, other_protocols);
  g_assert_null (other->ws);
  g_assert_cmpuint (server->accepted->len, ==, 0);

  /* An offer of compression is declined. */
  {
    g_autoptr(SoupSession) session = soup_session_new ();
    g_autoptr(SoupMessage) message = soup_message_new (SOUP_METHOD_GET, server->uri);
    g_autoptr(GAsyncResult) result = NULL;
    g_autoptr(SoupWebsocketConnection) ws = NULL;
    g_autoptr(GError) error = NULL;
    const gchar *protocols[] = { "plexus.v1", NULL };

    soup_session_add_feature_by_type (session, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
    soup_session_websocket_connect_async (session, message, NULL, (gchar **) protocols,
                                          G_PRIORITY_DEFAULT, NULL, on_async_result, &result);
    g_assert_true (plexus_test_wait_for (result_is_set, &result, TIMEOUT_MS));
    ws = soup_session_websocket_connect_finish (session, result, &error);
    g_assert_no_error (error);
    track_websocket (ws);
    g_assert_true (g_str_has_prefix (soup_message_headers_get_one (soup_message_get_request_headers (message),
                                                                   "Sec-WebSocket-Extensions"),
                                     "permessage-deflate"));
    g_assert_null (soup_websocket_connection_get_extensions (ws));
    soup_websocket_connection_close (ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    assert_closed_with (server_last_link (server), SOUP_WEBSOCKET_CLOSE_NORMAL);
    g_ptr_array_set_size (server->accepted, 0);
  }

  /* A node that speaks only version 1 links, and both sides keep to it:
   * its prologue, and envelopes all JSON. */
  {
    g_autoptr(Raw) old = raw_connect (server->uri, v1_protocols);
    g_autoptr(PlexusLink) old_link = NULL;
    g_autoptr(Watch) old_watch = NULL;

    old_link = link_over (old, identity, key, "plexus.v1", &old_watch);
    accepted = server_last_link (server);
    g_assert_true (plexus_test_wait_for (watch_is_ready, accepted, TIMEOUT_MS));
    g_assert_cmpuint (plexus_link_get_version (old_link), ==, 1);
    g_assert_cmpuint (plexus_link_get_version (accepted->link), ==, 1);
    g_assert_cmpint (plexus_link_get_envelope_encoding (accepted->link), ==, PLEXUS_ENVELOPE_ENCODING_JSON);
    plexus_link_close (old_link, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    assert_closed_with (accepted, SOUP_WEBSOCKET_CLOSE_NORMAL);
    g_clear_pointer (&old_watch, watch_free);
    g_ptr_array_set_size (server->accepted, 0);
  }

  /* The prologue is the version agreed on: a dialer that goes on under
   * version 1 on a version 2 WebSocket fails the handshake. */
  {
    g_autoptr(Raw) downgraded = raw_connect (server->uri, v2_protocols);
    g_autoptr(GByteArray) message = g_byte_array_new ();
    g_autoptr(GByteArray) payload = g_byte_array_new ();
    g_autoptr(GBytes) identity_payload = NULL;
    g_autoptr(GError) error = NULL;
    MessageCount count = { downgraded, 1 };
    GBytes *message2;

    g_assert_nonnull (downgraded->ws);
    g_assert_cmpstr (soup_websocket_connection_get_protocol (downgraded->ws), ==, "plexus.v2");
    downgraded->handshake = plexus_noise_handshake_new (TRUE, plexus_noise_keypair_get_private_key (downgraded->key),
                                                        (const guint8 *) "plexus.v1", 9);
    g_assert_true (plexus_noise_handshake_write_message (downgraded->handshake, NULL, 0, message, &error));
    raw_send (downgraded, message->data, message->len);
    g_assert_true (plexus_test_wait_for (raw_has_messages, &count, TIMEOUT_MS));
    message2 = g_ptr_array_index (downgraded->messages, 0);
    g_assert_false (plexus_noise_handshake_read_message (downgraded->handshake,
                                                         g_bytes_get_data (message2, NULL),
                                                         g_bytes_get_size (message2),
                                                         payload, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    soup_websocket_connection_close (downgraded->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    assert_closed_with (server_last_link (server), SOUP_WEBSOCKET_CLOSE_NORMAL);
    g_assert_false (server_last_link (server)->ready);
    g_ptr_array_set_size (server->accepted, 0);
  }

  /* The newest version both speak, whatever the order of the offer. */
  {
    g_autoptr(Raw) reversed = raw_connect (server->uri, oldest_first);

    g_assert_nonnull (reversed->ws);
    g_assert_cmpstr (soup_websocket_connection_get_protocol (reversed->ws), ==, "plexus.v2");
    soup_websocket_connection_close (reversed->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
    assert_closed_with (server_last_link (server), SOUP_WEBSOCKET_CLOSE_NORMAL);
    g_ptr_array_set_size (server->accepted, 0);
  }

  /* A later node offers its version first and ours after it. */
  future = raw_connect (server->uri, future_protocols);
  link = link_over (future, identity, key, "plexus.v2", &watch);
  g_assert_cmpuint (plexus_link_get_version (link), ==, 2);

  /* A text message closes the link. */
  accepted = server_last_link (server);
  g_assert_true (plexus_test_wait_for (watch_is_ready, accepted, TIMEOUT_MS));
  soup_websocket_connection_send_text (future->ws, "hello");
  assert_closed_with (accepted, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);
  assert_closed_with (watch, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA);

  g_clear_pointer (&watch, watch_free);
  g_clear_object (&link);
  g_clear_pointer (&future, raw_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
test_peer_id_mismatch (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusIdentity) someone_else = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(Watch) watch = NULL;
  g_autoptr(Raw) raw = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *expected_reason = NULL;
  g_autofree gchar *wrong_uri = NULL;
  g_autofree gchar *bad_uri = NULL;
  const gchar *protocols[] = { "plexus.v1", NULL };
  Watch *accepted;

  /* Through the dialing helper: the handshake fails with the reason. */
  link = dial (session, server->uri, identity, key, plexus_identity_get_peer_id (someone_else), &error);
  g_assert_null (link);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "peer ID mismatch"));
  g_clear_error (&error);
  accepted = server_last_link (server);
  assert_closed_with (accepted, PLEXUS_LINK_CLOSE_PEER_ID_MISMATCH);
  g_assert_false (accepted->ready);

  /* The same from the URI's fragment. */
  wrong_uri = g_strdup_printf ("%s#%s", server->uri, plexus_identity_get_peer_id (someone_else));
  link = dial (session, wrong_uri, identity, key, NULL, &error);
  g_assert_null (link);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);
  bad_uri = g_strdup_printf ("%s#not-a-peer-id", server->uri);
  link = dial (session, bad_uri, identity, key, NULL, &error);
  g_assert_null (link);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* On a link: closed with 4001 and both peer IDs. */
  raw = raw_connect (server->uri, protocols);
  g_assert_nonnull (raw->ws);
  link = plexus_link_new_client (raw->ws, identity, key, plexus_identity_get_peer_id (someone_else));
  watch = watch_new (link);
  plexus_link_start (link);
  assert_closed_with (watch, PLEXUS_LINK_CLOSE_PEER_ID_MISMATCH);
  expected_reason = g_strdup_printf ("peer ID mismatch: expected %s, got %s",
                                     plexus_identity_get_peer_id (someone_else),
                                     plexus_identity_get_peer_id (server->identity));
  g_assert_cmpstr (watch->reason, ==, expected_reason);
  g_assert_false (watch->ready);
  g_assert_null (plexus_link_get_peer_id (link));

  g_clear_pointer (&watch, watch_free);
  g_clear_object (&link);
  g_clear_pointer (&raw, raw_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

/* A responder that proves the wrong Noise static key. */
typedef struct {
  PlexusIdentity       *identity;
  PlexusNoiseKeypair   *key;
  PlexusNoiseHandshake *handshake;
  SoupWebsocketConnection *ws;
} LyingServer;

static void
on_lying_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  LyingServer *liar = user_data;
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GByteArray) reply = g_byte_array_new ();
  g_autoptr(PlexusNoiseKeypair) other_key = plexus_noise_keypair_new ();
  g_autoptr(GBytes) lie = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  if (plexus_noise_handshake_is_initiator (liar->handshake) ||
      !plexus_noise_handshake_read_message (liar->handshake, g_bytes_get_data (message, NULL),
                                            g_bytes_get_size (message), payload, &error))
    return;
  lie = make_identity_payload (liar->identity, liar->identity,
                               plexus_noise_keypair_get_public_key (other_key));
  g_assert_true (plexus_noise_handshake_write_message (liar->handshake, g_bytes_get_data (lie, NULL),
                                                       g_bytes_get_size (lie), reply, &error));
  bytes = g_bytes_new (reply->data, reply->len);
  soup_websocket_connection_send_message (ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
}

static void
on_lying_websocket (SoupServer *server, SoupServerMessage *msg, const char *path,
                    SoupWebsocketConnection *ws, gpointer user_data)
{
  LyingServer *liar = user_data;

  g_assert_null (liar->ws);
  liar->ws = g_object_ref (ws);
  track_websocket (ws);
  liar->handshake = plexus_noise_handshake_new (FALSE, plexus_noise_keypair_get_private_key (liar->key),
                                                (const guint8 *) "plexus.v1", 9);
  g_signal_connect (ws, "message", G_CALLBACK (on_lying_message), liar);
}

static void
test_bad_identity (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusIdentity) someone_else = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusNoiseKeypair) other_key = plexus_noise_keypair_new ();
  g_autoptr(SoupServer) lying_server = soup_server_new (NULL, NULL);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *lying_uri = NULL;
  const gchar *protocols[] = { "plexus.v1", NULL };
  LyingServer liar = { 0 };
  const guint8 *other_static = plexus_noise_keypair_get_public_key (other_key);

  {
    /* A signature of another Noise key than the one used. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GBytes) payload = NULL;
    Watch *watch;

    raw_handshake_start (raw, server);
    watch = server_last_link (server);
    payload = make_identity_payload (identity, identity, other_static);
    raw_handshake_finish (raw, payload);
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
    g_assert_nonnull (strstr (watch->reason, "did not prove"));
    g_assert_true (plexus_test_wait_for (raw_is_closed, raw, TIMEOUT_MS));
    g_assert_cmpint (raw->close_code, ==, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    /* Someone else's key with our signature, and the reverse. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GBytes) payload = NULL;
    Watch *watch;

    raw_handshake_start (raw, server);
    watch = server_last_link (server);
    payload = make_identity_payload (someone_else, identity,
                                     plexus_noise_keypair_get_public_key (raw->key));
    raw_handshake_finish (raw, payload);
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    /* A payload one byte short, and none. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GBytes) good = NULL;
    g_autoptr(GBytes) short_payload = NULL;
    Watch *watch;

    raw_handshake_start (raw, server);
    watch = server_last_link (server);
    good = make_identity_payload (identity, identity, plexus_noise_keypair_get_public_key (raw->key));
    short_payload = g_bytes_new_from_bytes (good, 0, g_bytes_get_size (good) - 1);
    raw_handshake_finish (raw, short_payload);
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
    Watch *watch;

    raw_handshake_start (raw, server);
    watch = server_last_link (server);
    raw_handshake_finish (raw, empty);
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    /* The control: the same raw client with an honest payload gets in,
     * so the refusals above are about the payloads. */
    g_autoptr(Raw) raw = raw_linked (server, identity);

    g_assert_cmpstr (plexus_link_get_peer_id (server_last_link (server)->link), ==,
                     plexus_identity_get_peer_id (identity));
  }

  /* The dialing side checks the responder the same way. */
  liar.identity = someone_else;
  liar.key = plexus_noise_keypair_new ();
  soup_server_add_websocket_handler (lying_server, "/", NULL, (gchar **) protocols,
                                     on_lying_websocket, &liar, NULL);
  lying_uri = listen_local (lying_server);
  link = dial (session, lying_uri, identity, key, NULL, &error);
  g_assert_null (link);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "did not prove"));
  g_assert_nonnull (strstr (error->message, "4005"));

  soup_server_disconnect (lying_server);
  g_clear_object (&liar.ws);
  g_clear_object (&liar.handshake);
  plexus_noise_keypair_free (liar.key);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
test_truncated_handshake (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  const gchar *protocols[] = { "plexus.v1", NULL };

  server->handshake_timeout_ms = 300;
  {
    /* Message 1, then the client leaves. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GByteArray) message = g_byte_array_new ();
    g_autoptr(PlexusNoiseHandshake) handshake =
      plexus_noise_handshake_new (TRUE, plexus_noise_keypair_get_private_key (raw->key),
                                  (const guint8 *) "plexus.v1", 9);
    Watch *watch;

    g_assert_true (plexus_noise_handshake_write_message (handshake, NULL, 0, message, NULL));
    raw_send (raw, message->data, message->len);
    soup_websocket_connection_close (raw->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
    watch = server_last_link (server);
    assert_closed_with (watch, SOUP_WEBSOCKET_CLOSE_NORMAL);
    g_assert_false (watch->ready);
  }
  {
    /* Garbage instead of message 1. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    const guint8 garbage[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    Watch *watch;

    raw_send (raw, garbage, sizeof garbage);
    watch = server_last_link (server);
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
    g_assert_true (plexus_test_wait_for (raw_is_closed, raw, TIMEOUT_MS));
    g_assert_cmpint (raw->close_code, ==, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    /* Message 1 with a payload, which the protocol forbids. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GByteArray) message = g_byte_array_new ();
    g_autoptr(PlexusNoiseHandshake) handshake =
      plexus_noise_handshake_new (TRUE, plexus_noise_keypair_get_private_key (raw->key),
                                  (const guint8 *) "plexus.v1", 9);

    g_assert_true (plexus_noise_handshake_write_message (handshake, (const guint8 *) "hi", 2,
                                                         message, NULL));
    raw_send (raw, message->data, message->len);
    assert_closed_with (server_last_link (server), PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    /* Message 3 cut short. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    g_autoptr(GBytes) payload = NULL;
    g_autoptr(GByteArray) message = g_byte_array_new ();

    raw_handshake_start (raw, server);
    payload = make_identity_payload (identity, identity, plexus_noise_keypair_get_public_key (raw->key));
    g_assert_true (plexus_noise_handshake_write_message (raw->handshake, g_bytes_get_data (payload, NULL),
                                                         g_bytes_get_size (payload), message, NULL));
    raw_send (raw, message->data, message->len - 1);
    assert_closed_with (server_last_link (server), PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED);
  }
  {
    /* Message 1, then silence: the deadline closes the link. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);
    Watch *watch;

    raw_handshake_start (raw, server);
    watch = server_last_link (server);
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT);
    /* The server's watch was made just before the link started. */
    g_assert_cmpint (watch->closed_at - watch->created_at, >=, 300 * 1000);
    g_assert_true (plexus_test_wait_for (raw_is_closed, raw, TIMEOUT_MS));
    g_assert_cmpint (raw->close_code, ==, PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT);
  }
  {
    /* Nothing at all. */
    g_autoptr(Raw) raw = raw_connect (server->uri, protocols);

    assert_closed_with (server_last_link (server), PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT);
  }

  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static GBytes *
raw_encrypt_bytes (Raw *raw, const guint8 *data, gsize len)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_cipher_encrypt (raw->send, NULL, 0, data, len, out, &error));
  g_assert_no_error (error);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* Keepalive control messages as the protocol defines them: a ping is
 * answered by a pong, other control messages are ignored, and none is a
 * frame for the link's owner. */
static void
test_control (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(Raw) raw = raw_linked (server, identity);
  Watch *watch = server_last_link (server);
  const guint8 ping[] = { PLEXUS_LINK_CONTROL_PREFIX, PLEXUS_LINK_CONTROL_PING };
  const guint8 unknown[] = { PLEXUS_LINK_CONTROL_PREFIX, 0x7f };
  const guint8 longer[] = { PLEXUS_LINK_CONTROL_PREFIX, PLEXUS_LINK_CONTROL_PING, 0x01 };
  const guint8 bare[] = { PLEXUS_LINK_CONTROL_PREFIX };
  g_autoptr(GByteArray) plaintext = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  FrameCount one = { watch, 1 };
  MessageCount answered = { raw, raw->messages->len + 1 };
  GBytes *message;
  guint before;

  {
    g_autoptr(GBytes) sealed = raw_encrypt_bytes (raw, ping, sizeof ping);

    raw_send (raw, g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
  }
  g_assert_true (plexus_test_wait_for (raw_has_messages, &answered, TIMEOUT_MS));
  g_assert_false (raw->closed);
  message = g_ptr_array_index (raw->messages, answered.n - 1);
  g_assert_true (plexus_noise_cipher_decrypt (raw->recv, NULL, 0, g_bytes_get_data (message, NULL),
                                              g_bytes_get_size (message), plaintext, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (plaintext->data, plaintext->len,
                   ((const guint8[]) { PLEXUS_LINK_CONTROL_PREFIX, PLEXUS_LINK_CONTROL_PONG }), 2);

  /* Unknown kinds and malformed ones pass unanswered; a frame after them
   * is the first the owner sees. */
  before = raw->messages->len;
  {
    g_autoptr(GBytes) a = raw_encrypt_bytes (raw, unknown, sizeof unknown);
    g_autoptr(GBytes) b = raw_encrypt_bytes (raw, longer, sizeof longer);
    g_autoptr(GBytes) c = raw_encrypt_bytes (raw, bare, sizeof bare);
    g_autoptr(GBytes) d = raw_encrypt (raw, "after");

    raw_send (raw, g_bytes_get_data (a, NULL), g_bytes_get_size (a));
    raw_send (raw, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    raw_send (raw, g_bytes_get_data (c, NULL), g_bytes_get_size (c));
    raw_send (raw, g_bytes_get_data (d, NULL), g_bytes_get_size (d));
  }
  g_assert_true (plexus_test_wait_for (watch_has_frames, &one, TIMEOUT_MS));
  g_assert_cmpuint (watch->frames->len, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (watch->frames, 0), NULL), 5, "after", 5);
  g_assert_cmpuint (plexus_link_get_frames_in (watch->link), ==, 1);
  g_assert_cmpuint (raw->messages->len, ==, before);
  g_assert_cmpint (plexus_link_get_state (watch->link), ==, PLEXUS_LINK_STATE_READY);

  g_clear_pointer (&raw, raw_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

typedef struct {
  PlexusLink *link;
  gdouble     at_least_ms;
} RttWait;

static gboolean
rtt_reaches (gconstpointer data)
{
  const RttWait *wait = data;

  return plexus_link_get_rtt_ms (wait->link) >= wait->at_least_ms;
}

static gboolean
on_answer_time (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* A link pings a silent peer once its keepalive interval (less its early
 * share) has passed, and the pong times the round trip: the peer here
 * answers 300 ms late, and the link's RTT shows it. */
static void
test_keepalive_rtt (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(Raw) raw = NULL;
  g_autoptr(GByteArray) plaintext = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  const guint8 pong[] = { PLEXUS_LINK_CONTROL_PREFIX, PLEXUS_LINK_CONTROL_PONG };
  MessageCount pinged;
  RttWait wait;
  GBytes *message;
  gint64 linked_at;
  gboolean answer_time = FALSE;
  Watch *watch;

  server->keepalive = 1;
  raw = raw_linked (server, identity);
  linked_at = g_get_monotonic_time ();
  watch = server_last_link (server);
  g_assert_cmpfloat (plexus_link_get_rtt_ms (watch->link), <, 300);

  pinged = (MessageCount) { raw, raw->messages->len + 1 };
  g_assert_true (plexus_test_wait_for (raw_has_messages, &pinged, TIMEOUT_MS));
  g_assert_false (raw->closed);
  /* Not before three quarters of the interval. */
  g_assert_cmpint (g_get_monotonic_time () - linked_at, >=, 3 * G_USEC_PER_SEC / 4);
  message = g_ptr_array_index (raw->messages, pinged.n - 1);
  g_assert_true (plexus_noise_cipher_decrypt (raw->recv, NULL, 0, g_bytes_get_data (message, NULL),
                                              g_bytes_get_size (message), plaintext, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (plaintext->data, plaintext->len,
                   ((const guint8[]) { PLEXUS_LINK_CONTROL_PREFIX, PLEXUS_LINK_CONTROL_PING }), 2);

  g_timeout_add (300, on_answer_time, &answer_time);
  g_assert_true (plexus_test_wait (&answer_time, TIMEOUT_MS));
  {
    g_autoptr(GBytes) sealed = raw_encrypt_bytes (raw, pong, sizeof pong);

    raw_send (raw, g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
  }
  wait = (RttWait) { watch->link, 300 };
  g_assert_true (plexus_test_wait_for (rtt_reaches, &wait, TIMEOUT_MS));
  g_assert_cmpint (plexus_link_get_state (watch->link), ==, PLEXUS_LINK_STATE_READY);
  g_assert_cmpuint (watch->frames->len, ==, 0);

  /* A pong that may answer either of two pings times nothing: the peer
   * lets one ping pass, answers after the next, and the RTT stays. */
  {
    gdouble measured = plexus_link_get_rtt_ms (watch->link);
    g_autoptr(GBytes) sealed = NULL;

    pinged = (MessageCount) { raw, raw->messages->len + 2 };
    g_assert_true (plexus_test_wait_for (raw_has_messages, &pinged, TIMEOUT_MS));
    g_assert_false (raw->closed);
    sealed = raw_encrypt_bytes (raw, pong, sizeof pong);
    raw_send (raw, g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
    /* The next ping comes only once the pong is in. */
    pinged = (MessageCount) { raw, raw->messages->len + 1 };
    g_assert_true (plexus_test_wait_for (raw_has_messages, &pinged, TIMEOUT_MS));
    g_assert_false (raw->closed);
    g_assert_cmpfloat (plexus_link_get_rtt_ms (watch->link), ==, measured);
  }

  g_clear_pointer (&raw, raw_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
test_replay (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  FrameCount one = { NULL, 1 };

  {
    /* The same ciphertext twice. */
    g_autoptr(Raw) raw = raw_linked (server, identity);
    g_autoptr(GBytes) first = raw_encrypt (raw, "first");
    Watch *watch = server_last_link (server);

    raw_send (raw, g_bytes_get_data (first, NULL), g_bytes_get_size (first));
    one.watch = watch;
    g_assert_true (plexus_test_wait_for (watch_has_frames, &one, TIMEOUT_MS));
    g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (watch->frames, 0), NULL), 5, "first", 5);
    raw_send (raw, g_bytes_get_data (first, NULL), g_bytes_get_size (first));
    assert_closed_with (watch, PLEXUS_LINK_CLOSE_DECRYPT_FAILED);
    g_assert_cmpuint (watch->frames->len, ==, 1);
    g_assert_true (plexus_test_wait_for (raw_is_closed, raw, TIMEOUT_MS));
    g_assert_cmpint (raw->close_code, ==, PLEXUS_LINK_CLOSE_DECRYPT_FAILED);
  }
  {
    /* One bit changed. */
    g_autoptr(Raw) raw = raw_linked (server, identity);
    g_autoptr(GBytes) frame = raw_encrypt (raw, "altered");
    g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));

    data[2] ^= 0x10;
    raw_send (raw, data, g_bytes_get_size (frame));
    assert_closed_with (server_last_link (server), PLEXUS_LINK_CLOSE_DECRYPT_FAILED);
    g_assert_cmpuint (server_last_link (server)->frames->len, ==, 0);
  }
  {
    /* Two frames in the wrong order. */
    g_autoptr(Raw) raw = raw_linked (server, identity);
    g_autoptr(GBytes) first = raw_encrypt (raw, "first");
    g_autoptr(GBytes) second = raw_encrypt (raw, "second");

    raw_send (raw, g_bytes_get_data (second, NULL), g_bytes_get_size (second));
    raw_send (raw, g_bytes_get_data (first, NULL), g_bytes_get_size (first));
    assert_closed_with (server_last_link (server), PLEXUS_LINK_CLOSE_DECRYPT_FAILED);
    g_assert_cmpuint (server_last_link (server)->frames->len, ==, 0);
  }
  {
    /* Shorter than a tag. */
    g_autoptr(Raw) raw = raw_linked (server, identity);
    const guint8 stub[10] = { 0 };

    raw_send (raw, stub, sizeof stub);
    assert_closed_with (server_last_link (server), PLEXUS_LINK_CLOSE_DECRYPT_FAILED);
  }
  {
    /* Frames from the server decrypt in order on the raw side, which
     * checks the direction of the keys. */
    g_autoptr(Raw) raw = raw_linked (server, identity);
    g_autoptr(GBytes) frame = g_bytes_new_static ("to the client", 13);
    g_autoptr(GByteArray) plaintext = g_byte_array_new ();
    g_autoptr(GError) error = NULL;
    MessageCount count = { raw, 2 };
    GBytes *message;

    g_assert_true (plexus_link_send (server_last_link (server)->link, frame, &error));
    g_assert_true (plexus_test_wait_for (raw_has_messages, &count, TIMEOUT_MS));
    message = g_ptr_array_index (raw->messages, 1);
    g_assert_cmpuint (g_bytes_get_size (message), ==, 13 + 16);
    g_assert_true (plexus_noise_cipher_decrypt (raw->recv, NULL, 0, g_bytes_get_data (message, NULL),
                                                g_bytes_get_size (message), plaintext, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (plaintext->data, plaintext->len, "to the client", 13);
  }

  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
send_frames (Watch *watch, guint n)
{
  for (guint i = 0; i < n; i++) {
    g_autoptr(GBytes) frame = g_bytes_new_static ("flood", 5);
    g_autoptr(GError) error = NULL;

    g_assert_true (plexus_link_send (watch->link, frame, &error));
    g_assert_no_error (error);
  }
}

typedef struct {
  const Watch *watch;
  guint64      n;
} Handled;

/* Frames delivered or dropped add up to n. */
static gboolean
watch_has_handled (gconstpointer data)
{
  const Handled *handled = data;
  PlexusLink *link = handled->watch->link;

  return plexus_link_get_frames_in (link) + plexus_link_get_frames_dropped (link) >= handled->n ||
         handled->watch->closed;
}

static void
test_rate_limit (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) flooder = NULL;
  g_autoptr(Pair) bystander = NULL;
  Handled handled = { NULL, 30 };
  FrameCount bystander_frames = { NULL, 5 };
  guint64 delivered;
  guint64 dropped;

  /* One frame a second with a burst of 20: within a test run the bucket
   * refills by a frame or two at most. */
  server->rate = 1;
  server->burst = 20;
  flooder = pair_new (server);
  bystander = pair_new (server);

  /* 30 frames: the burst passes, the rest is dropped and counted, and the
   * link stays up, being less than a burst over. */
  send_frames (flooder->client, 30);
  handled.watch = flooder->server;
  g_assert_true (plexus_test_wait_for (watch_has_handled, &handled, TIMEOUT_MS));
  delivered = plexus_link_get_frames_in (flooder->server->link);
  dropped = plexus_link_get_frames_dropped (flooder->server->link);
  g_assert_cmpuint (delivered + dropped, ==, 30);
  g_assert_cmpuint (delivered, >=, 20);
  g_assert_cmpuint (dropped, >=, 5);
  g_assert_cmpuint (flooder->server->frames->len, ==, delivered);
  g_assert_false (flooder->server->closed);

  /* The other link on the same server is not affected. */
  send_frames (bystander->client, 5);
  bystander_frames.watch = bystander->server;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &bystander_frames, TIMEOUT_MS));

  /* 30 more: now more than a burst over within 10 s. */
  send_frames (flooder->client, 30);
  assert_closed_with (flooder->server, PLEXUS_LINK_CLOSE_RATE_LIMIT);
  g_assert_cmpuint (plexus_link_get_frames_dropped (flooder->server->link), >, 20);
  assert_closed_with (flooder->client, PLEXUS_LINK_CLOSE_RATE_LIMIT);
  g_assert_nonnull (strstr (flooder->client->reason, "rate limit exceeded"));

  send_frames (bystander->client, 5);
  bystander_frames.n = 10;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &bystander_frames, TIMEOUT_MS));
  g_assert_cmpuint (plexus_link_get_frames_dropped (bystander->server->link), ==, 0);
  g_assert_false (bystander->server->closed);

  g_clear_pointer (&flooder, pair_free);
  g_clear_pointer (&bystander, pair_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

/* A peer that stops answering: it links from its own thread and main
 * context, then stops running that context, so libsoup there no longer
 * reads, answers pings or sends anything - as if the process were stopped
 * or the network path gone. */
typedef struct {
  gchar              *uri;
  PlexusIdentity     *identity;
  GMainContext       *main_context;
  GMutex              mutex;
  GCond               cond;
  gboolean            release;
  gint                linked;
  gint                done;
  gint                closed_code;
} FrozenPeer;

static void
on_frozen_closed (PlexusLink *link, gint code, const gchar *reason, gpointer user_data)
{
  FrozenPeer *peer = user_data;

  peer->closed_code = code;
}

static gboolean
frozen_link_is_closed (gconstpointer data)
{
  return ((const FrozenPeer *) data)->closed_code != 0;
}

static void
on_frozen_ws_finalized (gpointer data, GObject *where_the_object_was)
{
  *(gint *) data = TRUE;
}

static gpointer
frozen_peer_thread (gpointer user_data)
{
  FrozenPeer *peer = user_data;
  GMainContext *context = g_main_context_new ();
  SoupSession *session;
  g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
  ConnectResult connect = { 0 };
  gint ws_finalized = FALSE;

  g_main_context_push_thread_default (context);
  session = soup_session_new ();
  plexus_link_connect_async (session, peer->uri, peer->identity, key, NULL, NULL,
                             on_connected, &connect);
  while (!connect.done)
    g_main_context_iteration (context, TRUE);
  g_assert_no_error (connect.error);
  g_signal_connect (connect.link, "closed", G_CALLBACK (on_frozen_closed), peer);
  g_object_weak_ref (G_OBJECT (plexus_link_get_websocket (connect.link)),
                     on_frozen_ws_finalized, &ws_finalized);

  g_atomic_int_set (&peer->linked, TRUE);
  g_main_context_wakeup (peer->main_context);
  g_mutex_lock (&peer->mutex);
  while (!peer->release)
    g_cond_wait (&peer->cond, &peer->mutex);
  g_mutex_unlock (&peer->mutex);

  /* Thawed: read what the server sent, which ends in its close frame. */
  while (!frozen_link_is_closed (peer))
    g_main_context_iteration (context, TRUE);
  g_object_unref (connect.link);
  while (!ws_finalized)
    g_main_context_iteration (context, TRUE);
  g_object_unref (session);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);

  g_atomic_int_set (&peer->done, TRUE);
  g_main_context_wakeup (peer->main_context);
  return NULL;
}

static gboolean
server_link_from (TestServer *server, PlexusIdentity *identity, Watch **watch)
{
  for (guint i = 0; i < server->accepted->len; i++) {
    Watch *candidate = g_ptr_array_index (server->accepted, i);

    if (g_strcmp0 (plexus_link_get_peer_id (candidate->link),
                   plexus_identity_get_peer_id (identity)) == 0) {
      *watch = candidate;
      return TRUE;
    }
  }
  return FALSE;
}

typedef struct {
  TestServer     *server;
  PlexusIdentity *identity;
  Watch          *watch;
} LinkFromWait;

static gboolean
has_link_from (gconstpointer data)
{
  LinkFromWait *wait = (LinkFromWait *) data;

  return server_link_from (wait->server, wait->identity, &wait->watch);
}

static void
test_keepalive (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) healthy = NULL;
  g_autoptr(PlexusIdentity) frozen_identity = plexus_identity_new_ephemeral ();
  FrozenPeer peer = { 0 };
  GThread *thread;
  Watch *frozen = NULL;
  gint64 frozen_at;
  const guint interval = 1;

  server->keepalive = interval;
  /* An idle link whose peer answers pings stays up. */
  healthy = pair_new (server);

  peer.uri = server->uri;
  peer.identity = frozen_identity;
  peer.main_context = g_main_context_default ();
  g_mutex_init (&peer.mutex);
  g_cond_init (&peer.cond);
  thread = g_thread_new ("frozen-peer", frozen_peer_thread, &peer);
  g_assert_true (plexus_test_wait_for (flag_is_set, &peer.linked, TIMEOUT_MS));
  frozen_at = g_get_monotonic_time ();
  /* The peer is linked once it sent the handshake's last message; the
   * server knows who it is once that message is read. */
  {
    LinkFromWait wait = { server, frozen_identity, NULL };

    g_assert_true (plexus_test_wait_for (has_link_from, &wait, TIMEOUT_MS));
    frozen = wait.watch;
  }
  g_assert_true (plexus_test_wait_for (watch_is_ready, frozen, TIMEOUT_MS));

  assert_closed_with (frozen, PLEXUS_LINK_CLOSE_PEER_SILENT);
  g_test_message ("silent peer detected after %.2f s",
                  (frozen->closed_at - frozen_at) / (gdouble) G_USEC_PER_SEC);
  g_assert_cmpint (frozen->closed_at - frozen_at, <=, (3 * interval + 1) * G_USEC_PER_SEC);
  g_assert_cmpint (frozen->closed_at - frozen_at, >=, (2 * interval) * G_USEC_PER_SEC);
  g_assert_nonnull (strstr (frozen->reason, "peer silent"));
  /* The healthy link has been idle as long, and pings kept it up. */
  g_assert_false (healthy->server->closed);
  g_assert_false (healthy->client->closed);
  g_assert_cmpint (plexus_link_get_state (healthy->server->link), ==, PLEXUS_LINK_STATE_READY);
  /* Pings and pongs are the links' own: their owners saw no frame, and
   * the pongs timed the round trip. */
  g_assert_cmpuint (healthy->server->frames->len, ==, 0);
  g_assert_cmpuint (healthy->client->frames->len, ==, 0);
  g_assert_cmpuint (plexus_link_get_frames_in (healthy->server->link), ==, 0);
  g_assert_cmpfloat (plexus_link_get_rtt_ms (healthy->server->link), >=, 0);

  g_mutex_lock (&peer.mutex);
  peer.release = TRUE;
  g_cond_signal (&peer.cond);
  g_mutex_unlock (&peer.mutex);
  g_assert_true (plexus_test_wait_for (flag_is_set, &peer.done, TIMEOUT_MS));
  g_thread_join (thread);
  g_assert_cmpint (peer.closed_code, ==, PLEXUS_LINK_CLOSE_PEER_SILENT);
  g_mutex_clear (&peer.mutex);
  g_cond_clear (&peer.cond);

  g_clear_pointer (&healthy, pair_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

static void
test_send_queue (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) pair = pair_new (server);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) extra = g_bytes_new_static ("after", 5);
  const gsize limit = PLEXUS_LINK_DEFAULT_MAX_QUEUED_BYTES;
  FrameCount all = { pair->server, 0 };
  guint32 sent = 0;

  /* Without running the main loop the server reads nothing: the socket
   * buffers fill, then the link's queue, then sending fails. */
  while (sent < 10000) {
    g_autoptr(GBytes) frame = NULL;
    guint8 *data = g_malloc0 (PLEXUS_LINK_MAX_FRAME);

    /* Numbered after a non-zero byte: a frame may not begin with 0. */
    data[0] = 'n';
    memcpy (data + 1, &sent, sizeof sent);
    frame = g_bytes_new_take (data, PLEXUS_LINK_MAX_FRAME);
    if (!plexus_link_send (pair->client->link, frame, &error))
      break;
    sent++;
  }
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "send queue full"));
  g_clear_error (&error);
  g_test_message ("%u frames of %d bytes accepted before the queue was full",
                  sent, PLEXUS_LINK_MAX_FRAME);
  g_assert_cmpuint (plexus_link_get_queued_bytes (pair->client->link), <=, limit);
  g_assert_cmpuint (plexus_link_get_queued_bytes (pair->client->link) + PLEXUS_LINK_MAX_MESSAGE, >, limit);
  g_assert_cmpuint (plexus_link_get_frames_out (pair->client->link), ==, sent);

  /* Once the peer reads, everything accepted arrives, in order. */
  all.n = sent;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &all, 4 * TIMEOUT_MS));
  for (guint32 i = 0; i < sent; i++) {
    GBytes *frame = g_ptr_array_index (pair->server->frames, i);
    guint32 number;

    g_assert_cmpuint (g_bytes_get_size (frame), ==, PLEXUS_LINK_MAX_FRAME);
    memcpy (&number, (const guint8 *) g_bytes_get_data (frame, NULL) + 1, sizeof number);
    g_assert_cmpuint (number, ==, i);
  }
  g_assert_cmpuint (plexus_link_get_queued_bytes (pair->client->link), ==, 0);
  g_assert_true (plexus_link_send (pair->client->link, extra, &error));
  g_assert_no_error (error);
  all.n = sent + 1;
  g_assert_true (plexus_test_wait_for (watch_has_frames, &all, TIMEOUT_MS));

  g_clear_pointer (&pair, pair_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

/* The GSocket under @ws, through any wrapping streams. */
static GSocket *
websocket_socket (SoupWebsocketConnection *ws)
{
  GIOStream *stream = soup_websocket_connection_get_io_stream (ws);

  while (stream != NULL && !G_IS_SOCKET_CONNECTION (stream)) {
    GIOStream *base = NULL;

    if (g_object_class_find_property (G_OBJECT_GET_CLASS (stream), "base-iostream") == NULL)
      return NULL;
    g_object_get (stream, "base-iostream", &base, NULL);
    g_object_unref (base);  /* the wrapper holds it */
    stream = base;
  }
  return stream != NULL ? g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream)) : NULL;
}

/* A write that fails inside plexus_link_send() closes the link, but the
 * owner hears of it from the main loop, not while it is still sending. */
static void
test_write_failure (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) pair = pair_new (server);
  g_autoptr(GBytes) frame = g_bytes_new_static ("lost", 4);
  g_autoptr(GError) error = NULL;
  GSocket *socket = websocket_socket (plexus_link_get_websocket (pair->client->link));

  g_assert_nonnull (socket);
  /* Writes on it fail now (EPIPE), within the call that writes. */
  g_assert_true (g_socket_shutdown (socket, FALSE, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_link_send (pair->client->link, frame, &error));
  g_assert_no_error (error);
  g_assert_cmpint (plexus_link_get_state (pair->client->link), ==, PLEXUS_LINK_STATE_CLOSED);
  g_assert_false (pair->client->closed);
  /* Nothing more goes out on a closed link. */
  g_assert_false (plexus_link_send (pair->client->link, frame, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_true (plexus_test_wait_for (watch_is_closed, pair->client, TIMEOUT_MS));
  g_assert_cmpint (pair->client->code, ==, SOUP_WEBSOCKET_CLOSE_ABNORMAL);
}

static void
test_close (void)
{
  g_autoptr(TestServer) server = test_server_new ();
  g_autoptr(Pair) pair = pair_new (server);
  g_autoptr(Pair) released = NULL;
  g_autoptr(Pair) verbose = NULL;
  g_autoptr(GBytes) frame = g_bytes_new_static ("late", 4);
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) long_reason = g_string_new (NULL);
  Watch *released_server;

  /* Closing says so at once, to the closer and then to the peer. */
  plexus_link_close (pair->client->link, SOUP_WEBSOCKET_CLOSE_NORMAL, "bye");
  g_assert_true (pair->client->closed);
  g_assert_cmpint (pair->client->code, ==, SOUP_WEBSOCKET_CLOSE_NORMAL);
  g_assert_cmpstr (pair->client->reason, ==, "bye");
  assert_closed_with (pair->server, SOUP_WEBSOCKET_CLOSE_NORMAL);
  g_assert_cmpstr (pair->server->reason, ==, "bye");
  g_assert_false (plexus_link_send (pair->client->link, frame, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_clear_error (&error);
  /* Closing again does nothing. */
  plexus_link_close (pair->client->link, 4999, "again");
  g_assert_cmpint (plexus_link_get_close_code (pair->client->link), ==, SOUP_WEBSOCKET_CLOSE_NORMAL);

  /* Dropping the last reference closes the link with 1001. */
  released = pair_new (server);
  released_server = released->server;
  g_clear_pointer (&released, pair_free);
  assert_closed_with (released_server, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);

  /* A reason longer than a close frame holds is cut for the wire. */
  verbose = pair_new (server);
  for (guint i = 0; i < 20; i++)
    g_string_append (long_reason, "élan vital ");
  plexus_link_close (verbose->server->link, 4100, long_reason->str);
  g_assert_cmpstr (verbose->server->reason, ==, long_reason->str);
  assert_closed_with (verbose->client, 4100);
  g_assert_cmpuint (strlen (verbose->client->reason), <=, 123);
  g_assert_true (g_str_has_prefix (long_reason->str, verbose->client->reason));
  g_assert_true (g_utf8_validate (verbose->client->reason, -1, NULL));

  g_clear_pointer (&pair, pair_free);
  g_clear_pointer (&verbose, pair_free);
  g_ptr_array_set_size (server->accepted, 0);
  assert_all_closed ();
}

/* Many inbound links to a real plexusd ----------------------------------- */

#define MANY_LINKS 100
#define LOW_SOFT_LIMIT 64

typedef struct {
  guint ready;
  guint failed;
} ManyLinks;

static void
on_many_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ManyLinks *many = ((gpointer *) user_data)[0];
  GPtrArray *links = ((gpointer *) user_data)[1];
  g_autoptr(GError) error = NULL;
  PlexusLink *link = plexus_link_connect_finish (SOUP_SESSION (source), result, &error);

  g_free (user_data);
  if (link == NULL) {
    g_test_message ("a link failed: %s", error->message);
    many->failed++;
    return;
  }
  many->ready++;
  g_ptr_array_add (links, link);
}

static gboolean
all_links_closed (gconstpointer data)
{
  const GPtrArray *links = data;

  for (guint i = 0; i < links->len; i++)
    if (plexus_link_get_state (g_ptr_array_index (links, i)) != PLEXUS_LINK_STATE_CLOSED)
      return FALSE;
  return TRUE;
}

static gboolean
one_settled (gconstpointer data)
{
  const ManyLinks *many = data;

  return many->ready + many->failed == 1;
}

static gboolean
many_settled (gconstpointer data)
{
  const ManyLinks *many = data;

  return many->ready + many->failed == MANY_LINKS;
}

static void
on_drained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, NULL);
  g_object_unref (source);
}

/* plexusd on loopback without a bus, started by prlimit(1) with
 * `--nofile=@limit`; returns its ws:// URI once it listens. */
static GSubprocess *
start_limited_daemon (const gchar *limit, const gchar *state_dir, gchar **uri)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *option = g_strconcat ("--nofile=", limit, NULL);
  GSubprocess *daemon;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  /* Running out of descriptors is warned about, and the memcheck run's
   * G_DEBUG makes warnings fatal. */
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "gc-friendly,fatal-criticals", TRUE);
  daemon = g_subprocess_launcher_spawn (launcher, &error, "prlimit", option, "--", g_getenv ("PLEXUSD"),
                                        "--bus", "none", "--listen", "127.0.0.1:0", "--state-dir", state_dir,
                                        "--config", "/dev/null", NULL);
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stderr_pipe (daemon));
  *uri = NULL;
  while (*uri == NULL) {
    g_autofree gchar *line = plexus_test_read_line (lines, TIMEOUT_MS);
    const gchar *at;

    g_assert_nonnull (line);
    at = strstr (line, "listening on ws://");
    if (at != NULL)
      *uri = g_strdup (at + strlen ("listening on "));
  }
  /* The rest is drained, or plexusd would block writing to a full pipe. */
  g_output_stream_splice_async (g_memory_output_stream_new_resizable (), G_INPUT_STREAM (lines),
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, NULL, on_drained, NULL);
  return daemon;
}

static void
open_many (SoupSession *session, const gchar *uri, guint n, ManyLinks *many, GPtrArray *links)
{
  many->ready = many->failed = 0;
  for (guint i = 0; i < n; i++) {
    g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
    PlexusNoiseKeypair *key = plexus_noise_keypair_new ();
    gpointer *data = g_new (gpointer, 2);

    data[0] = many;
    data[1] = links;
    plexus_link_connect_async (session, uri, identity, key, NULL, NULL, on_many_connected, data);
    plexus_noise_keypair_free (key);
  }
}

static void
close_all (GPtrArray *links)
{
  for (guint i = 0; i < links->len; i++)
    plexus_link_close (g_ptr_array_index (links, i), 1000, "done");
  g_assert_true (plexus_test_wait_for (all_links_closed, links, 30000));
  g_ptr_array_set_size (links, 0);
}

static void
stop_daemon (GSubprocess *daemon, const gchar *state_dir)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (g_subprocess_get_identifier (daemon) == NULL);
  g_subprocess_send_signal (daemon, SIGTERM);
  g_assert_true (g_subprocess_wait (daemon, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (daemon));
  g_assert_cmpint (g_subprocess_get_exit_status (daemon), ==, 0);
  plexus_test_remove_tree (state_dir);
}

/* Each accepted link holds two descriptors (its socket and the eventfd
 * of the context its idle source waits in): plexusd raises its soft
 * descriptor limit to the hard one, or a relay would stop accepting at a
 * few hundred links. Started here under a soft limit of 64, which 100
 * links need three times over. */
static void
test_many_inbound (void)
{
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(SoupSession) session = soup_session_new_with_options ("max-conns", 4 * MANY_LINKS,
                                                                  "max-conns-per-host", 4 * MANY_LINKS, NULL);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *state_dir = g_dir_make_tmp ("plexus-many-XXXXXX", &error);
  g_autofree gchar *limit = NULL;
  g_autofree gchar *uri = NULL;
  ManyLinks many = { 0, 0 };
  struct rlimit saved;

  g_assert_no_error (error);
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &saved), ==, 0);
  if (saved.rlim_max < 4 * MANY_LINKS) {
    g_test_skip ("the hard descriptor limit is too low for this test");
    return;
  }
  limit = g_strdup_printf ("%d:%llu", LOW_SOFT_LIMIT, (unsigned long long) saved.rlim_max);
  daemon = start_limited_daemon (limit, state_dir, &uri);
  open_many (session, uri, MANY_LINKS, &many, links);
  g_assert_true (plexus_test_wait_for (many_settled, &many, 60000));
  g_assert_cmpuint (many.failed, ==, 0);
  g_assert_cmpuint (many.ready, ==, MANY_LINKS);
  close_all (links);
  stop_daemon (daemon, state_dir);
}

/* Out of descriptors for good (the hard limit is 64 too), plexusd holds
 * what it can and keeps serving: once links go, a new one comes up.
 * (The others wait in the listening backlog, or are dropped when the
 * link cannot be watched; this session gives up on the waiting ones
 * after 10 s.) libsoup's own listener would never accept again. */
static void
test_out_of_descriptors (void)
{
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(SoupSession) session = soup_session_new_with_options ("max-conns", 4 * MANY_LINKS,
                                                                  "max-conns-per-host", 4 * MANY_LINKS,
                                                                  "timeout", 10, NULL);
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *state_dir = g_dir_make_tmp ("plexus-many-XXXXXX", &error);
  g_autofree gchar *uri = NULL;
  ManyLinks many = { 0, 0 };

  g_assert_no_error (error);
  daemon = start_limited_daemon ("64:64", state_dir, &uri);
  open_many (session, uri, MANY_LINKS, &many, links);
  g_assert_true (plexus_test_wait_for (many_settled, &many, 60000));
  g_assert_cmpuint (many.failed, >, 0);
  g_assert_cmpuint (many.ready, >, 0);
  close_all (links);

  open_many (session, uri, 1, &many, links);
  g_assert_true (plexus_test_wait_for (one_settled, &many, 30000));
  g_assert_cmpuint (many.ready, ==, 1);
  close_all (links);
  stop_daemon (daemon, state_dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/link/handshake", test_handshake);
  g_test_add_func ("/plexus/link/frames", test_frames);
  g_test_add_func ("/plexus/link/oversized-message", test_oversized_message);
  g_test_add_func ("/plexus/link/subprotocol", test_subprotocol);
  g_test_add_func ("/plexus/link/peer-id-mismatch", test_peer_id_mismatch);
  g_test_add_func ("/plexus/link/bad-identity", test_bad_identity);
  g_test_add_func ("/plexus/link/truncated-handshake", test_truncated_handshake);
  g_test_add_func ("/plexus/link/replay", test_replay);
  g_test_add_func ("/plexus/link/rate-limit", test_rate_limit);
  g_test_add_func ("/plexus/link/keepalive", test_keepalive);
  g_test_add_func ("/plexus/link/control", test_control);
  g_test_add_func ("/plexus/link/keepalive-rtt", test_keepalive_rtt);
  g_test_add_func ("/plexus/link/send-queue", test_send_queue);
  g_test_add_func ("/plexus/link/close", test_close);
  g_test_add_func ("/plexus/link/write-failure", test_write_failure);
  g_test_add_func ("/plexus/link/many-inbound", test_many_inbound);
  g_test_add_func ("/plexus/link/out-of-descriptors", test_out_of_descriptors);

  return g_test_run ();
}
