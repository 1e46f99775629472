/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "plexus-node.h"
#include "plexus-test-fixture.h"

/* Two nodes in one process, linked over 127.0.0.1: node A dials node B
 * (B is A's bootstrap), so each test sees envelopes dispatched both on a
 * dialed link and on an accepted one. */

#define TIMEOUT_MS 10000
#define UNKNOWN_PEER_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

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

/* Two linked nodes ---------------------------------------------------------- */

typedef struct {
  gchar         *tmpdir;
  PlexusContext *context_a;
  PlexusContext *context_b;
  PlexusNode    *a;
  PlexusNode    *b;
  PlexusLink    *link_a;      /* A's link to B, while up */
  PlexusLink    *link_b;      /* B's link to A, while up */
  guint          removed_a;
  guint          removed_b;
  gint           live_links;  /* links not yet finalized */
} Pair;

static void
on_link_finalized (gpointer data, GObject *where_the_object_was)
{
  ((Pair *) data)->live_links--;
}

static void
on_link_added (PlexusNode *node, PlexusLink *link, gpointer user_data)
{
  Pair *pair = user_data;

  pair->live_links++;
  g_object_weak_ref (G_OBJECT (link), on_link_finalized, pair);
  if (node == pair->a)
    pair->link_a = link;
  else
    pair->link_b = link;
}

static void
on_link_removed (PlexusNode *node, PlexusLink *link, gpointer user_data)
{
  Pair *pair = user_data;

  if (node == pair->a) {
    pair->removed_a++;
    if (pair->link_a == link)
      pair->link_a = NULL;
  } else {
    pair->removed_b++;
    if (pair->link_b == link)
      pair->link_b = NULL;
  }
}

static PlexusContext *
context_new (const gchar *tmpdir, const gchar *name, const gchar *bootstrap)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusBroker) broker = plexus_broker_new ();
  g_autofree gchar *state_dir = g_build_filename (tmpdir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir (state_dir, 0700), ==, 0);
  if (bootstrap != NULL) {
    const gchar * const uris[] = { bootstrap, NULL };

    plexus_config_set_override_list (config, "node", "bootstrap", uris, &error);
    g_assert_no_error (error);
  }
  return plexus_context_new (config, identity, broker, state_dir);
}

static PlexusNode *
node_new (PlexusContext *context, Pair *pair)
{
  PlexusNode *node = plexus_node_new (context);
  g_autoptr(GError) error = NULL;

  g_signal_connect (node, "link-added", G_CALLBACK (on_link_added), pair);
  g_signal_connect (node, "link-removed", G_CALLBACK (on_link_removed), pair);
  plexus_node_listen (node, "127.0.0.1:0", &error);
  g_assert_no_error (error);
  return node;
}

static gboolean
pair_is_linked (gconstpointer data)
{
  const Pair *pair = data;

  return pair->link_a != NULL && pair->link_b != NULL;
}

static Pair *
pair_new (void)
{
  Pair *pair = g_new0 (Pair, 1);
  g_autoptr(GError) error = NULL;

  pair->tmpdir = g_dir_make_tmp ("test-node-XXXXXX", &error);
  g_assert_no_error (error);
  pair->context_b = context_new (pair->tmpdir, "b", NULL);
  pair->b = node_new (pair->context_b, pair);
  pair->context_a = context_new (pair->tmpdir, "a", plexus_node_get_address (pair->b));
  pair->a = node_new (pair->context_a, pair);
  plexus_node_start (pair->a);
  plexus_node_start (pair->b);
  g_assert_true (plexus_test_wait_for (pair_is_linked, pair, TIMEOUT_MS));
  return pair;
}

static const gchar *
peer_id_of (PlexusContext *context)
{
  return plexus_identity_get_peer_id (plexus_context_get_identity (context));
}

static gboolean
no_live_links (gconstpointer data)
{
  return ((const Pair *) data)->live_links == 0;
}

static void
remove_state_dir (const gchar *tmpdir, const gchar *name)
{
  g_autofree gchar *path = g_build_filename (tmpdir, name, NULL);

  g_assert_cmpint (g_rmdir (path), ==, 0);
}

static void
pair_free (Pair *pair)
{
  plexus_node_stop (pair->a);
  plexus_node_stop (pair->b);
  g_clear_object (&pair->a);
  g_clear_object (&pair->b);
  /* Each test ends only when libsoup has finished closing the links. */
  g_assert_true (plexus_test_wait_for (no_live_links, pair, TIMEOUT_MS));
  g_clear_object (&pair->context_a);
  g_clear_object (&pair->context_b);
  remove_state_dir (pair->tmpdir, "a");
  remove_state_dir (pair->tmpdir, "b");
  g_assert_cmpint (g_rmdir (pair->tmpdir), ==, 0);
  g_free (pair->tmpdir);
  g_free (pair);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Pair, pair_free)

/* Runs a request to completion. */
static PlexusEnvelope *
request (PlexusNode  *node,
         const gchar *peer_id,
         const gchar *type,
         guint        timeout_ms,
         GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  plexus_node_request_async (node, peer_id, type, NULL, timeout_ms, NULL, on_async_result, &result);
  g_assert_true (plexus_test_wait_for (result_is_set, &result, TIMEOUT_MS));
  return plexus_node_request_finish (node, result, error);
}

