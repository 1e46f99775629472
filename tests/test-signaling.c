/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <libsoup/soup.h>

#include "plexus.h"
#include "plexus-test-fixture.h"

/* Hybrid signaling in real processes: a server (server-fallback), two super
 * peers (signaling-relay) and two standard peers attached to them, all
 * with the gossip plugin. Messages go both ways at once in hybrid mode,
 * where the recipient gives the application one copy; through the server
 * alone in traditional mode, with the super peers frozen (SIGSTOP); through
 * super peers alone in peer mode, with the server frozen. */

#define N_SUPERS 2
#define WAIT_MS 90000
/* A well-formed peer ID that no node of a test has. */
#define NOBODY_PEER_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct {
  PlexusTestNode      *node;
  PlexusDBusMessaging *messaging;
  gchar               *peer_id;
  GHashTable          *received;    /* message ID → times Received fired */
  GHashTable          *outcomes;    /* message ID → "path" or "failed: reason" */
  gchar               *last_payload;
  GPtrArray           *path_failures;  /* PathFailed reasons */
} Peer;

static void
on_received (PlexusDBusMessaging *proxy, const gchar *from, GVariant *payload, const gchar *id, Peer *peer)
{
  gsize length;
  const gchar *data = g_variant_get_fixed_array (payload, &length, 1);

  g_hash_table_replace (peer->received, g_strdup (id),
                        GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (peer->received, id)) + 1));
  g_free (peer->last_payload);
  peer->last_payload = g_strndup (data, length);
}

static void
on_delivered (PlexusDBusMessaging *proxy, const gchar *id, const gchar *to, const gchar *path, const gchar *relay,
              gdouble latency_ms, Peer *peer)
{
  g_hash_table_replace (peer->outcomes, g_strdup (id), g_strdup (path));
}

static void
on_failed (PlexusDBusMessaging *proxy, const gchar *id, const gchar *to, const gchar *error_name,
           const gchar *reason, Peer *peer)
{
  g_hash_table_replace (peer->outcomes, g_strdup (id), g_strconcat ("failed: ", error_name, ": ", reason, NULL));
}

static void
on_path_failed (PlexusDBusMessaging *proxy, const gchar *id, const gchar *to, const gchar *path, const gchar *relay,
                const gchar *reason, Peer *peer)
{
  g_ptr_array_add (peer->path_failures, g_strdup (reason));
}

static void
peer_init (Peer *peer, PlexusTestNode *node)
{
  g_autoptr(GError) error = NULL;

  peer->node = node;
  peer->peer_id = plexus_dbus_manager_dup_peer_id (node->manager);
  peer->messaging = plexus_dbus_messaging_proxy_new_sync (node->connection, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                          "org.plexus.Plexus1", "/org/plexus/Plexus1/Messaging",
                                                          NULL, &error);
  g_assert_no_error (error);
  peer->received = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  peer->outcomes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_signal_connect (peer->messaging, "received", G_CALLBACK (on_received), peer);
  g_signal_connect (peer->messaging, "delivered", G_CALLBACK (on_delivered), peer);
  g_signal_connect (peer->messaging, "failed", G_CALLBACK (on_failed), peer);
  peer->path_failures = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (peer->messaging, "path-failed", G_CALLBACK (on_path_failed), peer);
}

static void
peer_clear (Peer *peer)
{
  g_signal_handlers_disconnect_by_data (peer->messaging, peer);
  g_clear_object (&peer->messaging);
  g_clear_pointer (&peer->peer_id, g_free);
  g_clear_pointer (&peer->received, g_hash_table_unref);
  g_clear_pointer (&peer->outcomes, g_hash_table_unref);
  g_clear_pointer (&peer->last_payload, g_free);
  g_clear_pointer (&peer->path_failures, g_ptr_array_unref);
}

/* The number a Messaging counter of @peer shows now, asked afresh. */
static guint64
counter (Peer *peer, const gchar *name)
{
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) inner = NULL;

  value = g_dbus_proxy_call_sync (G_DBUS_PROXY (peer->messaging), "org.freedesktop.DBus.Properties.Get",
                                  g_variant_new ("(ss)", "org.plexus.Plexus1.Messaging", name),
                                  G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (value == NULL)
    return 0;
  g_variant_get (value, "(v)", &inner);
  return g_variant_get_uint64 (inner);
}

typedef struct {
  Peer        *peer;
  const gchar *name;
  guint64      at_least;
} CounterWait;

static gboolean
counter_reaches (gconstpointer data)
{
  const CounterWait *w = data;

  return counter (w->peer, w->name) >= w->at_least;
}

/* The broker of @peer knows @n usable signaling providers. */
typedef struct {
  Peer  *peer;
  guint  n;
} ProvidersWait;

static gboolean
has_providers (gconstpointer data)
{
  const ProvidersWait *w = data;
  g_autoptr(GVariant) providers = NULL;

  if (!plexus_dbus_broker_call_list_providers_sync (w->peer->node->broker, "signaling", &providers, NULL, NULL))
    return FALSE;
  return g_variant_n_children (providers) >= w->n;
}

typedef struct {
  Peer        *peer;
  const gchar *id;
} OutcomeWait;

static gboolean
has_outcome (gconstpointer data)
{
  const OutcomeWait *w = data;

  return w->id != NULL && g_hash_table_contains (w->peer->outcomes, w->id);
}

/* @from reaches @peer_id in at most @max_hops. */
typedef struct {
  PlexusTestNode *from;
  const gchar    *peer_id;
  guint           max_hops;
} PingWait;

static gboolean
pings (gconstpointer data)
{
  const PingWait *w = data;
  gdouble rtt_ms;
  guint hops;

  return plexus_dbus_manager_call_ping_sync (w->from->manager, w->peer_id, &rtt_ms, &hops, NULL, NULL)
         && hops <= w->max_hops;
}

static void
assert_pings (PlexusTestNode *from, const gchar *peer_id, guint max_hops)
{
  PingWait w = { from, peer_id, max_hops };

  if (!plexus_test_wait_for (pings, &w, WAIT_MS))
    g_error ("%s does not reach %s in %u hops; its log:\n%s", from->name, peer_id, max_hops, from->log->str);
}

/* @observer's gossip places @peer_id at some super peer. */
typedef struct {
  PlexusTestNode *observer;
  const gchar    *peer_id;
} LocateWait;

