/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "plexus.h"
#include "plexus-test-fixture.h"

/* Node links between real plexusd processes: a server and the peers that
 * dial it, what each shows on D-Bus and in plexusctl, a server that dies,
 * and a bootstrap URI naming the wrong peer. */

#define PEERS_PATH "/org/plexus/Plexus1/Peers/"

/* The shortest delay plexusd may pick for retry @n (1-based): the
 * doubling backoff less its jitter (core/plexus-node.h). */
#define PLEXUS_TEST_BACKOFF_MIN(n) ((gdouble) (1u << ((n) - 1)) * (1.0 - 0.2))

static GDBusObjectManager *
object_manager_new (PlexusTestNode *node)
{
  g_autoptr(GError) error = NULL;
  GDBusObjectManager *manager;

  manager = plexus_dbus_object_manager_client_new_sync (node->connection,
                                                        G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                        "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                        NULL, &error);
  g_assert_no_error (error);
  return manager;
}

static guint
count_peers (GDBusObjectManager *manager)
{
  g_autolist(GDBusObject) objects = g_dbus_object_manager_get_objects (manager);
  guint n = 0;

  for (GList *l = objects; l != NULL; l = l->next) {
    g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface (l->data, "org.plexus.Plexus1.Peer");

    if (iface != NULL)
      n++;
  }
  return n;
}

static gboolean
has_peer (GDBusObjectManager *manager, const gchar *peer_id)
{
  g_autofree gchar *path = g_strconcat (PEERS_PATH, peer_id, NULL);
  g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (manager, path,
                                                                         "org.plexus.Plexus1.Peer");

  return iface != NULL;
}

static gboolean
on_deadline (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* The object manager's signals are the events: the condition is checked
 * again whenever the main context has dispatched something. */
#define WAIT_UNTIL(timeout_ms, condition)                                   \
  G_STMT_START {                                                            \
    gboolean expired_ = FALSE;                                              \
    guint id_ = g_timeout_add (timeout_ms, on_deadline, &expired_);         \
    while (!(condition) && !expired_)                                       \
      g_main_context_iteration (NULL, TRUE);                                \
    if (!expired_)                                                          \
      g_source_remove (id_);                                                \
    if (!(condition))                                                       \
      g_error ("timed out after %u ms waiting for %s", (guint) (timeout_ms), #condition); \
  } G_STMT_END

static JsonArray *
ctl_peers (PlexusTestNode *node, JsonNode **root)
{
  const gchar *args[] = { "peers", NULL };

  *root = plexus_test_node_run_ctl_json (node, args);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (*root));
  return json_node_get_array (*root);
}

static void
assert_peer_entry (JsonObject *peer, const gchar *direction)
{
  JsonArray *roles = json_object_get_array_member (peer, "roles");

  g_assert_true (plexus_peer_id_is_valid (json_object_get_string_member (peer, "peer_id")));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (peer, "address"), "127.0.0.1:"));
  g_assert_cmpstr (json_object_get_string_member (peer, "state"), ==, "alive");
  g_assert_cmpstr (json_object_get_string_member (peer, "direction"), ==, direction);
  g_assert_nonnull (roles);
  g_assert_cmpuint (json_array_get_length (roles), ==, 0);
  g_assert_true (json_object_has_member (peer, "rtt_ms"));
  g_assert_cmpint (json_object_get_int_member (peer, "bytes_in"), >=, 0);
  g_assert_cmpint (json_object_get_int_member (peer, "bytes_out"), >=, 0);
  /* made during this test, not at the epoch */
  g_assert_cmpint (json_object_get_int_member (peer, "since"), >, g_get_real_time () - 600 * G_USEC_PER_SEC);
  g_assert_cmpint (json_object_get_int_member (peer, "since"), <=, g_get_real_time ());
}