/* Frames a link receives, decoded. */
static void
on_frame_collect (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  GPtrArray *received = user_data;
  gsize length;
  const guint8 *data = g_bytes_get_data (frame, &length);
  g_autoptr(GError) error = NULL;
  PlexusEnvelope *envelope = plexus_envelope_decode (data, length, NULL, &error);

  g_assert_no_error (error);
  g_ptr_array_add (received, envelope);
}

static gboolean
has_frames (gconstpointer data)
{
  const GPtrArray *received = data;

  return received->len > 0;
}

static const gchar *
error_code_of (PlexusEnvelope *envelope)
{
  g_assert_cmpstr (plexus_envelope_get_message_type (envelope), ==, "error");
  return json_object_get_string_member (plexus_envelope_get_body (envelope), "code");
}

static void
send_raw_len (PlexusLink *link, const gchar *data, gsize length)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, length);
  g_autoptr(GError) error = NULL;

  plexus_link_send (link, bytes, &error);
  g_assert_no_error (error);
}

static void
send_raw (PlexusLink *link, const gchar *text)
{
  g_autoptr(GBytes) bytes = g_bytes_new (text, strlen (text));
  g_autoptr(GError) error = NULL;

  plexus_link_send (link, bytes, &error);
  g_assert_no_error (error);
}

static void
send_envelope (PlexusLink *link, PlexusEnvelope *envelope)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = plexus_envelope_encode (envelope, &error);

  g_assert_no_error (error);
  plexus_link_send (link, bytes, &error);
  g_assert_no_error (error);
}

/* Tests --------------------------------------------------------------------- */

static void
test_ping (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(PlexusEnvelope) pong = NULL;
  g_autoptr(GError) error = NULL;

  /* Over the link A dialed, then the other way. */
  pong = request (pair->a, peer_id_of (pair->context_b), "ping", TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_envelope_get_message_type (pong), ==, "pong");
  g_assert_cmpstr (plexus_envelope_get_from (pong), ==, peer_id_of (pair->context_b));
  g_assert_cmpstr (plexus_envelope_get_to (pong), ==, peer_id_of (pair->context_a));
  g_assert_nonnull (plexus_envelope_get_re (pong));
  g_assert_cmpuint (json_object_get_size (plexus_envelope_get_body (pong)), ==, 0);
  g_clear_object (&pong);

  pong = request (pair->b, peer_id_of (pair->context_a), "ping", TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_envelope_get_message_type (pong), ==, "pong");
  g_assert_cmpstr (plexus_envelope_get_from (pong), ==, peer_id_of (pair->context_a));
}

static void
test_unknown_type (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(PlexusEnvelope) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = request (pair->a, peer_id_of (pair->context_b), "test.nobody-handles-this", TIMEOUT_MS, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_null (reply);
  g_assert_nonnull (strstr (error->message, PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE));
  g_assert_nonnull (strstr (error->message, "test.nobody-handles-this"));
  /* The link stays up: one bad message is no reason to drop a peer. */
  g_assert_nonnull (plexus_node_get_link (pair->a, peer_id_of (pair->context_b)));
}

static PlexusEnvelope *
handle_silently (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  (*(guint *) user_data)++;
  return NULL;
}

static gboolean
uint_is_one (gconstpointer data)
{
  return *(const guint *) data == 1;
}

static void
test_timeout (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(PlexusEnvelope) reply = NULL;
  g_autoptr(GError) error = NULL;
  guint handled = 0;
  gint64 started;
  gint64 elapsed_ms;

  plexus_node_register_handler (pair->b, "test.silent", handle_silently, &handled, NULL);
  started = g_get_monotonic_time ();
  reply = request (pair->a, peer_id_of (pair->context_b), "test.silent", 300, &error);
  elapsed_ms = (g_get_monotonic_time () - started) / 1000;
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_TIMED_OUT);
  g_assert_null (reply);
  /* B got it, though perhaps only after A gave up on a loaded machine. */
  g_assert_true (plexus_test_wait_for (uint_is_one, &handled, TIMEOUT_MS));
  g_assert_cmpint (elapsed_ms, >=, 300);
  g_assert_cmpint (elapsed_ms, <, TIMEOUT_MS);
}

static void
test_not_found (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(PlexusEnvelope) reply = NULL;
  g_autoptr(GError) error = NULL;

  reply = request (pair->a, UNKNOWN_PEER_ID, "ping", TIMEOUT_MS, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND);
  g_assert_null (reply);
}

