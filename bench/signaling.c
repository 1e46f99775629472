/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>
#include <libsoup/soup.h>

#include "plexus-link.h"
#include "plexus-test-fixture.h"

/* bench/signaling: signal relaying through one super peer and through the
 * server, beside the PeerJS server (npm package `peer`, the signaling
 * server a web developer would pick), in the same command.
 *
 *   bench/signaling [SECONDS-PER-STEP [RATE...]]   (default 3; RATES below)
 *
 * Relays: a plexusd super peer and a plexusd server (each on its own bus,
 * 127.0.0.1, relay rate limits off as the reference has none), and
 * `peerjs --port P` started here. Each gets 1000 idle connections
 * (node links with their own identities, or PeerJS clients with their
 * heartbeats; PLEXUS_BENCH_IDLE=N for another number), then PAIRS sender/receiver pairs exchange signals through
 * it at fixed offered rates, RATES below, each for SECONDS after a
 * warm-up: `signal.relay` with a SIGNAL_BYTES sealed-size payload in, one
 * `signal.deliver` out (a relay answers only to refuse), against
 * an `OFFER` of the same payload size relayed by PeerJS. Per step: the
 * rate this process managed to send, the delivered rate, the share lost,
 * p50/p99 latency from send to receipt (one clock, this process), and the
 * relay's CPU time per signal from /proc, and this process's own (when
 * that nears a core's worth per second, the benchmark bounds the step,
 * not the relay: it does a peer's work for every signal). A target stops climbing once it
 * delivers under 95% of the offered rate; its relay rate is the best
 * delivered rate, its sustained rate the best with p99 under 1 s. The
 * idle connections are held by a child process (see hold_main()), so
 * that they do not slow this one.
 *
 * End to end: two standard peers (plexusd, attached to the super peer and
 * linked to the server, which keep their idle links) exchange E2E_RATE
 * messages per second in each of peer, traditional and hybrid mode over
 * D-Bus (Messaging.Send to Received), the modes taking turns message by
 * message.
 *
 * This process drives every connection, so on a small machine it shares
 * the cores with the relay it measures; the CPU column is the relay's own.
 * PeerJS comes from PLEXUS_BENCH_PEERJS (a folder holding
 * node_modules/peer) or is installed with npm into the user cache folder.
 * Figures on stdout, progress on stderr. Exits 1 when the set-up fails. */

#ifndef ABS_TOP_BUILDDIR
#error "build with -DABS_TOP_BUILDDIR=\"...\" (its Makefile fragment sets it)"
#endif

/* Idle connections per relay; PLEXUS_BENCH_IDLE changes it (to see what
 * they cost). */
#define IDLE_LINKS_DEFAULT 1000
static guint idle_links = IDLE_LINKS_DEFAULT;
#define PAIRS 128
#define SIGNAL_BYTES 512
#define CONNECT_IN_FLIGHT 32
#define WARMUP_US (500 * G_USEC_PER_SEC / 1000)
#define DRAIN_MS 3000
#define PEERJS_VERSION "1.0.2"
#define PEERJS_HEARTBEAT_S 5
#define E2E_RATE 100
/* 1000 messages per mode: a p99 is the tenth worst, not the fifth. */
#define E2E_SECONDS 10
/* Doubling up to 16000, then steps of 8000, so that the sustained rate
 * (p99 under 1 s) is not read off a wide step where it matters: with
 * 32000 then 48000, two relays a few percent apart came out 0.67 or 1.5
 * times each other. */
static guint rates[] = { 1000, 2000, 4000, 8000, 16000, 24000, 32000, 40000, 48000, 56000, 64000 };
static guint n_rates = G_N_ELEMENTS (rates);

typedef enum {
  TARGET_SUPER,
  TARGET_SERVER,
  TARGET_PEERJS,
} Target;

static const gchar *target_names[] = { "plexusd super peer", "plexusd server", "PeerJS server " PEERJS_VERSION };

typedef struct _Bench Bench;

/* One connection to the relay under test: a node link or a PeerJS
 * WebSocket, with the ID it goes by there. */
typedef struct {
  Bench                   *bench;
  PlexusIdentity          *identity;
  PlexusNoiseKeypair      *key;
  PlexusLink              *link;
  SoupWebsocketConnection *ws;
  gchar                   *id;
  gboolean                 open;
  gboolean                 failed;
} Conn;

struct _Bench {
  SoupSession *session;
  gdouble      seconds;
  Target       target;
  const gchar *relay_uri;     /* ws://HOST:PORT/ of a plexusd, or PeerJS's base */
  const gchar *relay_id;      /* plexusd's peer ID */
  GPid         relay_pid;
  GPtrArray   *idle;          /* Conn */
  GPtrArray   *senders;       /* Conn */
  GPtrArray   *receivers;     /* Conn */
  guint        connecting;
  guint        opened;
  guint        failures;
  gchar       *filler;
  /* the step under way */
  guint        rate;
  gint64       start;
  gint64       measure_from;
  gint64       measure_until;
  guint64      sent;
  guint64      sent_in_window;
  guint64      received_in_window;
  guint64      refusals;
  GArray      *latencies;     /* gint64 µs, of signals sent in the window */
  guint        next_pair;
  guint        pace_id;
  GPtrArray   *kept;          /* GSubprocess: holders of idle links for the end-to-end runs */
};

/* ---- helpers ---- */

static gint
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static gdouble
percentile_ms (GArray *sorted, gdouble p)
{
  guint index;

  if (sorted->len == 0)
    return NAN;
  index = (guint) MIN ((gdouble) sorted->len - 1, floor (p * (sorted->len - 1) + 0.5));
  return g_array_index (sorted, gint64, index) / 1000.0;
}

