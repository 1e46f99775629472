/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <glib/gstdio.h>
#include <plexus.h>

#include "plexus-stun-message.h"
#include "plexus-test-fixture.h"

/* The stun plugin in a real plexusd (--bus none), against coturn's STUN
 * client and server where they are installed (Debian package coturn):
 *
 * - turnutils_stunclient asks our server and must be told the address the
 *   server saw, which the daemon logs with G_MESSAGES_DEBUG=stun;
 * - a Binding over TCP comes back with the connection's own address, and
 *   a stream that is not STUN is closed;
 * - broken datagrams are dropped or answered 400/420 as RFC 8489 says, and
 *   the daemon carries on and stops cleanly;
 * - our client asks two `turnserver --stun-only` instances on loopback
 *   and classifies: on loopback the mapped address is the local one, so
 *   the answer is "none" (no NAT), not "endpoint-independent";
 * - our client asks our server in another daemon the same way;
 * - on a daemon with a bus, the capabilities carry the stun service and
 *   its load rises with the requests.
 *
 * PLEXUSD names the daemon; PLEXUS_STUN_PLUGIN_DIR the folder holding
 * stun.so and stun.plugin (default: ../plugins/stun/.libs from the tests
 * build folder). */

#define TIMEOUT_MS 15000

typedef struct {
  GSubprocess  *process;
  GString      *log;
  gchar        *dir;
  GCancellable *cancellable;
  gboolean      exited;
  gint          status;
} Daemon;

static gchar *tmpdir;

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

typedef gboolean (*Condition) (gconstpointer data);

/* Iterates the main context until @condition holds or @timeout_ms pass. */
static gboolean
wait_for (Condition condition, gconstpointer data, guint timeout_ms)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (timeout_ms, on_deadline, &expired);

  while (!condition (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  return condition (data);
}

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                                       NULL, &error);

  if (line == NULL) {
    g_object_unref (source);
    return;
  }
  if (g_test_verbose ())
    g_printerr ("daemon: %s\n", line);
  g_string_append (daemon->log, line);
  g_string_append_c (daemon->log, '\n');
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       daemon->cancellable, on_line, daemon);
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Daemon *daemon = user_data;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL))
    return;
  daemon->exited = TRUE;
  daemon->status = g_subprocess_get_status (G_SUBPROCESS (source));
}

/* A test that fails aborts: its daemons and servers must not outlive it. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static const gchar *
plugin_dir (void)
{
  static gchar *dir;

  if (dir == NULL) {
    const gchar *env = g_getenv ("PLEXUS_STUN_PLUGIN_DIR");

    dir = env != NULL ? g_strdup (env)
                      : g_test_build_filename (G_TEST_BUILT, "..", "plugins", "stun", ".libs", NULL);
  }
  return dir;
}

static Daemon *
daemon_start (const gchar *name, const gchar *role, const gchar *config)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *config_path = NULL;
  const gchar *plexusd = g_getenv ("PLEXUSD");
  Daemon *daemon = g_new0 (Daemon, 1);
  GDataInputStream *err;

  daemon->log = g_string_new (NULL);
  daemon->cancellable = g_cancellable_new ();
  daemon->dir = g_build_filename (tmpdir, name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (daemon->dir, 0700), ==, 0);
  config_path = g_build_filename (daemon->dir, "plexus.conf", NULL);
  g_assert_true (g_file_set_contents (config_path, config, -1, &error));

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "PLEXUS_PLUGIN_PATH", plugin_dir (), TRUE);
  g_subprocess_launcher_setenv (launcher, "PLEXUS_SYSTEM_CONFIG", "/dev/null", TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", daemon->dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "stun", TRUE);
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "gc-friendly,fatal-criticals", TRUE);
  daemon->process = g_subprocess_launcher_spawn (launcher, &error, plexusd != NULL ? plexusd : "plexusd",
                                                 "--bus", "none", "--state-dir", daemon->dir,
                                                 "--listen", "127.0.0.1:0", "--role", role,
                                                 "--config", config_path, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (daemon->process, daemon->cancellable, on_exited, daemon);
  /* GLib writes debug lines to stdout, the others to stderr: both. */
  err = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon->process));
  g_data_input_stream_read_line_async (err, G_PRIORITY_DEFAULT, daemon->cancellable, on_line, daemon);
  return daemon;
}