/* Messages that decode but cannot be acted on are answered by ID. */
static void
test_expired_and_no_route (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(GPtrArray) received = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(PlexusEnvelope) old = plexus_envelope_new ("ping", peer_id_of (pair->context_a), "", NULL);
  g_autoptr(PlexusEnvelope) elsewhere = plexus_envelope_new ("ping", peer_id_of (pair->context_a),
                                                             UNKNOWN_PEER_ID, NULL);
  g_autoptr(PlexusEnvelope) to_b = plexus_envelope_new ("ping", peer_id_of (pair->context_a),
                                                        peer_id_of (pair->context_b), NULL);
  PlexusEnvelope *answer;

  g_signal_connect (pair->link_a, "frame", G_CALLBACK (on_frame_collect), received);

  plexus_envelope_set_ts (old, g_get_real_time () / 1000 - PLEXUS_NODE_MAX_CLOCK_SKEW_MS - 60000);
  send_envelope (pair->link_a, old);
  g_assert_true (plexus_test_wait_for (has_frames, received, TIMEOUT_MS));
  answer = g_ptr_array_index (received, 0);
  g_assert_cmpstr (error_code_of (answer), ==, PLEXUS_ENVELOPE_CODE_EXPIRED);
  g_assert_cmpstr (plexus_envelope_get_re (answer), ==, plexus_envelope_get_id (old));
  g_ptr_array_set_size (received, 0);

  send_envelope (pair->link_a, elsewhere);
  g_assert_true (plexus_test_wait_for (has_frames, received, TIMEOUT_MS));
  answer = g_ptr_array_index (received, 0);
  g_assert_cmpstr (error_code_of (answer), ==, PLEXUS_ENVELOPE_CODE_NO_ROUTE);
  g_assert_cmpstr (plexus_envelope_get_re (answer), ==, plexus_envelope_get_id (elsewhere));
  g_ptr_array_set_size (received, 0);

  /* Addressed to B by its peer ID rather than "": B answers. */
  send_envelope (pair->link_a, to_b);
  g_assert_true (plexus_test_wait_for (has_frames, received, TIMEOUT_MS));
  answer = g_ptr_array_index (received, 0);
  g_assert_cmpstr (plexus_envelope_get_message_type (answer), ==, "pong");
  g_assert_cmpstr (plexus_envelope_get_re (answer), ==, plexus_envelope_get_id (to_b));

  g_signal_handlers_disconnect_by_data (pair->link_a, received);
}

static gboolean
link_a_is_gone (gconstpointer data)
{
  const Pair *pair = data;

  return pair->link_a == NULL && pair->link_b == NULL;
}

/* Frames that are not envelopes are answered, counted, and past the limit
 * cost the peer its link. */
static void
test_bad_frames (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(GPtrArray) received = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GAsyncResult) pending = NULL;
  g_autoptr(PlexusEnvelope) reply = NULL;
  g_autoptr(PlexusLink) link_a = g_object_ref (pair->link_a);
  g_autoptr(PlexusLink) link_b = g_object_ref (pair->link_b);
  g_autoptr(GError) error = NULL;
  guint handled = 0;

  /* A request still waiting when the link goes must fail then. */
  plexus_node_register_handler (pair->b, "test.silent", handle_silently, &handled, NULL);
  plexus_node_request_async (pair->a, peer_id_of (pair->context_b), "test.silent", NULL,
                             TIMEOUT_MS, NULL, on_async_result, &pending);
  g_signal_connect (link_a, "frame", G_CALLBACK (on_frame_collect), received);

  /* JSON whose ID can be read is answered by ID, with an attachment after
   * it too. */
  send_raw (link_a, "{\"id\":\"readable-id\"}");
  send_raw_len (link_a, "{\"id\":\"attached-id\"}\0\xff", 22);
  for (guint i = 2; i <= PLEXUS_NODE_MAX_BAD_MESSAGES; i++)
    send_raw (link_a, "not an envelope");
  g_assert_true (plexus_test_wait_for (link_a_is_gone, pair, TIMEOUT_MS));

  /* Every bad frame but the last, which crossed the limit, was answered. */
  g_assert_cmpuint (received->len, ==, PLEXUS_NODE_MAX_BAD_MESSAGES);
  g_assert_cmpstr (error_code_of (g_ptr_array_index (received, 0)), ==, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE);
  g_assert_cmpstr (plexus_envelope_get_re (g_ptr_array_index (received, 0)), ==, "readable-id");
  g_assert_cmpstr (error_code_of (g_ptr_array_index (received, 1)), ==, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE);
  g_assert_cmpstr (plexus_envelope_get_re (g_ptr_array_index (received, 1)), ==, "attached-id");
  for (guint i = 2; i < received->len; i++) {
    PlexusEnvelope *answer = g_ptr_array_index (received, i);

    g_assert_cmpstr (error_code_of (answer), ==, PLEXUS_ENVELOPE_CODE_BAD_JSON);
    g_assert_null (plexus_envelope_get_re (answer));
    g_assert_cmpstr (plexus_envelope_get_from (answer), ==, peer_id_of (pair->context_b));
  }

  /* Both ends agree on why and that it is over. */
  g_assert_cmpint (plexus_link_get_close_code (link_b), ==, PLEXUS_NODE_CLOSE_TOO_MANY_BAD_MESSAGES);
  g_assert_cmpint (plexus_link_get_close_code (link_a), ==, PLEXUS_NODE_CLOSE_TOO_MANY_BAD_MESSAGES);
  g_assert_cmpstr (plexus_link_get_close_reason (link_a), ==, "too many bad messages");
  g_assert_cmpuint (pair->removed_a, ==, 1);
  g_assert_cmpuint (pair->removed_b, ==, 1);
  g_assert_null (plexus_node_get_link (pair->a, peer_id_of (pair->context_b)));
  g_assert_null (plexus_node_get_link (pair->b, peer_id_of (pair->context_a)));

  g_assert_true (plexus_test_wait_for (result_is_set, &pending, TIMEOUT_MS));
  reply = plexus_node_request_finish (pair->a, pending, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_null (reply);
  g_assert_cmpuint (handled, ==, 1);

  g_signal_handlers_disconnect_by_data (link_a, received);
}