/* User plus system CPU time of @pid so far, in µs. */
static gint64
process_cpu_us (GPid pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = NULL;
  g_auto(GStrv) fields = NULL;
  const gchar *after;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (after = strrchr (text, ')')) == NULL)
    return 0;
  fields = g_strsplit (after + 2, " ", -1);
  /* Fields 14 and 15 of stat(5); the split starts at field 3. */
  if (g_strv_length (fields) < 13)
    return 0;
  return (g_ascii_strtoll (fields[11], NULL, 10) + g_ascii_strtoll (fields[12], NULL, 10))
         * G_USEC_PER_SEC / sysconf (_SC_CLK_TCK);
}

static gboolean
flag_reached (gconstpointer data)
{
  const Bench *bench = data;

  return bench->connecting == 0;
}

/* ---- receiving ---- */

static void
note_receipt (Bench *bench, const gchar *payload)
{
  gint64 sent_at;

  if (payload == NULL || payload[0] != 'T')
    return;
  sent_at = g_ascii_strtoll (payload + 1, NULL, 10);
  if (sent_at < bench->measure_from || sent_at >= bench->measure_until)
    return;
  bench->received_in_window++;
  {
    gint64 latency = g_get_monotonic_time () - sent_at;

    g_array_append_val (bench->latencies, latency);
  }
}

static void
on_link_frame (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  Conn *conn = user_data;
  gsize length;
  const gchar *data = g_bytes_get_data (frame, &length);
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_decode_with ((const guint8 *) data, length,
                                                                    plexus_link_get_envelope_encoding (link),
                                                                    NULL, NULL);
  const gchar *type;

  if (envelope == NULL)
    return;
  type = plexus_envelope_get_message_type (envelope);
  if (g_str_equal (type, "signal.deliver") && plexus_envelope_get_attachment (envelope) != NULL) {
    gsize sealed_length;
    const gchar *sealed = g_bytes_get_data (plexus_envelope_get_attachment (envelope), &sealed_length);
    /* The send time leads the payload. */
    g_autofree gchar *head = g_strndup (sealed, MIN (sealed_length, 32));

    note_receipt (conn->bench, head);
  } else if (g_str_equal (type, "error")) {
    conn->bench->refusals++;
  } else if (plexus_envelope_get_re (envelope) == NULL && !g_str_equal (type, "signal.deliver")) {
    /* Answered as a node that handles nothing answers (gossip.hello and
     * fallback.presence when the link comes up): a real idle peer
     * answers, so the relay holds no request open for it. */
    g_autoptr(PlexusEnvelope) answer = plexus_envelope_new_error (envelope, conn->id,
                                                                  PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE,
                                                                  "a benchmark connection handles nothing");
    g_autoptr(GBytes) bytes = plexus_envelope_encode_with (answer, plexus_link_get_envelope_encoding (link), NULL);

    if (bytes != NULL)
      plexus_link_send (link, bytes, NULL);
  }
}

