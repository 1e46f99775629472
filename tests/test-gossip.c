/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "plexus.h"
#include "plexus-node.h"
#include "plexus-swim-message.h"
#include "plexus-test-fixture.h"

/* The gossip plugin in real processes: a server and three super peers
 * form the membership group over node links (the supers dial only the
 * server, learn of each other through it, then link to each other),
 * advertise their capabilities to each other, and judge each other alive,
 * suspect or dead.
 * Membership timers are the plugin's defaults (1 s probes, a suspicion
 * timeout of at least 4 s). */

#define N_SUPERS 3
#define UNKNOWN_PEER "b0743156505b173489e76788e22ff3428f932c4e90e1169cd558c567cae8d862"
/* Detection takes a suspicion timeout (4 to 24 s here) after the probes
 * fail: a deadline well beyond that, and beyond the fixture's default. */
#define DETECTION_TIMEOUT_MS 90000

typedef struct {
  PlexusTestNode     *node;
  GDBusObjectManager *om;
  gchar              *peer_id;
} Member;

static PlexusDBusPeer *
peer_of (Member *observer, const gchar *peer_id)
{
  g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", peer_id, NULL);
  GDBusInterface *iface = g_dbus_object_manager_get_interface (observer->om, path, "org.plexus.Plexus1.Peer");

  return iface != NULL ? PLEXUS_DBUS_PEER (iface) : NULL;
}

typedef struct {
  Member      *members;
  guint        n;
  const gchar *peer_id;     /* the member observed */
  const gchar *state;       /* the state every other live member must show */
  gboolean     want_roles;  /* and an advertisement with roles */
  gint64       asked_at;    /* when the daemons were last asked directly */
} Expectation;

/* Whether the daemon on @connection itself (not a client's cache) shows
 * @peer_id in @state (any state if NULL), with roles if @want_roles. */
