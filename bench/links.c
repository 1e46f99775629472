/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#include <libsoup/soup.h>

#include "plexus-link.h"
#include "plexus-node.h"

/* bench/links: what the encryption of node links costs.
 *
 *   bench/links [SECONDS]
 *
 * The server is this program again, started with --serve in a process of
 * its own; it listens on 127.0.0.1 on a port the kernel picks and tells
 * the client the port and its peer ID through a pipe. The client, here,
 * measures each case for SECONDS (default 3) per side, in three slices
 * per side on new connections, the two sides taking turns:
 *
 *  - round trips on one connection, 64 B and 1 KiB messages, 1 and 32 in
 *    flight: a plain libsoup WebSocket echoed by the server, then the same
 *    through a PlexusLink (Noise transport messages over the WebSocket);
 *  - the same through the node's message format: a PlexusEnvelope encoded,
 *    sent over a link, decoded and answered with an encoded reply;
 *  - connections set up one after the other: WebSocket upgrade alone, then
 *    upgrade and Noise XX handshake.
 *
 * Both ends turn off the links' incoming rate limit, or the default of 500
 * frames/s would be what is measured. Neither end negotiates a WebSocket
 * extension. Besides rates and latencies it prints the CPU time both
 * processes spent per round trip, which other work on the machine moves
 * less than the rates. Prints figures; never fails on timing. The server
 * exits when the pipe from the client closes, so no process outlives the
 * run, even a killed one. */

#define DEFAULT_SECONDS 3.0
#define WARMUP_US       (200 * G_TIME_SPAN_MILLISECOND)
/* Each case is measured in this many slices per side, taking turns. */
#define ROUNDS          3
/* How long a case may take beyond its time before it is given up. */
#define GRACE_MS        5000
#define PIPELINE        32
#define GOAL_RATIO      0.70

typedef enum {
  KIND_PLAIN,
  KIND_PLEXUS,
  KIND_ENVELOPE,
} Kind;

static const gchar * const kind_paths[] = { "/plain", "/plexus", "/envelope" };

/* Waiting ----------------------------------------------------------------- */

typedef gboolean (*Condition) (gconstpointer data);

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until @condition holds or @timeout_ms pass. */
static gboolean
wait_for (Condition condition, gconstpointer data, guint timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, on_timeout, &expired);

  while (!condition (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return condition (data);
}

static gboolean
flag_is_set (gconstpointer data)
{
  return *(const gboolean *) data;
}

static gboolean
pointer_is_set (gconstpointer data)
{
  return *(gconstpointer const *) data != NULL;
}

static gboolean
websocket_is_closed (gconstpointer data)
{
  return soup_websocket_connection_get_state ((SoupWebsocketConnection *) data) == SOUP_WEBSOCKET_STATE_CLOSED;
}

/* Server ------------------------------------------------------------------ */

typedef struct {
  PlexusIdentity *identity;
  /* Connections and links, each held until it has closed. */
  GHashTable     *held;
  GMainLoop      *loop;
  guint           stdin_id;
} Server;

static void
server_release (SoupWebsocketConnection *ws, gpointer user_data)
{
  Server *server = user_data;

  g_signal_handlers_disconnect_by_data (ws, server);
  g_hash_table_remove (server->held, ws);
}

static void
server_hold_websocket (Server *server, SoupWebsocketConnection *ws)
{
  g_hash_table_add (server->held, g_object_ref (ws));
  g_signal_connect (ws, "closed", G_CALLBACK (server_release), server);
}

static void
on_plain_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  soup_websocket_connection_send_message (ws, type, message);
}

static void
on_plain_websocket (SoupServer              *soup_server,
                    SoupServerMessage       *msg,
                    const char              *path,
                    SoupWebsocketConnection *ws,
                    gpointer                 user_data)
{
  server_hold_websocket (user_data, ws);
  g_signal_connect (ws, "message", G_CALLBACK (on_plain_message), user_data);
}

static void
on_echo_frame (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!plexus_link_send (link, frame, &error))
    g_warning ("server: cannot echo a frame: %s", error->message);
}

/* What a node does with a request: decode, check, answer, encode. */
static void
on_envelope_frame (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  Server *server = user_data;
  g_autoptr(PlexusEnvelope) request = NULL;
  g_autoptr(PlexusEnvelope) reply = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *code = NULL;
  gsize length;
  const guint8 *data = g_bytes_get_data (frame, &length);

  request = plexus_envelope_decode (data, length, &code, &error);
  if (request == NULL ||
      !plexus_envelope_check_fresh (request, g_get_real_time () / 1000,
                                    PLEXUS_NODE_MAX_CLOCK_SKEW_MS, &error)) {
    g_warning ("server: refusing an envelope: %s", error->message);
    return;
  }
  reply = plexus_envelope_new_reply (request, "reply", plexus_identity_get_peer_id (server->identity),
                                     plexus_envelope_get_body (request));
  encoded = plexus_envelope_encode (reply, &error);
  if (encoded == NULL || !plexus_link_send (link, encoded, &error))
    g_warning ("server: cannot answer an envelope: %s", error->message);
}