static void
on_ws_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);
  JsonObject *object;
  const gchar *kind;

  if (!json_parser_load_from_data (parser, data, (gssize) length, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  object = json_node_get_object (json_parser_get_root (parser));
  kind = json_object_get_string_member_with_default (object, "type", "");
  if (g_str_equal (kind, "OPEN")) {
    conn->open = TRUE;
    conn->bench->opened++;
  } else if (g_str_equal (kind, "OFFER") && json_object_has_member (object, "payload") &&
             JSON_NODE_HOLDS_OBJECT (json_object_get_member (object, "payload"))) {
    note_receipt (conn->bench, json_object_get_string_member_with_default (
                                 json_object_get_object_member (object, "payload"), "sdp", NULL));
  } else if (g_str_equal (kind, "ERROR") || g_str_equal (kind, "ID-TAKEN")) {
    conn->bench->refusals++;
  }
}

/* ---- connecting ---- */

static void
conn_free (gpointer data)
{
  Conn *conn = data;

  if (conn->link != NULL) {
    g_signal_handlers_disconnect_by_data (conn->link, conn);
    plexus_link_close (conn->link, SOUP_WEBSOCKET_CLOSE_NORMAL, "bench over");
  }
  if (conn->ws != NULL) {
    g_signal_handlers_disconnect_by_data (conn->ws, conn);
    if (soup_websocket_connection_get_state (conn->ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_close (conn->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  }
  g_clear_object (&conn->link);
  g_clear_object (&conn->ws);
  g_clear_object (&conn->identity);
  g_clear_pointer (&conn->key, plexus_noise_keypair_free);
  g_free (conn->id);
  g_free (conn);
}

static void
on_link_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;

  conn->bench->connecting--;
  conn->link = plexus_link_connect_finish (SOUP_SESSION (source), result, &error);
  if (conn->link == NULL) {
    if (conn->bench->failures++ == 0)
      g_printerr ("signaling: a link failed: %s\n", error->message);
    conn->failed = TRUE;
    return;
  }
  /* This end measures; it does not police the relay. */
  plexus_link_set_rate_limit (conn->link, 0, 0);
  plexus_link_set_max_queued_bytes (conn->link, 64 * 1024 * 1024);
  g_signal_connect (conn->link, "frame", G_CALLBACK (on_link_frame), conn);
  conn->open = TRUE;
  conn->bench->opened++;
}

static void
on_ws_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *conn = user_data;
  g_autoptr(GError) error = NULL;

  conn->bench->connecting--;
  conn->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (conn->ws == NULL) {
    if (conn->bench->failures++ == 0)
      g_printerr ("signaling: a PeerJS client failed: %s\n", error->message);
    conn->failed = TRUE;
    return;
  }
  soup_websocket_connection_set_keepalive_interval (conn->ws, 0);
  g_signal_connect (conn->ws, "message", G_CALLBACK (on_ws_message), conn);
}

static Conn *
conn_start (Bench *bench, const gchar *name)
{
  Conn *conn = g_new0 (Conn, 1);

  conn->bench = bench;
  bench->connecting++;
  if (bench->target == TARGET_PEERJS) {
    g_autofree gchar *uri = NULL;
    g_autoptr(SoupMessage) message = NULL;

    conn->id = g_strdup (name);
    uri = g_strdup_printf ("%speerjs?key=peerjs&id=%s&token=t%s", bench->relay_uri, name, name);
    message = soup_message_new (SOUP_METHOD_GET, uri);
    soup_session_websocket_connect_async (bench->session, message, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                          on_ws_connected, conn);
  } else {
    conn->identity = plexus_identity_new_ephemeral ();
    conn->key = plexus_noise_keypair_new ();
    conn->id = g_strdup (plexus_identity_get_peer_id (conn->identity));
    plexus_link_connect_async (bench->session, bench->relay_uri, conn->identity, conn->key, bench->relay_id,
                               NULL, on_link_connected, conn);
  }
  return conn;
}

static gboolean
room_to_connect (gconstpointer data)
{
  const Bench *bench = data;

  return bench->connecting < CONNECT_IN_FLIGHT;
}

static gboolean
all_open (gconstpointer data)
{
  const Bench *bench = data;

  return bench->opened + bench->failures >= bench->idle->len + bench->senders->len + bench->receivers->len;
}

/* Opens @n connections into @into, CONNECT_IN_FLIGHT at a time. */
static void
connect_many (Bench *bench, GPtrArray *into, guint n, const gchar *prefix)
{
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *name = g_strdup_printf ("%s%u", prefix, i);

    plexus_test_wait_for (room_to_connect, bench, 60000);
    g_ptr_array_add (into, conn_start (bench, name));
  }
}

/* ---- sending ---- */

static void
send_one (Bench *bench, Conn *from, Conn *to, gint64 now)
{
  g_autofree gchar *payload = g_strdup_printf ("T%" G_GINT64_FORMAT " %s", now, bench->filler);

  payload[SIGNAL_BYTES] = '\0';
  if (bench->target == TARGET_PEERJS) {
    g_autoptr(JsonBuilder) builder = json_builder_new ();
    g_autoptr(JsonGenerator) generator = json_generator_new ();
    g_autoptr(JsonNode) root = NULL;
    g_autofree gchar *text = NULL;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "type");
    json_builder_add_string_value (builder, "OFFER");
    json_builder_set_member_name (builder, "dst");
    json_builder_add_string_value (builder, to->id);
    json_builder_set_member_name (builder, "payload");
    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "sdp");
    json_builder_add_string_value (builder, payload);
    json_builder_end_object (builder);
    json_builder_end_object (builder);
    root = json_builder_get_root (builder);
    json_generator_set_root (generator, root);
    text = json_generator_to_data (generator, NULL);
    soup_websocket_connection_send_text (from->ws, text);
  } else {
    g_autoptr(JsonObject) body = json_object_new ();
    g_autoptr(PlexusEnvelope) envelope = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autofree gchar *label = g_strconcat ("peer:", bench->relay_id, NULL);

    g_autoptr(GBytes) sealed = g_bytes_new (payload, strlen (payload));

    envelope = plexus_envelope_new ("signal.relay", from->id, bench->relay_id, NULL);
    /* The members in the order the protocol writes them. */
    json_object_set_string_member (body, "to", to->id);
    json_object_set_string_member (body, "id", plexus_envelope_get_id (envelope));
    json_object_set_string_member (body, "path", label);
    plexus_envelope_set_body (envelope, body);
    plexus_envelope_set_attachment (envelope, sealed);
    bytes = plexus_envelope_encode_with (envelope, plexus_link_get_envelope_encoding (from->link), NULL);
    plexus_link_send (from->link, bytes, NULL);
  }
  bench->sent++;
  if (now >= bench->measure_from && now < bench->measure_until)
    bench->sent_in_window++;
}

/* Keeps the offered rate from the step's start, whatever the timer's
 * lateness: each tick sends what is due by now. */