/* Signals in their two wire forms ------------------------------------------ */

static PlexusEnvelope *
handle_collect (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  g_ptr_array_add (user_data, g_object_ref (envelope));
  return NULL;
}

static void
on_frame_keep (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  g_ptr_array_add (user_data, g_bytes_ref (frame));
}

typedef struct {
  const GPtrArray *array;
  guint            n;
} Count;

static gboolean
has_n (gconstpointer data)
{
  const Count *count = data;

  return count->array->len >= count->n;
}

static PlexusEnvelope *
new_deliver_signal (const gchar *from, const gchar *to, const gchar *relay)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) sealed = g_bytes_new_static ("sealed\0signal", 13);
  PlexusEnvelope *envelope = plexus_envelope_new ("signal.deliver", from, to, NULL);

  json_object_set_string_member (body, "id", plexus_envelope_get_id (envelope));
  json_object_set_string_member (body, "path", "server:é");
  json_object_set_string_member (body, "relay", relay);
  plexus_envelope_set_body (envelope, body);
  plexus_envelope_set_attachment (envelope, sealed);
  return envelope;
}

static void
assert_same_signal (PlexusEnvelope *a, PlexusEnvelope *b)
{
  g_assert_cmpstr (plexus_envelope_get_message_type (a), ==, plexus_envelope_get_message_type (b));
  g_assert_cmpstr (plexus_envelope_get_id (a), ==, plexus_envelope_get_id (b));
  g_assert_cmpstr (plexus_envelope_get_from (a), ==, plexus_envelope_get_from (b));
  g_assert_true (json_object_equal (plexus_envelope_get_body (a), plexus_envelope_get_body (b)));
  g_assert_true (g_bytes_equal (plexus_envelope_get_attachment (a), plexus_envelope_get_attachment (b)));
}

static void
on_websocket_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  *(SoupWebsocketConnection **) user_data = soup_session_websocket_connect_finish (SOUP_SESSION (source), result,
                                                                                   &error);
  g_assert_no_error (error);
}

static gboolean
websocket_is_set (gconstpointer data)
{
  return *(SoupWebsocketConnection * const *) data != NULL;
}

static gboolean
link_is_ready (gconstpointer data)
{
  return plexus_link_get_state ((PlexusLink *) data) == PLEXUS_LINK_STATE_READY;
}

typedef struct {
  PlexusNode  *node;
  const gchar *peer_id;
} LinkQuery;

static gboolean
is_linked (gconstpointer data)
{
  const LinkQuery *query = data;

  return plexus_node_get_link (query->node, query->peer_id) != NULL;
}

/* Between two nodes of this version a signal travels in the compact form;
 * to a node that speaks only version 1, as JSON. Either form is read. */