static gboolean
located (gconstpointer data)
{
  const LocateWait *w = data;
  g_auto(GStrv) attached_to = NULL;

  return plexus_dbus_manager_call_locate_sync (w->observer->manager, w->peer_id, &attached_to, NULL, NULL, NULL)
         && attached_to[0] != NULL;
}

/* Some super peer of @supers has a link to @peer_id. */
typedef struct {
  PlexusTestNode **supers;
  guint            n_supers;
  const gchar     *peer_id;
} AttachedWait;

static gboolean
attached_to_a_super (gconstpointer data)
{
  const AttachedWait *w = data;

  for (guint i = 0; i < w->n_supers; i++) {
    PingWait ping = { w->supers[i], w->peer_id, 1 };

    if (pings (&ping))
      return TRUE;
  }
  return FALSE;
}

/* The broker of @peer knows a super peer that relays signaling. */
static gboolean
has_super_provider (gconstpointer data)
{
  const Peer *peer = data;
  g_autoptr(GVariant) providers = NULL;
  GVariantIter iter;
  GVariant *provider;

  if (!plexus_dbus_broker_call_list_providers_sync (peer->node->broker, "signaling", &providers, NULL, NULL))
    return FALSE;
  g_variant_iter_init (&iter, providers);
  while ((provider = g_variant_iter_next_value (&iter)) != NULL) {
    const gchar *kind = NULL;
    gboolean is_peer = g_variant_lookup (provider, "kind", "&s", &kind) && g_str_equal (kind, "peer");

    g_variant_unref (provider);
    if (is_peer)
      return TRUE;
  }
  return FALSE;
}

/* Peer paths are ready without the server: the super peers are linked to
 * each other, every standard peer is attached to one and has a super peer
 * in its broker, and every super peer's gossip says where each standard
 * peer is. */
static void
wait_for_peer_paths (PlexusTestNode **supers, const gchar * const *super_ids, guint n_supers, Peer *peers,
                     guint n_peers)
{
  for (guint i = 0; i < n_supers; i++) {
    for (guint j = 0; j < n_supers; j++) {
      if (i != j)
        assert_pings (supers[i], super_ids[j], 1);
    }
  }
  for (guint i = 0; i < n_peers; i++) {
    AttachedWait w = { supers, n_supers, peers[i].peer_id };

    if (!plexus_test_wait_for (attached_to_a_super, &w, WAIT_MS))
      g_error ("%s attached to no super peer; its log:\n%s", peers[i].node->name, peers[i].node->log->str);
    if (!plexus_test_wait_for (has_super_provider, &peers[i], WAIT_MS))
      g_error ("%s knows no super peer relay; its log:\n%s", peers[i].node->name, peers[i].node->log->str);
    for (guint j = 0; j < n_supers; j++) {
      LocateWait l = { supers[j], peers[i].peer_id };

      if (!plexus_test_wait_for (located, &l, WAIT_MS))
        g_error ("%s does not know where %s is attached", supers[j]->name, peers[i].node->name);
    }
  }
}

/* `plexusctl --json monitor` on a node's bus, its output gathered as it
 * comes. */
typedef struct {
  GSubprocess  *process;
  GCancellable *cancellable;
  GString      *out;
} Monitor;

static void
on_monitor_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Monitor *monitor = user_data;
  g_autofree gchar *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL,
                                                                      NULL);

  if (line == NULL) {
    g_object_unref (source);
    return;
  }
  g_string_append_printf (monitor->out, "%s\n", line);
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT, monitor->cancellable,
                                       on_monitor_line, monitor);
}

static void
monitor_start (Monitor *monitor, PlexusTestNode *node)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  const gchar *plexusctl = g_getenv ("PLEXUSCTL");
  g_autoptr(GError) error = NULL;
  GDataInputStream *in;

  g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", node->bus_address, TRUE);
  monitor->process = g_subprocess_launcher_spawn (launcher, &error, plexusctl != NULL ? plexusctl : "plexusctl",
                                                  "--json", "monitor", NULL);
  g_assert_no_error (error);
  monitor->cancellable = g_cancellable_new ();
  monitor->out = g_string_new ("");
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (monitor->process));
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, monitor->cancellable, on_monitor_line, monitor);
}

typedef struct {
  Monitor     *monitor;
  const gchar *needle;
} MonitorWait;

static gboolean
monitor_printed (gconstpointer data)
{
  const MonitorWait *w = data;

  return strstr (w->monitor->out->str, w->needle) != NULL;
}

static void
monitor_stop (Monitor *monitor)
{
  g_autoptr(GError) error = NULL;

  g_subprocess_send_signal (monitor->process, SIGTERM);
  g_assert_true (g_subprocess_wait (monitor->process, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (monitor->process));
  g_assert_cmpint (g_subprocess_get_exit_status (monitor->process), ==, 0);
  g_cancellable_cancel (monitor->cancellable);
  g_clear_object (&monitor->cancellable);
  g_clear_object (&monitor->process);
  g_string_free (monitor->out, TRUE);
}

/* Sends @text from @from to @to in @mode and waits for the outcome;
 * returns the path that delivered it, or "failed: ...". */
static gchar *
send_and_wait (Peer *from, Peer *to, const gchar *mode, const gchar *text, gchar **out_id)
{
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *id = NULL;
  OutcomeWait w;

  if (mode != NULL)
    g_variant_builder_add (&options, "{sv}", "mode", g_variant_new_string (mode));
  g_assert_true (plexus_dbus_messaging_call_send_sync (from->messaging, to->peer_id,
                                                       g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text,
                                                                                  strlen (text), 1),
                                                       g_variant_builder_end (&options), &id, NULL, &error));
  g_assert_no_error (error);
  w = (OutcomeWait) { from, id };
  g_assert_true (plexus_test_wait_for (has_outcome, &w, WAIT_MS));
  if (out_id != NULL)
    *out_id = g_strdup (id);
  return g_strdup (g_hash_table_lookup (from->outcomes, id));
}

static gboolean
received_once (gconstpointer data)
{
  const OutcomeWait *w = data;

  return GPOINTER_TO_UINT (g_hash_table_lookup (w->peer->received, w->id)) == 1;
}