static gboolean
on_pace (gpointer user_data)
{
  Bench *bench = user_data;
  gint64 now = g_get_monotonic_time ();
  guint64 due;

  if (now >= bench->measure_until) {
    bench->pace_id = 0;
    return G_SOURCE_REMOVE;
  }
  due = (guint64) ((now - bench->start) * (gdouble) bench->rate / G_USEC_PER_SEC);
  while (bench->sent < due) {
    guint pair = bench->next_pair++ % bench->senders->len;

    send_one (bench, g_ptr_array_index (bench->senders, pair), g_ptr_array_index (bench->receivers, pair), now);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
step_drained (gconstpointer data)
{
  const Bench *bench = data;

  return bench->received_in_window >= bench->sent_in_window && g_get_monotonic_time () >= bench->measure_until;
}

typedef struct {
  guint   rate;
  gdouble sent_per_s;        /* below the offered rate when this process cannot keep up */
  gdouble delivered_per_s;
  gdouble lost;
  gdouble p50_ms;
  gdouble p99_ms;
  gdouble cpu_us;
  gdouble bench_cpu_us;      /* this process's, per signal: near a core's worth, it bounds the step */
} Step;

static Step
run_step (Bench *bench, guint rate)
{
  Step step = { rate, 0, };
  gint64 cpu_before, cpu_after, own_before, own_after;

  bench->rate = rate;
  bench->sent = bench->sent_in_window = bench->received_in_window = 0;
  bench->refusals = 0;
  bench->next_pair = 0;
  g_array_set_size (bench->latencies, 0);
  bench->start = g_get_monotonic_time ();
  bench->measure_from = bench->start + WARMUP_US;
  bench->measure_until = bench->measure_from + (gint64) (bench->seconds * G_USEC_PER_SEC);
  bench->pace_id = g_timeout_add (1, on_pace, bench);
  cpu_before = process_cpu_us (bench->relay_pid);
  own_before = process_cpu_us (getpid ());
  {
    gboolean never = FALSE;

    /* Until the window ends, then until what it sent arrived or gave up. */
    plexus_test_wait (&never, (guint) ((bench->measure_until - g_get_monotonic_time ()) / 1000));
  }
  cpu_after = process_cpu_us (bench->relay_pid);
  own_after = process_cpu_us (getpid ());
  g_clear_handle_id (&bench->pace_id, g_source_remove);
  plexus_test_wait_for (step_drained, bench, DRAIN_MS);
  g_array_sort (bench->latencies, compare_gint64);
  step.sent_per_s = bench->sent_in_window / bench->seconds;
  step.delivered_per_s = bench->received_in_window / bench->seconds;
  step.lost = bench->sent_in_window > 0
              ? 1.0 - (gdouble) bench->received_in_window / (gdouble) bench->sent_in_window : 0;
  step.p50_ms = percentile_ms (bench->latencies, 0.50);
  step.p99_ms = percentile_ms (bench->latencies, 0.99);
  step.cpu_us = bench->received_in_window > 0
                ? (gdouble) (cpu_after - cpu_before) * (1.0 - WARMUP_US / (bench->seconds * G_USEC_PER_SEC + WARMUP_US))
                  / (gdouble) bench->received_in_window
                : NAN;
  step.bench_cpu_us = bench->received_in_window > 0
                      ? (gdouble) (own_after - own_before)
                        * (1.0 - WARMUP_US / (bench->seconds * G_USEC_PER_SEC + WARMUP_US))
                        / (gdouble) bench->received_in_window
                      : NAN;
  if (bench->refusals > 0)
    g_printerr ("signaling: %s refused %" G_GUINT64_FORMAT " signals at %u/s\n", target_names[bench->target],
                bench->refusals, rate);
  return step;
}

/* ---- heartbeats for PeerJS's clients (its own clients send one every 5 s) ---- */

static void
heartbeat_all (GPtrArray *conns)
{
  for (guint i = 0; i < conns->len; i++) {
    Conn *conn = g_ptr_array_index (conns, i);

    if (conn->ws != NULL && soup_websocket_connection_get_state (conn->ws) == SOUP_WEBSOCKET_STATE_OPEN)
      soup_websocket_connection_send_text (conn->ws, "{\"type\":\"HEARTBEAT\"}");
  }
}

static gboolean
on_heartbeat (gpointer user_data)
{
  Bench *bench = user_data;

  heartbeat_all (bench->idle);
  heartbeat_all (bench->senders);
  heartbeat_all (bench->receivers);
  return G_SOURCE_CONTINUE;
}

/* ---- idle connections, held by a child process ----
 *
 * `bench/signaling --hold plexus|peerjs URI PEER-ID|- N` opens N idle
 * connections, prints "ready" and keeps them (PeerJS ones with their
 * heartbeats) until SIGTERM. A process of their own, because every
 * connection is a source this process's main loop would walk on each
 * wake-up, slowing the measurement itself. */

static void
holder_stop (gpointer data)
{
  GSubprocess *holder = data;

  g_subprocess_send_signal (holder, SIGTERM);
  g_subprocess_wait (holder, NULL, NULL);
  g_object_unref (holder);
}

static GSubprocess *
holder_start (Target target, const gchar *uri, const gchar *relay_id, GError **error)
{
  g_autofree gchar *self_path = g_file_read_link ("/proc/self/exe", error);
  g_autofree gchar *count = g_strdup_printf ("%u", idle_links);
  g_autoptr(GSubprocess) holder = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autofree gchar *line = NULL;

  if (self_path == NULL)
    return NULL;
  holder = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, error, self_path, "--hold",
                             target == TARGET_PEERJS ? "peerjs" : "plexus", uri, relay_id != NULL ? relay_id : "-",
                             count, NULL);
  if (holder == NULL)
    return NULL;
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (holder));
  line = plexus_test_read_line (lines, 120000);
  if (g_strcmp0 (line, "ready") != 0) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the holder of %u idle connections to %s did not get ready",
                 idle_links, uri);
    holder_stop (g_steal_pointer (&holder));
    return NULL;
  }
  return g_steal_pointer (&holder);
}