static void
test_server_and_peers (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  const gchar *human_args[] = { "peers", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) server_om = NULL;
  GDBusObjectManager *peer_oms[3] = { NULL, };
  PlexusTestNode *server;
  PlexusTestNode *peers[3];
  g_autoptr(JsonNode) server_root = NULL;
  JsonArray *server_list;
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gchar *human = NULL;
  g_autofree gchar *needle = NULL;
  g_autofree gchar *server_id = NULL;
  g_autofree gchar *server_address = NULL;
  gint status = -1;

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  /* Copies: the proxy forgets its properties when the server dies. */
  server_id = plexus_dbus_manager_dup_peer_id (server->manager);
  server_address = plexus_dbus_manager_dup_address (server->manager);
  g_assert_true (g_str_has_prefix (server_address, "ws://127.0.0.1:"));
  server_om = object_manager_new (server);
  peer_args[1] = server_address;
  for (guint i = 0; i < 3; i++) {
    peers[i] = plexus_test_fixture_add_node (fixture, peer_args, &error);
    g_assert_no_error (error);
    peer_oms[i] = object_manager_new (peers[i]);
  }

  /* Every peer shows the server, and the server shows all three. */
  WAIT_UNTIL (fixture->timeout_ms, count_peers (server_om) == 3);
  for (guint i = 0; i < 3; i++) {
    g_autoptr(JsonNode) root = NULL;
    JsonArray *list;
    JsonObject *entry;

    WAIT_UNTIL (fixture->timeout_ms, has_peer (peer_oms[i], server_id));
    g_assert_true (has_peer (server_om, plexus_dbus_manager_get_peer_id (peers[i]->manager)));
    list = ctl_peers (peers[i], &root);
    g_assert_cmpuint (json_array_get_length (list), ==, 1);
    entry = json_array_get_object_element (list, 0);
    g_assert_cmpstr (json_object_get_string_member (entry, "peer_id"), ==, server_id);
    assert_peer_entry (entry, "outbound");
    /* the port the server listens on */
    g_assert_true (g_str_has_prefix (server_address + strlen ("ws://"),
                                     json_object_get_string_member (entry, "address")));
  }

  server_list = ctl_peers (server, &server_root);
  g_assert_cmpuint (json_array_get_length (server_list), ==, 3);
  for (guint i = 0; i < 3; i++) {
    JsonObject *entry = json_array_get_object_element (server_list, i);

    assert_peer_entry (entry, "inbound");
    g_hash_table_add (listed, (gpointer) json_object_get_string_member (entry, "peer_id"));
  }
  for (guint i = 0; i < 3; i++)
    g_assert_true (g_hash_table_contains (listed, plexus_dbus_manager_get_peer_id (peers[i]->manager)));

  human = plexus_test_node_run_ctl (server, human_args, &status, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  g_assert_nonnull (strstr (human, "PEER"));
  g_assert_nonnull (strstr (human, "inbound"));
  g_assert_nonnull (strstr (human, "alive"));

  /* The server dies without a word: the peers drop it and dial again. */
  g_subprocess_force_exit (server->daemon);
  g_assert_true (plexus_test_node_wait_exit (server, fixture->timeout_ms, &error));
  g_assert_no_error (error);
  needle = g_strdup_printf ("reconnecting to %s in ", server_address);
  for (guint i = 0; i < 3; i++) {
    g_autoptr(JsonNode) root = NULL;

    WAIT_UNTIL (fixture->timeout_ms, !has_peer (peer_oms[i], server_id));
    g_assert_true (plexus_test_node_wait_for_log (peers[i], needle, fixture->timeout_ms));
    g_assert_cmpuint (json_array_get_length (ctl_peers (peers[i], &root)), ==, 0);
  }

  for (guint i = 0; i < 3; i++)
    g_object_unref (peer_oms[i]);
  plexus_test_fixture_free (fixture);
}

static JsonObject *
ctl_ping (PlexusTestNode *node, const gchar *peer_id, JsonNode **root)
{
  const gchar *args[] = { "ping", peer_id, NULL };

  *root = plexus_test_node_run_ctl_json (node, args);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (*root));
  return json_node_get_object (*root);
}