typedef struct {
  Daemon      *daemon;
  const gchar *needle;
} LogSearch;

static gboolean
log_has (gconstpointer data)
{
  const LogSearch *search = data;

  return strstr (search->daemon->log->str, search->needle) != NULL || search->daemon->exited;
}

static gboolean
daemon_wait_for_log (Daemon *daemon, const gchar *needle)
{
  LogSearch search = { daemon, needle };

  wait_for (log_has, &search, TIMEOUT_MS);
  if (strstr (daemon->log->str, needle) == NULL) {
    g_printerr ("waited for \"%s\" in:\n%s", needle, daemon->log->str);
    return FALSE;
  }
  return TRUE;
}

/* The port of "STUN server listening on udp 127.0.0.1:PORT ...". */
static guint16
daemon_stun_port (Daemon *daemon)
{
  const gchar *at;

  g_assert_true (daemon_wait_for_log (daemon, "STUN server listening on udp 127.0.0.1:"));
  at = strstr (daemon->log->str, "STUN server listening on udp 127.0.0.1:");
  return (guint16) g_ascii_strtoull (at + strlen ("STUN server listening on udp 127.0.0.1:"), NULL, 10);
}

static gboolean
has_exited (gconstpointer data)
{
  return ((const Daemon *) data)->exited;
}

/* Stops it with SIGTERM; it must exit 0 in time. */
static void
daemon_stop (Daemon *daemon)
{
  g_subprocess_send_signal (daemon->process, SIGTERM);
  g_assert_true (wait_for (has_exited, daemon, TIMEOUT_MS));
  g_assert_cmpint (daemon->status, ==, 0);
}

static void
daemon_free (Daemon *daemon)
{
  if (!daemon->exited) {
    g_subprocess_force_exit (daemon->process);
    wait_for (has_exited, daemon, TIMEOUT_MS);
  }
  g_cancellable_cancel (daemon->cancellable);
  g_object_unref (daemon->cancellable);
  g_object_unref (daemon->process);
  g_string_free (daemon->log, TRUE);
  g_free (daemon->dir);
  g_free (daemon);
}

static GSocket *
udp_socket (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  g_socket_set_timeout (socket, 1);
  return socket;
}

static void
udp_send (GSocket *socket, guint16 port, const guint8 *data, gsize length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new (loopback, port);

  g_assert_cmpint (g_socket_send_to (socket, to, (const gchar *) data, length, NULL, &error), ==, length);
  g_assert_no_error (error);
}

/* The next datagram, decoded; NULL if none comes within the socket's
 * timeout. */
static PlexusStunMessage *
udp_receive (GSocket *socket)
{
  guint8 buffer[4096];
  gssize n = g_socket_receive (socket, (gchar *) buffer, sizeof buffer, NULL, NULL);

  if (n <= 0)
    return NULL;
  return plexus_stun_message_decode (buffer, n, NULL, NULL);
}

static GBytes *
binding_request (const guint16 *types, guint n_types, gboolean fingerprint)
{
  g_autoptr(PlexusStunMessage) request = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST,
                                                                  PLEXUS_STUN_METHOD_BINDING, NULL);

  for (guint i = 0; i < n_types; i++)
    g_assert_true (plexus_stun_message_add_attribute (request, types[i], (const guint8 *) "xxxx", 4, NULL));
  return plexus_stun_message_encode (request, NULL, 0, fingerprint, NULL);
}

/* Asks a STUN server on loopback until it answers: its readiness. */
static gboolean
stun_server_ready (guint16 port)
{
  g_autoptr(GSocket) socket = udp_socket ();
  g_autoptr(GBytes) request = binding_request (NULL, 0, FALSE);
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  g_socket_set_timeout (socket, 0);
  while (g_get_monotonic_time () < deadline) {
    g_autoptr(PlexusStunMessage) answer = NULL;

    udp_send (socket, port, g_bytes_get_data (request, NULL), g_bytes_get_size (request));
    if (g_socket_condition_timed_wait (socket, G_IO_IN, 100 * G_TIME_SPAN_MILLISECOND, NULL, NULL)) {
      answer = udp_receive (socket);
      if (answer != NULL)
        return TRUE;
    }
  }
  return FALSE;
}