static gboolean
on_hold_term (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static int
hold_main (char **argv)
{
  Bench bench = { 0 };
  gboolean stop = FALSE;
  guint heartbeat_id = 0;

  bench.session = soup_session_new_with_options ("max-conns", 4 * idle_links + 16, "max-conns-per-host",
                                                 4 * idle_links + 16, "timeout", 0, "idle-timeout", 0, NULL);
  bench.target = g_str_equal (argv[0], "peerjs") ? TARGET_PEERJS : TARGET_SUPER;
  bench.relay_uri = argv[1];
  bench.relay_id = g_str_equal (argv[2], "-") ? NULL : argv[2];
  idle_links = (guint) g_ascii_strtoull (argv[3], NULL, 10);
  bench.idle = g_ptr_array_new_with_free_func (conn_free);
  bench.senders = g_ptr_array_new ();
  bench.receivers = g_ptr_array_new ();
  connect_many (&bench, bench.idle, idle_links, "idle");
  plexus_test_wait_for (flag_reached, &bench, 60000);
  plexus_test_wait_for (all_open, &bench, 30000);
  if (bench.failures > 0 || !all_open (&bench)) {
    g_printerr ("signaling: %u of %u idle connections failed\n", bench.failures, idle_links);
    return 1;
  }
  if (bench.target == TARGET_PEERJS)
    heartbeat_id = g_timeout_add_seconds (PEERJS_HEARTBEAT_S, on_heartbeat, &bench);
  g_unix_signal_add (SIGTERM, on_hold_term, &stop);
  g_print ("ready\n");
  fflush (stdout);
  plexus_test_wait (&stop, G_MAXINT);
  if (heartbeat_id != 0)
    g_source_remove (heartbeat_id);
  g_ptr_array_unref (bench.idle);
  g_ptr_array_unref (bench.senders);
  g_ptr_array_unref (bench.receivers);
  g_object_unref (bench.session);
  return 0;
}

/* ---- one target ---- */

static void
print_step (const Step *step)
{
  g_print ("| %6u | %6.0f | %9.0f | %5.2f%% | %7.2f | %7.2f | %6.1f | %6.1f |\n", step->rate, step->sent_per_s,
           step->delivered_per_s,
           100.0 * step->lost, step->p50_ms, step->p99_ms, step->cpu_us, step->bench_cpu_us);
}

static gboolean
bench_target (Bench *bench, Target target, const gchar *uri, const gchar *relay_id, GPid pid,
              gdouble *best_rate, gdouble *sustained_rate, Step *at_first_rate)
{
  guint heartbeat_id = 0;
  gint64 t0;
  g_autoptr(GError) error = NULL;
  GSubprocess *holder;

  bench->target = target;
  bench->relay_uri = uri;
  bench->relay_id = relay_id;
  bench->relay_pid = pid;
  bench->idle = g_ptr_array_new_with_free_func (conn_free);
  bench->senders = g_ptr_array_new_with_free_func (conn_free);
  bench->receivers = g_ptr_array_new_with_free_func (conn_free);
  bench->opened = bench->failures = 0;

  g_printerr ("signaling: %s: %u idle connections, %u pairs\n", target_names[target], idle_links, PAIRS);
  t0 = g_get_monotonic_time ();
  holder = holder_start (target, uri, relay_id, &error);
  if (holder == NULL) {
    g_printerr ("signaling: %s: %s\n", target_names[target], error->message);
    return FALSE;
  }
  connect_many (bench, bench->senders, PAIRS, "s");
  connect_many (bench, bench->receivers, PAIRS, "r");
  plexus_test_wait_for (flag_reached, bench, 60000);
  plexus_test_wait_for (all_open, bench, 30000);
  if (bench->failures > 0 || !all_open (bench)) {
    g_printerr ("signaling: %s: %u of %u connections failed\n", target_names[target], bench->failures,
                2 * PAIRS);
    holder_stop (holder);
    return FALSE;
  }
  if (target == TARGET_PEERJS)
    heartbeat_id = g_timeout_add_seconds (PEERJS_HEARTBEAT_S, on_heartbeat, bench);
  g_print ("\n%s, %u idle connections (opened in %.1f s), %u pairs, %u-byte signals:\n\n", target_names[target],
           idle_links, (g_get_monotonic_time () - t0) / 1e6, PAIRS, SIGNAL_BYTES);
  {
    gint64 cpu_before = process_cpu_us (pid), wall_before = g_get_monotonic_time ();
    gboolean never = FALSE;

    plexus_test_wait (&never, 2000);
    g_print ("idle, the relay uses %.1f%% of a core\n\n",
             100.0 * (process_cpu_us (pid) - cpu_before) / (gdouble) (g_get_monotonic_time () - wall_before));
  }
  g_print ("| offered/s | sent/s | delivered/s | lost | p50 ms | p99 ms | relay CPU us/signal | bench CPU us/signal |\n"
           "|---|---|---|---|---|---|---|---|\n");
  *best_rate = *sustained_rate = 0;
  for (guint i = 0; i < n_rates; i++) {
    Step step = run_step (bench, rates[i]);

    print_step (&step);
    if (i == 0)
      *at_first_rate = step;
    *best_rate = MAX (*best_rate, step.delivered_per_s);
    if (step.p99_ms < 1000.0)
      *sustained_rate = MAX (*sustained_rate, step.delivered_per_s);
    if (step.delivered_per_s < 0.95 * rates[i])
      break;
  }
  if (heartbeat_id != 0)
    g_source_remove (heartbeat_id);
  g_clear_pointer (&bench->idle, g_ptr_array_unref);
  g_clear_pointer (&bench->senders, g_ptr_array_unref);
  g_clear_pointer (&bench->receivers, g_ptr_array_unref);
  holder_stop (holder);
  return TRUE;
}

/* ---- PeerJS ---- */

static gchar *
peerjs_folder (GError **error)
{
  const gchar *env = g_getenv ("PLEXUS_BENCH_PEERJS");
  g_autofree gchar *folder = env != NULL ? g_strdup (env)
                                         : g_build_filename (g_get_user_cache_dir (), "plexus-bench", "peerjs", NULL);
  g_autofree gchar *script = g_build_filename (folder, "node_modules", "peer", "dist", "bin", "peerjs.js", NULL);
  const gchar *argv[] = { "npm", "install", "--prefix", folder, "--no-audit", "--no-fund", "--loglevel=error",
                          "peer@" PEERJS_VERSION, NULL };
  gint status;

  if (g_file_test (script, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&folder);
  g_printerr ("signaling: installing PeerJS %s into %s with npm\n", PEERJS_VERSION, folder);
  if (g_mkdir_with_parents (folder, 0755) < 0 ||
      !g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, error) ||
      !g_spawn_check_wait_status (status, error))
    return NULL;
  return g_steal_pointer (&folder);
}

static gboolean
port_answers (gconstpointer data)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = g_socket_client_connect_to_host (client, data, 0, NULL, NULL);

  return connection != NULL;
}

static GSubprocess *
peerjs_start (guint16 port, GError **error)
{
  g_autofree gchar *folder = peerjs_folder (error);
  g_autofree gchar *script = NULL;
  g_autofree gchar *port_text = g_strdup_printf ("%u", port);
  g_autofree gchar *address = g_strdup_printf ("127.0.0.1:%u", port);
  GSubprocess *process;

  if (folder == NULL)
    return NULL;
  script = g_build_filename (folder, "node_modules", "peer", "dist", "bin", "peerjs.js", NULL);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, error, "node", script, "--host", "127.0.0.1",
                              "--port", port_text, "--concurrent_limit", "100000", "--alive_timeout", "60000", NULL);
  if (process == NULL)
    return NULL;
  if (!plexus_test_wait_for (port_answers, address, 20000)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "PeerJS did not listen on %s within 20 s", address);
    g_subprocess_force_exit (process);
    g_object_unref (process);
    return NULL;
  }
  return process;
}

