/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "plexus-stun-message.h"

/* bench/stun: STUN Binding throughput and latency over UDP on loopback.
 *
 *   bench/stun [SECONDS]        (default 10, at most 20, per run)
 *
 * Two loads, each for SECONDS: one request in flight on one socket, then
 * SOCKETS sockets with WINDOW requests in flight each. Every answer must
 * carry the XOR-MAPPED-ADDRESS of the socket it came to; those that do not
 * are counted as wrong, requests unanswered after LOST_USEC as lost (and
 * replaced). Run against plexusd with the stun plugin (--role server,
 * [stun] rate-limit=0 so the per-source limit does not throttle the one
 * source) and, in the same command, against `turnserver --stun-only` when
 * it is installed. Prints figures; never fails on timing.
 *
 * PLEXUSD names the daemon (default core/plexusd), PLEXUS_STUN_PLUGIN_DIR
 * the folder with stun.so and stun.plugin (default plugins/stun/.libs). */

#define SOCKETS 4
#define WINDOW 32
#define LOST_USEC (1 * G_TIME_SPAN_SECOND)
#define MAX_SECONDS 20

typedef struct {
  gint64  sent;       /* 0: free */
  guint32 sequence;
} Slot;

typedef struct {
  GSocket           *socket;
  PlexusStunAddress  local;
  Slot               slots[WINDOW];
  guint32            sequence;
} Client;

typedef struct {
  guint64  answered;
  guint64  wrong;
  guint64  lost;
  GArray  *latencies;  /* (element-type gint64) microseconds */
  gdouble  seconds;
} Result;

static gchar *tmpdir;

static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSocket *
connected_socket (guint16 port, PlexusStunAddress *local)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) server = g_inet_socket_address_new (loopback, port);
  g_autoptr(GSocketAddress) bound = NULL;
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);

  if (socket == NULL || !g_socket_bind (socket, any, FALSE, &error) ||
      !g_socket_connect (socket, server, NULL, &error))
    g_error ("cannot open a UDP socket: %s", error->message);
  g_socket_set_blocking (socket, FALSE);
  bound = g_socket_get_local_address (socket, &error);
  if (bound == NULL || !plexus_stun_address_from_socket_address (bound, local))
    g_error ("no local address");
  return socket;
}

/* A 20-byte Binding request whose transaction ID names the slot and
 * its sequence number. */
static void
send_request (Client *client, guint slot)
{
  guint8 request[PLEXUS_STUN_HEADER_SIZE] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
  guint32 sequence = ++client->sequence;

  request[8] = slot;
  memcpy (request + 12, &sequence, 4);
  client->slots[slot].sent = g_get_monotonic_time ();
  client->slots[slot].sequence = sequence;
  /* A send that fails is a request lost; the timeout replaces it. */
  g_socket_send (client->socket, (const gchar *) request, sizeof request, NULL, NULL);
}

static void
receive_answers (Client *client, Result *result, gboolean *resend)
{
  guint8 buffer[2048];

  for (;;) {
    g_autoptr(PlexusStunMessage) answer = NULL;
    PlexusStunAddress mapped;
    const guint8 *id;
    guint32 sequence;
    gssize n = g_socket_receive (client->socket, (gchar *) buffer, sizeof buffer, NULL, NULL);
    guint slot;

    if (n <= 0)
      return;
    answer = plexus_stun_message_decode (buffer, n, NULL, NULL);
    if (answer == NULL) {
      result->wrong++;
      continue;
    }
    id = plexus_stun_message_get_transaction_id (answer);
    slot = id[0];
    memcpy (&sequence, id + 4, 4);
    if (slot >= WINDOW || client->slots[slot].sent == 0 || client->slots[slot].sequence != sequence)
      continue; /* an answer to a request already counted lost */
    if (plexus_stun_message_get_class (answer) != PLEXUS_STUN_CLASS_SUCCESS_RESPONSE ||
        !plexus_stun_message_get_xor_mapped_address (answer, &mapped, NULL) ||
        !plexus_stun_address_equal (&mapped, &client->local)) {
      result->wrong++;
    } else {
      gint64 latency = g_get_monotonic_time () - client->slots[slot].sent;

      result->answered++;
      g_array_append_val (result->latencies, latency);
    }
    client->slots[slot].sent = 0;
    resend[slot] = TRUE;
  }
}

