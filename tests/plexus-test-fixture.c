/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <sys/prctl.h>
#include <glib/gstdio.h>

#include "plexus-test-fixture.h"

/* Each node gets its own dbus-daemon so nodes cannot see each other's bus
 * names: exactly like plexusd instances in different desktop sessions. */

#define PLEXUS_DBUS_NAME "org.plexus.Plexus1"

static const gchar bus_config_template[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>session</type>\n"
  "  <listen>unix:dir=%s</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow eavesdrop=\"true\"/>\n"
  "    <allow own=\"*\"/>\n"
  "  </policy>\n"
  "</busconfig>\n";

/* A test that aborts must not leave daemons behind. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *
launcher_new (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  return launcher;
}

static gboolean
on_timeout (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
plexus_test_wait_for (PlexusTestCondition condition, gconstpointer data, guint timeout_ms)
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

gboolean
plexus_test_wait (gboolean *done, guint timeout_ms)
{
  return plexus_test_wait_for (flag_is_set, done, timeout_ms);
}

static guint
default_timeout_ms (void)
{
  const gchar *env = g_getenv ("PLEXUS_TEST_TIMEOUT_MS");

  /* Generous: valgrind makes start-up ~50 times slower. */
  if (env != NULL)
    return (guint) g_ascii_strtoull (env, NULL, 10);
  return 20000;
}

PlexusTestFixture *
plexus_test_fixture_new (void)
{
  PlexusTestFixture *fixture = g_new0 (PlexusTestFixture, 1);
  g_autoptr(GError) error = NULL;

  fixture->tmpdir = g_dir_make_tmp ("plexus-test-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->nodes = g_ptr_array_new ();
  fixture->timeout_ms = default_timeout_ms ();
  return fixture;
}

static void
on_stderr_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PlexusTestNode *node = user_data;
  g_autofree gchar *line = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;

  /* On cancellation the node may be gone: touch nothing but the stream. */
  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, &length, &error);
  if (line == NULL) {
    if (error == NULL)
      node->log_closed = TRUE;
    g_object_unref (source);
    return;
  }
  g_string_append (node->log, line);
  g_string_append_c (node->log, '\n');
  /* Into the test's own log, for whoever reads a failure. */
  g_printerr ("[%s] %s\n", node->name, line);
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT,
                                       node->cancellable, on_stderr_line, node);
}

static void
on_daemon_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PlexusTestNode *node = user_data;
  GSubprocess *process = G_SUBPROCESS (source);

  if (!g_subprocess_wait_finish (process, result, NULL))
    return;
  if (g_subprocess_get_if_exited (process))
    node->exit_status = g_subprocess_get_exit_status (process);
  else
    node->exit_status = 128 + g_subprocess_get_term_sig (process);
  node->exited = TRUE;
}

typedef struct {
  gchar   *line;
  gboolean done;
} LineRead;

static void
on_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LineRead *read = user_data;

  read->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  read->done = TRUE;
}

/* Reads one line from @lines (a child's output, say), running the main
 * loop until it comes, the stream ends or @timeout_ms pass. A read still
 * in flight at the deadline is cancelled and waited out, so that its
 * callback never writes into a stack frame that is gone. Returns the
 * line without its end, or NULL. */
gchar *
plexus_test_read_line (GDataInputStream *lines, guint timeout_ms)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  LineRead read = { NULL, FALSE };

  g_data_input_stream_read_line_async (lines, G_PRIORITY_DEFAULT, cancellable, on_line, &read);
  if (!plexus_test_wait (&read.done, timeout_ms)) {
    g_cancellable_cancel (cancellable);
    while (!read.done)
      g_main_context_iteration (NULL, TRUE);
    g_clear_pointer (&read.line, g_free);
  }
  return read.line;
}