static void
assert_answers_binding (GSocket *socket, guint16 port, gboolean fingerprint)
{
  g_autoptr(GBytes) request = binding_request (NULL, 0, fingerprint);
  g_autoptr(PlexusStunMessage) answer = NULL;
  g_autoptr(GSocketAddress) local = g_socket_get_local_address (socket, NULL);
  g_autoptr(PlexusStunMessage) decoded = plexus_stun_message_decode (g_bytes_get_data (request, NULL),
                                                                     g_bytes_get_size (request), NULL, NULL);
  PlexusStunAddress mapped, expected;

  udp_send (socket, port, g_bytes_get_data (request, NULL), g_bytes_get_size (request));
  answer = udp_receive (socket);
  g_assert_nonnull (answer);
  g_assert_cmpmem (plexus_stun_message_get_transaction_id (answer), 12,
                   plexus_stun_message_get_transaction_id (decoded), 12);
  g_assert_cmpint (plexus_stun_message_get_class (answer), ==, PLEXUS_STUN_CLASS_SUCCESS_RESPONSE);
  g_assert_true (plexus_stun_message_get_xor_mapped_address (answer, &mapped, NULL));
  g_assert_true (plexus_stun_address_from_socket_address (local, &expected));
  g_assert_true (plexus_stun_address_equal (&mapped, &expected));
}

typedef struct {
  gboolean  done;
  gchar    *out;
} Communicated;

static void
on_communicated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Communicated *communicated = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &communicated->out, NULL, &error))
    g_error ("turnutils_stunclient: %s", error->message);
  communicated->done = TRUE;
}

static gboolean
is_true (gconstpointer data)
{
  return *(const gboolean *) data;
}

static void
test_turnutils_stunclient (void)
{
  Communicated communicated = { FALSE, NULL };
  g_autofree gchar *client = g_find_program_in_path ("turnutils_stunclient");
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRegex) regex = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *port_text = NULL;
  g_autofree gchar *needle = NULL;
  g_autofree gchar *mapped_port = NULL;
  Daemon *daemon;
  guint16 port;

  if (client == NULL) {
    g_test_skip ("turnutils_stunclient not found (Debian package coturn)");
    return;
  }
  daemon = daemon_start ("stunclient", "super", "[stun]\nlisten=127.0.0.1:0\n");
  port = daemon_stun_port (daemon);
  g_assert_true (stun_server_ready (port));

  port_text = g_strdup_printf ("%u", port);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error,
                              client, "-p", port_text, "127.0.0.1", NULL);
  g_assert_no_error (error);
  /* It retries on its own; a deadline keeps a silent server from hanging
   * the test. */
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated, &communicated);
  if (!wait_for (is_true, &communicated.done, TIMEOUT_MS)) {
    g_subprocess_force_exit (process);
    g_error ("turnutils_stunclient got no answer within %u ms", TIMEOUT_MS);
  }
  out = g_steal_pointer (&communicated.out);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);

  /* What the client was told ... */
  regex = g_regex_new ("UDP reflexive addr: 127\\.0\\.0\\.1:([0-9]+)", 0, 0, NULL);
  if (!g_regex_match (regex, out, 0, &match))
    g_error ("turnutils_stunclient printed no reflexive address:\n%s", out);
  mapped_port = g_match_info_fetch (match, 1);
  /* ... is where the server saw the request come from. */
  needle = g_strdup_printf ("STUN answer to 127.0.0.1:%s over udp", mapped_port);
  g_assert_true (daemon_wait_for_log (daemon, needle));
  g_assert_cmpstr (mapped_port, !=, port_text);

  daemon_stop (daemon);
  daemon_free (daemon);
}