static gboolean
daemon_shows (GDBusConnection *connection, const gchar *peer_id, const gchar *state, gboolean want_roles)
{
  g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", peer_id, NULL);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) props = NULL;
  const gchar *shown = NULL;
  g_autofree const gchar **roles = NULL;

  reply = g_dbus_connection_call_sync (connection, "org.plexus.Plexus1", path,
                                       "org.freedesktop.DBus.Properties", "GetAll",
                                       g_variant_new ("(s)", "org.plexus.Plexus1.Peer"), G_VARIANT_TYPE ("(a{sv})"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply == NULL)
    return FALSE;
  props = g_variant_get_child_value (reply, 0);
  if (!g_variant_lookup (props, "State", "&s", &shown) || (state != NULL && g_strcmp0 (shown, state) != 0))
    return FALSE;
  return !want_roles || (g_variant_lookup (props, "Roles", "^a&s", &roles) && roles[0] != NULL);
}

static gboolean
everyone_sees (gconstpointer data)
{
  /* Cast away: only the time of the last direct question changes. */
  Expectation *e = (Expectation *) data;
  gboolean ask = g_get_monotonic_time () - e->asked_at >= G_USEC_PER_SEC;

  for (guint i = 0; i < e->n; i++) {
    g_autoptr(PlexusDBusPeer) peer = NULL;
    gboolean cached;

    if (e->members[i].node->exited || g_strcmp0 (e->members[i].peer_id, e->peer_id) == 0)
      continue;
    peer = peer_of (&e->members[i], e->peer_id);
    cached = peer != NULL && g_strcmp0 (plexus_dbus_peer_get_state (peer), e->state) == 0 &&
             (!e->want_roles || (plexus_dbus_peer_get_roles (peer) != NULL && plexus_dbus_peer_get_roles (peer)[0] != NULL));
    /* The object manager client's cache can miss a change made while it
     * was starting; once a second, what the daemon itself says decides. */
    if (!cached && !(ask && daemon_shows (e->members[i].node->connection, e->peer_id, e->state, e->want_roles))) {
      if (ask)
        e->asked_at = g_get_monotonic_time ();
      return FALSE;
    }
  }
  return TRUE;
}

static void
wait_everyone_sees (Member *members, guint n, const gchar *peer_id, const gchar *state, gboolean want_roles)
{
  Expectation e = { members, n, peer_id, state, want_roles, 0 };

  if (plexus_test_wait_for (everyone_sees, &e, DETECTION_TIMEOUT_MS))
    return;
  /* Who saw what, for whoever reads the failure. */
  for (guint i = 0; i < n; i++) {
    g_autoptr(PlexusDBusPeer) peer = NULL;

    if (members[i].node->exited || g_strcmp0 (members[i].peer_id, peer_id) == 0)
      continue;
    peer = peer_of (&members[i], peer_id);
    g_printerr ("# %s sees it as %s, roles %s\n", members[i].node->name,
                peer != NULL ? plexus_dbus_peer_get_state (peer) : "(unknown)",
                peer != NULL && plexus_dbus_peer_get_roles (peer) != NULL && plexus_dbus_peer_get_roles (peer)[0] != NULL
                ? "advertised" : "unknown");
  }
  g_error ("timed out waiting for every member to see %s as %s", peer_id, state);
}

typedef struct {
  Member      *observer;
  const gchar *peer_id;
} LinkWait;

static gboolean
is_linked_to (gconstpointer data)
{
  const LinkWait *w = data;
  g_autoptr(PlexusDBusPeer) peer = peer_of (w->observer, w->peer_id);

  return peer != NULL && plexus_dbus_peer_get_linked (peer);
}

/* How many providers of membership @observer's broker knows, and whether
 * @peer_id is one. */
static guint
membership_providers (Member *observer, const gchar *peer_id, gboolean *has_peer)
{
  g_autoptr(GVariant) providers = NULL;
  GVariantIter iter;
  GVariant *dict;

  *has_peer = FALSE;
  if (!plexus_dbus_broker_call_list_providers_sync (observer->node->broker, "membership", &providers, NULL, NULL))
    return 0;
  g_variant_iter_init (&iter, providers);
  while ((dict = g_variant_iter_next_value (&iter)) != NULL) {
    const gchar *id = NULL;

    g_variant_lookup (dict, "peer_id", "&s", &id);
    *has_peer |= g_strcmp0 (id, peer_id) == 0;
    g_variant_unref (dict);
  }
  return (guint) g_variant_n_children (providers);
}

typedef struct {
  Member      *observer;
  const gchar *peer_id;
  gboolean     present;
} ProviderWait;

static gboolean
provider_is (gconstpointer data)
{
  const ProviderWait *w = data;
  gboolean has_peer;

  membership_providers (w->observer, w->peer_id, &has_peer);
  return has_peer == w->present;
}

static void
test_group (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  const gchar *peers_args[] = { "peers", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *dead_line = NULL;
  Member members[1 + N_SUPERS] = { { NULL, }, };
  JsonArray *list;
  guint n = G_N_ELEMENTS (members);
  Member *killed = &members[1];
  Member *paused = &members[2];

  members[0].node = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  super_args[3] = plexus_dbus_manager_get_address (members[0].node->manager);
  for (guint i = 1; i < n; i++) {
    members[i].node = plexus_test_fixture_add_node (fixture, super_args, &error);
    g_assert_no_error (error);
  }
  for (guint i = 0; i < n; i++) {
    members[i].peer_id = plexus_dbus_manager_dup_peer_id (members[i].node->manager);
    members[i].om = plexus_dbus_object_manager_client_new_sync (members[i].node->connection,
                                                                G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                                "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                                NULL, &error);
    g_assert_no_error (error);
  }

  /* Everyone knows everyone, with what each advertised. */
  for (guint i = 0; i < n; i++)
    wait_everyone_sees (members, n, members[i].peer_id, "alive", TRUE);
  /* Super peers learnt of each other through the server, then linked to
   * each other. */
  for (guint i = 1; i < n; i++) {
    for (guint j = 1; j < n; j++) {
      LinkWait w = { &members[i], members[j].peer_id };

      if (i != j)
        g_assert_true (plexus_test_wait_for (is_linked_to, &w, DETECTION_TIMEOUT_MS));
    }
  }
  root = plexus_test_node_run_ctl_json (members[1].node, peers_args);
  list = json_node_get_array (root);
  g_assert_cmpuint (json_array_get_length (list), ==, n - 1);
  for (guint i = 0; i < json_array_get_length (list); i++) {
    JsonObject *entry = json_array_get_object_element (list, i);
    gboolean is_server = g_strcmp0 (json_object_get_string_member (entry, "peer_id"), members[0].peer_id) == 0;

    g_assert_cmpstr (json_object_get_string_member (entry, "state"), ==, "alive");
    g_assert_true (json_object_get_boolean_member (entry, "linked"));
    g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (entry, "roles"), 1), ==,
                     is_server ? "server" : "super");
  }

  /* Each one's advertisement fed the others' brokers. */
  {
    gboolean has_peer;

    g_assert_cmpuint (membership_providers (&members[3], killed->peer_id, &has_peer), ==, n - 1);
    g_assert_true (has_peer);
  }

  /* Paused for less than the suspicion timeout: suspected perhaps, but it
   * refutes, and nobody declares it dead. */
  g_subprocess_send_signal (paused->node->daemon, SIGSTOP);
  {
    gboolean never = FALSE;

    /* The length of the pause is the condition under test, so this one
     * wait is timed; the main loop runs meanwhile. */
    plexus_test_wait (&never, 1000);
  }
  g_subprocess_send_signal (paused->node->daemon, SIGCONT);
  wait_everyone_sees (members, n, paused->peer_id, "alive", FALSE);
  dead_line = g_strdup_printf ("member %s is dead", paused->peer_id);
  for (guint i = 0; i < n; i++)
    g_assert_null (strstr (members[i].node->log->str, dead_line));

  /* Killed without a word: every live member declares it dead. */
  g_subprocess_force_exit (killed->node->daemon);
  g_assert_true (plexus_test_node_wait_exit (killed->node, fixture->timeout_ms, &error));
  wait_everyone_sees (members, n, killed->peer_id, "dead", FALSE);
  {
    ProviderWait gone = { &members[3], killed->peer_id, FALSE };

    g_assert_true (plexus_test_wait_for (provider_is, &gone, fixture->timeout_ms));
  }
  /* The paused one never was. */
  for (guint i = 0; i < n; i++)
    g_assert_null (strstr (members[i].node->log->str, dead_line));

  for (guint i = 0; i < n; i++) {
    g_clear_object (&members[i].om);
    g_free (members[i].peer_id);
  }
  plexus_test_fixture_free (fixture);
}

typedef struct {
  PlexusTestNode *node;
  Member         *supers;
  guint           n_supers;
  const gchar    *not_this;   /* a super peer it must not be linked to, or NULL */
} Attachment;

/* How many of the super peers @node has a Peer object with a link for. */
static guint
count_linked_supers (const Attachment *a, GDBusObjectManager *om)
{
  guint linked = 0;

  for (guint i = 0; i < a->n_supers; i++) {
    g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", a->supers[i].peer_id, NULL);
    g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (om, path, "org.plexus.Plexus1.Peer");

    if (iface != NULL && plexus_dbus_peer_get_linked (PLEXUS_DBUS_PEER (iface))) {
      if (g_strcmp0 (a->supers[i].peer_id, a->not_this) == 0)
        return 0;
      linked++;
    }
  }
  return linked;
}

typedef struct {
  Attachment         *a;
  GDBusObjectManager *om;
} AttachWait;

static gboolean
attached_to_two (gconstpointer data)
{
  const AttachWait *w = data;

  return count_linked_supers (w->a, w->om) == 2;
}

/* The group (seen from @observer) locates the standard peer at exactly the
 * super peers it is linked to. */
typedef struct {
  AttachWait     *w;
  PlexusTestNode *observer;
  const gchar    *peer_id;
} LocateWait;

static gboolean
located_where_linked (gconstpointer data)
{
  const LocateWait *l = data;
  g_auto(GStrv) attached_to = NULL;
  g_autofree gchar *capabilities = NULL;
  guint matched = 0;

  if (!plexus_dbus_manager_call_locate_sync (l->observer->manager, l->peer_id, &attached_to, &capabilities,
                                             NULL, NULL))
    return FALSE;
  for (guint i = 0; i < l->w->a->n_supers; i++) {
    const gchar *super = l->w->a->supers[i].peer_id;
    g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", super, NULL);
    g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (l->w->om, path, "org.plexus.Plexus1.Peer");
    gboolean linked = iface != NULL && plexus_dbus_peer_get_linked (PLEXUS_DBUS_PEER (iface));

    if (linked != g_strv_contains ((const gchar * const *) attached_to, super))
      return FALSE;
    matched += linked;
  }
  return matched == 2 && g_strv_length (attached_to) == 2;
}

static gboolean
on_poll_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* plexus_test_wait_for() for a condition that asks a daemon itself from
 * time to time: a tick wakes the loop when no event would. */
static gboolean
wait_polling (PlexusTestCondition condition, gpointer data, guint timeout_ms)
{
  guint tick = g_timeout_add (250, on_poll_tick, NULL);
  gboolean met = plexus_test_wait_for (condition, data, timeout_ms);

  g_source_remove (tick);
  return met;
}

/* What a node's daemon shows of a member, with its roles: for a standard
 * peer, from its super peers' view. */
typedef struct {
  GDBusObjectManager *om;
  GDBusConnection    *connection;  /* to the same daemon */
  const gchar        *peer_id;
  const gchar        *state;       /* NULL: any */
  gint64              asked_at;    /* when the daemon was last asked directly */
} ViewWait;

static gboolean
cache_shows (GDBusObjectManager *om, const gchar *peer_id, const gchar *state)
{
  g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", peer_id, NULL);
  g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (om, path, "org.plexus.Plexus1.Peer");
  PlexusDBusPeer *peer = iface != NULL ? PLEXUS_DBUS_PEER (iface) : NULL;

  return peer != NULL && (state == NULL || g_strcmp0 (plexus_dbus_peer_get_state (peer), state) == 0) &&
         plexus_dbus_peer_get_roles (peer) != NULL && plexus_dbus_peer_get_roles (peer)[0] != NULL;
}

static gboolean
view_shows (gconstpointer data)
{
  /* Cast away: only the time of the last direct question changes. */
  ViewWait *v = (ViewWait *) data;

  if (cache_shows (v->om, v->peer_id, v->state))
    return TRUE;
  /* As for the group (everyone_sees()): the object manager client's cache
   * can miss a change, so once a second the daemon's own answer decides. */
  if (g_get_monotonic_time () - v->asked_at < G_USEC_PER_SEC)
    return FALSE;
  if (daemon_shows (v->connection, v->peer_id, v->state, TRUE))
    return TRUE;
  v->asked_at = g_get_monotonic_time ();
  return FALSE;
}

/* Waits until the daemon behind @om and @connection shows @peer_id in
 * @state (any if NULL) with its roles; says what it shows if it never does. */
static void
wait_view_shows (GDBusObjectManager *om, GDBusConnection *connection, const gchar *peer_id, const gchar *state,
                 guint timeout_ms)
{
  ViewWait v = { om, connection, peer_id, state, 0 };
  g_autofree gchar *path = NULL;
  g_autoptr(GDBusInterface) iface = NULL;
  g_autoptr(GVariant) reply = NULL;

  if (wait_polling (view_shows, &v, timeout_ms))
    return;
  path = g_strconcat ("/org/plexus/Plexus1/Peers/", peer_id, NULL);
  iface = g_dbus_object_manager_get_interface (om, path, "org.plexus.Plexus1.Peer");
  reply = g_dbus_connection_call_sync (connection, "org.plexus.Plexus1", path, "org.freedesktop.DBus.Properties",
                                       "GetAll", g_variant_new ("(s)", "org.plexus.Plexus1.Peer"),
                                       G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  g_printerr ("# the client's cache shows it as %s, roles %s; the daemon says %s\n",
              iface != NULL ? plexus_dbus_peer_get_state (PLEXUS_DBUS_PEER (iface)) : "(unknown)",
              iface != NULL && plexus_dbus_peer_get_roles (PLEXUS_DBUS_PEER (iface)) != NULL &&
              plexus_dbus_peer_get_roles (PLEXUS_DBUS_PEER (iface))[0] != NULL ? "advertised" : "unknown",
              reply != NULL ? g_variant_print (reply, FALSE) : "nothing");
  g_error ("timed out waiting for a node to show %s as %s, with its roles", peer_id, state != NULL ? state : "known");
}

/* Standard peers attach to two super peers (found through the server) and,
 * when one dies, attach to another. The group can tell where each is
 * attached, and a standard peer sees the group's members through its
 * super peers. */
static void
test_attach (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) om = NULL;
  Member supers[N_SUPERS] = { { NULL, }, };
  PlexusTestNode *server;
  PlexusTestNode *peer;
  Attachment a = { NULL, supers, N_SUPERS, NULL };
  AttachWait w = { &a, NULL };
  Member *victim = NULL;
  g_autofree gchar *gone_line = NULL;
  g_autofree gchar *peer_id = NULL;
  LocateWait l;

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  super_args[3] = plexus_dbus_manager_get_address (server->manager);
  peer_args[1] = super_args[3];
  /* The peer comes first: the server knows no super peer yet, and the
   * peer asks again until it does. */
  peer = plexus_test_fixture_add_node (fixture, peer_args, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_SUPERS; i++) {
    supers[i].node = plexus_test_fixture_add_node (fixture, super_args, &error);
    g_assert_no_error (error);
    supers[i].peer_id = plexus_dbus_manager_dup_peer_id (supers[i].node->manager);
  }
  a.node = peer;
  om = plexus_dbus_object_manager_client_new_sync (peer->connection,
                                                   G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                   "org.plexus.Plexus1", "/org/plexus/Plexus1", NULL, &error);
  g_assert_no_error (error);
  w.om = om;
  g_assert_true (plexus_test_wait_for (attached_to_two, &w, DETECTION_TIMEOUT_MS));
  peer_id = plexus_dbus_manager_dup_peer_id (peer->manager);
  l = (LocateWait) { &w, server, peer_id };
  g_assert_true (plexus_test_wait_for (located_where_linked, &l, DETECTION_TIMEOUT_MS));
  {
    const gchar *locate_args[] = { "locate", peer_id, NULL };
    g_autoptr(JsonNode) root = plexus_test_node_run_ctl_json (server, locate_args);
    JsonObject *object = json_node_get_object (root);

    g_assert_cmpstr (json_object_get_string_member (object, "peer_id"), ==, peer_id);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (object, "attached_to")), ==, 2);
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (object, "capabilities"), "peer_id"),
                     ==, peer_id);
  }
  /* Every super peer, the one it is not linked to included, is in its
   * view, alive with its roles. */
  for (guint i = 0; i < N_SUPERS; i++)
    wait_view_shows (om, peer->connection, supers[i].peer_id, "alive", DETECTION_TIMEOUT_MS);
  /* A malformed or unknown peer: named errors. */
  g_assert_false (plexus_dbus_manager_call_locate_sync (server->manager, "nobody", NULL, NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (plexus_dbus_manager_call_locate_sync (server->manager, UNKNOWN_PEER, NULL, NULL, NULL, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* One of its two dies: it attaches to the third. */
  for (guint i = 0; i < N_SUPERS && victim == NULL; i++) {
    g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", supers[i].peer_id, NULL);
    g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (om, path, "org.plexus.Plexus1.Peer");

    if (iface != NULL && plexus_dbus_peer_get_linked (PLEXUS_DBUS_PEER (iface)))
      victim = &supers[i];
  }
  g_assert_nonnull (victim);
  g_subprocess_force_exit (victim->node->daemon);
  g_assert_true (plexus_test_node_wait_exit (victim->node, fixture->timeout_ms, &error));
  gone_line = g_strdup_printf ("super peer %s is gone; attaching elsewhere", victim->peer_id);
  g_assert_true (plexus_test_node_wait_for_log (peer, gone_line, fixture->timeout_ms));
  a.not_this = victim->peer_id;
  g_assert_true (plexus_test_wait_for (attached_to_two, &w, DETECTION_TIMEOUT_MS));
  /* The group learns where it is now; it learns the dead one is dead. */
  g_assert_true (plexus_test_wait_for (located_where_linked, &l, DETECTION_TIMEOUT_MS));
  wait_view_shows (om, peer->connection, victim->peer_id, "dead", DETECTION_TIMEOUT_MS);

  for (guint i = 0; i < N_SUPERS; i++)
    g_free (supers[i].peer_id);
  plexus_test_fixture_free (fixture);
}

/* A node of the test's own, in this process, linked to one daemon: it
 * says to the group what a test needs said, in the order it needs. */
typedef struct {
  gchar         *state_dir;
  PlexusContext *context;
  PlexusNode    *node;
  guint          live_links;
} LocalNode;

static void
on_local_link_added (PlexusNode *node, PlexusLink *link, gpointer user_data)
{
  ((LocalNode *) user_data)->live_links++;
}

static void
on_local_link_removed (PlexusNode *node, PlexusLink *link, gpointer user_data)
{
  ((LocalNode *) user_data)->live_links--;
}

static gboolean
local_is_linked (gconstpointer data)
{
  return ((const LocalNode *) data)->live_links > 0;
}

static gboolean
local_is_unlinked (gconstpointer data)
{
  return ((const LocalNode *) data)->live_links == 0;
}

static LocalNode *
local_node_new (PlexusTestFixture *fixture, const gchar *address)
{
  LocalNode *local = g_new0 (LocalNode, 1);
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(PlexusIdentity) identity = plexus_identity_new_ephemeral ();
  g_autoptr(PlexusBroker) broker = plexus_broker_new ();
  const gchar * const bootstrap[] = { address, NULL };
  g_autoptr(GError) error = NULL;

  local->state_dir = g_build_filename (fixture->tmpdir, "local", NULL);
  g_assert_cmpint (g_mkdir (local->state_dir, 0700), ==, 0);
  plexus_config_set_override_list (config, "node", "bootstrap", bootstrap, &error);
  g_assert_no_error (error);
  local->context = plexus_context_new (config, identity, broker, local->state_dir);
  local->node = plexus_node_new (local->context);
  g_signal_connect (local->node, "link-added", G_CALLBACK (on_local_link_added), local);
  g_signal_connect (local->node, "link-removed", G_CALLBACK (on_local_link_removed), local);
  plexus_node_start (local->node);
  g_assert_true (plexus_test_wait_for (local_is_linked, local, fixture->timeout_ms));
  return local;
}

static void
local_node_free (LocalNode *local, guint timeout_ms)
{
  plexus_node_stop (local->node);
  /* Freed only once libsoup is done closing the link. */
  g_assert_true (plexus_test_wait_for (local_is_unlinked, local, timeout_ms));
  g_clear_object (&local->node);
  g_clear_object (&local->context);
  g_free (local->state_dir);
  g_free (local);
}

static void
on_local_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_messenger_send_finish (PLEXUS_MESSENGER (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

/* Sends @message to @to and waits until it is on its way. */
static void
local_node_send_gossip (LocalNode *local, const gchar *to, PlexusSwimMessage *message, guint timeout_ms)
{
  g_autoptr(JsonObject) body = plexus_swim_message_to_json (message);
  g_autoptr(PlexusEnvelope) envelope = NULL;
  gboolean sent = FALSE;

  envelope = plexus_envelope_new (plexus_swim_message_type_to_string (message->type),
                                  plexus_identity_get_peer_id (plexus_context_get_identity (local->context)),
                                  to, body);
  plexus_messenger_send_async (PLEXUS_MESSENGER (local->node), envelope, NULL, on_local_sent, &sent);
  g_assert_true (plexus_test_wait (&sent, timeout_ms));
}

/* A standard peer of @server's, attached to @super. */
static PlexusTestNode *
start_standard_peer (PlexusTestFixture *fixture, PlexusTestNode *server, PlexusTestNode *super)
{
  const gchar *peer_args[] = { "--server", plexus_dbus_manager_get_address (server->manager), NULL };
  g_autoptr(GError) error = NULL;
  PlexusTestNode *peer = plexus_test_fixture_add_node (fixture, peer_args, &error);
  g_autofree gchar *peer_id = NULL;
  g_autofree gchar *attached_line = NULL;

  g_assert_no_error (error);
  peer_id = plexus_dbus_manager_dup_peer_id (peer->manager);
  attached_line = g_strdup_printf ("standard peer %s attached", peer_id);
  g_assert_true (plexus_test_node_wait_for_log (super, attached_line, DETECTION_TIMEOUT_MS));
  return peer;
}

/* Adds to @message that @member_id is in @state, at incarnation 1. */
static void
add_membership (PlexusSwimMessage *message, const gchar *member_id, PlexusSwimState state)
{
  PlexusSwimUpdate *update = plexus_swim_message_add_update (message);

  update->state = state;
  g_strlcpy (update->peer_id, member_id, sizeof update->peer_id);
  update->incarnation = 1;
}

/* Tells @super (a member of the group), from a node of the test's own, of
 * a member that is not there (@member): its signed advertisement, then
 * the member itself, in two messages, so that @super handles each on its
 * own. Probes find the member dead later. Returns the node, to be freed. */
static LocalNode *
tell_of_member (PlexusTestFixture *fixture, PlexusTestNode *super, PlexusIdentity *member)
{
  const gchar *member_id = plexus_identity_get_peer_id (member);
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (member_id);
  g_autoptr(PlexusSwimMessage) advertisement = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  g_autoptr(PlexusSwimMessage) alive = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  g_autofree guint8 *signed_data = NULL;
  g_autoptr(GBytes) signature = NULL;
  PlexusSwimUpdate *update;
  LocalNode *local;
  gsize length;

  plexus_capabilities_set_roles (caps, PLEXUS_ROLE_SUPER);
  update = plexus_swim_message_add_update (advertisement);
  update->is_advertisement = TRUE;
  g_strlcpy (update->peer_id, member_id, sizeof update->peer_id);
  update->version = 1;
  update->capabilities = plexus_capabilities_to_string (caps);
  signed_data = plexus_swim_advertisement_signed_data (member_id, update->version, update->capabilities, &length);
  signature = plexus_identity_sign (member, signed_data, length);
  g_assert_cmpuint (g_bytes_get_size (signature), ==, PLEXUS_SWIM_SIGNATURE_SIZE);
  memcpy (update->signature, g_bytes_get_data (signature, NULL), PLEXUS_SWIM_SIGNATURE_SIZE);
  add_membership (alive, member_id, PLEXUS_SWIM_STATE_ALIVE);

  local = local_node_new (fixture, plexus_dbus_manager_get_address (super->manager));
  local_node_send_gossip (local, plexus_dbus_manager_get_peer_id (super->manager), advertisement, fixture->timeout_ms);
  local_node_send_gossip (local, plexus_dbus_manager_get_peer_id (super->manager), alive, fixture->timeout_ms);
  return local;
}

static GDBusObjectManager *
object_manager_of (PlexusTestNode *node)
{
  g_autoptr(GError) error = NULL;
  GDBusObjectManager *om = plexus_dbus_object_manager_client_new_sync (node->connection,
                                                                      G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                                      "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                                      NULL, &error);

  g_assert_no_error (error);
  return om;
}

/* A server and one super peer; a standard peer attached to it unless
 * @peer is NULL. */
static PlexusTestNode *
start_super (PlexusTestFixture *fixture, PlexusTestNode **peer)
{
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  PlexusTestNode *server;
  PlexusTestNode *super;
  g_autofree gchar *server_id = NULL;
  g_autofree gchar *joined_line = NULL;

  server = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  super_args[3] = plexus_dbus_manager_get_address (server->manager);
  super = plexus_test_fixture_add_node (fixture, super_args, &error);
  g_assert_no_error (error);
  /* In the group: before, its engine ignores gossip. */
  server_id = plexus_dbus_manager_dup_peer_id (server->manager);
  joined_line = g_strdup_printf ("member %s is alive", server_id);
  g_assert_true (plexus_test_node_wait_for_log (super, joined_line, fixture->timeout_ms));
  if (peer != NULL)
    *peer = start_standard_peer (fixture, server, super);
  return super;
}

/* A super peer may hear of a member's advertisement before it hears of
 * the member (gossip brings both, in either order). Its attached standard
 * peers must still get the advertisement with the member. */
static void
test_view_advertisement_first (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  PlexusTestNode *peer;
  PlexusTestNode *super = start_super (fixture, &peer);
  g_autoptr(GDBusObjectManager) super_om = object_manager_of (super);
  g_autoptr(GDBusObjectManager) peer_om = object_manager_of (peer);
  g_autoptr(PlexusIdentity) member = plexus_identity_new_ephemeral ();
  const gchar *member_id = plexus_identity_get_peer_id (member);
  LocalNode *local = tell_of_member (fixture, super, member);

  /* The super peer takes both; the standard peer learns the member with
   * its roles from the super peer. */
  wait_view_shows (super_om, super->connection, member_id, NULL, fixture->timeout_ms);
  wait_view_shows (peer_om, peer->connection, member_id, NULL, fixture->timeout_ms);

  local_node_free (local, fixture->timeout_ms);
  plexus_test_fixture_free (fixture);
}

/* A standard peer that attaches hears of the members that died lately, not
 * only of the live ones: one that comes back after a while (a laptop that
 * slept) may still hold them alive. */
static void
test_view_remembers_dead (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  PlexusTestNode *super = start_super (fixture, NULL);
  PlexusTestNode *server = g_ptr_array_index (fixture->nodes, 0);
  g_autoptr(GDBusObjectManager) super_om = object_manager_of (super);
  g_autoptr(GDBusObjectManager) peer_om = NULL;
  g_autoptr(PlexusIdentity) member = plexus_identity_new_ephemeral ();
  const gchar *member_id = plexus_identity_get_peer_id (member);
  LocalNode *local = tell_of_member (fixture, super, member);
  PlexusTestNode *peer;

  wait_view_shows (super_om, super->connection, member_id, "dead", DETECTION_TIMEOUT_MS);
  peer = start_standard_peer (fixture, server, super);
  peer_om = object_manager_of (peer);
  wait_view_shows (peer_om, peer->connection, member_id, "dead", fixture->timeout_ms);

  local_node_free (local, fixture->timeout_ms);
  plexus_test_fixture_free (fixture);
}

typedef struct {
  GDBusObjectManager *om;
  GDBusConnection    *connection;  /* to the same daemon */
  const gchar        *peer_id;
  gint64              asked_at;
} GoneWait;

/* Whether the daemon no longer has an object for @peer_id: the cache
 * says so first, then (it may lag, as in view_shows()) the daemon, at
 * most once a second; only "no such object" counts, not a failed call. */
static gboolean
view_lacks (gconstpointer data)
{
  GoneWait *g = (GoneWait *) data;
  g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", g->peer_id, NULL);
  g_autoptr(GDBusObject) object = g_dbus_object_manager_get_object (g->om, path);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;

  if (g_get_monotonic_time () - g->asked_at < G_USEC_PER_SEC)
    return FALSE;
  reply = g_dbus_connection_call_sync (g->connection, "org.plexus.Plexus1", path, "org.freedesktop.DBus.Properties",
                                       "GetAll", g_variant_new ("(s)", "org.plexus.Plexus1.Peer"),
                                       G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  if (reply == NULL && (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
                        g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE) ||
                        g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD)))
    return TRUE;
  /* Asked again no sooner than a second from now; not when it is gone,
   * for plexus_test_wait_for() asks once more at the end. */
  g->asked_at = g_get_monotonic_time ();
  return FALSE;
}

typedef struct {
  PlexusTestNode *node;
  gsize           from;    /* where in its log to look */
  const gchar    *needle;
} LogSince;

static gboolean
log_has_since (gconstpointer data)
{
  const LogSince *l = data;

  return l->node->log->len > l->from && strstr (l->node->log->str + l->from, l->needle) != NULL;
}

/* A standard peer drops a member that none of its super peers knows any
 * longer: its only super peer goes down, the member dies and the group
 * forgets it (here: the super peer comes back knowing nothing of it, as
 * after the 5 minutes the group remembers a dead member), and the
 * standard peer attaches again. */
static void
test_view_forgets_unknown (void)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  PlexusTestNode *peer;
  PlexusTestNode *super = start_super (fixture, &peer);
  PlexusTestNode *server = g_ptr_array_index (fixture->nodes, 0);
  g_autoptr(GDBusObjectManager) server_om = object_manager_of (server);
  g_autoptr(GDBusObjectManager) peer_om = object_manager_of (peer);
  g_autoptr(PlexusIdentity) member = plexus_identity_new_ephemeral ();
  const gchar *member_id = plexus_identity_get_peer_id (member);
  g_autofree gchar *peer_id = plexus_dbus_manager_dup_peer_id (peer->manager);
  g_autofree gchar *attached_line = g_strdup_printf ("standard peer %s attached", peer_id);
  g_autofree gchar *forgot_member = g_strdup_printf ("member %s is unknown", member_id);
  g_autofree gchar *forgot_server = g_strdup_printf ("member %s is unknown",
                                                     plexus_dbus_manager_get_peer_id (server->manager));
  g_autofree gchar *forgot_super = g_strdup_printf ("member %s is unknown",
                                                    plexus_dbus_manager_get_peer_id (super->manager));
  g_autoptr(PlexusSwimMessage) dead = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  LogSince reattached = { super, 0, attached_line };
  LogSince forgot = { peer, 0, forgot_member };
  g_autoptr(GError) error = NULL;
  LocalNode *local = tell_of_member (fixture, server, member);
  GoneWait gone = { peer_om, peer->connection, member_id, 0 };

  /* The server gossips the member to the super peer, which tells the
   * standard peer. */
  wait_view_shows (peer_om, peer->connection, member_id, NULL, fixture->timeout_ms);

  g_subprocess_force_exit (super->daemon);
  /* The member dies (the server hears it now rather than after its
   * probes' suspicion timeout); the super peer coming back hears of the
   * dead member from the server as news, which it ignores. */
  add_membership (dead, member_id, PLEXUS_SWIM_STATE_DEAD);
  local_node_send_gossip (local, plexus_dbus_manager_get_peer_id (server->manager), dead, fixture->timeout_ms);
  wait_view_shows (server_om, server->connection, member_id, "dead", fixture->timeout_ms);
  local_node_free (local, fixture->timeout_ms);
  reattached.from = super->log->len;
  forgot.from = peer->log->len;
  g_assert_true (plexus_test_node_restart (fixture, super, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_test_wait_for (log_has_since, &reattached, DETECTION_TIMEOUT_MS));
  g_assert_true (wait_polling (view_lacks, &gone, fixture->timeout_ms));
  g_assert_true (plexus_test_wait_for (log_has_since, &forgot, fixture->timeout_ms));
  /* Only that one: the super peer's view was whole when it said so. */
  g_assert_null (strstr (peer->log->str, forgot_server));
  g_assert_null (strstr (peer->log->str, forgot_super));
  /* What the super peer does know stays. */
  wait_view_shows (peer_om, peer->connection, plexus_dbus_manager_get_peer_id (super->manager), "alive",
                   fixture->timeout_ms);
  wait_view_shows (peer_om, peer->connection, plexus_dbus_manager_get_peer_id (server->manager), "alive",
                   fixture->timeout_ms);

  plexus_test_fixture_free (fixture);
}

/* The scenario: one server, five super peers, ten standard peers.
 * Every standard peer attaches to two supers; a 1 s pause of a super is no
 * death; a killed super is declared dead by every group member, and every
 * standard peer that was attached to it attaches to another. */
#define SCALE_SUPERS 5
#define SCALE_PEERS 10

static void
test_scale (void)
{
  PlexusTestFixture *fixture;
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  const gchar *peer_args[] = { "--server", NULL, NULL };
  g_autoptr(GError) error = NULL;
  Member group[1 + SCALE_SUPERS] = { { NULL, }, };
  Member *supers = &group[1];
  PlexusTestNode *peers[SCALE_PEERS];
  GDBusObjectManager *peer_oms[SCALE_PEERS];
  Attachment attachments[SCALE_PEERS];
  AttachWait waits[SCALE_PEERS];
  gboolean was_attached[SCALE_PEERS];
  g_autofree gchar *dead_line = NULL;
  Member *paused = &supers[0];
  Member *victim = &supers[1];
  guint n = G_N_ELEMENTS (group);

  /* Sixteen daemons' D-Bus traffic into one valgrind-slowed process: a
   * test of valgrind's speed, not of Plexus. Plain and sanitizer builds run
   * it; the daemons are never under valgrind anyway. */
  if (g_getenv ("PLEXUS_UNDER_MEMCHECK") != NULL) {
    g_test_skip ("sixteen daemons are too many for a test process under valgrind");
    return;
  }

  fixture = plexus_test_fixture_new ();
  group[0].node = plexus_test_fixture_add_node (fixture, server_args, &error);
  g_assert_no_error (error);
  super_args[3] = plexus_dbus_manager_get_address (group[0].node->manager);
  peer_args[1] = super_args[3];
  for (guint i = 1; i < n; i++) {
    group[i].node = plexus_test_fixture_add_node (fixture, super_args, &error);
    g_assert_no_error (error);
  }
  for (guint i = 0; i < n; i++) {
    group[i].peer_id = plexus_dbus_manager_dup_peer_id (group[i].node->manager);
    group[i].om = plexus_dbus_object_manager_client_new_sync (group[i].node->connection,
                                                              G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                              "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                              NULL, &error);
    g_assert_no_error (error);
  }
  for (guint i = 0; i < SCALE_PEERS; i++) {
    peers[i] = plexus_test_fixture_add_node (fixture, peer_args, &error);
    g_assert_no_error (error);
    peer_oms[i] = plexus_dbus_object_manager_client_new_sync (peers[i]->connection,
                                                              G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                              "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                              NULL, &error);
    g_assert_no_error (error);
    attachments[i] = (Attachment) { peers[i], supers, SCALE_SUPERS, NULL };
    waits[i] = (AttachWait) { &attachments[i], peer_oms[i] };
  }

  for (guint i = 0; i < n; i++)
    wait_everyone_sees (group, n, group[i].peer_id, "alive", TRUE);
  for (guint i = 0; i < SCALE_PEERS; i++)
    g_assert_true (plexus_test_wait_for (attached_to_two, &waits[i], DETECTION_TIMEOUT_MS));

  g_subprocess_send_signal (paused->node->daemon, SIGSTOP);
  {
    gboolean never = FALSE;

    /* The length of the pause is the condition under test. */
    plexus_test_wait (&never, 1000);
  }
  g_subprocess_send_signal (paused->node->daemon, SIGCONT);
  wait_everyone_sees (group, n, paused->peer_id, "alive", FALSE); /* after the pause */

  for (guint i = 0; i < SCALE_PEERS; i++) {
    g_autofree gchar *path = g_strconcat ("/org/plexus/Plexus1/Peers/", victim->peer_id, NULL);
    g_autoptr(GDBusInterface) iface = g_dbus_object_manager_get_interface (peer_oms[i], path,
                                                                           "org.plexus.Plexus1.Peer");

    was_attached[i] = iface != NULL && plexus_dbus_peer_get_linked (PLEXUS_DBUS_PEER (iface));
    attachments[i].not_this = victim->peer_id;
  }
  g_subprocess_force_exit (victim->node->daemon);
  g_assert_true (plexus_test_node_wait_exit (victim->node, fixture->timeout_ms, &error));
  wait_everyone_sees (group, n, victim->peer_id, "dead", FALSE);
  /* Standard peers too, through the super peers they are attached to. */
  for (guint i = 0; i < SCALE_PEERS; i++)
    wait_view_shows (peer_oms[i], peers[i]->connection, victim->peer_id, "dead", DETECTION_TIMEOUT_MS);
  for (guint i = 0; i < SCALE_PEERS; i++)
    g_assert_true (plexus_test_wait_for (attached_to_two, &waits[i], DETECTION_TIMEOUT_MS));

  dead_line = g_strdup_printf ("member %s is dead", paused->peer_id);
  for (guint i = 0; i < n; i++)
    g_assert_null (strstr (group[i].node->log->str, dead_line));
  for (guint i = 0; i < SCALE_PEERS; i++) {
    g_autofree gchar *gone = g_strdup_printf ("super peer %s is gone; attaching elsewhere", victim->peer_id);

    g_assert_cmpint (strstr (peers[i]->log->str, gone) != NULL, ==, was_attached[i]);
    g_assert_null (strstr (peers[i]->log->str, dead_line));
    g_object_unref (peer_oms[i]);
  }
  for (guint i = 0; i < n; i++) {
    g_clear_object (&group[i].om);
    g_free (group[i].peer_id);
  }
  plexus_test_fixture_free (fixture);
}

int
main (int argc, char **argv)
{
  const gchar *plugin_dir = g_getenv ("PLEXUS_GOSSIP_PLUGIN_DIR");

  g_test_init (&argc, &argv, NULL);
  /* Register the error domain so remote errors come back as PlexusError. */
  (void) plexus_error_quark ();
  if (plugin_dir == NULL) {
    g_printerr ("set PLEXUS_GOSSIP_PLUGIN_DIR to the folder of gossip.so and gossip.plugin\n");
    return 1;
  }
  /* For the daemons of the fixture, which inherit the environment. */
  g_setenv ("PLEXUS_PLUGIN_PATH", plugin_dir, TRUE);
  g_test_add_func ("/plexus/gossip/group", test_group);
  g_test_add_func ("/plexus/gossip/attach", test_attach);
  g_test_add_func ("/plexus/gossip/view-advertisement-first", test_view_advertisement_first);
  g_test_add_func ("/plexus/gossip/view-remembers-dead", test_view_remembers_dead);
  g_test_add_func ("/plexus/gossip/view-forgets-unknown", test_view_forgets_unknown);
  g_test_add_func ("/plexus/gossip/scale", test_scale);
  return g_test_run ();
}
