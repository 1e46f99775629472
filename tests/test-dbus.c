/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>

#include "plexus.h"
#include "plexus-test-fixture.h"

/* The D-Bus API of a real plexusd on a private bus, through the generated
 * client code: every method, property and error. */

typedef struct {
  PlexusTestFixture *fixture;
  PlexusTestNode    *node;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const gchar * const *args = data;
  g_autoptr(GError) error = NULL;

  f->fixture = plexus_test_fixture_new ();
  f->node = plexus_test_fixture_add_node (f->fixture, args, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->node);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  plexus_test_fixture_free (f->fixture);
}

static void
test_manager_properties (Fixture *f, gconstpointer data)
{
  PlexusDBusManager *manager = f->node->manager;
  const gchar * const *roles = plexus_dbus_manager_get_roles (manager);

  g_assert_true (plexus_peer_id_is_valid (plexus_dbus_manager_get_peer_id (manager)));
  g_assert_cmpstr (plexus_dbus_manager_get_version (manager), ==, PACKAGE_VERSION);
  g_assert_cmpstr (plexus_dbus_manager_get_mode (manager), ==, "hybrid");
  g_assert_cmpstr (plexus_dbus_manager_get_state (manager), ==, "running");
  g_assert_nonnull (roles);
  g_assert_cmpstr (roles[0], ==, "standard");
  g_assert_null (roles[1]);
  /* --listen 127.0.0.1:0: the address shows the port the OS chose */
  g_assert_true (g_str_has_prefix (plexus_dbus_manager_get_address (manager), "ws://127.0.0.1:"));
  g_assert_true (g_str_has_suffix (plexus_dbus_manager_get_address (manager), "/"));
  g_assert_false (g_str_has_prefix (plexus_dbus_manager_get_address (manager), "ws://127.0.0.1:0/"));
}

static const gchar *options_args[] = { "--mode", "peer", "--role", "super,bootstrap", NULL };

static void
test_manager_options (Fixture *f, gconstpointer data)
{
  PlexusDBusManager *manager = f->node->manager;
  const gchar * const *roles = plexus_dbus_manager_get_roles (manager);

  g_assert_cmpstr (plexus_dbus_manager_get_mode (manager), ==, "peer");
  /* canonical order, standard always present */
  g_assert_cmpuint (g_strv_length ((gchar **) roles), ==, 3);
  g_assert_cmpstr (roles[0], ==, "standard");
  g_assert_cmpstr (roles[1], ==, "super");
  g_assert_cmpstr (roles[2], ==, "bootstrap");
}

static void
test_identity_persists (Fixture *f, gconstpointer data)
{
  g_autofree gchar *first = g_strdup (plexus_dbus_manager_get_peer_id (f->node->manager));
  g_autoptr(GError) error = NULL;
  const gchar *args[] = { "--state-dir", f->node->state_dir, NULL };
  PlexusTestNode *again;

  g_assert_true (plexus_test_node_stop (f->node, SIGTERM, f->fixture->timeout_ms, &error));
  g_assert_no_error (error);
  g_assert_cmpint (f->node->exit_status, ==, 0);

  /* A second --state-dir overrides the fixture's own: same directory, so
   * the same identity must come back. */
  again = plexus_test_fixture_add_node (f->fixture, args, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_dbus_manager_get_peer_id (again->manager), ==, first);
}

static void
test_get_capabilities (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *json = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;

  g_assert_true (plexus_dbus_manager_call_get_capabilities_sync (f->node->manager, &json, NULL, &error));
  g_assert_no_error (error);
  caps = plexus_capabilities_new_from_string (json, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_capabilities_get_peer_id (caps), ==,
                   plexus_dbus_manager_get_peer_id (f->node->manager));
  g_assert_cmpint (plexus_capabilities_get_roles (caps), ==, PLEXUS_ROLE_STANDARD);
}