static void
test_paths (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  PlexusTestNode *server;
  PlexusTestNode *supers[N_SUPERS];
  Peer alice = { NULL, }, bob = { NULL, };
  Monitor monitor = { NULL, };
  ProvidersWait providers;
  g_autofree gchar *path = NULL;
  g_autofree gchar *id = NULL;

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  super_args[3] = plexus_dbus_manager_get_address (server->manager);
  peer_args[1] = super_args[3];
  for (guint i = 0; i < N_SUPERS; i++) {
    supers[i] = plexus_test_fixture_add_node (fixture, super_args, &error);
    g_assert_no_error (error);
  }
  peer_init (&alice, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);
  peer_init (&bob, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);

  /* Both super peers and the server advertise signaling; the peers' views
   * bring it to their brokers. */
  providers = (ProvidersWait) { &alice, 1 + N_SUPERS };
  g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  providers = (ProvidersWait) { &bob, 1 + N_SUPERS };
  g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  {
    Peer both[] = { alice, bob };
    const gchar *super_ids[N_SUPERS];

    for (guint i = 0; i < N_SUPERS; i++)
      super_ids[i] = plexus_dbus_manager_get_peer_id (supers[i]->manager);
    wait_for_peer_paths (supers, super_ids, N_SUPERS, both, 2);
  }

  /* Hybrid: both at once; the second copy is acknowledged, not given
   * again. Alice's plexusctl monitor shows the arrival. */
  monitor_start (&monitor, alice.node);
  {
    MonitorWait ready = { &monitor, "\"event\":\"monitoring\"" };

    g_assert_true (plexus_test_wait_for (monitor_printed, &ready, WAIT_MS));
  }
  path = send_and_wait (&bob, &alice, "hybrid", "hello both ways", &id);
  g_assert_true (g_strcmp0 (path, "peer") == 0 || g_strcmp0 (path, "server") == 0);
  {
    OutcomeWait once = { &alice, id };
    CounterWait copies = { &alice, "DuplicateCount", 1 };
    g_autofree gchar *needle = g_strdup_printf ("\"event\":\"received\",\"id\":\"%s\"", id);
    MonitorWait shown = { &monitor, needle };

    g_assert_true (plexus_test_wait_for (monitor_printed, &shown, WAIT_MS));
    g_assert_nonnull (strstr (monitor.out->str, "\"payload\":\"hello both ways\""));
    monitor_stop (&monitor);

    g_assert_true (plexus_test_wait_for (received_once, &once, WAIT_MS));
    g_assert_true (plexus_test_wait_for (counter_reaches, &copies, WAIT_MS));
    g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (alice.received, id)), ==, 1);
    g_assert_cmpstr (alice.last_payload, ==, "hello both ways");
  }
  g_clear_pointer (&path, g_free);
  g_clear_pointer (&id, g_free);

  /* Traditional, with every super peer frozen: the server alone. A path
   * through a frozen super peer would hang until the deadline. */
  for (guint i = 0; i < N_SUPERS; i++)
    g_subprocess_send_signal (supers[i]->daemon, SIGSTOP);
  path = send_and_wait (&alice, &bob, "traditional", "hello by the server", &id);
  g_assert_cmpstr (path, ==, "server");
  {
    OutcomeWait once = { &bob, id };

    g_assert_true (plexus_test_wait_for (received_once, &once, WAIT_MS));
    g_assert_cmpstr (bob.last_payload, ==, "hello by the server");
  }
  g_clear_pointer (&path, g_free);
  g_clear_pointer (&id, g_free);

  /* The same from the command line, which waits for the outcome. */
  {
    const gchar *send_args[] = { "send", "--mode=traditional", bob.peer_id, "hello from plexusctl", NULL };
    g_autoptr(JsonNode) root = plexus_test_node_run_ctl_json (alice.node, send_args);
    JsonObject *object = json_node_get_object (root);
    OutcomeWait once = { &bob, json_object_get_string_member (object, "id") };

    g_assert_true (json_object_get_boolean_member (object, "delivered"));
    g_assert_cmpstr (json_object_get_string_member (object, "path"), ==, "server");
    g_assert_true (plexus_test_wait_for (received_once, &once, WAIT_MS));
    g_assert_cmpstr (bob.last_payload, ==, "hello from plexusctl");
  }
  for (guint i = 0; i < N_SUPERS; i++)
    g_subprocess_send_signal (supers[i]->daemon, SIGCONT);

  /* Peer, with the server frozen: super peers alone, both ways (each
   * standard peer may be attached to either super peer; they link to each
   * other and route to the peers attached to the other). */
  g_subprocess_send_signal (server->daemon, SIGSTOP);
  path = send_and_wait (&alice, &bob, "peer", "hello by a super peer", &id);
  g_assert_cmpstr (path, ==, "peer");
  {
    OutcomeWait once = { &bob, id };

    g_assert_true (plexus_test_wait_for (received_once, &once, WAIT_MS));
    g_assert_cmpstr (bob.last_payload, ==, "hello by a super peer");
  }
  g_clear_pointer (&path, g_free);
  g_clear_pointer (&id, g_free);
  path = send_and_wait (&bob, &alice, "peer", "and back", &id);
  g_assert_cmpstr (path, ==, "peer");
  g_subprocess_send_signal (server->daemon, SIGCONT);

  peer_clear (&alice);
  peer_clear (&bob);
  plexus_test_fixture_free (fixture);
}

/* A super peer that tampers with, drops or replays what it relays: the
 * recipient refuses the altered copy and takes the server's, the sender
 * gets its acknowledgement by the other path, and a replayed copy is not
 * given twice. */
/* A server, one super peer (run with @super_config, if not NULL) and two
 * standard peers, each with the server and the super peer as providers
 * and Bob attached to the super peer. */
static void
start_one_super (PlexusTestFixture *fixture, const gchar *super_config, PlexusTestNode **server_out,
                 PlexusTestNode **super_out, Peer *alice, Peer *bob)
{
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, "--config", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  ProvidersWait providers;

  *server_out = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  super_args[3] = peer_args[1] = plexus_dbus_manager_get_address ((*server_out)->manager);
  if (super_config != NULL)
    super_args[5] = super_config;
  else
    super_args[4] = NULL;
  *super_out = plexus_test_fixture_add_node (fixture, super_args, &error);
  g_assert_no_error (error);
  peer_init (alice, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);
  peer_init (bob, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);
  providers = (ProvidersWait) { alice, 2 };
  g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  /* Bob attached to the super peer: a peer-mode signal for him goes
   * through it (the server would not carry one on its behalf). */
  assert_pings (*super_out, bob->peer_id, 1);
}