/* The delay of the @attempt-th "reconnecting to @uri in D s (attempt N)"
 * line of @node's log, or -1 if there is none yet. */
static gdouble
reconnect_delay (PlexusTestNode *node, const gchar *uri, guint attempt)
{
  g_autofree gchar *prefix = g_strdup_printf ("reconnecting to %s in ", uri);
  g_autofree gchar *suffix = g_strdup_printf (" s (attempt %u)", attempt);
  const gchar *at = node->log->str;

  while ((at = strstr (at, prefix)) != NULL) {
    const gchar *number = at + strlen (prefix);
    gchar *end = NULL;
    gdouble delay = g_ascii_strtod (number, &end);

    if (end != number && g_str_has_prefix (end, suffix))
      return delay;
    at = number;
  }
  return -1;
}

static void
on_peer_unlinked (PlexusDBusManager *manager, const gchar *peer_id, gint code, const gchar *reason,
                  gpointer user_data)
{
  g_ptr_array_add (user_data, g_strdup (peer_id));
}

static gboolean
strv_has (GPtrArray *array, const gchar *s)
{
  return g_ptr_array_find_with_equal_func (array, s, g_str_equal, NULL);
}

/* A server S and a bootstrap peer B; peers P and Q join through B's
 * address (and S, their server), so they are linked to both but not to
 * each other. P pings Q across two hops. S is killed: P and Q say so on
 * D-Bus, dial it again with growing delays, and still reach each other
 * through B. */