static void
on_link_closed (PlexusLink *link, gint code, const gchar *reason, gpointer user_data)
{
  Server *server = user_data;

  g_signal_handlers_disconnect_by_data (link, server);
  g_hash_table_remove (server->held, link);
}

static void
accept_link (Server *server, PlexusLink *link, GCallback on_frame)
{
  /* The bench measures the link, not its guard against floods. */
  plexus_link_set_rate_limit (link, 0, 0);
  plexus_link_set_byte_rate_limit (link, 0, 0);
  g_hash_table_add (server->held, g_object_ref (link));
  server_hold_websocket (server, plexus_link_get_websocket (link));
  g_signal_connect (link, "frame", on_frame, server);
  g_signal_connect (link, "closed", G_CALLBACK (on_link_closed), server);
}

static void
on_accept_echo (PlexusLink *link, gpointer user_data)
{
  accept_link (user_data, link, G_CALLBACK (on_echo_frame));
}

static void
on_accept_envelope (PlexusLink *link, gpointer user_data)
{
  accept_link (user_data, link, G_CALLBACK (on_envelope_frame));
}

/* The client holds the other end of stdin: end of file means it is gone. */
static gboolean
on_stdin (gint fd, GIOCondition condition, gpointer user_data)
{
  Server *server = user_data;
  gchar buffer[64];

  if ((condition & G_IO_IN) != 0 && read (fd, buffer, sizeof buffer) > 0)
    return G_SOURCE_CONTINUE;
  server->stdin_id = 0;
  g_main_loop_quit (server->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_sigterm (gpointer user_data)
{
  Server *server = user_data;

  g_main_loop_quit (server->loop);
  return G_SOURCE_REMOVE;
}

static void
release_held (gpointer key, gpointer value, gpointer user_data)
{
  g_signal_handlers_disconnect_by_data (key, user_data);
}

static int
serve (void)
{
  Server server = { 0 };
  g_autoptr(SoupServer) soup_server = soup_server_new (NULL, NULL);
  g_autoptr(PlexusNoiseKeypair) key = plexus_noise_keypair_new ();
  g_autoptr(GError) error = NULL;
  g_autoslist(GUri) uris = NULL;
  guint sigterm_id;

  server.identity = plexus_identity_new_ephemeral ();
  server.held = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  server.loop = g_main_loop_new (NULL, FALSE);

  soup_server_add_websocket_handler (soup_server, kind_paths[KIND_PLAIN], NULL, NULL,
                                     on_plain_websocket, &server, NULL);
  plexus_link_server_add_handler (soup_server, kind_paths[KIND_PLEXUS], server.identity, key,
                                  on_accept_echo, &server, NULL);
  plexus_link_server_add_handler (soup_server, kind_paths[KIND_ENVELOPE], server.identity, key,
                                  on_accept_envelope, &server, NULL);
  if (!soup_server_listen_local (soup_server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error)) {
    g_printerr ("links --serve: cannot listen on 127.0.0.1: %s\n", error->message);
    return 1;
  }
  uris = soup_server_get_uris (soup_server);
  g_print ("%d %s\n", g_uri_get_port (uris->data), plexus_identity_get_peer_id (server.identity));
  fflush (stdout);

  server.stdin_id = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &server);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigterm, &server);
  g_main_loop_run (server.loop);
  g_source_remove (sigterm_id);
  g_clear_handle_id (&server.stdin_id, g_source_remove);

  soup_server_disconnect (soup_server);
  g_hash_table_foreach (server.held, release_held, &server);
  g_hash_table_unref (server.held);
  g_main_loop_unref (server.loop);
  g_object_unref (server.identity);
  return 0;
}

/* Client: connecting --------------------------------------------------- */

typedef struct {
  SoupSession        *session;
  gchar              *base_uri;   /* ws://127.0.0.1:PORT */
  gchar              *server_id;
  PlexusIdentity     *identity;
  PlexusNoiseKeypair *key;
  const gchar        *server_pid;
  /* WebSockets closing in the background, dropped once closed. */
  GPtrArray          *closing;
} Client;

typedef struct {
  gboolean                 done;
  SoupWebsocketConnection *ws;
  PlexusLink              *link;
  GError                  *error;
} Connect;

static void
on_plain_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Connect *connect = user_data;

  connect->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &connect->error);
  connect->done = TRUE;
}

static void
on_link_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Connect *connect = user_data;

  connect->link = plexus_link_connect_finish (SOUP_SESSION (source), result, &connect->error);
  connect->done = TRUE;
}