static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  if (socket == NULL || !g_socket_bind (socket, any, TRUE, NULL))
    return 0;
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* ---- end to end through daemons ---- */

/* The three modes take turns message by message, so that whatever else
 * the machine does at some moment (a relay's keepalive round, another
 * process) falls on all three alike. */
static const gchar * const e2e_modes[] = { "peer", "traditional", "hybrid" };
#define N_E2E_MODES G_N_ELEMENTS (e2e_modes)

typedef struct {
  GHashTable *sent_at;     /* payload text → gint64* send time */
  GHashTable *modes;       /* message ID → mode index + 1 */
  GArray     *latencies[N_E2E_MODES];
  guint       received[N_E2E_MODES];
  GHashTable *paths[N_E2E_MODES];  /* winning path → count */
  guint       delivered;
  guint       total;
} E2E;

/* Payloads are "MODE-INDEX NUMBER". */
static void
on_e2e_received (PlexusDBusMessaging *proxy, const gchar *from, GVariant *payload, const gchar *id, E2E *e2e)
{
  gsize length;
  const gchar *data = g_variant_get_fixed_array (payload, &length, 1);
  g_autofree gchar *text = g_strndup (data, length);
  gint64 *sent_at = g_hash_table_lookup (e2e->sent_at, text);
  guint mode = (guint) (text[0] - '0');
  gint64 latency;

  if (sent_at == NULL || mode >= N_E2E_MODES)
    return;
  latency = g_get_monotonic_time () - *sent_at;
  g_array_append_val (e2e->latencies[mode], latency);
  e2e->received[mode]++;
  g_hash_table_remove (e2e->sent_at, text);
}

typedef struct {
  E2E  *e2e;
  guint mode;
} E2ESend;

static void
on_e2e_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree E2ESend *send = user_data;
  g_autofree gchar *id = NULL;

  /* The reply comes before the message's Delivered signal. */
  if (plexus_dbus_messaging_call_send_finish (PLEXUS_DBUS_MESSAGING (source), &id, result, NULL))
    g_hash_table_insert (send->e2e->modes, g_steal_pointer (&id), GUINT_TO_POINTER (send->mode + 1));
}

static void
on_e2e_delivered (PlexusDBusMessaging *proxy, const gchar *id, const gchar *to, const gchar *path, const gchar *relay,
                  gdouble latency_ms, E2E *e2e)
{
  guint mode = GPOINTER_TO_UINT (g_hash_table_lookup (e2e->modes, id));
  GHashTable *paths;

  e2e->delivered++;
  if (mode == 0)
    return;
  paths = e2e->paths[mode - 1];
  g_hash_table_replace (paths, g_strdup (path), GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (paths, path)) + 1));
}

static gboolean
e2e_done (gconstpointer data)
{
  const E2E *e2e = data;

  /* Received comes before the sender hears of the acknowledgement. */
  return g_hash_table_size (e2e->sent_at) == 0 && e2e->delivered >= e2e->total;
}

/* E2E_RATE messages per second for E2E_SECONDS per mode, the modes in
 * turn; a table row per mode and each mode's p99 in @p99_out. */
static void
bench_e2e (PlexusDBusMessaging *alice, PlexusDBusMessaging *bob, const gchar *bob_id, gdouble p99_out[N_E2E_MODES])
{
  E2E e2e = { 0 };
  gint64 start = g_get_monotonic_time ();
  guint rate = E2E_RATE * N_E2E_MODES;

  e2e.sent_at = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  e2e.modes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  e2e.total = E2E_RATE * E2E_SECONDS * N_E2E_MODES;
  for (guint m = 0; m < N_E2E_MODES; m++) {
    e2e.latencies[m] = g_array_new (FALSE, FALSE, sizeof (gint64));
    e2e.paths[m] = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  }
  g_signal_connect (bob, "received", G_CALLBACK (on_e2e_received), &e2e);
  g_signal_connect (alice, "delivered", G_CALLBACK (on_e2e_delivered), &e2e);
  for (guint i = 0; i < e2e.total; i++) {
    gint64 due = start + (gint64) i * G_USEC_PER_SEC / rate;
    guint mode = i % N_E2E_MODES;
    g_autofree gchar *text = g_strdup_printf ("%u %u", mode, i);
    gint64 *now = g_new (gint64, 1);
    E2ESend *send = g_new (E2ESend, 1);
    gboolean never = FALSE;

    if (due > g_get_monotonic_time ())
      plexus_test_wait (&never, (guint) ((due - g_get_monotonic_time ()) / 1000));
    *now = g_get_monotonic_time ();
    g_hash_table_insert (e2e.sent_at, g_strdup (text), now);
    *send = (E2ESend) { &e2e, mode };
    plexus_dbus_messaging_call_send (alice, bob_id,
                                     g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1),
                                     g_variant_new_parsed ("{'mode': <%s>}", e2e_modes[mode]), NULL, on_e2e_sent,
                                     send);
  }
  plexus_test_wait_for (e2e_done, &e2e, 20000);
  g_signal_handlers_disconnect_by_data (bob, &e2e);
  g_signal_handlers_disconnect_by_data (alice, &e2e);
  for (guint m = 0; m < N_E2E_MODES; m++) {
    g_autoptr(GString) winners = g_string_new (NULL);
    GHashTableIter iter;
    gpointer key, value;

    g_array_sort (e2e.latencies[m], compare_gint64);
    g_hash_table_iter_init (&iter, e2e.paths[m]);
    while (g_hash_table_iter_next (&iter, &key, &value))
      g_string_append_printf (winners, "%s%s %u", winners->len > 0 ? ", " : "", (const gchar *) key,
                              GPOINTER_TO_UINT (value));
    g_print ("| %s | %u/%u | %7.2f | %7.2f | %s |\n", e2e_modes[m], e2e.received[m], E2E_RATE * E2E_SECONDS,
             percentile_ms (e2e.latencies[m], 0.5), percentile_ms (e2e.latencies[m], 0.99), winners->str);
    p99_out[m] = percentile_ms (e2e.latencies[m], 0.99);
    g_array_unref (e2e.latencies[m]);
    g_hash_table_unref (e2e.paths[m]);
  }
  g_hash_table_unref (e2e.sent_at);
  g_hash_table_unref (e2e.modes);
}