static void
test_tcp (void)
{
  Daemon *daemon = daemon_start ("tcp", "super", "[stun]\nlisten=127.0.0.1:0\n");
  guint16 port = daemon_stun_port (daemon);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GSocketConnection) junk = NULL;
  g_autoptr(GSocketAddress) local = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusStunMessage) answer = NULL;
  PlexusStunAddress mapped, expected;
  guint8 buffer[512];
  gsize got = 0;
  gsize size;

  g_socket_client_set_timeout (client, 5);
  g_socket_client_set_enable_proxy (client, FALSE);
  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  /* Two requests in one write: the server frames the stream. */
  for (guint i = 0; i < 2; i++) {
    g_autoptr(GBytes) request = binding_request (NULL, 0, i == 1);

    g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                              g_bytes_get_data (request, NULL), g_bytes_get_size (request),
                                              NULL, NULL, &error));
  }
  for (guint i = 0; i < 2; i++) {
    g_clear_pointer (&answer, plexus_stun_message_unref);
    g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                            buffer, PLEXUS_STUN_HEADER_SIZE, &got, NULL, &error));
    g_assert_cmpuint (got, ==, PLEXUS_STUN_HEADER_SIZE);
    size = plexus_stun_message_peek_length (buffer, got);
    g_assert_cmpuint (size, >, PLEXUS_STUN_HEADER_SIZE);
    g_assert_cmpuint (size, <=, sizeof buffer);
    g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                            buffer + got, size - got, &got, NULL, &error));
    answer = plexus_stun_message_decode (buffer, size, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (plexus_stun_message_get_xor_mapped_address (answer, &mapped, NULL));
    local = g_socket_connection_get_local_address (connection, NULL);
    g_assert_true (plexus_stun_address_from_socket_address (local, &expected));
    g_clear_object (&local);
    g_assert_true (plexus_stun_address_equal (&mapped, &expected));
    g_assert_cmpint (plexus_stun_message_has_fingerprint (answer), ==, i == 1);
  }

  /* Not STUN: the server closes the stream without a word. */
  junk = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (junk)),
                                            "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, NULL, NULL, &error));
  g_socket_set_timeout (g_socket_connection_get_socket (junk), 5);
  g_assert_true (g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (junk)),
                                          buffer, sizeof buffer, &got, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got, ==, 0);

  daemon_stop (daemon);
  daemon_free (daemon);
}

static void
test_broken_datagrams (void)
{
  Daemon *daemon = daemon_start ("broken", "super", "[stun]\nlisten=127.0.0.1:0\n");
  guint16 port = daemon_stun_port (daemon);
  g_autoptr(GSocket) socket = udp_socket ();
  g_autoptr(GBytes) good = binding_request (NULL, 0, TRUE);
  g_autoptr(GBytes) unknown = NULL;
  g_autoptr(PlexusStunMessage) answer = NULL;
  g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (good, NULL), g_bytes_get_size (good));
  g_autofree guint8 *big = g_malloc0 (3000);
  gsize size = g_bytes_get_size (good);
  guint code = 0;
  static const guint16 types[] = { PLEXUS_STUN_ATTR_CHANGE_REQUEST };

  /* Each dropped: if any were answered, that answer would come before the
   * one to the good request (loopback keeps order). */
  copy[size - 1] ^= 1;                                  /* bad FINGERPRINT */
  udp_send (socket, port, copy, size);
  copy[size - 1] ^= 1;
  copy[4] ^= 1;                                         /* wrong cookie */
  udp_send (socket, port, copy, size);
  copy[4] ^= 1;
  udp_send (socket, port, copy, 19);                    /* truncated header */
  udp_send (socket, port, copy, size - 4);              /* truncated message */
  memcpy (big, copy, 20);
  big[2] = (3000 - 20) >> 8;
  big[3] = (3000 - 20) & 0xff;
  udp_send (socket, port, big, 3000);                   /* oversized */
  udp_send (socket, port, (const guint8 *) "\x16\xfe\xfd junk", 9);
  assert_answers_binding (socket, port, TRUE);

  /* A comprehension-required attribute the server does not know: 420. */
  unknown = binding_request (types, 1, FALSE);
  udp_send (socket, port, g_bytes_get_data (unknown, NULL), g_bytes_get_size (unknown));
  answer = udp_receive (socket);
  g_assert_nonnull (answer);
  g_assert_true (plexus_stun_message_get_error_code (answer, &code, NULL, NULL));
  g_assert_cmpuint (code, ==, 420);
  g_clear_pointer (&answer, plexus_stun_message_unref);

  /* An attribute running past the end, no FINGERPRINT: 400. */
  {
    g_autoptr(GBytes) plain = binding_request (types, 1, FALSE);
    g_autofree guint8 *bad = g_memdup2 (g_bytes_get_data (plain, NULL), g_bytes_get_size (plain));

    bad[23] = 0x20;
    udp_send (socket, port, bad, g_bytes_get_size (plain));
    answer = udp_receive (socket);
    g_assert_nonnull (answer);
    g_assert_true (plexus_stun_message_get_error_code (answer, &code, NULL, NULL));
    g_assert_cmpuint (code, ==, 400);
  }

  /* Still serving, and it stops cleanly. */
  assert_answers_binding (socket, port, FALSE);
  daemon_stop (daemon);
  daemon_free (daemon);
}