/* Opens a connection of @kind: a WebSocket, or a ready link. FALSE with
 * @error set when that failed or took longer than GRACE_MS. */
static gboolean
client_connect (Client *client, Kind kind, Connect *connect, GError **error)
{
  g_autofree gchar *uri = g_strconcat (client->base_uri, kind_paths[kind], NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  memset (connect, 0, sizeof *connect);
  if (kind == KIND_PLAIN) {
    g_autoptr(SoupMessage) message = soup_message_new (SOUP_METHOD_GET, uri);

    /* As a link does: no permessage-deflate. */
    soup_message_disable_feature (message, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
    soup_session_websocket_connect_async (client->session, message, NULL, NULL, G_PRIORITY_DEFAULT,
                                          cancellable, on_plain_connected, connect);
  } else {
    plexus_link_connect_async (client->session, uri, client->identity, client->key,
                               client->server_id, cancellable, on_link_connected, connect);
  }
  if (!wait_for (flag_is_set, &connect->done, GRACE_MS)) {
    /* The callback still points at @connect: cancel, and wait for it to
     * say so rather than let it write to a stack frame that is gone. */
    g_cancellable_cancel (cancellable);
    wait_for (flag_is_set, &connect->done, G_MAXINT);
  }
  if (connect->error != NULL && g_cancellable_is_cancelled (cancellable)) {
    g_clear_error (&connect->error);
    g_clear_object (&connect->ws);
    g_clear_object (&connect->link);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "connecting to %s took longer than %d ms", uri, GRACE_MS);
    return FALSE;
  }
  if (connect->error != NULL) {
    g_propagate_error (error, g_steal_pointer (&connect->error));
    return FALSE;
  }
  if (connect->link != NULL) {
    plexus_link_set_rate_limit (connect->link, 0, 0);
    plexus_link_set_byte_rate_limit (connect->link, 0, 0);
    connect->ws = g_object_ref (plexus_link_get_websocket (connect->link));
  }
  return TRUE;
}

static void
client_prune_closing (Client *client)
{
  for (guint i = client->closing->len; i > 0; i--)
    if (websocket_is_closed (g_ptr_array_index (client->closing, i - 1)))
      g_ptr_array_remove_index_fast (client->closing, i - 1);
}

static gboolean
client_nothing_closing (gconstpointer data)
{
  Client *client = (Client *) data;

  client_prune_closing (client);
  return client->closing->len == 0;
}

/* Closes @connect's connection; the closing handshake goes on in the
 * background. */
static void
client_close (Client *client, Connect *connect)
{
  if (connect->link != NULL)
    plexus_link_close (connect->link, SOUP_WEBSOCKET_CLOSE_NORMAL, "bench done");
  else if (soup_websocket_connection_get_state (connect->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (connect->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, "bench done");
  g_clear_object (&connect->link);
  g_ptr_array_add (client->closing, g_steal_pointer (&connect->ws));
}

/* Client: measuring ------------------------------------------------------ */

/* CPU time of the main thread of process @pid, in ns: where both ends do
 * all their work. The kernel's scheduler statistics count it to the
 * nanosecond, rather than in clock ticks as getrusage() and /proc/PID/stat
 * do. -1 when unknown. */
static gint64
main_thread_cpu_ns (const gchar *pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%s/schedstat", pid);
  g_autofree gchar *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  return g_ascii_strtoll (contents, NULL, 10);
}

/* CPU time of both ends, in ns, or -1. */
static gint64
both_ends_cpu_ns (Client *client)
{
  gint64 own = main_thread_cpu_ns ("self");
  gint64 server = main_thread_cpu_ns (client->server_pid);

  return own > 0 && server > 0 ? own + server : -1;
}

/* What the slices of one case gathered. */
typedef struct {
  GArray  *rates;      /* gdouble per second, one per slice, in the order run */
  GArray  *latencies;  /* gint64 µs, of every slice */
  gint64   cpu_ns;     /* both ends, every slice; -1 once unknown */
  guint64  cpu_count;  /* the round trips or connections that CPU time paid for */
  gsize    wire;       /* bytes of one message before encryption */
} Samples;

static void
samples_init (Samples *samples)
{
  memset (samples, 0, sizeof *samples);
  samples->rates = g_array_new (FALSE, FALSE, sizeof (gdouble));
  samples->latencies = g_array_new (FALSE, FALSE, sizeof (gint64));
}

static void
samples_clear (Samples *samples)
{
  g_array_unref (samples->rates);
  g_array_unref (samples->latencies);
}

static void
samples_add (Samples *samples, GArray *latencies, gdouble rate, gint64 cpu_before, gint64 cpu_after, guint64 n)
{
  g_array_append_val (samples->rates, rate);
  g_array_append_vals (samples->latencies, latencies->data, latencies->len);
  if (cpu_before < 0 || cpu_after < 0 || samples->cpu_ns < 0) {
    samples->cpu_ns = -1;
    return;
  }
  samples->cpu_ns += cpu_after - cpu_before;
  samples->cpu_count += n;
}

typedef struct {
  gboolean ok;
  gdouble  rate;     /* the median slice's, per second */
  gdouble  p50_us;
  gdouble  p99_us;
  gdouble  cpu_us;   /* both ends, per round trip or connection; -1 if unknown */
} Figures;

static int
cmp_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return (x > y) - (x < y);
}

static gdouble
median (GArray *values)
{
  g_autoptr(GArray) sorted = g_array_copy (values);

  g_array_sort (sorted, cmp_double);
  if (sorted->len % 2 == 1)
    return g_array_index (sorted, gdouble, sorted->len / 2);
  return (g_array_index (sorted, gdouble, sorted->len / 2 - 1) +
          g_array_index (sorted, gdouble, sorted->len / 2)) / 2;
}

/* The rate is the median slice's: the machine is shared, and one slice
 * that another program slowed down should not move it. */
static Figures
figures_from_samples (Samples *samples)
{
  Figures figures = { 0 };
  GArray *latencies = samples->latencies;

  if (samples->rates->len == 0 || latencies->len == 0)
    return figures;
  figures.ok = TRUE;
  figures.rate = median (samples->rates);
  g_array_sort (latencies, cmp_int64);
  figures.p50_us = g_array_index (latencies, gint64, latencies->len / 2);
  figures.p99_us = g_array_index (latencies, gint64, MIN (latencies->len - 1, latencies->len * 99 / 100));
  figures.cpu_us = samples->cpu_ns >= 0 && samples->cpu_count > 0
                   ? samples->cpu_ns / 1000.0 / samples->cpu_count : -1;
  return figures;
}

typedef struct {
  Client     *client;
  Kind        kind;
  Connect     connect;
  gsize       size;
  guint       depth;
  guint8     *payload;
  gchar      *filler;
  gint64      measure_from;
  gint64      measure_until;
  guint       outstanding;
  guint64     replies;    /* all of them, warm-up included, for the CPU time */
  GArray     *latencies;  /* gint64 µs, of the replies inside the window */
  gsize       wire;
  gchar      *failure;
} Run;

static void run_fail (Run *run, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static void
run_fail (Run *run, const gchar *format, ...)
{
  va_list args;

  if (run->failure != NULL)
    return;
  va_start (args, format);
  run->failure = g_strdup_vprintf (format, args);
  va_end (args);
}

/* Sends one message stamped with the time it leaves. */
static void
run_send (Run *run)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = g_get_monotonic_time ();

  if (run->kind == KIND_ENVELOPE) {
    g_autoptr(JsonObject) body = json_object_new ();
    g_autoptr(PlexusEnvelope) envelope = NULL;

    json_object_set_int_member (body, "sent", now);
    json_object_set_string_member (body, "data", run->filler);
    envelope = plexus_envelope_new ("bench.echo", plexus_identity_get_peer_id (run->client->identity),
                                    "", body);
    bytes = plexus_envelope_encode (envelope, &error);
    if (bytes == NULL) {
      run_fail (run, "cannot encode an envelope: %s", error->message);
      return;
    }
  } else {
    memcpy (run->payload, &now, sizeof now);
    bytes = g_bytes_new (run->payload, run->size);
  }
  run->wire = g_bytes_get_size (bytes);

  if (run->kind == KIND_PLAIN) {
    soup_websocket_connection_send_message (run->connect.ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
  } else if (!plexus_link_send (run->connect.link, bytes, &error)) {
    run_fail (run, "cannot send: %s", error->message);
    return;
  }
  run->outstanding++;
}

static void
run_received (Run *run, gint64 sent)
{
  gint64 now = g_get_monotonic_time ();

  run->outstanding--;
  run->replies++;
  if (now >= run->measure_from && now < run->measure_until) {
    gint64 latency = now - sent;

    g_array_append_val (run->latencies, latency);
  }
  if (now < run->measure_until && run->failure == NULL)
    run_send (run);
}

static void
on_run_message (SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer user_data)
{
  Run *run = user_data;
  gint64 sent;
  gsize len;
  const guint8 *data = g_bytes_get_data (message, &len);

  if (len != run->size) {
    run_fail (run, "echo of %" G_GSIZE_FORMAT " bytes, sent %" G_GSIZE_FORMAT, len, run->size);
    return;
  }
  memcpy (&sent, data, sizeof sent);
  run_received (run, sent);
}

static void
on_run_frame (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  Run *run = user_data;
  gsize len;
  const guint8 *data = g_bytes_get_data (frame, &len);

  if (run->kind == KIND_ENVELOPE) {
    g_autoptr(PlexusEnvelope) reply = NULL;
    g_autoptr(GError) error = NULL;
    const gchar *code = NULL;

    reply = plexus_envelope_decode (data, len, &code, &error);
    if (reply == NULL) {
      run_fail (run, "cannot decode the reply: %s", error->message);
      return;
    }
    run_received (run, json_object_get_int_member_with_default (plexus_envelope_get_body (reply),
                                                                "sent", 0));
    return;
  }
  if (len != run->size) {
    run_fail (run, "echo of %" G_GSIZE_FORMAT " bytes, sent %" G_GSIZE_FORMAT, len, run->size);
    return;
  }
  {
    gint64 sent;

    memcpy (&sent, data, sizeof sent);
    run_received (run, sent);
  }
}

static gboolean
run_is_over (gconstpointer data)
{
  const Run *run = data;

  if (run->failure != NULL)
    return TRUE;
  if (run->connect.link != NULL && plexus_link_get_state (run->connect.link) != PLEXUS_LINK_STATE_READY)
    return TRUE;
  if (soup_websocket_connection_get_state (run->connect.ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return TRUE;
  return run->outstanding == 0 && g_get_monotonic_time () >= run->measure_until;
}

/* One slice: round trips of @size-byte messages, @depth at a time, on a
 * new connection of @kind, for @seconds after the warm-up. */
static void
bench_round_trips (Client *client, Kind kind, gsize size, guint depth, gdouble seconds, Samples *samples)
{
  g_autoptr(GError) error = NULL;
  Run run = { 0 };
  gint64 start;
  gint64 cpu_before, cpu_after;

  run.client = client;
  run.kind = kind;
  run.size = size;
  run.depth = depth;
  run.payload = g_malloc (size);
  memset (run.payload, 'x', size);
  run.filler = g_strnfill (size, 'x');
  run.latencies = g_array_sized_new (FALSE, FALSE, sizeof (gint64), 1 << 16);

  if (!client_connect (client, kind, &run.connect, &error)) {
    g_printerr ("links: %s\n", error->message);
    goto out;
  }
  if (run.connect.link != NULL)
    g_signal_connect (run.connect.link, "frame", G_CALLBACK (on_run_frame), &run);
  else
    g_signal_connect (run.connect.ws, "message", G_CALLBACK (on_run_message), &run);

  cpu_before = both_ends_cpu_ns (client);
  start = g_get_monotonic_time ();
  run.measure_from = start + WARMUP_US;
  run.measure_until = run.measure_from + (gint64) (seconds * G_USEC_PER_SEC);
  for (guint i = 0; i < depth && run.failure == NULL; i++)
    run_send (&run);
  if (!wait_for (run_is_over, &run, (guint) (seconds * 1000) + WARMUP_US / 1000 + GRACE_MS))
    run_fail (&run, "%u messages unanswered %d ms after the end", run.outstanding, GRACE_MS);
  if (run.failure == NULL && run.outstanding > 0)
    run_fail (&run, "the connection closed with %u messages unanswered", run.outstanding);
  cpu_after = both_ends_cpu_ns (client);

  if (run.connect.link != NULL)
    g_signal_handlers_disconnect_by_data (run.connect.link, &run);
  else
    g_signal_handlers_disconnect_by_data (run.connect.ws, &run);
  client_close (client, &run.connect);
  /* One connection at a time: the next case starts on a quiet machine. */
  wait_for (client_nothing_closing, client, GRACE_MS);

  if (run.failure != NULL) {
    g_printerr ("links: %s, %" G_GSIZE_FORMAT " B, %u in flight: %s\n",
                kind_paths[kind] + 1, size, depth, run.failure);
    goto out;
  }
  samples_add (samples, run.latencies, run.latencies->len / seconds, cpu_before, cpu_after, run.replies);
  samples->wire = run.wire;

out:
  g_free (run.failure);
  g_free (run.payload);
  g_free (run.filler);
  g_array_unref (run.latencies);
}

/* One slice: new connections one after the other for @seconds. The rate
 * is over their summed set-up times, as closing each one goes on in the
 * background; the CPU time includes the closing. */
static void
bench_connects (Client *client, Kind kind, gdouble seconds, Samples *samples)
{
  g_autoptr(GArray) latencies = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 end = g_get_monotonic_time () + (gint64) (seconds * G_USEC_PER_SEC);
  gint64 total = 0;
  gint64 cpu_before = both_ends_cpu_ns (client);

  while (g_get_monotonic_time () < end) {
    g_autoptr(GError) error = NULL;
    Connect connect;
    gint64 start = g_get_monotonic_time ();
    gint64 latency;

    if (!client_connect (client, kind, &connect, &error)) {
      g_printerr ("links: %s\n", error->message);
      break;
    }
    latency = g_get_monotonic_time () - start;
    total += latency;
    g_array_append_val (latencies, latency);
    client_close (client, &connect);
    client_prune_closing (client);
  }
  wait_for (client_nothing_closing, client, GRACE_MS);
  if (total > 0)
    samples_add (samples, latencies, latencies->len / (total / (gdouble) G_USEC_PER_SEC),
                 cpu_before, both_ends_cpu_ns (client), latencies->len);
}

/* Client: the server process ------------------------------------------- */

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gchar **line = user_data;

  *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  if (*line == NULL)
    *line = g_strdup ("");
}

static GSubprocess *
start_server (const gchar *self_path, gchar **port_and_id, GError **error)
{
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  gchar *line = NULL;

  server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, error,
                             self_path, "--serve", NULL);
  if (server == NULL)
    return NULL;
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, on_line, &line);
  if (!wait_for (pointer_is_set, &line, 10000)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the server did not report its port within 10 s");
    g_subprocess_force_exit (server);
    /* on_line() still writes to @line. */
    wait_for (pointer_is_set, &line, G_MAXINT);
    g_free (line);
    return NULL;
  }
  if (line[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the server exited before reporting its port");
    g_free (line);
    return NULL;
  }
  *port_and_id = line;
  return g_steal_pointer (&server);
}

static void
on_server_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) user_data = TRUE;
}

/* Closes the server's stdin, which makes it exit; kills it if it has not
 * within a few seconds. Returns once it is gone. */
static void
stop_server (GSubprocess *server)
{
  gboolean exited = FALSE;

  g_output_stream_close (g_subprocess_get_stdin_pipe (server), NULL, NULL);
  g_subprocess_wait_async (server, NULL, on_server_exited, &exited);
  if (!wait_for (flag_is_set, &exited, GRACE_MS)) {
    g_printerr ("links: the server did not exit; killing it\n");
    g_subprocess_force_exit (server);
    wait_for (flag_is_set, &exited, G_MAXINT);
  }
}

/* Report ------------------------------------------------------------------- */


/* One case measured both ways. */
typedef struct {
  Samples plain;
  Samples plexus;
} Pair;

static void
pair_init (Pair *pair)
{
  samples_init (&pair->plain);
  samples_init (&pair->plexus);
}

static void
pair_clear (Pair *pair)
{
  samples_clear (&pair->plain);
  samples_clear (&pair->plexus);
}

/* ROUNDS slices of each side, taking turns at going first, so that a
 * change in what else runs on the machine hits both sides alike. */
static void
measure_round_trips (Client *client, Kind kind, gsize size, guint depth, gdouble slice, Pair *pair)
{
  for (guint r = 0; r < ROUNDS; r++) {
    gboolean plain_first = r % 2 == 0;

    bench_round_trips (client, plain_first ? KIND_PLAIN : kind, size, depth, slice,
                       plain_first ? &pair->plain : &pair->plexus);
    bench_round_trips (client, plain_first ? kind : KIND_PLAIN, size, depth, slice,
                       plain_first ? &pair->plexus : &pair->plain);
  }
}

static void
measure_connects (Client *client, gdouble slice, Pair *pair)
{
  for (guint r = 0; r < ROUNDS; r++) {
    gboolean plain_first = r % 2 == 0;

    bench_connects (client, plain_first ? KIND_PLAIN : KIND_PLEXUS, slice,
                    plain_first ? &pair->plain : &pair->plexus);
    bench_connects (client, plain_first ? KIND_PLEXUS : KIND_PLAIN, slice,
                    plain_first ? &pair->plexus : &pair->plain);
  }
}

static gchar *
format_figures (const Figures *figures)
{
  g_autofree gchar *cpu = NULL;

  if (!figures->ok)
    return g_strdup_printf ("%8s %6s %6s %6s", "failed", "-", "-", "-");
  cpu = figures->cpu_us >= 0 ? g_strdup_printf ("%6.1f", figures->cpu_us) : g_strdup ("     -");
  return g_strdup_printf ("%8.0f %6.0f %6.0f %s", figures->rate, figures->p50_us, figures->p99_us, cpu);
}

/* Prints one row; returns the ratio of the rates, or -1, and sets
 * @cpu_share to plain's CPU time per round trip over plexus's, or -1. */
static gdouble
print_pair (const gchar *name, Pair *pair, gdouble *cpu_share)
{
  Figures plain = figures_from_samples (&pair->plain);
  Figures plexus = figures_from_samples (&pair->plexus);
  g_autofree gchar *left = format_figures (&plain);
  g_autofree gchar *right = format_figures (&plexus);
  g_autofree gchar *rate = g_strdup ("    -");
  g_autofree gchar *range = g_strdup ("");
  g_autofree gchar *cpu = g_strdup ("    -");
  gdouble ratio = -1;
  GArray *a = pair->plain.rates;
  GArray *b = pair->plexus.rates;

  if (plain.ok && plexus.ok && plain.rate > 0) {
    ratio = plexus.rate / plain.rate;
    g_free (rate);
    rate = g_strdup_printf ("%5.2f", ratio);
  }
  /* The spread of the rounds' own ratios says how far to trust the row. */
  if (a->len == b->len && a->len > 1) {
    gdouble low = G_MAXDOUBLE, high = 0;

    for (guint i = 0; i < a->len; i++) {
      gdouble r = g_array_index (b, gdouble, i) / g_array_index (a, gdouble, i);

      low = MIN (low, r);
      high = MAX (high, r);
    }
    g_free (range);
    range = g_strdup_printf ("%.2f-%.2f", low, high);
  }
  *cpu_share = -1;
  if (plain.ok && plexus.ok && plain.cpu_us > 0 && plexus.cpu_us > 0) {
    *cpu_share = plain.cpu_us / plexus.cpu_us;
    g_free (cpu);
    cpu = g_strdup_printf ("%5.2f", plexus.cpu_us / plain.cpu_us);
  }
  g_print ("  %-22s %s   %s   %s %-9s  %s\n", name, left, right, rate, range, cpu);
  return ratio;
}

static void
print_header (const gchar *title, const gchar *unit, const gchar *cpu_unit)
{
  g_print ("\n%-24s %-29s   %-29s   %s\n", title, " ----------- plain ----------",
           " ----------- plexus ---------", "---- plexus/plain ----");
  g_print ("%-24s %8s %6s %6s %6s   %8s %6s %6s %6s   %5s %-9s  %5s\n", "",
           unit, "p50", "p99", "cpu", unit, "p50", "p99", "cpu", "rate", "(rounds)", "cpu");
  g_print ("%-24s %8s %6s %6s %6s   %8s %6s %6s %6s\n", "",
           "", "us", "us", cpu_unit, "", "us", "us", cpu_unit);
}

int
main (int argc, char **argv)
{
  static const gsize sizes[] = { 64, 1024 };
  static const guint depths[] = { 1, PIPELINE };
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) server = NULL;
  g_autofree gchar *self_path = NULL;
  g_autofree gchar *port_and_id = NULL;
  g_autofree gchar *lowest_case = NULL;
  g_auto(GStrv) fields = NULL;
  Client client = { 0 };
  Pair links[G_N_ELEMENTS (sizes)][G_N_ELEMENTS (depths)];
  Pair envelopes[G_N_ELEMENTS (depths)];
  Pair connects;
  gdouble seconds = DEFAULT_SECONDS;
  gdouble slice;
  gdouble lowest = G_MAXDOUBLE;
  gdouble lowest_share = G_MAXDOUBLE;
  gdouble unused;
  guint met = 0, measured = 0;
  guint met_cpu = 0, measured_cpu = 0;

  if (argc > 1 && strcmp (argv[1], "--serve") == 0)
    return serve ();
  if (argc > 1) {
    gchar *end = NULL;

    seconds = g_ascii_strtod (argv[1], &end);
    if (end == argv[1] || *end != '\0' || !(seconds > 0 && seconds <= 600)) {
      g_printerr ("usage: %s [SECONDS]   (seconds per case and side, default %.0f)\n",
                  argv[0], DEFAULT_SECONDS);
      return 2;
    }
  }
  slice = seconds / ROUNDS;

  /* In a build tree argv[0] may be libtool's wrapper; re-run the binary
   * itself, with the environment the wrapper set up. */
  self_path = g_file_read_link ("/proc/self/exe", NULL);
  if (self_path == NULL)
    self_path = g_strdup (argv[0]);
  server = start_server (self_path, &port_and_id, &error);
  if (server == NULL) {
    g_printerr ("links: cannot start the server: %s\n", error->message);
    return 1;
  }
  fields = g_strsplit (port_and_id, " ", 2);
  if (g_strv_length (fields) != 2 || !plexus_peer_id_is_valid (fields[1])) {
    g_printerr ("links: the server reported \"%s\", not a port and a peer ID\n", port_and_id);
    stop_server (server);
    return 1;
  }

  client.session = soup_session_new ();
  client.base_uri = g_strdup_printf ("ws://127.0.0.1:%s", fields[0]);
  client.server_id = g_strdup (fields[1]);
  client.identity = plexus_identity_new_ephemeral ();
  client.key = plexus_noise_keypair_new ();
  client.closing = g_ptr_array_new_with_free_func (g_object_unref);
  client.server_pid = g_subprocess_get_identifier (server);

  g_print ("links: client pid %d, server pid %s, %s\n", (gint) getpid (),
           g_subprocess_get_identifier (server), client.base_uri);
  g_print ("  plain:  libsoup WebSocket, binary messages, the server echoes each one\n");
  g_print ("  plexus: PlexusLink (Noise XX, ChaCha20-Poly1305 per frame) on the same WebSocket stack,\n"
           "          the server echoes each frame; incoming rate limits OFF on both ends for the bench\n"
           "          (default %.0f frames/s, burst %d, would otherwise be what is measured)\n",
           PLEXUS_LINK_DEFAULT_RATE, PLEXUS_LINK_DEFAULT_BURST);
  g_print ("  no WebSocket extension on either; one connection at a time\n");
  g_print ("  each case: %d rounds of a %.2f s slice per side (each after %.1f s of warm-up on a new\n"
           "  connection), the sides taking turns at going first; rate: the median slice's, per second;\n"
           "  p50/p99: over all slices; cpu: CPU time of both processes' main threads per round trip\n"
           "  (or connection), steadier than the rates when other work shares the machine\n",
           ROUNDS, slice, WARMUP_US / (gdouble) G_USEC_PER_SEC);

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (guint d = 0; d < G_N_ELEMENTS (depths); d++) {
      pair_init (&links[s][d]);
      measure_round_trips (&client, KIND_PLEXUS, sizes[s], depths[d], slice, &links[s][d]);
    }
  for (guint d = 0; d < G_N_ELEMENTS (depths); d++) {
    pair_init (&envelopes[d]);
    measure_round_trips (&client, KIND_ENVELOPE, sizes[0], depths[d], slice, &envelopes[d]);
  }
  pair_init (&connects);
  measure_connects (&client, slice, &connects);

  print_header ("round trips, one link", "rt/s", "us/rt");
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (guint d = 0; d < G_N_ELEMENTS (depths); d++) {
      g_autofree gchar *name = g_strdup_printf ("%4" G_GSIZE_FORMAT " B, %2u in flight", sizes[s], depths[d]);
      gdouble share;
      gdouble ratio = print_pair (name, &links[s][d], &share);

      if (share > 0) {
        measured_cpu++;
        if (share >= GOAL_RATIO)
          met_cpu++;
        lowest_share = MIN (lowest_share, share);
      }
      if (ratio < 0)
        continue;
      measured++;
      if (ratio >= GOAL_RATIO)
        met++;
      if (ratio < lowest) {
        lowest = ratio;
        g_free (lowest_case);
        lowest_case = g_strdup_printf ("%" G_GSIZE_FORMAT " B, %u in flight", sizes[s], depths[d]);
      }
    }

  print_header ("envelope round trips", "rt/s", "us/rt");
  for (guint d = 0; d < G_N_ELEMENTS (depths); d++) {
    g_autofree gchar *name = g_strdup_printf ("%2u in flight", depths[d]);

    print_pair (name, &envelopes[d], &unused);
  }
  g_print ("  (optional, not part of the goal) plexus: a PlexusEnvelope of %" G_GSIZE_FORMAT " B encoded,\n"
           "  sent on a link, decoded, checked and answered with an encoded reply, as a node does;\n"
           "  plain: %" G_GSIZE_FORMAT " B plain WebSocket messages, measured again alongside\n",
           envelopes[0].plexus.wire, sizes[0]);

  print_header ("connections, one by one", "conn/s", "us/c");
  print_pair ("upgrade [+ Noise XX]", &connects, &unused);
  g_print ("  plain: TCP connect + WebSocket upgrade; plexus: the same + Noise XX handshake with\n"
           "  Ed25519 identity proofs; rate = connections / their summed set-up time\n"
           "  (%u plain, %u plexus); cpu includes closing them\n",
           connects.plain.latencies->len, connects.plexus.latencies->len);

  g_print ("\ngoal: plexus keeps >= %.0f%% of the plain round-trip rate: ", GOAL_RATIO * 100);
  if (measured == 0)
    g_print ("not measured (every case failed)\n");
  else
    g_print ("%s, %u of %u cases (lowest %.0f%%, %s)\n", met == measured ? "met" : "NOT met",
             met, measured, lowest * 100, lowest_case);
  /* When both ends are busy, the rate goes as the inverse of the CPU time
   * per round trip; that is the steadier figure on a shared machine. */
  if (measured_cpu > 0)
    g_print ("      by CPU time per round trip (plain's / plexus's, what plexus would keep with both\n"
             "      ends CPU-bound): %s, %u of %u cases (lowest %.0f%%)\n",
             met_cpu == measured_cpu ? "met" : "NOT met", met_cpu, measured_cpu, lowest_share * 100);

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (guint d = 0; d < G_N_ELEMENTS (depths); d++)
      pair_clear (&links[s][d]);
  for (guint d = 0; d < G_N_ELEMENTS (depths); d++)
    pair_clear (&envelopes[d]);
  pair_clear (&connects);
  g_ptr_array_unref (client.closing);
  g_object_unref (client.session);
  g_object_unref (client.identity);
  plexus_noise_keypair_free (client.key);
  g_free (client.base_uri);
  g_free (client.server_id);
  stop_server (server);
  return 0;
}