static void
test_hostile_relay (void)
{
  const gchar *modes[] = { "tamper", "drop", "replay" };

  for (guint m = 0; m < G_N_ELEMENTS (modes); m++) {
    PlexusTestFixture *fixture = plexus_test_fixture_new ();
    g_autofree gchar *config_path = g_build_filename (fixture->tmpdir, "evil.conf", NULL);
    g_autofree gchar *config = g_strdup_printf ("[plugins]\ndisabled=signaling-relay\n[evil-relay]\nmode=%s\n",
                                                modes[m]);
    g_autoptr(GError) error = NULL;
    g_autofree gchar *path = NULL;
    g_autofree gchar *id = NULL;
    g_autofree gchar *evil_line = NULL;
    PlexusTestNode *server, *evil;
    Peer alice = { NULL, }, bob = { NULL, };
    gboolean replay = g_str_equal (modes[m], "replay");

    g_test_message ("relay mode %s", modes[m]);
    g_assert_true (g_file_set_contents (config_path, config, -1, &error));
    start_one_super (fixture, config_path, &server, &evil, &alice, &bob);

    /* Replay in peer mode (the evil relay is the only path); the others in
     * hybrid mode, where the server's path still delivers. */
    path = send_and_wait (&alice, &bob, replay ? "peer" : "hybrid", "through a hostile relay", &id);
    g_assert_cmpstr (path, ==, replay ? "peer" : "server");
    {
      OutcomeWait once = { &bob, id };

      g_assert_true (plexus_test_wait_for (received_once, &once, WAIT_MS));
      g_assert_cmpstr (bob.last_payload, ==, "through a hostile relay");
    }
    evil_line = g_strdup_printf ("%s signal %s", replay ? "delivering" : g_str_equal (modes[m], "tamper") ? "tampering with" : "dropping", id);
    g_assert_true (plexus_test_node_wait_for_log (evil, evil_line, WAIT_MS));
    if (g_str_equal (modes[m], "tamper")) {
      CounterWait refused = { &bob, "RefusedCount", 1 };

      g_assert_true (plexus_test_wait_for (counter_reaches, &refused, WAIT_MS));
    }
    if (replay) {
      CounterWait copies = { &bob, "DuplicateCount", 1 };

      g_assert_true (plexus_test_wait_for (counter_reaches, &copies, WAIT_MS));
    }
    /* Whatever the relay did, the application got it once. */
    g_assert_cmpuint (counter (&bob, "ReceivedCount"), ==, 1);
    g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (bob.received, id)), ==, 1);

    peer_clear (&alice);
    peer_clear (&bob);
    plexus_test_fixture_free (fixture);
  }
}

/* The reputation the broker of @peer gives the signaling provider
 * @relay, or a negative number when it has none. */
static gdouble
relay_reputation (Peer *peer, const gchar *relay)
{
  g_autoptr(GVariant) providers = NULL;
  GVariantIter iter;
  GVariant *provider;
  gdouble reputation = -1.0;

  if (!plexus_dbus_broker_call_list_providers_sync (peer->node->broker, "signaling", &providers, NULL, NULL))
    return -1.0;
  g_variant_iter_init (&iter, providers);
  while ((provider = g_variant_iter_next_value (&iter)) != NULL) {
    const gchar *pid = NULL;

    if (g_variant_lookup (provider, "peer_id", "&s", &pid) && g_str_equal (pid, relay))
      g_variant_lookup (provider, "reputation", "d", &reputation);
    g_variant_unref (provider);
  }
  return reputation;
}

/* Sends from @alice to @bob in @mode until @evil (a dropping relay)
 * drops one; each arrives by @expected_path all the same. Returns the
 * dropped message's ID. */
static gchar *
send_until_dropped (Peer *alice, Peer *bob, PlexusTestNode *evil, const gchar *mode, const gchar *expected_path)
{
  for (guint i = 0; i < 8; i++) {
    g_autofree gchar *text = g_strdup_printf ("past a silent relay in %s mode, %u", mode, i);
    g_autofree gchar *path = NULL;
    g_autofree gchar *id = NULL;
    g_autofree gchar *drop_line = NULL;

    path = send_and_wait (alice, bob, mode, text, &id);
    g_assert_cmpstr (path, ==, expected_path);
    drop_line = g_strdup_printf ("dropping signal %s", id);
    if (plexus_test_node_wait_for_log (evil, drop_line, 1000))
      return g_steal_pointer (&id);
  }
  g_error ("the dropping super peer was never tried; the sender's log:\n%s", alice->node->log->str);
  return NULL;
}

/* A relay answers `signal.relay` only to refuse it. One that takes a
 * message on and drops it is found out when another path delivers it:
 * the sender's broker holds it against the relay. Peer mode, two super
 * peers, one of them dropping whatever it is given. */
static void
test_silent_relay (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autofree gchar *config_path = g_build_filename (fixture->tmpdir, "evil.conf", NULL);
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *evil_id = NULL;
  g_autofree gchar *dropped = NULL;
  PlexusTestNode *server, *evil, *good;
  Peer alice = { NULL, }, bob = { NULL, };
  ProvidersWait providers;

  g_assert_true (g_file_set_contents (config_path, "[plugins]\ndisabled=signaling-relay\n[evil-relay]\nmode=drop\n",
                                      -1, &error));
  start_one_super (fixture, config_path, &server, &evil, &alice, &bob);
  evil_id = plexus_dbus_manager_dup_peer_id (evil->manager);
  super_args[3] = plexus_dbus_manager_get_address (server->manager);
  good = plexus_test_fixture_add_node (fixture, super_args, &error);
  g_assert_no_error (error);
  providers = (ProvidersWait) { &alice, 3 };
  g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  assert_pings (good, bob.peer_id, 1);
  g_assert_cmpfloat (relay_reputation (&alice, evil_id), ==, 1.0);

  /* The dropping super peer claims the larger capacity, so it goes first;
   * each message still arrives, and the first it drops is held against
   * it. */
  dropped = send_until_dropped (&alice, &bob, evil, "peer", "peer");
  {
    g_autofree gchar *blame = g_strdup_printf ("relay %s: it took message %s on and did not deliver it", evil_id,
                                               dropped);

    g_assert_true (plexus_test_node_wait_for_log (alice.node, blame, WAIT_MS));
  }
  g_assert_cmpfloat (relay_reputation (&alice, evil_id), <, 1.0);
  g_assert_cmpfloat (relay_reputation (&alice, evil_id), >=, 0.0);

  peer_clear (&alice);
  peer_clear (&bob);
  plexus_test_fixture_free (fixture);
}

/* Hybrid mode: the dropping super peer races the server. The server's
 * copy arrives first, and the super peer's silence is told when its
 * attempt's time is up: held against it as in peer mode. With @mode
 * `hold` it says it holds each signal, which only the server may. */