/* A port free for both UDP and TCP on loopback right now. */
static guint16
free_port (void)
{
  for (guint attempt = 0; attempt < 20; attempt++) {
    g_autoptr(GSocket) udp = udp_socket ();
    g_autoptr(GSocketAddress) address = g_socket_get_local_address (udp, NULL);
    guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
    g_autoptr(GSocket) tcp = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);

    if (tcp != NULL && g_socket_bind (tcp, address, TRUE, NULL))
      return port;
  }
  g_assert_not_reached ();
}

static GSubprocess *
turnserver_start (const gchar *turnserver, guint16 port)
{
  g_autofree gchar *port_text = g_strdup_printf ("%u", port);
  g_autofree gchar *pidfile = g_strdup_printf ("%s/turnserver-%u.pid", tmpdir, port);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &error, turnserver, "-n", "--stun-only", "--no-cli",
                                         "--no-tls", "--no-dtls", "-L", "127.0.0.1", "-p", port_text,
                                         "--log-file", "stdout", "--simple-log", "--pidfile", pidfile, NULL);
  g_assert_no_error (error);
  return process;
}

static void
turnserver_stop (GSubprocess *process)
{
  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait (process, NULL, NULL);
  g_object_unref (process);
}

static void
test_client_against_turnserver (void)
{
  g_autofree gchar *turnserver = g_find_program_in_path ("turnserver");
  g_autofree gchar *config = NULL;
  GSubprocess *servers[2];
  guint16 ports[2];
  Daemon *daemon;

  if (turnserver == NULL) {
    g_test_skip ("turnserver not found (Debian package coturn)");
    return;
  }
  for (guint i = 0; i < 2; i++) {
    ports[i] = free_port ();
    servers[i] = turnserver_start (turnserver, ports[i]);
  }
  for (guint i = 0; i < 2; i++)
    g_assert_true (stun_server_ready (ports[i]));

  config = g_strdup_printf ("[stun]\nservers=127.0.0.1:%u;stun:127.0.0.1:%u\n", ports[0], ports[1]);
  daemon = daemon_start ("client", "standard", config);
  /* Loopback: the mapped address is the client's own, so no NAT. */
  g_assert_true (daemon_wait_for_log (daemon, "NAT: none, mapped address 127.0.0.1:"));
  g_assert_null (strstr (daemon->log->str, "STUN server listening"));
  daemon_stop (daemon);
  daemon_free (daemon);

  /* "blocked" takes the RFC 8489 timers' 39.5 s, too long here; the
   * engine's tests cover it against a fake clock. */
  for (guint i = 0; i < 2; i++)
    turnserver_stop (servers[i]);
}