static gint
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static Result
run_load (guint16 port, guint n_sockets, guint window, guint seconds)
{
  Client clients[SOCKETS];
  struct pollfd fds[SOCKETS];
  Result result = { 0, };
  gint64 start = g_get_monotonic_time ();
  gint64 end = start + seconds * G_TIME_SPAN_SECOND;

  result.latencies = g_array_sized_new (FALSE, FALSE, sizeof (gint64), 1 << 20);
  for (guint i = 0; i < n_sockets; i++) {
    memset (&clients[i], 0, sizeof clients[i]);
    clients[i].socket = connected_socket (port, &clients[i].local);
    fds[i].fd = g_socket_get_fd (clients[i].socket);
    fds[i].events = POLLIN;
    for (guint slot = 0; slot < window; slot++)
      send_request (&clients[i], slot);
  }
  while (g_get_monotonic_time () < end) {
    gint64 now;

    if (poll (fds, n_sockets, 100) < 0)
      continue;
    now = g_get_monotonic_time ();
    for (guint i = 0; i < n_sockets; i++) {
      gboolean resend[WINDOW] = { FALSE, };

      if (fds[i].revents & POLLIN)
        receive_answers (&clients[i], &result, resend);
      for (guint slot = 0; slot < window; slot++) {
        if (!resend[slot] && clients[i].slots[slot].sent != 0 && now - clients[i].slots[slot].sent > LOST_USEC) {
          result.lost++;
          resend[slot] = TRUE;
        }
        if (resend[slot] && now < end)
          send_request (&clients[i], slot);
      }
    }
  }
  result.seconds = (g_get_monotonic_time () - start) / (gdouble) G_TIME_SPAN_SECOND;
  for (guint i = 0; i < n_sockets; i++)
    g_object_unref (clients[i].socket);
  g_array_sort (result.latencies, compare_int64);
  return result;
}

static void
print_result (const gchar *server, const gchar *load, Result *result)
{
  guint n = result->latencies->len;
  gdouble p50 = n > 0 ? g_array_index (result->latencies, gint64, n / 2) : 0;
  gdouble p99 = n > 0 ? g_array_index (result->latencies, gint64, (gsize) (n * 0.99)) : 0;

  g_print ("%-22s %-22s %10.0f req/s  p50 %7.1f us  p99 %7.1f us  answered %" G_GUINT64_FORMAT
           "  wrong %" G_GUINT64_FORMAT "  lost %" G_GUINT64_FORMAT "\n",
           server, load, result->answered / result->seconds, p50, p99,
           result->answered, result->wrong, result->lost);
  g_array_unref (result->latencies);
}

static void
run_both (const gchar *server, guint16 port, guint seconds)
{
  Result one = run_load (port, 1, 1, seconds);
  Result many;

  print_result (server, "1 socket x 1", &one);
  many = run_load (port, SOCKETS, WINDOW, seconds);
  print_result (server, SOCKETS == 4 ? "4 sockets x 32" : "sockets x window", &many);
}

/* Answers at all? Its readiness, tried for up to 10 s. */
static gboolean
wait_ready (guint16 port)
{
  PlexusStunAddress local;
  g_autoptr(GSocket) socket = connected_socket (port, &local);
  guint8 request[PLEXUS_STUN_HEADER_SIZE] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3 };
  guint8 buffer[512];
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  /* Until it listens, a connected socket may report "refused" at once. */
  while (g_get_monotonic_time () < deadline) {
    g_socket_send (socket, (const gchar *) request, sizeof request, NULL, NULL);
    if (g_socket_condition_timed_wait (socket, G_IO_IN, 100 * G_TIME_SPAN_MILLISECOND, NULL, NULL) &&
        g_socket_receive (socket, (gchar *) buffer, sizeof buffer, NULL, NULL) > 0)
      return TRUE;
    g_usleep (10 * G_TIME_SPAN_MILLISECOND);
  }
  return FALSE;
}