static void
silent_relay_hybrid (const gchar *mode)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autofree gchar *config_path = g_build_filename (fixture->tmpdir, "evil.conf", NULL);
  g_autofree gchar *config = g_strdup_printf ("[plugins]\ndisabled=signaling-relay\n[evil-relay]\nmode=%s\n", mode);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *evil_id = NULL;
  g_autofree gchar *dropped = NULL;
  g_autofree gchar *blame = NULL;
  g_autofree gchar *server_blame = NULL;
  PlexusTestNode *server, *evil;
  Peer alice = { NULL, }, bob = { NULL, };

  g_assert_true (g_file_set_contents (config_path, config, -1, &error));
  start_one_super (fixture, config_path, &server, &evil, &alice, &bob);
  evil_id = plexus_dbus_manager_dup_peer_id (evil->manager);
  g_assert_cmpfloat (relay_reputation (&alice, evil_id), ==, 1.0);
  /* The server knows Bob: in the race below it delivers at once, long
   * before the super peer's attempt runs out. */
  {
    g_autofree gchar *path = send_and_wait (&alice, &bob, "traditional", "the server knows Bob", NULL);

    g_assert_cmpstr (path, ==, "server");
  }

  dropped = send_until_dropped (&alice, &bob, evil, "hybrid", "server");
  blame = g_strdup_printf ("relay %s: it took message %s on and did not deliver it", evil_id, dropped);
  g_assert_true (plexus_test_node_wait_for_log (alice.node, blame, WAIT_MS));
  g_assert_cmpfloat (relay_reputation (&alice, evil_id), <, 1.0);
  /* The server, which delivered, is not blamed. */
  server_blame = g_strdup_printf ("relay %s: ", plexus_dbus_manager_get_peer_id (server->manager));
  g_assert_null (strstr (alice.node->log->str, server_blame));

  peer_clear (&alice);
  peer_clear (&bob);
  plexus_test_fixture_free (fixture);
}

static void
test_silent_relay_hybrid (void)
{
  silent_relay_hybrid ("drop");
}

static void
test_false_hold (void)
{
  silent_relay_hybrid ("hold");
}

/* The load: a server, three super peers and six standard peers;
 * messages between random pairs of standard peers in hybrid mode while
 * super peers are killed and restarted and the server is restarted once;
 * then in traditional mode with every super peer stopped, and in peer mode
 * with the server stopped. Every message is delivered, and given to the
 * recipient's application exactly once. PLEXUS_CHURN_MESSAGES sets how
 * many per mode (default 1000). */
#define CHURN_SUPERS 3
#define CHURN_PEERS 6
#define CHURN_IN_FLIGHT 16

typedef struct {
  Peer       *peers;
  guint       n;
  guint       sent;
  guint       done_before;   /* outcomes from earlier loads */
  GHashTable *ids;           /* this load's message IDs */
} Load;

static guint
outcomes_total (const Load *load)
{
  guint total = 0;

  for (guint i = 0; i < load->n; i++)
    total += g_hash_table_size (load->peers[i].outcomes);
  return total - load->done_before;
}

static gboolean
room_to_send (gconstpointer data)
{
  const Load *load = data;

  return load->sent - outcomes_total (load) < CHURN_IN_FLIGHT;
}

static gboolean
all_done (gconstpointer data)
{
  const Load *load = data;

  return outcomes_total (load) >= load->sent;
}

/* Every message of @load was given to some application: Received comes
 * on the recipient's bus, which the test may read after the sender's
 * Delivered. */
static gboolean
all_given (gconstpointer data)
{
  const Load *load = data;
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, load->ids);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    gboolean given = FALSE;

    for (guint i = 0; i < load->n && !given; i++)
      given = g_hash_table_contains (load->peers[i].received, key);
    if (!given)
      return FALSE;
  }
  return TRUE;
}

typedef void (*ChurnFunc) (guint sent, gpointer user_data);

/* Sends @total messages between random pairs of @peers in @mode, at most
 * CHURN_IN_FLIGHT at a time, calling @churn before each; then checks that
 * every one was delivered and given to its recipient's application once. */
static void
run_load (Peer *peers, guint n, const gchar *mode, guint total, GRand *rand, ChurnFunc churn, gpointer data)
{
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Load load = { peers, n, 0, 0, ids };
  guint delivered = 0, given = 0;
  GHashTableIter iter;
  gpointer key;

  load.done_before = outcomes_total (&load);
  while (load.sent < total) {
    guint from = (guint) g_rand_int_range (rand, 0, (gint32) n);
    guint to = (from + (guint) g_rand_int_range (rand, 1, (gint32) n)) % n;
    g_autofree gchar *text = g_strdup_printf ("%s message %u", mode, load.sent);
    g_autoptr(GError) error = NULL;
    gchar *id = NULL;

    if (churn != NULL)
      churn (load.sent, data);
    g_assert_true (plexus_test_wait_for (room_to_send, &load, WAIT_MS));
    if (!plexus_dbus_messaging_call_send_sync (peers[from].messaging, peers[to].peer_id,
                                               g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1),
                                               g_variant_new_parsed ("{'mode': <%s>}", mode), &id, NULL, &error))
      g_error ("%s message %u from %s refused: %s", mode, load.sent, peers[from].node->name, error->message);
    g_hash_table_add (ids, id);
    load.sent++;
  }
  g_assert_true (plexus_test_wait_for (all_done, &load, 4 * WAIT_MS));
  plexus_test_wait_for (all_given, &load, WAIT_MS);

  g_hash_table_iter_init (&iter, ids);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    guint copies = 0;

    for (guint i = 0; i < n; i++) {
      const gchar *outcome = g_hash_table_lookup (peers[i].outcomes, key);

      if (outcome != NULL && g_str_has_prefix (outcome, "failed: "))
        g_error ("%s message %s from %s failed: %s", mode, (const gchar *) key, peers[i].node->name, outcome);
      delivered += outcome != NULL;
      copies += GPOINTER_TO_UINT (g_hash_table_lookup (peers[i].received, key));
    }
    /* None lost, none given twice. */
    if (copies != 1)
      g_error ("%s message %s was given to applications %u times", mode, (const gchar *) key, copies);
    given += copies;
  }
  g_test_message ("%s: %u messages, %u delivered, %u given to applications", mode, total, delivered, given);
  g_assert_cmpuint (delivered, ==, total);
  g_assert_cmpuint (given, ==, total);
}