static void
test_list_plugins (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) plugins = NULL;
  guint loaded = 0, failed = 0;
  GVariantIter iter;
  GVariant *dict;

  g_assert_true (plexus_dbus_manager_call_list_plugins_sync (f->node->manager, &plugins, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (plugins), >, 0);

  g_variant_iter_init (&iter, plugins);
  while ((dict = g_variant_iter_next_value (&iter)) != NULL) {
    const gchar *name, *state, *message, *description, *filename;
    g_autofree const gchar **services = NULL;
    g_autofree const gchar **roles = NULL;

    g_assert_true (g_variant_lookup (dict, "name", "&s", &name));
    g_assert_true (g_variant_lookup (dict, "description", "&s", &description));
    g_assert_true (g_variant_lookup (dict, "filename", "&s", &filename));
    g_assert_true (g_variant_lookup (dict, "services", "^a&s", &services));
    g_assert_true (g_variant_lookup (dict, "roles", "^a&s", &roles));
    g_assert_true (g_variant_lookup (dict, "state", "&s", &state));
    g_assert_true (g_variant_lookup (dict, "message", "&s", &message));
    if (g_str_equal (state, "loaded")) {
      loaded++;
      g_assert_cmpstr (message, ==, "");
    } else if (g_str_equal (state, "failed")) {
      failed++;
      /* a refusal says why */
      g_assert_cmpstr (message, !=, "");
    }
    g_variant_unref (dict);
  }
  /* The test plugin folder holds good plugins and refused ones; the
   * refused ones did not stop the daemon. */
  g_assert_cmpuint (loaded, >, 0);
  g_assert_cmpuint (failed, >, 0);
  g_assert_cmpstr (plexus_dbus_manager_get_state (f->node->manager), ==, "running");
}