static void
test_client_against_our_server (void)
{
  Daemon *server = daemon_start ("our-server", "server", "[stun]\nlisten=127.0.0.1:0\n");
  guint16 port = daemon_stun_port (server);
  g_autofree gchar *config = g_strdup_printf ("[stun]\nservers=stun:127.0.0.1:%u;127.0.0.1:%u\n", port, port);
  Daemon *client = daemon_start ("our-client", "standard", config);

  g_assert_true (daemon_wait_for_log (client, "NAT: none, mapped address 127.0.0.1:"));
  g_assert_true (daemon_wait_for_log (server, "STUN answer to 127.0.0.1:"));
  daemon_stop (client);
  daemon_stop (server);
  daemon_free (client);
  daemon_free (server);
}

typedef struct {
  PlexusTestNode *node;
  gdouble         load;
  gboolean        available;
} Capability;

/* Reads the stun service from GetCapabilities; TRUE if it is there. */
static gboolean
read_capability (Capability *capability)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *json = NULL;
  JsonObject *services;
  JsonObject *stun;

  if (!plexus_dbus_manager_call_get_capabilities_sync (capability->node->manager, &json, NULL, &error))
    g_error ("GetCapabilities: %s", error->message);
  g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
  services = json_object_get_object_member (json_node_get_object (json_parser_get_root (parser)), "services");
  if (services == NULL || !json_object_has_member (services, "stun"))
    return FALSE;
  stun = json_object_get_object_member (services, "stun");
  capability->available = json_object_get_boolean_member (stun, "available");
  capability->load = json_object_get_double_member (stun, "load");
  return TRUE;
}

/* Wakes wait_for() up to ask again. */
static gboolean
on_tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
load_reached (gconstpointer data)
{
  Capability *capability = (Capability *) data;

  return read_capability (capability) && capability->load >= 0.99;
}

static void
test_capabilities (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = udp_socket ();
  g_autoptr(GBytes) request = binding_request (NULL, 0, FALSE);
  g_autofree gchar *config = g_build_filename (fixture->tmpdir, "stun.conf", NULL);
  const gchar *args[] = { "--role", "super", "--config", config, NULL };
  Capability capability = { NULL, };
  const gchar *at;
  guint16 port;
  guint tick;

  /* 100 requests per second are full load. */
  g_assert_true (g_file_set_contents (config, "[stun]\nlisten=127.0.0.1:0\ncapacity=100\n", -1, &error));
  capability.node = plexus_test_fixture_add_node (fixture, args, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_for_log (capability.node, "STUN server listening on udp 127.0.0.1:",
                                                fixture->timeout_ms));
  at = strstr (capability.node->log->str, "STUN server listening on udp 127.0.0.1:");
  port = (guint16) g_ascii_strtoull (at + strlen ("STUN server listening on udp 127.0.0.1:"), NULL, 10);
  g_assert_true (plexus_test_node_wait_for_log (capability.node, "provider added: stun by", fixture->timeout_ms));

  g_assert_true (read_capability (&capability));
  g_assert_true (capability.available);
  g_assert_cmpfloat (capability.load, ==, 0.0);

  /* 300 requests at once: over the capacity for the next second. */
  for (guint i = 0; i < 300; i++)
    udp_send (socket, port, g_bytes_get_data (request, NULL), g_bytes_get_size (request));
  tick = g_timeout_add (100, on_tick, NULL);
  g_assert_true (wait_for (load_reached, &capability, fixture->timeout_ms));
  g_source_remove (tick);

  plexus_test_fixture_free (fixture);
}

static gboolean
nat_is_known (gconstpointer data)
{
  PlexusTestNode *node = (PlexusTestNode *) data;

  return g_strcmp0 (plexus_dbus_manager_get_nat (node->manager), "unknown") != 0;
}

/* What the plugin found, on D-Bus and in plexusctl status: a super peer's
 * STUN server, and a standard peer that asked it. */