typedef struct {
  PlexusTestFixture *fixture;
  PlexusTestNode    *server;
  PlexusTestNode   **supers;
  gchar             *super_ids[CHURN_SUPERS];
  guint              total;
  guint              kills;
  gboolean           server_restarted;
} Churn;

/* Every 100 messages a super peer is killed and the one killed before
 * comes back; half way, the server restarts. */
static void
churn_step (guint sent, gpointer user_data)
{
  Churn *churn = user_data;
  g_autoptr(GError) error = NULL;

  if (sent > 0 && sent % 100 == 0) {
    PlexusTestNode *victim = churn->supers[churn->kills % CHURN_SUPERS];

    if (churn->kills > 0) {
      g_assert_true (plexus_test_node_restart (churn->fixture, churn->supers[(churn->kills - 1) % CHURN_SUPERS],
                                               &error));
      g_assert_no_error (error);
    }
    g_test_message ("%u sent: killing %s", sent, victim->name);
    g_subprocess_force_exit (victim->daemon);
    churn->kills++;
  }
  if (!churn->server_restarted && sent == churn->total / 2) {
    g_test_message ("%u sent: restarting the server", sent);
    g_subprocess_send_signal (churn->server->daemon, SIGTERM);
    g_assert_true (plexus_test_node_restart (churn->fixture, churn->server, &error));
    g_assert_no_error (error);
    churn->server_restarted = TRUE;
  }
}

/* The same load in traditional mode with every super peer stopped: the
 * server alone relays. */
static void
load_without_supers (Churn *churn, Peer *peers, GRand *rand)
{
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < CHURN_SUPERS; i++) {
    if (!churn->supers[i]->exited)
      g_subprocess_force_exit (churn->supers[i]->daemon);
    g_assert_true (plexus_test_node_wait_exit (churn->supers[i], WAIT_MS, &error));
    g_assert_no_error (error);
  }
  g_test_message ("every super peer stopped");
  for (guint i = 0; i < CHURN_PEERS; i++)
    assert_pings (churn->server, peers[i].peer_id, 1);
  run_load (peers, CHURN_PEERS, "traditional", churn->total, rand, NULL, NULL);
}

/* The same load in peer mode with the server stopped: the super peers come
 * back, link to each other and take the standard peers; then the server
 * goes, and super peers alone relay. */
static void
load_without_server (Churn *churn, Peer *peers, GRand *rand)
{
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < CHURN_SUPERS; i++) {
    g_assert_true (plexus_test_node_restart (churn->fixture, churn->supers[i], &error));
    g_assert_no_error (error);
  }
  wait_for_peer_paths (churn->supers, (const gchar * const *) churn->super_ids, CHURN_SUPERS, peers, CHURN_PEERS);
  g_assert_true (plexus_test_node_stop (churn->server, SIGTERM, WAIT_MS, &error));
  g_assert_no_error (error);
  g_test_message ("the server stopped");
  for (guint i = 0; i < CHURN_SUPERS; i++) {
    for (guint j = 0; j < CHURN_PEERS; j++)
      assert_pings (churn->supers[i], peers[j].peer_id, 2);
  }
  run_load (peers, CHURN_PEERS, "peer", churn->total, rand, NULL, NULL);
}

/* The load (see above): hybrid with churn, traditional without
 * super peers, peer without the server. */
static void
test_churn (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  const gchar *env = g_getenv ("PLEXUS_CHURN_MESSAGES");
  guint total = env != NULL ? (guint) g_ascii_strtoull (env, NULL, 10) : 1000;
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_test_rand_int ());
  PlexusTestNode *server;
  PlexusTestNode *supers[CHURN_SUPERS];
  Peer peers[CHURN_PEERS] = { { NULL, }, };
  Churn churn = { fixture, NULL, supers, { NULL, }, total, 0, FALSE };

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  churn.server = server;
  super_args[3] = peer_args[1] = plexus_dbus_manager_get_address (server->manager);
  for (guint i = 0; i < CHURN_SUPERS; i++) {
    supers[i] = plexus_test_fixture_add_node (fixture, super_args, &error);
    g_assert_no_error (error);
    churn.super_ids[i] = g_strdup (plexus_dbus_manager_get_peer_id (supers[i]->manager));
  }
  for (guint i = 0; i < CHURN_PEERS; i++) {
    peer_init (&peers[i], plexus_test_fixture_add_node (fixture, peer_args, &error));
    g_assert_no_error (error);
  }
  for (guint i = 0; i < CHURN_PEERS; i++) {
    ProvidersWait providers = { &peers[i], 1 + CHURN_SUPERS };

    g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  }

  run_load (peers, CHURN_PEERS, "hybrid", total, rand, churn_step, &churn);
  g_test_message ("%u super peer kills, server restarted: %d", churn.kills, churn.server_restarted);
  load_without_supers (&churn, peers, rand);
  load_without_server (&churn, peers, rand);

  for (guint i = 0; i < CHURN_SUPERS; i++)
    g_free (churn.super_ids[i]);

  for (guint i = 0; i < CHURN_PEERS; i++)
    peer_clear (&peers[i]);
  plexus_test_fixture_free (fixture);
}

/* GET /health on a node's address, as JSON. */
static JsonObject *
get_health (const gchar *address)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(GUri) base = g_uri_parse (address, G_URI_FLAGS_NONE, NULL);
  g_autofree gchar *url = NULL;
  g_autoptr(SoupMessage) message = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (base);
  url = g_strdup_printf ("http://%s:%d/health", g_uri_get_host (base), g_uri_get_port (base));
  message = soup_message_new ("GET", url);
  body = soup_session_send_and_read (session, message, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (message), ==, SOUP_STATUS_OK);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (message), NULL), ==,
                   "application/json");
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body),
                                             &error));
  g_assert_no_error (error);
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* Refusals: each a named error at once, or a Failed signal after the
 * documented deadline; the daemon carries on. */