static GSubprocess *
start_plexusd (guint16 *port)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) err = NULL;
  g_autofree gchar *config = g_build_filename (tmpdir, "plexus.conf", NULL);
  const gchar *plexusd = g_getenv ("PLEXUSD");
  const gchar *plugins = g_getenv ("PLEXUS_STUN_PLUGIN_DIR");
  GSubprocess *process;

  if (!g_file_set_contents (config, "[stun]\nlisten=127.0.0.1:0\nrate-limit=0\n", -1, &error))
    g_error ("%s", error->message);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "PLEXUS_PLUGIN_PATH", plugins != NULL ? plugins : "plugins/stun/.libs", TRUE);
  g_subprocess_launcher_setenv (launcher, "PLEXUS_SYSTEM_CONFIG", "/dev/null", TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", tmpdir, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "G_MESSAGES_DEBUG");
  process = g_subprocess_launcher_spawn (launcher, &error, plexusd != NULL ? plexusd : "core/plexusd",
                                         "--bus", "none", "--state-dir", tmpdir, "--listen", "127.0.0.1:0",
                                         "--role", "server", "--config", config, NULL);
  if (process == NULL)
    g_error ("cannot start plexusd: %s", error->message);
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (process));
  for (;;) {
    g_autofree gchar *line = g_data_input_stream_read_line_utf8 (err, NULL, NULL, NULL);
    const gchar *at;

    if (line == NULL)
      g_error ("plexusd exited before its STUN server listened (is the plugin in PLEXUS_STUN_PLUGIN_DIR?)");
    at = strstr (line, "STUN server listening on udp 127.0.0.1:");
    if (at != NULL) {
      *port = (guint16) g_ascii_strtoull (at + strlen ("STUN server listening on udp 127.0.0.1:"), NULL, 10);
      break;
    }
  }
  /* The rest of its output is not read: keep the pipe from filling. */
  g_object_unref (g_steal_pointer (&err));
  return process;
}

static guint16
free_port (void)
{
  PlexusStunAddress local;
  g_autoptr(GSocket) udp = NULL;
  g_autoptr(GSocket) tcp = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);

  udp = connected_socket (9, &local);
  address = g_inet_socket_address_new (loopback, local.port);
  tcp = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  if (tcp == NULL || !g_socket_bind (tcp, address, TRUE, NULL))
    return free_port ();
  return local.port;
}

static GSubprocess *
start_turnserver (const gchar *turnserver, guint16 port)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree gchar *port_text = g_strdup_printf ("%u", port);
  g_autofree gchar *pidfile = g_build_filename (tmpdir, "turnserver.pid", NULL);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &error, turnserver, "-n", "--stun-only", "--no-cli",
                                         "--no-tls", "--no-dtls", "-L", "127.0.0.1", "-p", port_text,
                                         "--log-file", "stdout", "--simple-log", "--pidfile", pidfile, NULL);
  if (process == NULL)
    g_error ("cannot start turnserver: %s", error->message);
  return process;
}

static void
stop (GSubprocess *process)
{
  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait (process, NULL, NULL);
  g_object_unref (process);
}

static void
remove_tree (const gchar *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree gchar *child = g_build_filename (path, name, NULL);

    if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
      remove_tree (child);
    else
      g_unlink (child);
  }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

int
main (int argc, char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *turnserver = g_find_program_in_path ("turnserver");
  guint seconds = argc > 1 ? (guint) g_ascii_strtoull (argv[1], NULL, 10) : 10;
  GSubprocess *process;
  guint16 port = 0;

  seconds = CLAMP (seconds, 1, MAX_SECONDS);
  tmpdir = g_dir_make_tmp ("plexus-bench-stun-XXXXXX", &error);
  if (tmpdir == NULL)
    g_error ("%s", error->message);

  g_print ("STUN Binding over UDP on loopback, %u s per run; %u CPUs\n", seconds, g_get_num_processors ());
  process = start_plexusd (&port);
  if (!wait_ready (port))
    g_error ("plexusd does not answer on %u", port);
  run_both ("plexusd (stun plugin)", port, seconds);
  stop (process);

  if (turnserver == NULL) {
    g_print ("turnserver not found (Debian package coturn): no reference run\n");
  } else {
    port = free_port ();
    process = start_turnserver (turnserver, port);
    if (!wait_ready (port))
      g_error ("turnserver does not answer on %u", port);
    run_both ("turnserver --stun-only", port, seconds);
    stop (process);
  }
  remove_tree (tmpdir);
  g_free (tmpdir);
  return 0;
}
