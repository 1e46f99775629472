/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

/* bench/startup: how fast plexusd is ready and how small it stays.
 *
 *   bench/startup [RUNS]
 *
 * For each run: a private dbus-daemon, then plexusd on it; the time from
 * spawning plexusd to org.plexus.Plexus1 appearing on the bus. Then one
 * plexusd is left idle for 10 s and its RSS read from /proc. The reference,
 * measured the same way in the same command, is `dbus-daemon --session`:
 * time from exec until it prints its address (its readiness), and its idle
 * RSS after 10 s. Prints figures; never fails on timing. */

#define IDLE_SECONDS 10

static gchar *plexusd_path;
static gchar *library_path;
static gchar *tmpdir;

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
on_appeared (GDBusConnection *c, const gchar *name, const gchar *owner, gpointer data)
{
  *(gint64 *) data = g_get_monotonic_time ();
}

static void
on_line (GObject *source, GAsyncResult *result, gpointer data)
{
  gchar **line = data;

  *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  if (*line == NULL)
    *line = g_strdup ("");
}

/* Starts `dbus-daemon --session --nofork --print-address=1`; returns the
 * address, and the time from spawn to the address being printed. */
static GSubprocess *
start_bus (gchar **address, gdouble *ready_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  gchar *line = NULL;
  gboolean expired = FALSE;
  guint id;
  gint64 start = g_get_monotonic_time ();
  GSubprocess *bus = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                                       "dbus-daemon", "--session", "--nofork", "--print-address=1", NULL);

  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (bus));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, on_line, &line);
  id = g_timeout_add_seconds (10, on_timeout, &expired);
  while (line == NULL && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  if (line == NULL || line[0] == '\0')
    g_error ("dbus-daemon printed no address");
  if (ready_ms != NULL)
    *ready_ms = (g_get_monotonic_time () - start) / 1000.0;
  *address = line;
  return bus;
}

static GSubprocess *
start_plexusd (const gchar *address, guint run, gdouble *ready_ms)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  /* One state directory for every run: the identity is created once, as
   * on a user's first login, and loaded on every later start. */
  const gchar *state_dir = tmpdir;
  GSubprocess *daemon;
  gint64 appeared = 0;
  gint64 start;
  gboolean expired = FALSE;
  guint watch, id;

  connection = g_dbus_connection_new_for_address_sync (address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  watch = g_bus_watch_name_on_connection (connection, "org.plexus.Plexus1", G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_appeared, NULL, &appeared, NULL);
  /* Let the watch's initial GetNameOwner settle before starting the clock. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", address, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", state_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "PLEXUS_SYSTEM_CONFIG", "/dev/null", TRUE);
  if (library_path != NULL)
    g_subprocess_launcher_setenv (launcher, "LD_LIBRARY_PATH", library_path, TRUE);
  start = g_get_monotonic_time ();
  daemon = g_subprocess_launcher_spawn (launcher, &error, plexusd_path, "--state-dir", state_dir,
                                        "--listen", "127.0.0.1:0", NULL);
  g_assert_no_error (error);
  id = g_timeout_add_seconds (10, on_timeout, &expired);
  while (appeared == 0 && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_bus_unwatch_name (watch);
  if (appeared == 0)
    g_error ("plexusd did not own its name within 10 s");
  *ready_ms = (appeared - start) / 1000.0;
  return daemon;
}

static gdouble
rss_mib (GSubprocess *process)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (process));
  g_autofree gchar *status = NULL;
  const gchar *line;

  if (!g_file_get_contents (path, &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  if (line == NULL)
    return -1;
  return g_ascii_strtod (line + 6, NULL) / 1024.0;
}

static void
stop (GSubprocess *process)
{
  g_subprocess_send_signal (process, SIGTERM);
  g_subprocess_wait (process, NULL, NULL);
  g_object_unref (process);
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return (x > y) - (x < y);
}

static void
print_row (const gchar *name, GArray *times)
{
  g_array_sort (times, cmp_double);
  g_print ("  %-26s median %7.1f ms   min %7.1f ms   max %7.1f ms   (%u runs)\n", name,
           g_array_index (times, gdouble, times->len / 2),
           g_array_index (times, gdouble, 0),
           g_array_index (times, gdouble, times->len - 1), times->len);
}

static void
idle_wait (void)
{
  gboolean expired = FALSE;

  g_timeout_add_seconds (IDLE_SECONDS, on_timeout, &expired);
  while (!expired)
    g_main_context_iteration (NULL, TRUE);
}

int
main (int argc, char **argv)
{
  guint runs = argc > 1 ? (guint) g_ascii_strtoull (argv[1], NULL, 10) : 15;
  g_autofree gchar *self_dir = g_path_get_dirname (argv[0]);
  g_autoptr(GArray) plexusd_ms = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GArray) bus_ms = g_array_new (FALSE, FALSE, sizeof (gdouble));
  GSubprocess *bus, *daemon;
  gchar *address = NULL;
  gdouble ms, plexusd_rss, bus_rss;

  plexusd_path = g_strdup (g_getenv ("PLEXUSD"));
  if (plexusd_path == NULL) {
    /* In a build tree core/plexusd is libtool's shell wrapper; time the
     * real binary, as an installed plexusd would run. */
    library_path = g_build_filename (self_dir, "..", "core", ".libs", NULL);
    plexusd_path = g_build_filename (library_path, "plexusd", NULL);
    if (!g_file_test (plexusd_path, G_FILE_TEST_IS_EXECUTABLE)) {
      g_clear_pointer (&library_path, g_free);
      g_free (plexusd_path);
      plexusd_path = g_build_filename (self_dir, "..", "core", "plexusd", NULL);
    }
  }
  tmpdir = g_dir_make_tmp ("plexus-bench-XXXXXX", NULL);
  if (runs == 0)
    runs = 1;

  g_print ("startup: %s, %u runs, idle RSS after %d s\n", plexusd_path, runs, IDLE_SECONDS);
  for (guint i = 0; i < runs; i++) {
    bus = start_bus (&address, &ms);
    g_array_append_val (bus_ms, ms);
    daemon = start_plexusd (address, i, &ms);
    g_array_append_val (plexusd_ms, ms);
    stop (daemon);
    stop (bus);
    g_clear_pointer (&address, g_free);
  }

  /* Idle footprint: both at once, same 10 s. */
  bus = start_bus (&address, NULL);
  daemon = start_plexusd (address, runs, &ms);
  idle_wait ();
  plexusd_rss = rss_mib (daemon);
  bus_rss = rss_mib (bus);
  stop (daemon);
  stop (bus);
  g_free (address);

  g_print ("exec to ready:\n");
  print_row ("plexusd (name owned)", plexusd_ms);
  print_row ("dbus-daemon --session", bus_ms);
  g_print ("idle RSS after %d s:\n", IDLE_SECONDS);
  g_print ("  %-26s %7.1f MiB\n", "plexusd", plexusd_rss);
  g_print ("  %-26s %7.1f MiB\n", "dbus-daemon --session", bus_rss);
  g_print ("goals: ready < 100 ms, RSS < 10 MiB\n");
  g_free (plexusd_path);
  g_free (library_path);
  {
    g_autofree gchar *key = g_build_filename (tmpdir, "identity.key", NULL);
    g_unlink (key);
    g_rmdir (tmpdir);
  }
  g_free (tmpdir);
  return 0;
}