static void
test_refusals (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  const gchar *nobody = NOBODY_PEER_ID;
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) bad_options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autofree gchar *big = g_malloc0 (16385);
  g_autofree gchar *id = NULL;
  g_autofree gchar *outcome = NULL;
  PlexusTestNode *server;
  Peer alice = { NULL, };
  ProvidersWait providers;
  OutcomeWait w;

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  peer_args[1] = plexus_dbus_manager_get_address (server->manager);
  peer_init (&alice, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);

  g_assert_false (plexus_dbus_messaging_call_send_sync (alice.messaging, "nobody",
                                                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1),
                                                        g_variant_new ("a{sv}", NULL), NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (plexus_dbus_messaging_call_send_sync (alice.messaging, alice.peer_id,
                                                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1),
                                                        g_variant_new ("a{sv}", NULL), NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (plexus_dbus_messaging_call_send_sync (alice.messaging, nobody,
                                                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, big, 16385, 1),
                                                        g_variant_new ("a{sv}", NULL), NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "16384"));
  g_clear_error (&error);
  g_variant_builder_add (&bad_options, "{sv}", "mode", g_variant_new_string ("carrier-pigeon"));
  g_assert_false (plexus_dbus_messaging_call_send_sync (alice.messaging, nobody,
                                                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1),
                                                        g_variant_builder_end (&bad_options), NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* No super peer: peer mode has no path at all. */
  g_assert_false (plexus_dbus_messaging_call_send_sync (alice.messaging, nobody,
                                                        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1),
                                                        g_variant_new_parsed ("{'mode': <'peer'>}"), NULL, NULL,
                                                        &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
  g_clear_error (&error);

  /* A peer nobody knows: the server says so, and the message fails after
   * its deadline with a reason. */
  providers = (ProvidersWait) { &alice, 1 };
  g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  g_assert_true (plexus_dbus_messaging_call_send_sync (alice.messaging, nobody,
                                                       g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "x", 1, 1),
                                                       g_variant_new ("a{sv}", NULL), &id, NULL, &error));
  g_assert_no_error (error);
  w = (OutcomeWait) { &alice, id };
  g_assert_true (plexus_test_wait_for (has_outcome, &w, WAIT_MS));
  outcome = g_strdup (g_hash_table_lookup (alice.outcomes, id));
  g_assert_true (g_str_has_prefix (outcome, "failed: org.plexus.Plexus1.Error.NotFound: "));
  g_assert_nonnull (strstr (alice.node->log->str, "not connected to this relay"));
  g_assert_cmpstr (plexus_dbus_manager_get_state (alice.node->manager), ==, "running");

  /* The server's health, for operators, over plain HTTP. */
  {
    g_autoptr(JsonObject) health = get_health (plexus_dbus_manager_get_address (server->manager));

    g_assert_cmpstr (json_object_get_string_member (health, "status"), ==, "ok");
    g_assert_cmpstr (json_object_get_string_member (health, "version"), ==, PACKAGE_VERSION);
    g_assert_cmpint (json_object_get_int_member (health, "connected_peers"), ==, 1);
    g_assert_cmpint (json_object_get_int_member (health, "uptime_s"), >=, 0);
  }

  peer_clear (&alice);
  plexus_test_fixture_free (fixture);
}

/* A standard peer attached to one super peer alone learns of what that
 * super peer advertises after the peer attached (its relay's signaling
 * service comes after the gossip plugin's first advertisement), and sends
 * through it in peer mode. */
/* How many PathFailed reasons of @peer contain @needle. */
static guint
count_path_failures (const Peer *peer, const gchar *needle)
{
  guint n = 0;

  for (guint i = 0; i < peer->path_failures->len; i++)
    n += strstr (g_ptr_array_index (peer->path_failures, i), needle) != NULL;
  return n;
}

static void
test_single_super (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autofree gchar *path = NULL;
  g_autofree gchar *id = NULL;
  PlexusTestNode *server, *super;
  Peer alice = { NULL, }, bob = { NULL, };

  start_one_super (fixture, NULL, &server, &super, &alice, &bob);
  path = send_and_wait (&alice, &bob, "peer", "through the only super peer", &id);
  g_assert_cmpstr (path, ==, "peer");
  {
    OutcomeWait once = { &bob, id };

    g_assert_true (plexus_test_wait_for (received_once, &once, WAIT_MS));
  }
  g_assert_cmpstr (bob.last_payload, ==, "through the only super peer");

  /* For a peer nobody knows, the super peer takes the message on, finds
   * no route and refuses it after all: the sender is told NotFound, not
   * TimedOut, and does not hold it against the relay. */
  {
    g_autofree gchar *nobody_path = NULL;

    nobody_path = send_and_wait (&alice, &(Peer) { .peer_id = (gchar *) NOBODY_PEER_ID }, "peer", "to nobody",
                                 NULL);
    g_assert_true (g_str_has_prefix (nobody_path, "failed: org.plexus.Plexus1.Error.NotFound: "));
    g_assert_cmpuint (count_path_failures (&alice, "could not be reached from this relay"), >=, 1);
  }

  peer_clear (&alice);
  peer_clear (&bob);
  plexus_test_fixture_free (fixture);
}

typedef struct {
  Peer  *peer;
  GPtrArray *ids;
} AllOutcomesWait;

static gboolean
has_all_outcomes (gconstpointer data)
{
  const AllOutcomesWait *w = data;

  for (guint i = 0; i < w->ids->len; i++) {
    if (!g_hash_table_contains (w->peer->outcomes, g_ptr_array_index (w->ids, i)))
      return FALSE;
  }
  return TRUE;
}

/* Received for each of the IDs: the recipient's bus may be read after the
 * sender's. */
static gboolean
has_all_receipts (gconstpointer data)
{
  const AllOutcomesWait *w = data;

  for (guint i = 0; i < w->ids->len; i++) {
    if (!g_hash_table_contains (w->peer->received, g_ptr_array_index (w->ids, i)))
      return FALSE;
  }
  return TRUE;
}

/* A flood: a sender far beyond the relay's rate limit is refused
 * `rate-limited` (PathFailed says so), its messages wait and go on as the
 * limit allows, and another sender through the same relay at the same
 * time sees no refusal; the flooder keeps its link. */
#define FLOOD_RATE 20
#define FLOOD_MESSAGES 100
#define FLOOD_OTHERS 10

static void
test_flood (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autofree gchar *config_path = g_build_filename (fixture->tmpdir, "server.conf", NULL);
  g_autofree gchar *config = g_strdup_printf ("[server-fallback]\nrate-limit=%d\nburst=%d\n", FLOOD_RATE, FLOOD_RATE);
  const gchar *server_args[] = { "--role", "server", "--config", config_path, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) flood_ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) other_ids = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *limit = g_strdup_printf ("limit of %d signals per second", FLOOD_RATE);
  PlexusTestNode *server;
  Peer alice = { NULL, }, bob = { NULL, }, carol = { NULL, };
  Peer *senders[] = { &alice, &carol };
  AllOutcomesWait w;

  g_assert_true (g_file_set_contents (config_path, config, -1, &error));
  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  peer_args[1] = plexus_dbus_manager_get_address (server->manager);
  peer_init (&alice, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);
  peer_init (&bob, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);
  peer_init (&carol, plexus_test_fixture_add_node (fixture, peer_args, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (senders); i++) {
    ProvidersWait providers = { senders[i], 1 };

    g_assert_true (plexus_test_wait_for (has_providers, &providers, WAIT_MS));
  }
  assert_pings (server, bob.peer_id, 1);

  for (guint i = 0; i < FLOOD_MESSAGES; i++) {
    Peer *from = i % (FLOOD_MESSAGES / FLOOD_OTHERS) == 0 ? &carol : &alice;
    g_autofree gchar *text = g_strdup_printf ("flood %u", i);
    gchar *id = NULL;

    if (!plexus_dbus_messaging_call_send_sync (from->messaging, bob.peer_id,
                                               g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, text, strlen (text), 1),
                                               g_variant_new_parsed ("{'mode': <'traditional'>}"), &id, NULL, &error))
      g_error ("message %u refused: %s", i, error->message);
    g_ptr_array_add (from == &carol ? other_ids : flood_ids, id);
  }
  w = (AllOutcomesWait) { &alice, flood_ids };
  g_assert_true (plexus_test_wait_for (has_all_outcomes, &w, WAIT_MS));
  w = (AllOutcomesWait) { &carol, other_ids };
  g_assert_true (plexus_test_wait_for (has_all_outcomes, &w, WAIT_MS));
  w = (AllOutcomesWait) { &bob, flood_ids };
  g_assert_true (plexus_test_wait_for (has_all_receipts, &w, WAIT_MS));
  w = (AllOutcomesWait) { &bob, other_ids };
  g_assert_true (plexus_test_wait_for (has_all_receipts, &w, WAIT_MS));

  /* The flooder was told, and its messages went on as the limit allowed:
   * each delivered, and given to Bob once. */
  g_test_message ("flooder: %u path failures, %u of them for the rate limit", alice.path_failures->len,
                  count_path_failures (&alice, limit));
  g_assert_cmpuint (count_path_failures (&alice, limit), >, 0);
  g_assert_true (plexus_test_node_wait_for_log (server, "faster than 20/s", WAIT_MS));
  for (guint i = 0; i < flood_ids->len; i++) {
    const gchar *id = g_ptr_array_index (flood_ids, i);

    g_assert_cmpstr (g_hash_table_lookup (alice.outcomes, id), ==, "server");
    g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (bob.received, id)), ==, 1);
  }
  /* The other sender saw nothing of it. */
  for (guint i = 0; i < carol.path_failures->len; i++)
    g_test_message ("other sender's path failure: %s", (const gchar *) g_ptr_array_index (carol.path_failures, i));
  g_assert_cmpuint (carol.path_failures->len, ==, 0);
  for (guint i = 0; i < other_ids->len; i++) {
    const gchar *id = g_ptr_array_index (other_ids, i);

    g_assert_cmpstr (g_hash_table_lookup (carol.outcomes, id), ==, "server");
    g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (bob.received, id)), ==, 1);
  }
  /* Refusing is not disconnecting. */
  assert_pings (server, alice.peer_id, 1);
  g_assert_cmpstr (plexus_dbus_manager_get_state (server->manager), ==, "running");

  peer_clear (&alice);
  peer_clear (&bob);
  peer_clear (&carol);
  plexus_test_fixture_free (fixture);
}