static gboolean
has_signaling_providers (gconstpointer data)
{
  PlexusTestNode *node = (PlexusTestNode *) data;
  g_autoptr(GVariant) providers = NULL;

  if (!plexus_dbus_broker_call_list_providers_sync (node->broker, "signaling", &providers, NULL, NULL))
    return FALSE;
  return g_variant_n_children (providers) >= 2;
}

typedef struct {
  PlexusTestNode *from;
  const gchar    *to;
} OneHop;

static gboolean
one_hop (gconstpointer data)
{
  const OneHop *w = data;
  gdouble rtt;
  guint hops;

  return plexus_dbus_manager_call_ping_sync (w->from->manager, w->to, &rtt, &hops, NULL, NULL) && hops == 1;
}

static PlexusDBusMessaging *
messaging_proxy (PlexusTestNode *node)
{
  return plexus_dbus_messaging_proxy_new_sync (node->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                               "org.plexus.Plexus1", "/org/plexus/Plexus1/Messaging", NULL, NULL);
}

/* ---- main ---- */

static gboolean
set_up_environment (GError **error)
{
  g_autofree gchar *path = NULL;

  g_setenv ("PLEXUSD", ABS_TOP_BUILDDIR "/core/plexusd", FALSE);
  g_setenv ("PLEXUS_SYSTEM_CONFIG", "/dev/null", TRUE);
  if (!g_file_test (g_getenv ("PLEXUSD"), G_FILE_TEST_IS_EXECUTABLE)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND, "no plexusd at %s (build it, or set PLEXUSD)",
                 g_getenv ("PLEXUSD"));
    return FALSE;
  }
  path = g_strjoin (G_SEARCHPATH_SEPARATOR_S, ABS_TOP_BUILDDIR "/plugins/relay/.libs",
                    ABS_TOP_BUILDDIR "/plugins/gossip/.libs", NULL);
  g_setenv ("PLEXUS_PLUGIN_PATH", path, TRUE);
  return TRUE;
}