static gboolean
start_bus (PlexusTestFixture *fixture, PlexusTestNode *node, GError **error)
{
  g_autofree gchar *config_path = g_build_filename (node->state_dir, "bus.conf", NULL);
  g_autofree gchar *config = g_strdup_printf (bus_config_template, node->state_dir);
  g_autofree gchar *config_arg = g_strconcat ("--config-file=", config_path, NULL);
  const gchar *dbus_daemon = g_getenv ("DBUS_DAEMON");
  g_autoptr(GDataInputStream) out = NULL;
  gchar *line;
  g_autoptr(GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);

  if (!g_file_set_contents (config_path, config, -1, error))
    return FALSE;
  node->bus = g_subprocess_launcher_spawn (launcher, error,
                                           dbus_daemon != NULL ? dbus_daemon : "dbus-daemon",
                                           config_arg, "--nofork", "--print-address=1", NULL);
  if (node->bus == NULL)
    return FALSE;

  /* The bus prints its address when it listens: that is the event. */
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (node->bus));
  line = plexus_test_read_line (out, fixture->timeout_ms);
  if (line == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "dbus-daemon for %s printed no address", node->name);
    return FALSE;
  }
  node->bus_address = g_strstrip (line);
  return TRUE;
}

/* The environment every plexusd under test runs in: its own bus, no user
 * or system config but the test's, and dies with the test. */
GSubprocessLauncher *
plexus_test_daemon_launcher_new (const gchar *bus_address, const gchar *config_home, GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = launcher_new (flags);

  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", bus_address, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config_home, TRUE);
  g_subprocess_launcher_setenv (launcher, "PLEXUS_SYSTEM_CONFIG", "/dev/null", TRUE);
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "", TRUE);
  /* The test itself may run with fatal warnings (check-valgrind does); a
   * daemon warning about a refused plugin is behaviour under test, not a
   * reason to abort it. Criticals stay fatal. */
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "gc-friendly,fatal-criticals", TRUE);
  return launcher;
}

static gboolean
spawn_daemon (PlexusTestNode *node, const gchar *listen, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const gchar *plexusd = g_getenv ("PLEXUSD");
  GDataInputStream *err;

  launcher = plexus_test_daemon_launcher_new (node->bus_address, node->state_dir,
                                              G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_ptr_array_add (argv, (gpointer) (plexusd != NULL ? plexusd : "plexusd"));
  g_ptr_array_add (argv, (gpointer) "--state-dir");
  g_ptr_array_add (argv, node->state_dir);
  g_ptr_array_add (argv, (gpointer) "--listen");
  g_ptr_array_add (argv, (gpointer) listen);
  for (guint i = 0; node->args != NULL && node->args[i] != NULL; i++)
    g_ptr_array_add (argv, node->args[i]);
  g_ptr_array_add (argv, NULL);

  node->exited = FALSE;
  node->log_closed = FALSE;
  node->exit_status = -1;
  node->daemon = g_subprocess_launcher_spawnv (launcher, (const gchar * const *) argv->pdata, error);
  if (node->daemon == NULL)
    return FALSE;
  g_subprocess_wait_async (node->daemon, node->cancellable, on_daemon_exited, node);
  err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (node->daemon));
  g_data_input_stream_read_line_async (err, G_PRIORITY_DEFAULT, node->cancellable, on_stderr_line, node);
  return TRUE;
}

PlexusTestNode *
plexus_test_fixture_spawn_node (PlexusTestFixture *fixture, const gchar * const *args, GError **error)
{
  PlexusTestNode *node = g_new0 (PlexusTestNode, 1);

  node->name = g_strdup_printf ("node%u", fixture->nodes->len);
  node->state_dir = g_build_filename (fixture->tmpdir, node->name, NULL);
  node->log = g_string_new (NULL);
  node->cancellable = g_cancellable_new ();
  node->exit_status = -1;
  g_ptr_array_add (fixture->nodes, node);
  if (g_mkdir_with_parents (node->state_dir, 0700) != 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create %s", node->state_dir);
    return NULL;
  }
  if (!start_bus (fixture, node, error))
    return NULL;

  node->args = g_strdupv ((gchar **) args);
  if (!spawn_daemon (node, "127.0.0.1:0", error))
    return NULL;
  return node;
}

typedef struct {
  PlexusTestNode *node;
  gboolean        ready;
} NameWatch;

static void
on_name_appeared (GDBusConnection *connection, const gchar *name, const gchar *owner, gpointer user_data)
{
  NameWatch *watch = user_data;

  watch->ready = TRUE;
}

static void
on_name_vanished (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  NameWatch *watch = user_data;

  watch->ready = FALSE;
}

static gboolean
name_released (gconstpointer user_data)
{
  const NameWatch *watch = user_data;

  return !watch->ready;
}

/* Ready when the name is owned, or "done" when the process died first. */
static gboolean
ready_or_exited (gconstpointer user_data)
{
  const NameWatch *watch = user_data;

  return watch->ready || watch->node->exited;
}