static void
test_route_and_kill_middle (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *bootstrap_args[] = { "--role", "bootstrap", "--server", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, "--bootstrap", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) unlinked = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDBusObjectManager) server_om = NULL;
  GDBusObjectManager *oms[2] = { NULL, };
  PlexusTestNode *server;
  PlexusTestNode *bootstrap;
  PlexusTestNode *peers[2];
  g_autofree gchar *server_id = NULL;
  g_autofree gchar *server_address = NULL;
  g_autofree gchar *bootstrap_id = NULL;
  const gchar *q_id;
  g_autoptr(JsonNode) root = NULL;
  JsonObject *pong;
  g_autoptr(GVariant) reply = NULL;
  const gchar *answer;
  const gchar *from;
  gdouble first, second;

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  server_id = plexus_dbus_manager_dup_peer_id (server->manager);
  server_address = plexus_dbus_manager_dup_address (server->manager);
  server_om = object_manager_new (server);
  bootstrap_args[3] = server_address;
  bootstrap = plexus_test_fixture_add_node (fixture, bootstrap_args, &error);
  g_assert_no_error (error);
  bootstrap_id = plexus_dbus_manager_dup_peer_id (bootstrap->manager);
  peer_args[1] = server_address;
  peer_args[3] = plexus_dbus_manager_get_address (bootstrap->manager);
  for (guint i = 0; i < 2; i++) {
    peers[i] = plexus_test_fixture_add_node (fixture, peer_args, &error);
    g_assert_no_error (error);
    oms[i] = object_manager_new (peers[i]);
  }
  g_signal_connect (peers[0]->manager, "peer-unlinked", G_CALLBACK (on_peer_unlinked), unlinked);
  q_id = plexus_dbus_manager_get_peer_id (peers[1]->manager);

  WAIT_UNTIL (fixture->timeout_ms, count_peers (server_om) == 3);
  for (guint i = 0; i < 2; i++) {
    WAIT_UNTIL (fixture->timeout_ms, has_peer (oms[i], server_id) && has_peer (oms[i], bootstrap_id));
    g_assert_cmpuint (count_peers (oms[i]), ==, 2);
  }

  /* P to Q: not linked, so through S or B. */
  pong = ctl_ping (peers[0], q_id, &root);
  g_assert_cmpstr (json_object_get_string_member (pong, "peer_id"), ==, q_id);
  g_assert_cmpint (json_object_get_int_member (pong, "hops"), ==, 2);
  g_assert_cmpfloat (json_object_get_double_member (pong, "rtt_ms"), >, 0);
  g_clear_pointer (&root, json_node_unref);

  /* A plugin's own message type takes the same way (tests/plugins/echo.c). */
  reply = g_dbus_connection_call_sync (peers[0]->connection, "org.plexus.Plexus1", "/org/plexus/Test/Echo",
                                       "org.plexus.Test.Echo", "Say", g_variant_new ("(ss)", q_id, "hello"),
                                       G_VARIANT_TYPE ("(ss)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(&s&s)", &answer, &from);
  g_assert_cmpstr (answer, ==, "heard: hello");
  g_assert_cmpstr (from, ==, q_id);

  g_subprocess_force_exit (server->daemon);
  g_assert_true (plexus_test_node_wait_exit (server, fixture->timeout_ms, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    WAIT_UNTIL (fixture->timeout_ms, !has_peer (oms[i], server_id));
  WAIT_UNTIL (fixture->timeout_ms, strv_has (unlinked, server_id));
  g_assert_false (strv_has (unlinked, bootstrap_id));

  /* Backoff: the second retry waits longer than the first, jitter and all. */
  WAIT_UNTIL (fixture->timeout_ms, reconnect_delay (peers[0], server_address, 2) > 0);
  first = reconnect_delay (peers[0], server_address, 1);
  second = reconnect_delay (peers[0], server_address, 2);
  g_assert_cmpfloat (first, >=, PLEXUS_TEST_BACKOFF_MIN (1));
  g_assert_cmpfloat (second, >, first);

  /* What remains still carries P's ping to Q. */
  pong = ctl_ping (peers[0], q_id, &root);
  g_assert_cmpint (json_object_get_int_member (pong, "hops"), ==, 2);
  g_assert_true (has_peer (oms[0], bootstrap_id));
  g_assert_cmpuint (count_peers (oms[0]), ==, 1);

  for (guint i = 0; i < 2; i++)
    g_object_unref (oms[i]);
  plexus_test_fixture_free (fixture);
}

/* A bootstrap URI whose fragment names another peer than the one that
 * answers: the link is refused, said so, and never listed. */
static void
test_wrong_peer_id (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) server_om = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *wrong_id = NULL;
  g_autofree gchar *uri = NULL;
  const gchar *args[] = { "--bootstrap", NULL, NULL };
  PlexusTestNode *server;
  PlexusTestNode *node;

  server = plexus_test_fixture_add_node (fixture, NULL, &error);
  g_assert_no_error (error);
  server_om = object_manager_new (server);
  /* The server's ID with its last digit changed: well-formed, but not it. */
  wrong_id = g_strdup (plexus_dbus_manager_get_peer_id (server->manager));
  wrong_id[strlen (wrong_id) - 1] = wrong_id[strlen (wrong_id) - 1] == '0' ? '1' : '0';
  g_assert_true (plexus_peer_id_is_valid (wrong_id));
  uri = g_strconcat (plexus_dbus_manager_get_address (server->manager), "#", wrong_id, NULL);
  args[1] = uri;

  node = plexus_test_fixture_add_node (fixture, args, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_for_log (node, "peer ID mismatch", fixture->timeout_ms));
  g_assert_nonnull (strstr (node->log->str, wrong_id));
  g_assert_cmpuint (json_array_get_length (ctl_peers (node, &root)), ==, 0);
  g_assert_cmpuint (count_peers (server_om), ==, 0);
  plexus_test_fixture_free (fixture);
}

/* A port nothing listens on right now, for daemons that must know each
 * other's address before they start. */
static guint16
free_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static gboolean
peer_has_direction (GDBusObjectManager *manager, const gchar *peer_id, const gchar *direction)
{
  g_autofree gchar *path = g_strconcat (PEERS_PATH, peer_id, NULL);
  g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (manager, path,
                                                                         "org.plexus.Plexus1.Peer");

  return iface != NULL && g_strcmp0 (plexus_dbus_peer_get_direction (PLEXUS_DBUS_PEER (iface)), direction) == 0;
}

/* Two nodes that dial each other end up with one link, the same one on
 * both sides: the one the node with the smaller peer ID dialed. */
static void
test_mutual_dial (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  guint16 port_a = free_port ();
  guint16 port_b = free_port ();
  g_autofree gchar *listen_a = g_strdup_printf ("127.0.0.1:%u", port_a);
  g_autofree gchar *listen_b = g_strdup_printf ("127.0.0.1:%u", port_b);
  g_autofree gchar *uri_a = g_strdup_printf ("ws://127.0.0.1:%u/", port_a);
  g_autofree gchar *uri_b = g_strdup_printf ("ws://127.0.0.1:%u/", port_b);
  const gchar *args_a[] = { "--listen", listen_a, "--bootstrap", uri_b, NULL };
  const gchar *args_b[] = { "--listen", listen_b, "--bootstrap", uri_a, NULL };
  g_autoptr(GDBusObjectManager) om_a = NULL;
  g_autoptr(GDBusObjectManager) om_b = NULL;
  PlexusTestNode *a;
  PlexusTestNode *b;
  const gchar *id_a;
  const gchar *id_b;
  gboolean a_dials;

  g_assert_cmpuint (port_a, !=, port_b);
  /* A cannot reach B yet and retries; B links to A at once. A's retry
   * makes the second link. */
  a = plexus_test_fixture_add_node (fixture, args_a, &error);
  g_assert_no_error (error);
  b = plexus_test_fixture_add_node (fixture, args_b, &error);
  g_assert_no_error (error);
  om_a = object_manager_new (a);
  om_b = object_manager_new (b);
  id_a = plexus_dbus_manager_get_peer_id (a->manager);
  id_b = plexus_dbus_manager_get_peer_id (b->manager);
  a_dials = strcmp (id_a, id_b) < 0;

  g_assert_true (plexus_test_node_wait_for_log (a, "duplicate link to the same peer", fixture->timeout_ms));
  WAIT_UNTIL (fixture->timeout_ms,
              peer_has_direction (om_a, id_b, a_dials ? "outbound" : "inbound") &&
              peer_has_direction (om_b, id_a, a_dials ? "inbound" : "outbound"));
  g_assert_cmpuint (count_peers (om_a), ==, 1);
  g_assert_cmpuint (count_peers (om_b), ==, 1);
  plexus_test_fixture_free (fixture);
}

/* A bootstrap list naming this node itself: the link is dropped, never
 * listed, and the address not dialed again. */
static void
test_self_dial (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GError) error = NULL;
  guint16 port = free_port ();
  g_autofree gchar *listen = g_strdup_printf ("127.0.0.1:%u", port);
  g_autofree gchar *uri = g_strdup_printf ("ws://127.0.0.1:%u/", port);
  const gchar *args[] = { "--listen", listen, "--bootstrap", uri, NULL };
  g_autoptr(JsonNode) root = NULL;
  PlexusTestNode *node;

  node = plexus_test_fixture_add_node (fixture, args, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_test_node_wait_for_log (node, "it is this node's own address", fixture->timeout_ms));
  g_assert_cmpuint (json_array_get_length (ctl_peers (node, &root)), ==, 0);
  g_assert_null (strstr (node->log->str, "reconnecting to"));
  plexus_test_fixture_free (fixture);
}

int
main (int argc, char **argv)
{
  const gchar *plugin_dir = g_getenv ("PLEXUS_TEST_PLUGIN_DIR");

  g_test_init (&argc, &argv, NULL);
  if (plugin_dir != NULL)
    g_setenv ("PLEXUS_PLUGIN_PATH", plugin_dir, TRUE);

  g_test_add_func ("/plexus/links/server-and-peers", test_server_and_peers);
  g_test_add_func ("/plexus/links/route-and-kill-middle", test_route_and_kill_middle);
  g_test_add_func ("/plexus/links/wrong-peer-id", test_wrong_peer_id);
  g_test_add_func ("/plexus/links/mutual-dial", test_mutual_dial);
  g_test_add_func ("/plexus/links/self-dial", test_self_dial);
  return g_test_run ();
}