static void
test_list_providers (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) signaling = NULL;
  g_autoptr(GVariant) none = NULL;
  const gchar *peer_id = plexus_dbus_manager_get_peer_id (f->node->manager);
  gboolean found_local = FALSE;
  GVariantIter iter;
  GVariant *dict;

  g_assert_true (plexus_dbus_broker_call_list_providers_sync (f->node->broker, "", &all, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_dbus_broker_call_list_providers_sync (f->node->broker, "signaling", &signaling, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_dbus_broker_call_list_providers_sync (f->node->broker, "room-registry", &none, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (none), ==, 0);

  g_variant_iter_init (&iter, signaling);
  while ((dict = g_variant_iter_next_value (&iter)) != NULL) {
    const gchar *service, *kind, *pid;
    gdouble score, load, rtt, uptime, reputation;
    gboolean available, healthy, selected;
    gint64 capacity;

    g_assert_true (g_variant_lookup (dict, "service", "&s", &service));
    g_assert_cmpstr (service, ==, "signaling");
    g_assert_true (g_variant_lookup (dict, "peer_id", "&s", &pid));
    g_assert_true (g_variant_lookup (dict, "kind", "&s", &kind));
    g_assert_true (g_variant_lookup (dict, "available", "b", &available));
    g_assert_true (g_variant_lookup (dict, "healthy", "b", &healthy));
    g_assert_true (g_variant_lookup (dict, "selected", "b", &selected));
    g_assert_true (g_variant_lookup (dict, "score", "d", &score));
    g_assert_true (g_variant_lookup (dict, "load", "d", &load));
    g_assert_true (g_variant_lookup (dict, "capacity", "x", &capacity));
    g_assert_true (g_variant_lookup (dict, "rtt_ms", "d", &rtt));
    g_assert_true (g_variant_lookup (dict, "uptime", "d", &uptime));
    g_assert_true (g_variant_lookup (dict, "reputation", "d", &reputation));
    if (g_str_equal (kind, "local") && g_str_equal (pid, peer_id)) {
      found_local = TRUE;
      g_assert_true (available);
      g_assert_true (healthy);
      g_assert_cmpfloat (score, >, 0.0);
    }
    g_variant_unref (dict);
  }
  /* the good test plugin registered this node as a signaling provider */
  g_assert_true (found_local);
  g_assert_cmpuint (g_variant_n_children (all), >=, g_variant_n_children (signaling));
}

typedef struct {
  GPtrArray *events;
  guint      want;
  gboolean   done;
} Recorder;

static void
record (Recorder *r, gchar *event)
{
  g_ptr_array_add (r->events, event);
  r->done = r->events->len >= r->want;
}

static void
record_added (PlexusDBusBroker *broker, const gchar *service, const gchar *peer_id,
              const gchar *kind, Recorder *r)
{
  record (r, g_strdup_printf ("added %s %s %s", service, peer_id, kind));
}

static void
record_removed (PlexusDBusBroker *broker, const gchar *service, const gchar *peer_id, Recorder *r)
{
  record (r, g_strdup_printf ("removed %s %s", service, peer_id));
}

static void
record_selected (PlexusDBusBroker *broker, const gchar *service, const gchar *peer_id,
                 const gchar *reason, Recorder *r)
{
  g_assert_cmpstr (reason, !=, "");
  record (r, g_strdup_printf ("selected %s %s", service, peer_id));
}

static void
record_failover (PlexusDBusBroker *broker, const gchar *service, const gchar *from,
                 const gchar *to, const gchar *reason, Recorder *r)
{
  /* the user can see why */
  g_assert_cmpstr (reason, !=, "");
  record (r, g_strdup_printf ("failover %s %s -> %s", service, from, to));
}

/* The broker's decisions reach D-Bus as signals, in order. The dynamic test
 * plugin makes two remote stun providers come and go inside the daemon. */
static void
test_broker_signals (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  Recorder r = { events, 0, FALSE };
  const gchar *a, *b;

  g_signal_connect (f->node->broker, "provider-added", G_CALLBACK (record_added), &r);
  g_signal_connect (f->node->broker, "provider-removed", G_CALLBACK (record_removed), &r);
  g_signal_connect (f->node->broker, "provider-selected", G_CALLBACK (record_selected), &r);
  g_signal_connect (f->node->broker, "failover", G_CALLBACK (record_failover), &r);

  reply = g_dbus_connection_call_sync (f->node->connection, "org.plexus.Plexus1", "/org/plexus/Test/Dynamic",
                                       "org.plexus.Test.Dynamic", "Flap", NULL, G_VARIANT_TYPE ("(ss)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(&s&s)", &a, &b);

  g_ptr_array_add (expected, g_strdup_printf ("added stun %s peer", a));
  g_ptr_array_add (expected, g_strdup_printf ("added stun %s peer", b));
  g_ptr_array_add (expected, g_strdup_printf ("selected stun %s", a));
  /* a becomes unavailable: fail over to b */
  g_ptr_array_add (expected, g_strdup_printf ("failover stun %s -> %s", a, b));
  g_ptr_array_add (expected, g_strdup_printf ("selected stun %s", b));
  g_ptr_array_add (expected, g_strdup_printf ("removed stun %s", a));
  /* b, the selection, goes: nothing is left to fail over to */
  g_ptr_array_add (expected, g_strdup_printf ("removed stun %s", b));
  g_ptr_array_add (expected, g_strdup_printf ("failover stun %s -> ", b));

  /* The signals were sent before the reply but reach the proxy through the
   * main context: wait for them with a deadline. */
  r.want = expected->len;
  r.done = events->len >= r.want;
  plexus_test_wait (&r.done, f->fixture->timeout_ms);
  for (guint i = 0; i < expected->len; i++) {
    g_assert_cmpuint (i, <, events->len);
    g_assert_cmpstr (g_ptr_array_index (events, i), ==, g_ptr_array_index (expected, i));
  }
  g_assert_cmpuint (events->len, ==, expected->len);
  g_signal_handlers_disconnect_by_data (f->node->broker, &r);
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) providers = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autofree gchar *remote = NULL;

  /* An unknown service: a named error with a readable message. */
  g_assert_false (plexus_dbus_broker_call_list_providers_sync (f->node->broker, "teleport", &providers, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE);
  g_assert_nonnull (strstr (error->message, "teleport"));
  g_assert_nonnull (strstr (error->message, "signaling"));
  g_clear_error (&error);

  /* The same error seen as raw D-Bus, by a client without our GError domain. */
  reply = g_dbus_connection_call_sync (f->node->connection, "org.plexus.Plexus1",
                                       "/org/plexus/Plexus1/Broker", "org.plexus.Plexus1.Broker",
                                       "ListProviders", g_variant_new ("(s)", "teleport"),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_null (reply);
  remote = g_dbus_error_get_remote_error (error);
  g_assert_cmpstr (remote, ==, "org.plexus.Plexus1.Error.UnknownService");
  g_clear_error (&error);

  /* Wrong argument types. */
  reply = g_dbus_connection_call_sync (f->node->connection, "org.plexus.Plexus1",
                                       "/org/plexus/Plexus1/Broker", "org.plexus.Plexus1.Broker",
                                       "ListProviders", g_variant_new ("(i)", 42),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  g_clear_error (&error);

  /* An unknown method. */
  reply = g_dbus_connection_call_sync (f->node->connection, "org.plexus.Plexus1",
                                       "/org/plexus/Plexus1/Manager", "org.plexus.Plexus1.Manager",
                                       "Explode", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  g_clear_error (&error);

  /* The daemon is still there after all that. */
  g_assert_cmpstr (plexus_dbus_manager_get_state (f->node->manager), ==, "running");
}

/* Ping's refusals, on D-Bus and through plexusctl. */
static void
test_ping_errors (Fixture *f, gconstpointer data)
{
  const gchar *bad_args[] = { "ping", "not-a-peer-id", NULL };
  const gchar *unknown_args[] = { "ping", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL };
  const gchar *locate_args[] = { "locate", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  gdouble rtt_ms = -1;
  guint hops = 0;
  gint status = -1;

  g_assert_false (plexus_dbus_manager_call_ping_sync (f->node->manager, "not-a-peer-id", &rtt_ms, &hops,
                                                      NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (plexus_dbus_manager_call_ping_sync (f->node->manager,
                                                      plexus_dbus_manager_get_peer_id (f->node->manager),
                                                      &rtt_ms, &hops, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "this node itself"));
  g_clear_error (&error);

  out = plexus_test_node_run_ctl (f->node, bad_args, &status, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "is not a peer ID"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A node linked to nobody reaches nobody, and says so at once. */
  out = plexus_test_node_run_ctl (f->node, unknown_args, &status, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "no route to peer"));
  g_assert_cmpstr (plexus_dbus_manager_get_state (f->node->manager), ==, "running");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Locating needs the gossip plugin, which this daemon does not load. */
  g_assert_false (plexus_dbus_manager_call_locate_sync (f->node->manager, "not-a-peer-id", NULL, NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  out = plexus_test_node_run_ctl (f->node, locate_args, &status, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "the gossip plugin is not loaded"));
}

static void
test_object_manager (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) om = NULL;
  g_autoptr(GDBusObject) manager = NULL;
  g_autoptr(GDBusObject) broker = NULL;

  om = plexus_dbus_object_manager_client_new_sync (f->node->connection,
                                                   G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                   "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                   NULL, &error);
  g_assert_no_error (error);
  manager = g_dbus_object_manager_get_object (om, "/org/plexus/Plexus1/Manager");
  broker = g_dbus_object_manager_get_object (om, "/org/plexus/Plexus1/Broker");
  g_assert_nonnull (manager);
  g_assert_nonnull (broker);
  g_assert_nonnull (plexus_dbus_object_peek_manager (PLEXUS_DBUS_OBJECT (manager)));
  g_assert_nonnull (plexus_dbus_object_peek_broker (PLEXUS_DBUS_OBJECT (broker)));
}

int
main (int argc, char **argv)
{
  const gchar *plugin_dir = g_getenv ("PLEXUS_TEST_PLUGIN_DIR");

  g_test_init (&argc, &argv, NULL);
  /* Register the error domain so remote errors come back as PlexusError. */
  (void) plexus_error_quark ();
  if (plugin_dir != NULL)
    g_setenv ("PLEXUS_PLUGIN_PATH", plugin_dir, TRUE);

#define ADD(path, func, args) \
  g_test_add ("/plexus/dbus/" path, Fixture, args, fixture_setup, func, fixture_teardown)
  ADD ("manager/properties", test_manager_properties, NULL);
  ADD ("manager/options", test_manager_options, options_args);
  ADD ("manager/identity-persists", test_identity_persists, NULL);
  ADD ("manager/get-capabilities", test_get_capabilities, NULL);
  ADD ("manager/list-plugins", test_list_plugins, NULL);
  ADD ("broker/list-providers", test_list_providers, NULL);
  ADD ("broker/signals", test_broker_signals, NULL);
  ADD ("errors", test_errors, NULL);
  ADD ("manager/ping-errors", test_ping_errors, NULL);
  ADD ("object-manager", test_object_manager, NULL);
#undef ADD
  return g_test_run ();
}