static void
test_dbus_and_status (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *server_config = g_build_filename (fixture->tmpdir, "server.conf", NULL);
  g_autofree gchar *client_config = g_build_filename (fixture->tmpdir, "client.conf", NULL);
  g_autofree gchar *client_text = NULL;
  g_autofree gchar *udp = NULL;
  g_autofree gchar *tcp = NULL;
  g_autofree gchar *uri = NULL;
  const gchar *server_args[] = { "--role", "super", "--config", server_config, NULL };
  const gchar *client_args[] = { "--config", client_config, NULL };
  const gchar *status_args[] = { "status", NULL };
  const gchar * const *listen;
  const gchar * const *servers;
  PlexusTestNode *server;
  PlexusTestNode *client;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *status;
  JsonArray *array;
  const gchar *at;
  guint port;

  g_assert_true (g_file_set_contents (server_config, "[stun]\nlisten=127.0.0.1:0\n", -1, &error));
  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_for_log (server, "STUN server listening on udp 127.0.0.1:",
                                                fixture->timeout_ms));
  at = strstr (server->log->str, "STUN server listening on udp 127.0.0.1:");
  port = (guint) g_ascii_strtoull (at + strlen ("STUN server listening on udp 127.0.0.1:"), NULL, 10);
  udp = g_strdup_printf ("udp 127.0.0.1:%u", port);
  tcp = g_strdup_printf ("tcp 127.0.0.1:%u", port);
  uri = g_strdup_printf ("stun:127.0.0.1:%u", port);
  listen = plexus_dbus_manager_get_stun_listen (server->manager);
  g_assert_nonnull (listen);
  g_assert_cmpuint (g_strv_length ((gchar **) listen), ==, 2);
  g_assert_cmpstr (listen[0], ==, udp);
  g_assert_cmpstr (listen[1], ==, tcp);

  client_text = g_strdup_printf ("[stun]\nservers=%s\n", uri);
  g_assert_true (g_file_set_contents (client_config, client_text, -1, &error));
  client = plexus_test_fixture_add_node (fixture, client_args, &error);
  g_assert_no_error (error);
  /* A standard peer runs no server. */
  g_assert_cmpuint (g_strv_length ((gchar **) plexus_dbus_manager_get_stun_listen (client->manager)), ==, 0);
  g_assert_true (plexus_test_wait_for (nat_is_known, client, fixture->timeout_ms));
  /* On loopback the server sees the client's own address: no NAT. */
  g_assert_cmpstr (plexus_dbus_manager_get_nat (client->manager), ==, "none");
  g_assert_true (g_str_has_prefix (plexus_dbus_manager_get_mapped_address (client->manager), "127.0.0.1:"));
  servers = plexus_dbus_manager_get_stun_servers (client->manager);
  g_assert_nonnull (servers);
  g_assert_true (g_strv_contains (servers, uri));
  /* And into the capabilities the node advertises. */
  {
    g_autofree gchar *json = NULL;
    g_autoptr(PlexusCapabilities) caps = NULL;

    g_assert_true (plexus_dbus_manager_call_get_capabilities_sync (client->manager, &json, NULL, &error));
    caps = plexus_capabilities_new_from_string (json, -1, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (plexus_capabilities_get_nat (caps), ==, "none");
    g_assert_true (plexus_capabilities_is_super_eligible (caps));
  }

  root = plexus_test_node_run_ctl_json (client, status_args);
  status = json_node_get_object (root);
  g_assert_cmpstr (json_object_get_string_member (status, "nat"), ==, "none");
  g_assert_cmpstr (json_object_get_string_member (status, "mapped_address"), ==,
                   plexus_dbus_manager_get_mapped_address (client->manager));
  array = json_object_get_array_member (status, "stun_servers");
  g_assert_cmpuint (json_array_get_length (array), >=, 1);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (status, "stun_listen")), ==, 0);
  g_clear_pointer (&root, json_node_unref);

  root = plexus_test_node_run_ctl_json (server, status_args);
  array = json_object_get_array_member (json_node_get_object (root), "stun_listen");
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (array, 0), ==, udp);

  plexus_test_fixture_free (fixture);
}

static gboolean
has_stun_provider (gconstpointer data)
{
  PlexusTestNode *node = (PlexusTestNode *) data;
  g_autoptr(GVariant) providers = NULL;

  if (!plexus_dbus_broker_call_list_providers_sync (node->broker, "stun", &providers, NULL, NULL))
    return FALSE;
  return g_variant_n_children (providers) > 0;
}

