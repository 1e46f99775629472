/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "plexus.h"
#include "plexus-test-fixture.h"

/* Real plexusd processes driven through plexusctl: a small local network,
 * clean shutdown, and every way the daemon refuses to start. */

static void
test_local_network (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GHashTable) peer_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const gchar *server_args[] = { "--role", "server", "--mode", "traditional", NULL };
  const gchar *peer_args[] = { "--server", "ws://127.0.0.1:9/", "--bootstrap", "ws://127.0.0.1:9/", NULL };
  const gchar *status_args[] = { "status", NULL };
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (plexus_test_fixture_add_node (fixture, server_args, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++) {
    g_assert_nonnull (plexus_test_fixture_add_node (fixture, peer_args, &error));
    g_assert_no_error (error);
  }

  for (guint i = 0; i < fixture->nodes->len; i++) {
    PlexusTestNode *node = g_ptr_array_index (fixture->nodes, i);
    g_autoptr(JsonNode) root = plexus_test_node_run_ctl_json (node, status_args);
    JsonObject *status = json_node_get_object (root);
    JsonArray *roles = json_object_get_array_member (status, "roles");
    const gchar *peer_id = json_object_get_string_member (status, "peer_id");

    g_assert_true (plexus_peer_id_is_valid (peer_id));
    /* every node has its own identity */
    g_assert_true (g_hash_table_add (peer_ids, g_strdup (peer_id)));
    g_assert_cmpstr (json_object_get_string_member (status, "version"), ==, PACKAGE_VERSION);
    g_assert_cmpstr (json_object_get_string_member (status, "state"), ==, "running");
    g_assert_true (g_str_has_prefix (json_object_get_string_member (status, "address"), "ws://127.0.0.1:"));
    g_assert_cmpstr (json_array_get_string_element (roles, 0), ==, "standard");
    if (i == 0) {
      g_assert_cmpstr (json_object_get_string_member (status, "mode"), ==, "traditional");
      g_assert_cmpstr (json_array_get_string_element (roles, 1), ==, "server");
    } else {
      g_assert_cmpstr (json_object_get_string_member (status, "mode"), ==, "hybrid");
      g_assert_cmpuint (json_array_get_length (roles), ==, 1);
    }
  }
  /* plexus_test_fixture_free() asserts each node exits 0 on SIGTERM. */
  plexus_test_fixture_free (fixture);
}

static void
test_human_output (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  PlexusTestNode *node = plexus_test_fixture_add_node (fixture, NULL, &error);
  const gchar *status_args[] = { "status", NULL };
  const gchar *plugins_args[] = { "plugins", NULL };
  const gchar *providers_args[] = { "providers", "signaling", NULL };
  const gchar *bad_service_args[] = { "providers", "teleport", NULL };
  const gchar *bad_command_args[] = { "frobnicate", NULL };
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  gint status = -1;

  g_assert_no_error (error);
  out = plexus_test_node_run_ctl (node, status_args, &status, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, plexus_dbus_manager_get_peer_id (node->manager)));
  g_assert_nonnull (strstr (out, "running"));
  g_clear_pointer (&out, g_free);

  out = plexus_test_node_run_ctl (node, plugins_args, &status, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (out, "NAME"));
  g_clear_pointer (&out, g_free);

  out = plexus_test_node_run_ctl (node, providers_args, &status, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&out, g_free);

  /* Errors: exit 1 with the reason on stderr. */
  out = plexus_test_node_run_ctl (node, bad_service_args, &status, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "unknown service 'teleport'"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  out = plexus_test_node_run_ctl (node, bad_command_args, &status, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "unknown command 'frobnicate'"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* With plexusd gone, plexusctl says so and exits 1. */
  g_assert_true (plexus_test_node_stop (node, SIGTERM, fixture->timeout_ms, &error));
  out = plexus_test_node_run_ctl (node, status_args, &status, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "not running"));
  g_assert_cmpstr (out, ==, "");
  plexus_test_fixture_free (fixture);
}

/* SIGINT and SIGTERM: exit 0, within a second. */
static void
test_shutdown (gconstpointer data)
{
  int signum = GPOINTER_TO_INT (data);
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  PlexusTestNode *node = plexus_test_fixture_add_node (fixture, NULL, &error);
  const gchar *slow = g_getenv ("PLEXUS_TEST_SLOW");
  guint limit_ms = slow != NULL ? fixture->timeout_ms : 1000;
  gint64 start;

  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  g_assert_true (plexus_test_node_stop (node, signum, limit_ms, &error));
  g_assert_no_error (error);
  g_assert_cmpint (node->exit_status, ==, 0);
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, limit_ms);
  g_assert_nonnull (strstr (node->log->str, "stopped"));
  plexus_test_fixture_free (fixture);
}