/* The server as a system service runs without a bus: its readiness is its
 * address in the log, its health is GET /health, and SIGTERM ends it. */
static void
test_server_without_bus (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *args[] = { "--role", "server", "--bus", "none", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GRegex) regex = g_regex_new ("listening on (ws://[^ \n]+)", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree gchar *address = NULL;
  PlexusTestNode *server;

  server = plexus_test_fixture_spawn_node (fixture, args, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_for_log (server, "listening on ws://", fixture->timeout_ms));
  g_assert_true (g_regex_match (regex, server->log->str, 0, &match));
  address = g_match_info_fetch (match, 1);
  {
    g_autoptr(JsonObject) health = get_health (address);

    g_assert_cmpstr (json_object_get_string_member (health, "status"), ==, "ok");
    g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (health, "roles"), 1), ==, "server");
    g_assert_cmpint (json_object_get_int_member (health, "connected_peers"), ==, 0);
  }
  g_assert_true (plexus_test_node_stop (server, SIGTERM, fixture->timeout_ms, &error));
  g_assert_no_error (error);
  g_assert_cmpint (server->exit_status, ==, 0);
  plexus_test_fixture_free (fixture);
}

int
main (int argc, char **argv)
{
  const gchar *gossip_dir = g_getenv ("PLEXUS_GOSSIP_PLUGIN_DIR");
  const gchar *relay_dir = g_getenv ("PLEXUS_RELAY_PLUGIN_DIR");
  const gchar *evil_dir = g_getenv ("PLEXUS_EVIL_RELAY_PLUGIN_DIR");
  g_autofree gchar *path = NULL;

  g_test_init (&argc, &argv, NULL);
  (void) plexus_error_quark ();
  if (gossip_dir == NULL || relay_dir == NULL || evil_dir == NULL) {
    g_printerr ("set PLEXUS_GOSSIP_PLUGIN_DIR, PLEXUS_RELAY_PLUGIN_DIR and PLEXUS_EVIL_RELAY_PLUGIN_DIR\n");
    return 1;
  }
  path = g_strjoin (G_SEARCHPATH_SEPARATOR_S, gossip_dir, relay_dir, evil_dir, NULL);
  g_setenv ("PLEXUS_PLUGIN_PATH", path, TRUE);
  g_test_add_func ("/plexus/signaling/paths", test_paths);
  g_test_add_func ("/plexus/signaling/refusals", test_refusals);
  g_test_add_func ("/plexus/signaling/server-without-bus", test_server_without_bus);
  g_test_add_func ("/plexus/signaling/hostile-relay", test_hostile_relay);
  g_test_add_func ("/plexus/signaling/silent-relay", test_silent_relay);
  g_test_add_func ("/plexus/signaling/silent-relay-hybrid", test_silent_relay_hybrid);
  g_test_add_func ("/plexus/signaling/false-hold", test_false_hold);
  g_test_add_func ("/plexus/signaling/flood", test_flood);
  g_test_add_func ("/plexus/signaling/single-super", test_single_super);
  g_test_add_func ("/plexus/signaling/churn", test_churn);
  return g_test_run ();
}