/* The server role is every peer's fallback STUN provider: a peer asks its
 * neighbours where their STUN servers are (stun.where), and finds the
 * server's, listening on every address, at the address of its link. */
static void
test_server_is_fallback (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *server_config = g_build_filename (fixture->tmpdir, "server.conf", NULL);
  g_autofree gchar *uri = NULL;
  g_autofree gchar *server_id = NULL;
  const gchar *server_args[] = { "--role", "server", "--config", server_config, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  const gchar *providers_args[] = { "providers", "stun", NULL };
  PlexusTestNode *server;
  PlexusTestNode *peer;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *entry;
  const gchar *at;
  guint port;

  g_assert_true (g_file_set_contents (server_config, "[stun]\nlisten=0.0.0.0:0\n", -1, &error));
  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  server_id = plexus_dbus_manager_dup_peer_id (server->manager);
  g_assert_true (plexus_test_node_wait_for_log (server, "STUN server listening on udp 0.0.0.0:",
                                                fixture->timeout_ms));
  at = strstr (server->log->str, "STUN server listening on udp 0.0.0.0:");
  port = (guint) g_ascii_strtoull (at + strlen ("STUN server listening on udp 0.0.0.0:"), NULL, 10);
  uri = g_strdup_printf ("stun:127.0.0.1:%u", port);

  peer_args[1] = plexus_dbus_manager_get_address (server->manager);
  peer = plexus_test_fixture_add_node (fixture, peer_args, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_wait_for (has_stun_provider, peer, fixture->timeout_ms));
  root = plexus_test_node_run_ctl_json (peer, providers_args);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (root)), ==, 1);
  entry = json_array_get_object_element (json_node_get_array (root), 0);
  g_assert_cmpstr (json_object_get_string_member (entry, "peer_id"), ==, server_id);
  g_assert_cmpstr (json_object_get_string_member (entry, "kind"), ==, "server");
  g_assert_cmpstr (json_object_get_string_member (entry, "address"), ==, uri);

  /* And the peer uses it. */
  g_assert_true (plexus_test_wait_for (nat_is_known, peer, fixture->timeout_ms));
  g_assert_cmpstr (plexus_dbus_manager_get_nat (peer->manager), ==, "none");
  g_assert_true (g_strv_contains (plexus_dbus_manager_get_stun_servers (peer->manager), uri));

  /* Learned over the link, gone with it. */
  g_assert_true (plexus_test_node_stop (server, SIGTERM, fixture->timeout_ms, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_for_log (peer, "provider removed: stun by", fixture->timeout_ms));
  g_assert_false (has_stun_provider (peer));

  plexus_test_fixture_free (fixture);
}

int
main (int argc, char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *module = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  module = g_build_filename (plugin_dir (), "stun.plugin", NULL);
  if (!g_file_test (module, G_FILE_TEST_EXISTS)) {
    g_printerr ("no %s; set PLEXUS_STUN_PLUGIN_DIR\n", module);
    return 1;
  }
  /* For the daemons of the fixture, which inherit the environment; set
   * before any thread runs. */
  g_setenv ("PLEXUS_PLUGIN_PATH", plugin_dir (), TRUE);
  tmpdir = g_dir_make_tmp ("plexus-test-stun-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/plexus/stun/interop/turnutils-stunclient", test_turnutils_stunclient);
  g_test_add_func ("/plexus/stun/interop/tcp", test_tcp);
  g_test_add_func ("/plexus/stun/interop/broken-datagrams", test_broken_datagrams);
  g_test_add_func ("/plexus/stun/interop/client-against-turnserver", test_client_against_turnserver);
  g_test_add_func ("/plexus/stun/interop/client-against-our-server", test_client_against_our_server);
  g_test_add_func ("/plexus/stun/interop/capabilities", test_capabilities);
  g_test_add_func ("/plexus/stun/dbus-and-status", test_dbus_and_status);
  g_test_add_func ("/plexus/stun/server-is-fallback", test_server_is_fallback);

  status = g_test_run ();
  plexus_test_remove_tree (tmpdir);
  g_free (tmpdir);
  return status;
}