/* A second plexusd on the same bus says the name is taken and exits non-zero. */
static void
test_name_taken (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  PlexusTestNode *node = plexus_test_fixture_add_node (fixture, NULL, &error);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) second = NULL;
  g_autofree gchar *state_dir = NULL;
  g_autofree gchar *err = NULL;

  g_assert_no_error (error);
  state_dir = g_build_filename (fixture->tmpdir, "second", NULL);
  launcher = plexus_test_daemon_launcher_new (node->bus_address, state_dir,
                                              G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  second = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("PLEXUSD"),
                                        "--state-dir", state_dir, "--listen", "127.0.0.1:0", NULL);
  g_assert_no_error (error);
  /* It exits on its own once the bus refuses it the name. */
  g_assert_true (g_subprocess_communicate_utf8 (second, NULL, NULL, NULL, &err, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (second));
  g_assert_cmpint (g_subprocess_get_exit_status (second), !=, 0);
  g_assert_nonnull (strstr (err, "already owned"));
  /* the first one is unaffected */
  g_assert_cmpstr (plexus_dbus_manager_get_state (node->manager), ==, "running");
  plexus_test_fixture_free (fixture);
}

static void
expect_refusal (const gchar * const *args, const gchar * const *needles)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  PlexusTestNode *node = plexus_test_fixture_spawn_node (fixture, args, &error);

  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_exit (node, fixture->timeout_ms, &error));
  g_assert_no_error (error);
  g_assert_cmpint (node->exit_status, !=, 0);
  for (guint i = 0; needles[i] != NULL; i++) {
    if (strstr (node->log->str, needles[i]) == NULL)
      g_error ("'%s' not in plexusd's output:\n%s", needles[i], node->log->str);
  }
  plexus_test_fixture_free (fixture);
}

static void
test_refuse_bad_config (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("plexus-config-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "bad.conf", NULL);
  const gchar *args[] = { "--config", path, NULL };
  const gchar *needles[] = { path, "[node]", "colour", "refusing to start", NULL };

  g_assert_true (g_file_set_contents (path, "[node]\nmode=hybrid\ncolour=blue\n", -1, NULL));
  expect_refusal (args, needles);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_refuse_bad_value (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("plexus-config-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "bad.conf", NULL);
  const gchar *args[] = { "--config", path, NULL };
  const gchar *needles[] = { path, "[stun]", "listen", "65536", NULL };

  g_assert_true (g_file_set_contents (path, "[stun]\nlisten=0.0.0.0:65536\n", -1, NULL));
  expect_refusal (args, needles);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_refuse_bad_option (void)
{
  const gchar *args[] = { "--mode", "sideways", NULL };
  const gchar *needles[] = { "sideways", "hybrid", NULL };

  expect_refusal (args, needles);
}

/* A port another node holds: refused, naming the address. */
static void
test_refuse_port_in_use (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  PlexusTestNode *first = plexus_test_fixture_add_node (fixture, NULL, &error);
  g_autoptr(GUri) uri = NULL;
  g_autofree gchar *taken = NULL;
  const gchar *args[] = { "--listen", NULL, NULL };
  const gchar *needles[] = { NULL, "cannot listen", NULL };

  g_assert_no_error (error);
  uri = g_uri_parse (plexus_dbus_manager_get_address (first->manager), G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  taken = g_strdup_printf ("127.0.0.1:%d", g_uri_get_port (uri));
  args[1] = taken;
  needles[0] = taken;
  expect_refusal (args, needles);
  plexus_test_fixture_free (fixture);
}

static void
test_refuse_missing_config (void)
{
  const gchar *args[] = { "--config", "/nonexistent/plexus.conf", NULL };
  const gchar *needles[] = { "/nonexistent/plexus.conf", NULL };

  expect_refusal (args, needles);
}

/* A key file others can read is refused and left exactly as it was. */
static void
test_refuse_loose_identity (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("plexus-state-XXXXXX", NULL);
  g_autofree gchar *key = g_build_filename (dir, "identity.key", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusIdentity) identity = plexus_identity_load_or_create (dir, &error);
  g_autofree gchar *before = NULL;
  g_autofree gchar *after = NULL;
  const gchar *args[] = { "--state-dir", dir, NULL };
  const gchar *needles[] = { key, "chmod", NULL };

  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (key, &before, NULL, NULL));
  g_assert_cmpint (g_chmod (key, 0644), ==, 0);
  expect_refusal (args, needles);
  g_assert_true (g_file_get_contents (key, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);
  g_unlink (key);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  const gchar *plugin_dir = g_getenv ("PLEXUS_TEST_PLUGIN_DIR");

  g_test_init (&argc, &argv, NULL);
  if (plugin_dir != NULL)
    g_setenv ("PLEXUS_PLUGIN_PATH", plugin_dir, TRUE);

  g_test_add_func ("/plexus/network/local", test_local_network);
  g_test_add_func ("/plexus/network/plexusctl", test_human_output);
  g_test_add_data_func ("/plexus/network/shutdown/sigint", GINT_TO_POINTER (SIGINT), test_shutdown);
  g_test_add_data_func ("/plexus/network/shutdown/sigterm", GINT_TO_POINTER (SIGTERM), test_shutdown);
  g_test_add_func ("/plexus/network/name-taken", test_name_taken);
  g_test_add_func ("/plexus/network/refuse/unknown-key", test_refuse_bad_config);
  g_test_add_func ("/plexus/network/refuse/out-of-range", test_refuse_bad_value);
  g_test_add_func ("/plexus/network/refuse/bad-option", test_refuse_bad_option);
  g_test_add_func ("/plexus/network/refuse/missing-config", test_refuse_missing_config);
  g_test_add_func ("/plexus/network/refuse/port-in-use", test_refuse_port_in_use);
  g_test_add_func ("/plexus/network/refuse/loose-identity", test_refuse_loose_identity);
  return g_test_run ();
}