static void
test_signal_forms (void)
{
  g_autoptr(Pair) pair = pair_new ();
  g_autoptr(GPtrArray) handled = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GPtrArray) answers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(PlexusEnvelope) compact = NULL;
  g_autoptr(PlexusEnvelope) json = NULL;
  g_autoptr(PlexusEnvelope) to_old = NULL;
  g_autoptr(PlexusLink) link_a = g_object_ref (pair->link_a);
  g_autoptr(PlexusLink) link_b = g_object_ref (pair->link_b);
  Count count = { handled, 1 };
  const guint8 *data;
  gsize length;

  g_assert_cmpuint (plexus_link_get_version (link_a), ==, 2);
  plexus_node_register_handler (pair->b, "signal.deliver", handle_collect, handled, NULL);
  g_signal_connect (link_b, "frame", G_CALLBACK (on_frame_keep), frames);
  g_signal_connect (link_a, "frame", G_CALLBACK (on_frame_collect), answers);

  compact = new_deliver_signal (peer_id_of (pair->context_a), peer_id_of (pair->context_b),
                                peer_id_of (pair->context_a));
  plexus_messenger_send_async (PLEXUS_MESSENGER (pair->a), compact, NULL, NULL, NULL);
  g_assert_true (plexus_test_wait_for (has_n, &count, TIMEOUT_MS));
  data = g_bytes_get_data (g_ptr_array_index (frames, 0), &length);
  g_assert_cmpuint (data[0], ==, PLEXUS_ENVELOPE_COMPACT_DELIVER);
  assert_same_signal (compact, g_ptr_array_index (handled, 0));

  /* A sender may still write one as JSON. */
  json = new_deliver_signal (peer_id_of (pair->context_a), peer_id_of (pair->context_b),
                             peer_id_of (pair->context_a));
  send_envelope (link_a, json);
  count.n = 2;
  g_assert_true (plexus_test_wait_for (has_n, &count, TIMEOUT_MS));
  data = g_bytes_get_data (g_ptr_array_index (frames, 1), &length);
  g_assert_cmpuint (data[0], ==, '{');
  assert_same_signal (json, g_ptr_array_index (handled, 1));

  /* A broken compact signal is refused, by ID as far as it can be read:
   * not at all here. The link stays. */
  send_raw_len (link_a, "\002\010", 2);
  g_assert_true (plexus_test_wait_for (has_frames, answers, TIMEOUT_MS));
  g_assert_cmpstr (error_code_of (g_ptr_array_index (answers, 0)), ==, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE);
  g_assert_nonnull (strstr (json_object_get_string_member (plexus_envelope_get_body (g_ptr_array_index (answers, 0)),
                                                           "message"),
                            "shorter than its header"));
  g_assert_cmpuint (handled->len, ==, 2);

  /* A node of version 1. */
  {
    g_autoptr(SoupSession) session = soup_session_new ();
    g_autoptr(SoupMessage) message = soup_message_new (SOUP_METHOD_GET, plexus_node_get_address (pair->b));
    g_autoptr(SoupWebsocketConnection) ws = NULL;
    g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
    g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
    g_autoptr(PlexusLink) old = NULL;
    g_autoptr(GPtrArray) old_frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
    g_autoptr(PlexusEnvelope) received = NULL;
    const gchar *protocols[] = { "plexus.v1", NULL };
    LinkQuery wait = { pair->b, plexus_identity_get_peer_id (identity) };
    Count old_count = { old_frames, 1 };

    soup_session_websocket_connect_async (session, message, NULL, (gchar **) protocols, G_PRIORITY_DEFAULT,
                                          NULL, on_websocket_connected, &ws);
    g_assert_true (plexus_test_wait_for (websocket_is_set, &ws, TIMEOUT_MS));
    old = plexus_link_new_client (ws, identity, key, peer_id_of (pair->context_b));
    g_signal_connect (old, "frame", G_CALLBACK (on_frame_keep), old_frames);
    plexus_link_start (old);
    g_assert_true (plexus_test_wait_for (link_is_ready, old, TIMEOUT_MS));
    g_assert_true (plexus_test_wait_for (is_linked, &wait, TIMEOUT_MS));
    g_assert_cmpuint (plexus_link_get_version (plexus_node_get_link (pair->b, wait.peer_id)), ==, 1);

    to_old = new_deliver_signal (peer_id_of (pair->context_b), wait.peer_id, peer_id_of (pair->context_b));
    plexus_messenger_send_async (PLEXUS_MESSENGER (pair->b), to_old, NULL, NULL, NULL);
    g_assert_true (plexus_test_wait_for (has_n, &old_count, TIMEOUT_MS));
    data = g_bytes_get_data (g_ptr_array_index (old_frames, 0), &length);
    g_assert_cmpuint (data[0], ==, '{');
    received = plexus_envelope_decode (data, length, NULL, NULL);
    g_assert_nonnull (received);
    assert_same_signal (to_old, received);

    /* A compact signal as large as a frame may be is larger as JSON: B
     * cannot pass it on to the node of version 1, and says so. */
    {
      g_autoptr(PlexusEnvelope) largest = new_deliver_signal (peer_id_of (pair->context_a), wait.peer_id,
                                                              peer_id_of (pair->context_a));
      g_autoptr(GBytes) head = plexus_envelope_encode_with (largest, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, NULL);
      gsize sealed_length = PLEXUS_ENVELOPE_MAX_SIZE - (g_bytes_get_size (head) - 13);
      g_autofree gchar *filler = g_malloc0 (sealed_length);
      g_autoptr(GBytes) sealed = g_bytes_new_take (g_steal_pointer (&filler), sealed_length);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GError) error = NULL;
      Count answer_count = { answers, 2 };
      PlexusEnvelope *answer;

      plexus_envelope_set_attachment (largest, sealed);
      bytes = plexus_envelope_encode_with (largest, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (bytes), ==, PLEXUS_ENVELOPE_MAX_SIZE);
      plexus_link_send (link_a, bytes, &error);
      g_assert_no_error (error);
      g_assert_true (plexus_test_wait_for (has_n, &answer_count, TIMEOUT_MS));
      answer = g_ptr_array_index (answers, 1);
      g_assert_cmpstr (error_code_of (answer), ==, PLEXUS_ENVELOPE_CODE_TOO_LARGE);
      g_assert_cmpstr (plexus_envelope_get_re (answer), ==, plexus_envelope_get_id (largest));
      /* Nothing but the first signal reached it (a keepalive may have). */
      for (guint i = 1; i < old_frames->len; i++) {
        const guint8 *frame = g_bytes_get_data (g_ptr_array_index (old_frames, i), &length);
        g_autoptr(PlexusEnvelope) other = plexus_envelope_decode (frame, length, NULL, NULL);

        g_assert_true (other == NULL || g_strcmp0 (plexus_envelope_get_message_type (other), "signal.deliver") != 0);
      }
    }
    plexus_link_close (old, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  }

  g_signal_handlers_disconnect_by_data (link_a, answers);
  g_signal_handlers_disconnect_by_data (link_b, frames);
}

/* Routing: nodes in a line or a ring, in one process --------------------- */

typedef struct {
  gchar         *tmpdir;
  guint          n;
  PlexusContext *contexts[4];
  PlexusNode    *nodes[4];
  gint           live_links;
} Mesh;

static void
on_mesh_link_finalized (gpointer data, GObject *where_the_object_was)
{
  ((Mesh *) data)->live_links--;
}

static void
on_mesh_link_added (PlexusNode *node, PlexusLink *link, gpointer user_data)
{
  Mesh *mesh = user_data;

  mesh->live_links++;
  g_object_weak_ref (G_OBJECT (link), on_mesh_link_finalized, mesh);
}

static const gchar *
mesh_peer_id (Mesh *mesh, guint i)
{
  return peer_id_of (mesh->contexts[i]);
}