PlexusTestNode *
plexus_test_fixture_add_node (PlexusTestFixture *fixture, const gchar * const *args, GError **error)
{
  PlexusTestNode *node = plexus_test_fixture_spawn_node (fixture, args, error);
  NameWatch watch = { node, FALSE };
  guint watch_id;

  if (node == NULL)
    return NULL;
  node->connection = g_dbus_connection_new_for_address_sync (node->bus_address,
                                                             G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                             G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                             NULL, NULL, error);
  if (node->connection == NULL)
    return NULL;

  watch_id = g_bus_watch_name_on_connection (node->connection, PLEXUS_DBUS_NAME,
                                             G_BUS_NAME_WATCHER_FLAGS_NONE,
                                             on_name_appeared, NULL, &watch, NULL);
  plexus_test_wait_for (ready_or_exited, &watch, fixture->timeout_ms);
  g_bus_unwatch_name (watch_id);

  if (!watch.ready) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "%s did not become ready within %u ms (%s); its log:\n%s",
                 node->name, fixture->timeout_ms,
                 node->exited ? "it exited" : "still running", node->log->str);
    return NULL;
  }

  node->manager = plexus_dbus_manager_proxy_new_sync (node->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                      PLEXUS_DBUS_NAME, "/org/plexus/Plexus1/Manager",
                                                      NULL, error);
  if (node->manager == NULL)
    return NULL;
  node->broker = plexus_dbus_broker_proxy_new_sync (node->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                    PLEXUS_DBUS_NAME, "/org/plexus/Plexus1/Broker",
                                                    NULL, error);
  if (node->broker == NULL)
    return NULL;
  /* The port it chose, for a restart to listen on again. */
  {
    g_autoptr(GUri) uri = g_uri_parse (plexus_dbus_manager_get_address (node->manager), G_URI_FLAGS_NONE, NULL);

    if (uri != NULL)
      node->listen = g_strdup_printf ("%s:%d", g_uri_get_host (uri), g_uri_get_port (uri));
  }
  return node;
}

gboolean
plexus_test_node_restart (PlexusTestFixture *fixture, PlexusTestNode *node, GError **error)
{
  NameWatch watch = { node, FALSE };
  guint watch_id;

  g_return_val_if_fail (node->connection != NULL && node->listen != NULL, FALSE);

  if (!plexus_test_node_wait_exit (node, fixture->timeout_ms, error))
    return FALSE;
  g_clear_object (&node->daemon);
  /* The bus must have let go of the dead daemon's name first, or its
   * owner would pass for the new one. */
  watch_id = g_bus_watch_name_on_connection (node->connection, PLEXUS_DBUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                             on_name_appeared, on_name_vanished, &watch, NULL);
  watch.ready = TRUE;
  plexus_test_wait_for (name_released, &watch, fixture->timeout_ms);
  if (watch.ready) {
    g_bus_unwatch_name (watch_id);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the bus of %s still gives its name to the dead daemon",
                 node->name);
    return FALSE;
  }
  if (!spawn_daemon (node, node->listen, error)) {
    g_bus_unwatch_name (watch_id);
    return FALSE;
  }
  plexus_test_wait_for (ready_or_exited, &watch, fixture->timeout_ms);
  g_bus_unwatch_name (watch_id);
  if (!watch.ready) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s did not come back within %u ms (%s); its log:\n%s",
                 node->name, fixture->timeout_ms, node->exited ? "it exited" : "still running", node->log->str);
    return FALSE;
  }
  return TRUE;
}

static gboolean
node_is_gone (gconstpointer data)
{
  const PlexusTestNode *node = data;

  return node->exited && node->log_closed;
}

gboolean
plexus_test_node_wait_exit (PlexusTestNode *node, guint timeout_ms, GError **error)
{
  /* Gone means its last words are read too: tests look for them. */
  if (!plexus_test_wait_for (node_is_gone, node, timeout_ms)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "%s did not exit within %u ms", node->name, timeout_ms);
    return FALSE;
  }
  return TRUE;
}

gboolean
plexus_test_node_stop (PlexusTestNode *node, int signum, guint timeout_ms, GError **error)
{
  if (node->exited)
    return TRUE;
  g_subprocess_send_signal (node->daemon, signum);
  return plexus_test_node_wait_exit (node, timeout_ms, error);
}