static gchar *
write_config (PlexusTestFixture *fixture, GError **error)
{
  g_autofree gchar *path = g_build_filename (fixture->tmpdir, "bench.conf", NULL);

  /* The reference has no rate limits; neither do the relays here. */
  if (!g_file_set_contents (path, "[server-fallback]\nrate-limit=0\n[signaling-relay]\nrate-limit=0\n"
                                  "[plugins]\ndisabled=stun\n", -1, error))
    return NULL;
  return g_steal_pointer (&path);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  PlexusTestFixture *fixture;
  g_autofree gchar *config = NULL;
  const gchar *server_args[] = { "--role", "server", "--config", NULL, NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, "--config", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, "--config", NULL, NULL };
  PlexusTestNode *server, *super, *alice, *bob;
  g_autoptr(GSubprocess) peerjs = NULL;
  g_autofree gchar *peerjs_uri = NULL;
  g_autofree gchar *server_id = NULL, *super_id = NULL, *bob_id = NULL;
  g_autoptr(PlexusDBusMessaging) alice_messaging = NULL;
  g_autoptr(PlexusDBusMessaging) bob_messaging = NULL;
  Bench bench = { 0 };
  gdouble best[3] = { 0 }, sustained[3] = { 0 };
  Step first[3] = { { 0 } };
  gdouble p99_peer, p99_traditional, p99_hybrid;
  gdouble p99[N_E2E_MODES];
  guint16 port;
  OneHop hop;

  if (argc == 6 && g_str_equal (argv[1], "--hold"))
    return hold_main (argv + 2);
  bench.seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 3.0;
  if (g_getenv ("PLEXUS_BENCH_IDLE") != NULL)
    idle_links = (guint) g_ascii_strtoull (g_getenv ("PLEXUS_BENCH_IDLE"), NULL, 10);
  /* Offered rates to climb, if given after the seconds. */
  for (gint i = 2; i < argc && i - 2 < (gint) G_N_ELEMENTS (rates); i++) {
    rates[i - 2] = (guint) g_ascii_strtoull (argv[i], NULL, 10);
    n_rates = (guint) (i - 1);
  }
  if (bench.seconds <= 0 || !set_up_environment (&error)) {
    g_printerr ("signaling: %s\n", error != NULL ? error->message : "usage: bench/signaling [SECONDS-PER-STEP]");
    return 1;
  }
  signal (SIGPIPE, SIG_IGN);
  bench.session = soup_session_new_with_options ("max-conns", 4 * idle_links, "max-conns-per-host", 4 * idle_links,
                                                 "timeout", 0, "idle-timeout", 0, NULL);
  bench.filler = g_strnfill (SIGNAL_BYTES, 'x');
  bench.latencies = g_array_sized_new (FALSE, FALSE, sizeof (gint64), 1 << 17);
  bench.kept = g_ptr_array_new_with_free_func (holder_stop);

  fixture = plexus_test_fixture_new ();
  fixture->timeout_ms = 30000;
  if ((config = write_config (fixture, &error)) == NULL)
    goto fail;
  server_args[3] = super_args[5] = peer_args[3] = config;
  if ((server = plexus_test_fixture_add_node (fixture, server_args, &error)) == NULL)
    goto fail;
  super_args[3] = peer_args[1] = plexus_dbus_manager_get_address (server->manager);
  if ((super = plexus_test_fixture_add_node (fixture, super_args, &error)) == NULL ||
      (alice = plexus_test_fixture_add_node (fixture, peer_args, &error)) == NULL ||
      (bob = plexus_test_fixture_add_node (fixture, peer_args, &error)) == NULL)
    goto fail;
  server_id = plexus_dbus_manager_dup_peer_id (server->manager);
  super_id = plexus_dbus_manager_dup_peer_id (super->manager);
  bob_id = plexus_dbus_manager_dup_peer_id (bob->manager);
  port = free_port ();
  if ((peerjs = peerjs_start (port, &error)) == NULL)
    goto fail;
  peerjs_uri = g_strdup_printf ("ws://127.0.0.1:%u/", port);

  g_print ("bench/signaling: %.1f s per step after %.1f s of warm-up; plexusd %s; PeerJS %s on node %s\n",
           bench.seconds, WARMUP_US / 1e6, PACKAGE_VERSION, PEERJS_VERSION, "(system)");
  /* End to end: the standard peers attach to the super peer and link to
   * the server first. */
  hop = (OneHop) { super, bob_id };
  if (!plexus_test_wait_for (has_signaling_providers, alice, 60000) ||
      !plexus_test_wait_for (has_signaling_providers, bob, 60000) || !plexus_test_wait_for (one_hop, &hop, 60000)) {
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "the standard peers did not attach to the super peer and the server within 60 s; "
                 "a standard peer's log:\n%s\nthe super peer's log:\n%s", bob->log->str, super->log->str);
    goto fail;
  }
  {
    GSubprocess *holder;

    if ((holder = holder_start (TARGET_SUPER, plexus_dbus_manager_get_address (super->manager), super_id,
                                &error)) == NULL)
      goto fail;
    g_ptr_array_add (bench.kept, holder);
    if ((holder = holder_start (TARGET_SERVER, plexus_dbus_manager_get_address (server->manager), server_id,
                                &error)) == NULL)
      goto fail;
    g_ptr_array_add (bench.kept, holder);
  }
  alice_messaging = messaging_proxy (alice);
  bob_messaging = messaging_proxy (bob);
  g_print ("end to end between two standard peers (Messaging.Send on one bus to Received on the other), "
           "%u messages/s in each mode for %u s, the modes taking turns message by message, the super peer and "
           "the server each holding %u idle links:\n\n"
           "| mode | received | p50 ms | p99 ms | delivered by |\n|---|---|---|---|---|\n",
           E2E_RATE, E2E_SECONDS, idle_links);
  bench_e2e (alice_messaging, bob_messaging, bob_id, p99);
  p99_peer = p99[0];
  p99_traditional = p99[1];
  p99_hybrid = p99[2];

  g_ptr_array_set_size (bench.kept, 0);

  g_print ("\nrelayed signals: %u pairs sending %u-byte signals round-robin beside %u idle connections\n", PAIRS,
           SIGNAL_BYTES, idle_links);
  if (!bench_target (&bench, TARGET_SUPER, plexus_dbus_manager_get_address (super->manager), super_id,
                     (GPid) g_ascii_strtoll (g_subprocess_get_identifier (super->daemon), NULL, 10),
                     &best[TARGET_SUPER], &sustained[TARGET_SUPER], &first[TARGET_SUPER]) ||
      !bench_target (&bench, TARGET_SERVER, plexus_dbus_manager_get_address (server->manager), server_id,
                     (GPid) g_ascii_strtoll (g_subprocess_get_identifier (server->daemon), NULL, 10),
                     &best[TARGET_SERVER], &sustained[TARGET_SERVER], &first[TARGET_SERVER]))
    goto fail;

  if (!bench_target (&bench, TARGET_PEERJS, peerjs_uri, NULL,
                     (GPid) g_ascii_strtoll (g_subprocess_get_identifier (peerjs), NULL, 10),
                     &best[TARGET_PEERJS], &sustained[TARGET_PEERJS], &first[TARGET_PEERJS]))
    goto fail;

  g_print ("\nsummary:\n");
  g_print ("- relay rate (best delivered/s, whatever the latency): super peer %.0f, server %.0f, PeerJS %.0f "
           "(super/PeerJS %.2f, server/PeerJS %.2f)\n", best[TARGET_SUPER], best[TARGET_SERVER], best[TARGET_PEERJS],
           best[TARGET_SUPER] / best[TARGET_PEERJS], best[TARGET_SERVER] / best[TARGET_PEERJS]);
  g_print ("- sustained relay rate (best delivered/s with p99 under 1 s): super peer %.0f, server %.0f, PeerJS %.0f "
           "(super/PeerJS %.2f, server/PeerJS %.2f)\n", sustained[TARGET_SUPER], sustained[TARGET_SERVER],
           sustained[TARGET_PEERJS], sustained[TARGET_SUPER] / sustained[TARGET_PEERJS],
           sustained[TARGET_SERVER] / sustained[TARGET_PEERJS]);
  g_print ("- at %u/s with %u idle connections, p50/p99 ms: super peer %.2f/%.2f, server %.2f/%.2f, PeerJS %.2f/%.2f\n",
           rates[0], idle_links, first[0].p50_ms, first[0].p99_ms, first[1].p50_ms, first[1].p99_ms,
           first[2].p50_ms, first[2].p99_ms);
  g_print ("- end to end p99 ms: hybrid %.2f, the faster single path %.2f (peer %.2f, traditional %.2f)\n",
           p99_hybrid, MIN (p99_peer, p99_traditional), p99_peer, p99_traditional);

  g_subprocess_force_exit (peerjs);
  g_ptr_array_unref (bench.kept);
  plexus_test_fixture_free (fixture);
  g_array_unref (bench.latencies);
  g_free (bench.filler);
  g_object_unref (bench.session);
  return 0;

fail:
  g_printerr ("signaling: %s\n", error != NULL ? error->message : "set-up failed");
  g_ptr_array_unref (bench.kept);
  if (peerjs != NULL)
    g_subprocess_force_exit (peerjs);
  plexus_test_fixture_free (fixture);
  return 1;
}