static void
mesh_wait_linked (Mesh *mesh, guint i, guint j)
{
  LinkQuery query = { mesh->nodes[i], mesh_peer_id (mesh, j) };

  g_assert_true (plexus_test_wait_for (is_linked, &query, TIMEOUT_MS));
}

/* @n nodes; @edges lists pairs (i, j): node i dials node j. */
static Mesh *
mesh_new (guint n, const guint *edges, guint n_edges)
{
  Mesh *mesh = g_new0 (Mesh, 1);
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (n, <=, G_N_ELEMENTS (mesh->nodes));
  mesh->n = n;
  mesh->tmpdir = g_dir_make_tmp ("test-node-XXXXXX", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *name = g_strdup_printf ("%u", i);

    mesh->contexts[i] = context_new (mesh->tmpdir, name, NULL);
    mesh->nodes[i] = plexus_node_new (mesh->contexts[i]);
    g_signal_connect (mesh->nodes[i], "link-added", G_CALLBACK (on_mesh_link_added), mesh);
    plexus_node_listen (mesh->nodes[i], "127.0.0.1:0", &error);
    g_assert_no_error (error);
  }
  for (guint i = 0; i < n; i++) {
    g_autoptr(GPtrArray) uris = g_ptr_array_new ();

    for (guint e = 0; e < n_edges; e++) {
      if (edges[2 * e] == i)
        g_ptr_array_add (uris, (gpointer) plexus_node_get_address (mesh->nodes[edges[2 * e + 1]]));
    }
    g_ptr_array_add (uris, NULL);
    plexus_config_set_override_list (plexus_context_get_config (mesh->contexts[i]), "node", "bootstrap",
                                     (const gchar * const *) uris->pdata, &error);
    g_assert_no_error (error);
  }
  for (guint i = 0; i < n; i++)
    plexus_node_start (mesh->nodes[i]);
  for (guint e = 0; e < n_edges; e++) {
    mesh_wait_linked (mesh, edges[2 * e], edges[2 * e + 1]);
    mesh_wait_linked (mesh, edges[2 * e + 1], edges[2 * e]);
  }
  return mesh;
}

static gboolean
mesh_has_no_live_links (gconstpointer data)
{
  return ((const Mesh *) data)->live_links == 0;
}

static void
mesh_free (Mesh *mesh)
{
  for (guint i = 0; i < mesh->n; i++)
    plexus_node_stop (mesh->nodes[i]);
  for (guint i = 0; i < mesh->n; i++)
    g_clear_object (&mesh->nodes[i]);
  g_assert_true (plexus_test_wait_for (mesh_has_no_live_links, mesh, TIMEOUT_MS));
  for (guint i = 0; i < mesh->n; i++) {
    g_autofree gchar *name = g_strdup_printf ("%u", i);

    g_clear_object (&mesh->contexts[i]);
    remove_state_dir (mesh->tmpdir, name);
  }
  g_assert_cmpint (g_rmdir (mesh->tmpdir), ==, 0);
  g_free (mesh->tmpdir);
  g_free (mesh);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Mesh, mesh_free)

/* Echoes the body back, naming the node that answered and the link the
 * request arrived on. */
static PlexusEnvelope *
handle_echo (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope,
             gpointer user_data)
{
  PlexusContext *context = user_data;
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_string_member (body, "text",
                                 json_object_get_string_member_with_default (plexus_envelope_get_body (envelope),
                                                                             "text", ""));
  json_object_set_string_member (body, "link", link_peer_id);
  return plexus_envelope_new_reply (envelope, "reply", peer_id_of (context), body);
}

static PlexusEnvelope *
messenger_request (PlexusMessenger *messenger,
                   const gchar     *peer_id,
                   const gchar     *type,
                   JsonObject      *body,
                   GError         **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  plexus_messenger_request_async (messenger, peer_id, type, body, TIMEOUT_MS, NULL,
                                  on_async_result, &result);
  g_assert_true (plexus_test_wait_for (result_is_set, &result, TIMEOUT_MS));
  return plexus_messenger_request_finish (messenger, result, error);
}

/* A - B - C: A reaches C through B, finding the way by asking its
 * neighbours; C's answer comes back the same way. */
static void
test_route_two_hops (void)
{
  const guint edges[] = { 0, 1, 2, 1 };
  g_autoptr(Mesh) mesh = mesh_new (3, edges, 2);
  PlexusMessenger *a = PLEXUS_MESSENGER (mesh->nodes[0]);
  PlexusMessenger *c = PLEXUS_MESSENGER (mesh->nodes[2]);
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) linked = NULL;

  g_assert_null (plexus_node_get_link (mesh->nodes[0], mesh_peer_id (mesh, 2)));
  linked = plexus_messenger_list_linked_peers (PLEXUS_MESSENGER (mesh->nodes[1]));
  g_assert_cmpuint (g_strv_length (linked), ==, 2);
  g_assert_cmpint (strcmp (linked[0], linked[1]), <, 0);

  g_assert_true (plexus_messenger_register_handler (c, "test.echo", handle_echo,
                                                    g_object_ref (mesh->contexts[2]), g_object_unref,
                                                    &error));
  g_assert_no_error (error);
  json_object_set_string_member (body, "text", "over two hops");
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "test.echo", body, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_envelope_get_from (answer), ==, mesh_peer_id (mesh, 2));
  g_assert_cmpstr (json_object_get_string_member (plexus_envelope_get_body (answer), "text"), ==,
                   "over two hops");
  /* C heard it from B, and B took one hop off each way. */
  g_assert_cmpstr (json_object_get_string_member (plexus_envelope_get_body (answer), "link"), ==,
                   mesh_peer_id (mesh, 1));
  g_assert_cmpuint (plexus_envelope_get_ttl (answer), ==, PLEXUS_ENVELOPE_DEFAULT_TTL - 1);
  g_clear_object (&answer);

  /* The other way, C to A: C learned the way back from the request. */
  answer = messenger_request (c, mesh_peer_id (mesh, 0), "ping", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_envelope_get_message_type (answer), ==, "pong");
  g_assert_cmpstr (plexus_envelope_get_from (answer), ==, mesh_peer_id (mesh, 0));
  g_clear_object (&answer);

  /* Nobody reaches an unknown peer: a clear error, not a hang. */
  answer = messenger_request (a, UNKNOWN_PEER_ID, "ping", NULL, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "none of the 1 linked peers"));
  g_assert_null (answer);
}