typedef struct {
  PlexusTestNode *node;
  const gchar    *needle;
} LogSearch;

static gboolean
log_has_needle (gconstpointer data)
{
  const LogSearch *search = data;

  return strstr (search->node->log->str, search->needle) != NULL;
}

gboolean
plexus_test_node_wait_for_log (PlexusTestNode *node, const gchar *needle, guint timeout_ms)
{
  LogSearch search = { node, needle };

  return plexus_test_wait_for (log_has_needle, &search, timeout_ms);
}

gchar *
plexus_test_node_run_ctl (PlexusTestNode *node, const gchar * const *args,
                          gint *exit_status, gchar **stderr_text, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const gchar *plexusctl = g_getenv ("PLEXUSCTL");
  gchar *out = NULL;
  gchar *err = NULL;

  launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", node->bus_address, TRUE);
  g_ptr_array_add (argv, (gpointer) (plexusctl != NULL ? plexusctl : "plexusctl"));
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_launcher_spawnv (launcher, (const gchar * const *) argv->pdata, error);
  if (process == NULL)
    return NULL;
  /* Synchronous on purpose: plexusctl talks to plexusd, not to us. */
  if (!g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, error))
    return NULL;
  if (exit_status != NULL)
    *exit_status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
  if (stderr_text != NULL)
    *stderr_text = err;
  else
    g_free (err);
  return out;
}

JsonNode *
plexus_test_node_run_ctl_json (PlexusTestNode *node, const gchar * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *err = NULL;
  g_autofree gchar *out = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  gint status = -1;

  g_ptr_array_add (argv, (gpointer) "--json");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  out = plexus_test_node_run_ctl (node, (const gchar * const *) argv->pdata, &status, &err, &error);
  g_assert_no_error (error);
  if (status != 0)
    g_printerr ("plexusctl %s failed: %s\n", args[0], err);
  g_assert_cmpint (status, ==, 0);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static void
plexus_test_node_free (PlexusTestNode *node)
{
  g_clear_object (&node->broker);
  g_clear_object (&node->manager);
  if (node->connection != NULL)
    g_dbus_connection_close_sync (node->connection, NULL, NULL);
  g_clear_object (&node->connection);
  if (node->daemon != NULL && !node->exited) {
    g_subprocess_force_exit (node->daemon);
    plexus_test_node_wait_exit (node, 5000, NULL);
  }
  if (node->bus != NULL) {
    g_subprocess_send_signal (node->bus, SIGTERM);
    g_subprocess_wait (node->bus, NULL, NULL);
  }
  g_cancellable_cancel (node->cancellable);
  /* Cancelled callbacks are still dispatched; let them run before the
   * node is freed (they no longer touch it). */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&node->cancellable);
  g_clear_object (&node->daemon);
  g_clear_object (&node->bus);
  g_free (node->bus_address);
  g_strfreev (node->args);
  g_free (node->listen);
  g_free (node->state_dir);
  g_free (node->name);
  g_string_free (node->log, TRUE);
  g_free (node);
}

/* Removes @path and everything below it, without following symlinks;
 * fails the test if anything cannot be removed. */
void
plexus_test_remove_tree (const gchar *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
    const gchar *name;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree gchar *child = g_build_filename (path, name, NULL);
      plexus_test_remove_tree (child);
    }
    g_assert_no_errno (g_rmdir (path));
  } else {
    g_assert_no_errno (g_unlink (path));
  }
}

/* Stops every node that still runs with SIGTERM and checks it exits 0. */
void
plexus_test_fixture_free (PlexusTestFixture *fixture)
{
  for (guint i = 0; i < fixture->nodes->len; i++) {
    PlexusTestNode *node = g_ptr_array_index (fixture->nodes, i);
    g_autoptr(GError) error = NULL;

    if (node->daemon != NULL && !node->exited) {
      plexus_test_node_stop (node, SIGTERM, fixture->timeout_ms, &error);
      g_assert_no_error (error);
      g_assert_cmpint (node->exit_status, ==, 0);
    }
  }
  g_ptr_array_foreach (fixture->nodes, (GFunc) plexus_test_node_free, NULL);
  g_ptr_array_unref (fixture->nodes);
  plexus_test_remove_tree (fixture->tmpdir);
  g_free (fixture->tmpdir);
  g_free (fixture);
}