/* A - B - C where B is the server: a signal.deliver sent through super
 * peers (path `peer:...`) is not carried by B, one sent through the
 * server is. */
static void
test_route_server_refuses_peer_signals (void)
{
  const guint edges[] = { 0, 1, 2, 1 };
  g_autoptr(Mesh) mesh = mesh_new (3, edges, 2);
  PlexusMessenger *a = PLEXUS_MESSENGER (mesh->nodes[0]);
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *label = g_strconcat ("server:", mesh_peer_id (mesh, 1), NULL);

  plexus_context_set_roles (mesh->contexts[1], PLEXUS_ROLE_SERVER);
  json_object_set_string_member (body, "id", "m1");
  json_object_set_string_member (body, "path", "peer:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "signal.deliver", body, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "no-route: the server does not carry signals sent through super peers"));
  g_assert_null (answer);
  g_clear_error (&error);

  /* Through the server itself: carried, and C (no messaging here) says
   * it does not know the type. */
  json_object_set_string_member (body, "path", label);
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "signal.deliver", body, &error);
  g_assert_nonnull (error);
  g_assert_null (strstr (error->message, "does not carry"));
  g_assert_nonnull (strstr (error->message, "signal.deliver"));
}

static gboolean
is_unlinked (gconstpointer data)
{
  return !is_linked (data);
}

/* A - B - C and A - D - C. When the relay A used dies, A's next request
 * goes round through the other one. When C dies too, the relay left
 * answers `no-route`, and A then finds no way at all. */
static void
test_route_failover (void)
{
  const guint edges[] = { 0, 1, 2, 1, 0, 3, 2, 3 };
  g_autoptr(Mesh) mesh = mesh_new (4, edges, 4);
  PlexusMessenger *a = PLEXUS_MESSENGER (mesh->nodes[0]);
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  LinkQuery query = { mesh->nodes[0], NULL };
  const gchar *link;
  guint via;
  guint other;

  g_assert_true (plexus_messenger_register_handler (PLEXUS_MESSENGER (mesh->nodes[2]), "test.echo",
                                                    handle_echo, g_object_ref (mesh->contexts[2]),
                                                    g_object_unref, &error));
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "test.echo", NULL, &error);
  g_assert_no_error (error);
  link = json_object_get_string_member (plexus_envelope_get_body (answer), "link");
  via = g_strcmp0 (link, mesh_peer_id (mesh, 1)) == 0 ? 1 : 3;
  other = via == 1 ? 3 : 1;
  g_assert_cmpstr (link, ==, mesh_peer_id (mesh, via));
  g_clear_object (&answer);

  plexus_node_stop (mesh->nodes[via]);
  query.peer_id = mesh_peer_id (mesh, via);
  g_assert_true (plexus_test_wait_for (is_unlinked, &query, TIMEOUT_MS));
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "test.echo", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (plexus_envelope_get_body (answer), "link"), ==,
                   mesh_peer_id (mesh, other));
  g_clear_object (&answer);

  /* C goes; A still holds the route through the relay left. */
  plexus_node_stop (mesh->nodes[2]);
  query.node = mesh->nodes[other];
  query.peer_id = mesh_peer_id (mesh, 2);
  g_assert_true (plexus_test_wait_for (is_unlinked, &query, TIMEOUT_MS));
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "test.echo", NULL, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, PLEXUS_ENVELOPE_CODE_NO_ROUTE));
  g_assert_null (answer);
  g_clear_error (&error);
  /* That answer made A drop the route: it asks again, and nobody has one. */
  answer = messenger_request (a, mesh_peer_id (mesh, 2), "test.echo", NULL, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND);
  g_assert_null (answer);
}

/* A relay is not blamed for what it passes on: C refuses many requests
 * A sent through B, and keeps its link to B. A malformed addressee is a
 * clear error, not a crash. */
static void
test_route_relay_not_blamed (void)
{
  const guint edges[] = { 0, 1, 2, 1 };
  g_autoptr(Mesh) mesh = mesh_new (3, edges, 2);
  PlexusMessenger *a = PLEXUS_MESSENGER (mesh->nodes[0]);
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < PLEXUS_NODE_MAX_BAD_MESSAGES + 5; i++) {
    answer = messenger_request (a, mesh_peer_id (mesh, 2), "test.nobody-handles-this", NULL, &error);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
    g_assert_nonnull (strstr (error->message, PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE));
    g_clear_error (&error);
  }
  g_assert_nonnull (plexus_node_get_link (mesh->nodes[2], mesh_peer_id (mesh, 1)));
  g_assert_nonnull (plexus_node_get_link (mesh->nodes[1], mesh_peer_id (mesh, 0)));

  answer = messenger_request (a, "not-a-peer-id", "ping", NULL, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_null (answer);
}

/* An envelope with no hops left is not passed on; one that claims to come
 * from the receiver itself is dropped. */
static void
test_route_ttl (void)
{
  const guint edges[] = { 0, 1, 2, 1 };
  g_autoptr(Mesh) mesh = mesh_new (3, edges, 2);
  g_autoptr(GPtrArray) received = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(PlexusEnvelope) last_hop = plexus_envelope_new ("ping", mesh_peer_id (mesh, 0),
                                                            mesh_peer_id (mesh, 2), NULL);
  g_autoptr(PlexusEnvelope) spoofed = plexus_envelope_new ("ping", mesh_peer_id (mesh, 1),
                                                           mesh_peer_id (mesh, 1), NULL);
  g_autoptr(PlexusEnvelope) pong = NULL;
  g_autoptr(GError) error = NULL;
  PlexusLink *a_to_b = plexus_node_get_link (mesh->nodes[0], mesh_peer_id (mesh, 1));
  PlexusEnvelope *answer;

  g_signal_connect (a_to_b, "frame", G_CALLBACK (on_frame_collect), received);
  plexus_envelope_set_ttl (last_hop, 0);
  send_envelope (a_to_b, last_hop);
  g_assert_true (plexus_test_wait_for (has_frames, received, TIMEOUT_MS));
  answer = g_ptr_array_index (received, 0);
  g_assert_cmpstr (error_code_of (answer), ==, PLEXUS_ENVELOPE_CODE_EXPIRED);
  g_assert_cmpstr (plexus_envelope_get_re (answer), ==, plexus_envelope_get_id (last_hop));
  g_assert_cmpstr (plexus_envelope_get_from (answer), ==, mesh_peer_id (mesh, 1));
  g_ptr_array_set_size (received, 0);

  /* B drops it without a word: the ping after it is the first answered. */
  send_envelope (a_to_b, spoofed);
  pong = request (mesh->nodes[0], mesh_peer_id (mesh, 1), "ping", TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_wait_for (has_frames, received, TIMEOUT_MS));
  g_assert_cmpuint (received->len, ==, 1);
  g_assert_cmpstr (plexus_envelope_get_message_type (g_ptr_array_index (received, 0)), ==, "pong");
  g_signal_handlers_disconnect_by_data (a_to_b, received);
}

/* The plugin API: one handler per type, gone when unregistered. */
static void
test_messenger_handlers (void)
{
  g_autoptr(Pair) pair = pair_new ();
  PlexusMessenger *b = PLEXUS_MESSENGER (pair->b);
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_context_get_messenger (pair->context_b) == NULL);
  plexus_context_set_messenger (pair->context_b, b);
  g_assert_true (plexus_context_get_messenger (pair->context_b) == b);

  g_assert_true (plexus_messenger_register_handler (b, "test.echo", handle_echo,
                                                    g_object_ref (pair->context_b), g_object_unref,
                                                    &error));
  g_assert_false (plexus_messenger_register_handler (b, "test.echo", handle_echo,
                                                     g_object_ref (pair->context_b), g_object_unref,
                                                     &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_false (plexus_messenger_register_handler (b, "Not A Type", handle_echo, NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  answer = request (pair->a, peer_id_of (pair->context_b), "test.echo", TIMEOUT_MS, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (plexus_envelope_get_body (answer), "link"), ==,
                   peer_id_of (pair->context_a));
  g_clear_object (&answer);

  plexus_messenger_unregister_handler (b, "test.echo");
  answer = request (pair->a, peer_id_of (pair->context_b), "test.echo", TIMEOUT_MS, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE));

  /* The context does not keep the node alive. */
  plexus_node_stop (pair->b);
  g_clear_object (&pair->b);
  g_assert_null (plexus_context_get_messenger (pair->context_b));
  pair->b = node_new (pair->context_b, pair);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/node/ping", test_ping);
  g_test_add_func ("/plexus/node/unknown-type", test_unknown_type);
  g_test_add_func ("/plexus/node/timeout", test_timeout);
  g_test_add_func ("/plexus/node/not-found", test_not_found);
  g_test_add_func ("/plexus/node/expired-and-no-route", test_expired_and_no_route);
  g_test_add_func ("/plexus/node/bad-frames", test_bad_frames);
  g_test_add_func ("/plexus/node/signal-forms", test_signal_forms);
  g_test_add_func ("/plexus/node/route-two-hops", test_route_two_hops);
  g_test_add_func ("/plexus/node/route-failover", test_route_failover);
  g_test_add_func ("/plexus/node/route-ttl", test_route_ttl);
  g_test_add_func ("/plexus/node/route-server-refuses-peer-signals", test_route_server_refuses_peer_signals);
  g_test_add_func ("/plexus/node/route-relay-not-blamed", test_route_relay_not_blamed);
  g_test_add_func ("/plexus/node/messenger-handlers", test_messenger_handlers);

  return g_test_run ();
}
