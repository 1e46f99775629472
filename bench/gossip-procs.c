/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plexus-link.h"
#include "plexus-swim.h"
#include "plexus-test-fixture.h"

/* bench/gossip-procs: the gossip plugin's membership group in real
 * processes (bench/gossip has the same figures from the simulator).
 *
 *   bench/gossip-procs [N...]       (default: N = 8 16 24)
 *
 * For each N, one server and N-1 super peers, each a plexusd on its own
 * bus, all on 127.0.0.1, with the plugin's default timers (printed). Once
 * every member sees every other alive with its roles:
 *  - join: one more super peer starts; from the moment it owns its bus
 *    name until 50%, 99% and 100% of the N members show it alive with its
 *    roles, beside log2(N) + ln(N) gossip rounds;
 *  - idle traffic over 10 s: what each member sends per second, as the
 *    frames its links carry (BytesOut) and as TCP payload (ss);
 *  - pause: one super is stopped for 1 s, then watched for 15 s: how many
 *    members suspected it, how many declared it dead (should be none);
 *  - detection: one super is killed: seconds until every live member shows
 *    it dead, and the spread of the individual verdicts;
 *  - false verdicts: 'member X is dead' (and, for information, 'is
 *    suspect') lines, over the whole run, about an X that was never killed.
 * Figures on stdout, progress on stderr (PLEXUS_BENCH_VERBOSE=1 adds the
 * daemons' logs). Never fails on a figure; exits 1 when the set-up does
 * (a daemon that does not start, a group that does not converge).
 *
 * plexusd and the plugin folder default to the build tree's and can be
 * overridden with PLEXUSD and PLEXUS_GOSSIP_PLUGIN_DIR, as for the tests. */

#ifndef ABS_TOP_BUILDDIR
#error "build with -DABS_TOP_BUILDDIR=\"...\" (the fragment bench/Makefile.inc sets it)"
#endif

#define PEER_IFACE "org.plexus.Plexus1.Peer"
#define PEERS_PATH "/org/plexus/Plexus1/Peers/"

/* Convergence is checked against the daemons themselves this often. */
#define CONVERGE_SLICE_MS 5000
#ifndef CONVERGE_TIMEOUT_MS
#define CONVERGE_TIMEOUT_MS 120000
#endif
#define JOIN_TIMEOUT_MS 60000
#define DETECT_TIMEOUT_MS 90000
/* After the join: its updates are retransmitted for a few gossip rounds
 * and the newcomer's first probes settle; idle means after that. */
#define SETTLE_MS 3000
#define IDLE_SECONDS 10
#define PAUSE_MS 1000
#define PAUSE_WATCH_MS 15000

/* When one member first saw another in a state, on the monotonic clock;
 * 0 for not yet. Recorded as the D-Bus signal arrives. */
typedef struct {
  gint64 alive_at;      /* alive, with roles advertised */
  gint64 dead_at;
} Sighting;

typedef struct {
  PlexusTestNode     *node;
  GDBusObjectManager *om;
  gchar              *peer_id;
  GHashTable         *sightings;  /* peer ID → Sighting */
} Member;

typedef struct {
  guint   n;
  gdouble start_s;            /* spawn to bus name, the newcomer */
  gdouble join_50, join_99, join_100;  /* seconds, negative: not reached */
  guint   join_seen;
  gdouble idle_frames_all, idle_frames_server, idle_frames_super_min, idle_frames_super_max;
  gdouble idle_tcp_all, idle_tcp_server;   /* negative: no ss */
  guint   pause_suspects, pause_deads;
  gdouble detect_all, detect_min, detect_median, detect_max;
  guint   detect_seen, detect_expected;
  guint   false_dead;
  guint   false_suspect;
} Result;

static gboolean verbose;

/* The fixture copies every daemon line to stderr as "[nodeK] ..."; with
 * 25 daemons that buries the progress, so they only go out on request
 * (they stay in each node's log, which the verdict counts read). */
static void
print_stderr (const gchar *string)
{
  if (verbose || !g_str_has_prefix (string, "[node"))
    fputs (string, stderr);
}

static gdouble
seconds_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / (gdouble) G_USEC_PER_SEC;
}

static PlexusDBusPeer *
peer_of (Member *observer, const gchar *peer_id)
{
  g_autofree gchar *path = g_strconcat (PEERS_PATH, peer_id, NULL);
  GDBusInterface *iface = g_dbus_object_manager_get_interface (observer->om, path, PEER_IFACE);

  return iface != NULL ? PLEXUS_DBUS_PEER (iface) : NULL;
}

static gboolean
peer_alive_with_roles (PlexusDBusPeer *peer)
{
  const gchar * const *roles = plexus_dbus_peer_get_roles (peer);

  return g_strcmp0 (plexus_dbus_peer_get_state (peer), "alive") == 0 && roles != NULL && roles[0] != NULL;
}

static void
member_note (Member *member, GDBusObject *object)
{
  g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface (object, PEER_IFACE);
  const gchar *path = g_dbus_object_get_object_path (object);
  const gchar *peer_id;
  Sighting *sighting;
  gint64 now = g_get_monotonic_time ();

  if (iface == NULL || !g_str_has_prefix (path, PEERS_PATH))
    return;
  peer_id = path + strlen (PEERS_PATH);
  sighting = g_hash_table_lookup (member->sightings, peer_id);
  if (sighting == NULL) {
    sighting = g_new0 (Sighting, 1);
    g_hash_table_insert (member->sightings, g_strdup (peer_id), sighting);
  }
  if (sighting->alive_at == 0 && peer_alive_with_roles (PLEXUS_DBUS_PEER (iface)))
    sighting->alive_at = now;
  if (sighting->dead_at == 0 && g_strcmp0 (plexus_dbus_peer_get_state (PLEXUS_DBUS_PEER (iface)), "dead") == 0)
    sighting->dead_at = now;
}

static void
on_object_added (GDBusObjectManager *om, GDBusObject *object, gpointer user_data)
{
  member_note (user_data, object);
}

static void
on_interface_added (GDBusObjectManager *om, GDBusObject *object, GDBusInterface *iface, gpointer user_data)
{
  member_note (user_data, object);
}

static void
on_properties_changed (GDBusObjectManagerClient *om, GDBusObjectProxy *object, GDBusProxy *proxy,
                       GVariant *changed, GStrv invalidated, gpointer user_data)
{
  member_note (user_data, G_DBUS_OBJECT (object));
}

/* (Re)creates @member's object manager client and notes what it holds. */
static gboolean
member_watch (Member *member, GError **error)
{
  GList *objects;

  if (member->om != NULL)
    g_signal_handlers_disconnect_by_data (member->om, member);
  g_clear_object (&member->om);
  member->om = plexus_dbus_object_manager_client_new_sync (member->node->connection,
                                                           G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                           "org.plexus.Plexus1", "/org/plexus/Plexus1",
                                                           NULL, error);
  if (member->om == NULL)
    return FALSE;
  g_signal_connect (member->om, "object-added", G_CALLBACK (on_object_added), member);
  g_signal_connect (member->om, "interface-added", G_CALLBACK (on_interface_added), member);
  g_signal_connect (member->om, "interface-proxy-properties-changed", G_CALLBACK (on_properties_changed), member);
  objects = g_dbus_object_manager_get_objects (member->om);
  for (GList *l = objects; l != NULL; l = l->next)
    member_note (member, l->data);
  g_list_free_full (objects, g_object_unref);
  return TRUE;
}

static void member_free (Member *member);

static Member *
member_new (PlexusTestNode *node, GError **error)
{
  Member *member = g_new0 (Member, 1);

  member->node = node;
  member->peer_id = plexus_dbus_manager_dup_peer_id (node->manager);
  member->sightings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!member_watch (member, error)) {
    member_free (member);
    return NULL;
  }
  return member;
}

static void
member_free (Member *member)
{
  if (member->om != NULL)
    g_signal_handlers_disconnect_by_data (member->om, member);
  g_clear_object (&member->om);
  g_clear_pointer (&member->sightings, g_hash_table_unref);
  g_free (member->peer_id);
  g_free (member);
}

static gint64
sighting_time (Member *observer, const gchar *peer_id, gboolean dead)
{
  Sighting *sighting = g_hash_table_lookup (observer->sightings, peer_id);

  if (sighting == NULL)
    return 0;
  return dead ? sighting->dead_at : sighting->alive_at;
}

/* How many ordered pairs (observer, other) still miss "alive with roles". */
static guint
count_unconverged (GPtrArray *members)
{
  guint missing = 0;

  for (guint i = 0; i < members->len; i++) {
    Member *observer = g_ptr_array_index (members, i);

    for (guint j = 0; j < members->len; j++) {
      Member *other = g_ptr_array_index (members, j);
      g_autoptr(PlexusDBusPeer) peer = NULL;

      if (i == j)
        continue;
      peer = peer_of (observer, other->peer_id);
      if (peer == NULL || !peer_alive_with_roles (peer))
        missing++;
    }
  }
  return missing;
}

/* State and roles of @peer_id as @observer's daemon tells them now, past
 * the object manager's cache: tells a stale cache from a daemon that
 * never heard. Returns whether it is alive with roles; @description says
 * what it is. */
static gboolean
ask_peer (Member *observer, const gchar *peer_id, gchar **description)
{
  g_autofree gchar *path = g_strconcat (PEERS_PATH, peer_id, NULL);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) props = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *state = NULL;
  g_autofree const gchar **roles = NULL;

  reply = g_dbus_connection_call_sync (observer->node->connection, "org.plexus.Plexus1", path,
                                       "org.freedesktop.DBus.Properties", "GetAll",
                                       g_variant_new ("(s)", PEER_IFACE), G_VARIANT_TYPE ("(a{sv})"),
                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
  if (reply == NULL) {
    if (description != NULL)
      *description = g_strdup (error->message);
    return FALSE;
  }
  props = g_variant_get_child_value (reply, 0);
  g_variant_lookup (props, "State", "&s", &state);
  g_variant_lookup (props, "Roles", "^a&s", &roles);
  if (description != NULL) {
    g_autofree gchar *joined = roles != NULL ? g_strjoinv (",", (gchar **) roles) : g_strdup ("");

    *description = g_strdup_printf ("%s, roles [%s]", state != NULL ? state : "?", joined);
  }
  return g_strcmp0 (state, "alive") == 0 && roles != NULL && roles[0] != NULL;
}

/* GDBusObjectManagerClient can miss a property change made while it is
 * being created (the daemon exports Peer objects and fills in their roles
 * just as the bench connects): its cache then says "no roles" for good.
 * An observer whose cache disagrees with its daemon gets a new client.
 * Only convergence relies on this; the timed phases use clients created
 * long before. Returns how many were renewed. */
static guint
renew_stale_watches (GPtrArray *members, GError **error)
{
  guint renewed = 0;

  for (guint i = 0; i < members->len; i++) {
    Member *observer = g_ptr_array_index (members, i);
    gboolean stale = FALSE;

    for (guint j = 0; j < members->len && !stale; j++) {
      Member *other = g_ptr_array_index (members, j);
      g_autoptr(PlexusDBusPeer) peer = NULL;

      if (i == j)
        continue;
      peer = peer_of (observer, other->peer_id);
      if (peer != NULL && peer_alive_with_roles (peer))
        continue;
      stale = ask_peer (observer, other->peer_id, NULL);
    }
    if (!stale)
      continue;
    g_printerr ("  %s: its object manager client's cache is behind its daemon; renewing it\n",
                observer->node->name);
    if (!member_watch (observer, error))
      return renewed;
    renewed++;
  }
  return renewed;
}

/* Who misses whom, for whoever reads a convergence failure. */
static void
print_unconverged (GPtrArray *members)
{
  GList *blind = NULL;

  for (guint i = 0; i < members->len; i++) {
    Member *observer = g_ptr_array_index (members, i);

    for (guint j = 0; j < members->len; j++) {
      Member *other = g_ptr_array_index (members, j);
      g_autoptr(PlexusDBusPeer) peer = NULL;
      g_autofree gchar *roles = NULL;
      g_autofree gchar *fresh = NULL;

      if (i == j)
        continue;
      peer = peer_of (observer, other->peer_id);
      if (peer != NULL && peer_alive_with_roles (peer))
        continue;
      if (peer != NULL)
        roles = g_strjoinv (",", (gchar **) plexus_dbus_peer_get_roles (peer));
      ask_peer (observer, other->peer_id, &fresh);
      g_printerr ("  %s sees %s (%.8s…): %s%s%s%s; asked afresh: %s\n",
                  observer->node->name, other->node->name, other->peer_id,
                  peer != NULL ? plexus_dbus_peer_get_state (peer) : "no Peer object",
                  peer != NULL ? ", roles [" : "", peer != NULL ? roles : "", peer != NULL ? "]" : "",
                  fresh);
      blind = g_list_prepend (blind, observer);
    }
  }
  /* And what those observers logged (unless every log went out already). */
  for (GList *l = blind; l != NULL && !verbose; l = l->next) {
    Member *observer = l->data;

    if (l->next != NULL && l->next->data == observer)
      continue;
    g_printerr ("--- log of %s (%s):\n%s---\n", observer->node->name, observer->peer_id, observer->node->log->str);
  }
  g_list_free (blind);
}

static gboolean
group_converged (gconstpointer data)
{
  return count_unconverged ((GPtrArray *) data) == 0;
}

typedef struct {
  GPtrArray   *members;
  guint        n_observers;   /* the first n_observers members watch */
  const gchar *peer_id;
  gboolean     dead;
  Member      *skip;          /* a member that is not an observer, or NULL */
} SightingWait;

static gboolean
all_sighted (gconstpointer data)
{
  const SightingWait *w = data;

  for (guint i = 0; i < w->n_observers; i++) {
    Member *observer = g_ptr_array_index (w->members, i);

    if (observer != w->skip && sighting_time (observer, w->peer_id, w->dead) == 0)
      return FALSE;
  }
  return TRUE;
}

static gint
compare_doubles (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

/* The delay (s) after which @fraction of @count observers had seen it, or
 * -1 when fewer did; @delays is sorted. */
static gdouble
quantile (GArray *delays, guint count, gdouble fraction)
{
  guint need = (guint) ceil (fraction * count);

  need = MAX (need, 1);
  if (delays->len < need)
    return -1;
  return g_array_index (delays, gdouble, need - 1);
}

/* Delays from @start (s) at which the observers first saw @peer_id so;
 * sorted. */
static GArray *
collect_delays (const SightingWait *w, gint64 start)
{
  GArray *delays = g_array_new (FALSE, FALSE, sizeof (gdouble));

  for (guint i = 0; i < w->n_observers; i++) {
    Member *observer = g_ptr_array_index (w->members, i);
    gint64 at = observer != w->skip ? sighting_time (observer, w->peer_id, w->dead) : 0;
    gdouble delay = (at - start) / (gdouble) G_USEC_PER_SEC;

    if (at != 0)
      g_array_append_val (delays, delay);
  }
  g_array_sort (delays, compare_doubles);
  return delays;
}

static void
sleep_in_loop (guint ms)
{
  gboolean never = FALSE;

  /* The duration is what is measured (or imposed): the loop runs meanwhile. */
  plexus_test_wait (&never, ms);
}

/* Frame bytes sent by @member over all its links, as D-Bus shows them
 * (refreshed by the daemon once a second). */
static guint64
member_bytes_out (Member *member)
{
  GList *objects = g_dbus_object_manager_get_objects (member->om);
  guint64 total = 0;

  for (GList *l = objects; l != NULL; l = l->next) {
    g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface (l->data, PEER_IFACE);

    if (iface != NULL)
      total += plexus_dbus_peer_get_bytes_out (PLEXUS_DBUS_PEER (iface));
  }
  g_list_free_full (objects, g_object_unref);
  return total;
}

/* TCP bytes each process has sent on its established sockets (tcp_info's
 * bytes_sent, as ss shows it): pid → bytes. NULL when ss cannot tell. */
static GHashTable *
tcp_bytes_sent_by_pid (void)
{
  const gchar *argv[] = { "ss", "-tinpH", "state", "established", NULL };
  g_autofree gchar *out = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GHashTable) totals = NULL;
  gint status = 0;
  guint64 pid = 0;

  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, &status, NULL) ||
      !g_spawn_check_wait_status (status, NULL))
    return NULL;
  totals = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    const gchar *line = lines[i];
    const gchar *field;

    /* A socket's line, then its tcp_info on an indented line. */
    if (line[0] != ' ' && line[0] != '\t') {
      field = strstr (line, "pid=");
      pid = field != NULL ? g_ascii_strtoull (field + 4, NULL, 10) : 0;
    } else if (pid != 0 && (field = strstr (line, "bytes_sent:")) != NULL) {
      guint64 *total = g_hash_table_lookup (totals, &pid);

      if (total == NULL) {
        gint64 *key = g_new (gint64, 1);

        *key = (gint64) pid;
        total = g_new0 (guint64, 1);
        g_hash_table_insert (totals, key, total);
      }
      *total += g_ascii_strtoull (field + strlen ("bytes_sent:"), NULL, 10);
    }
  }
  return g_steal_pointer (&totals);
}

static guint64
pid_bytes (GHashTable *totals, Member *member)
{
  const gchar *identifier = g_subprocess_get_identifier (member->node->daemon);
  gint64 pid = identifier != NULL ? g_ascii_strtoll (identifier, NULL, 10) : 0;
  guint64 *total = totals != NULL ? g_hash_table_lookup (totals, &pid) : NULL;

  return total != NULL ? *total : 0;
}

/* Counts 'member ID is STATE' lines in every node's log: about @peer_id
 * when it is not NULL, else about anyone but @except. Prints them. */
static guint
count_verdicts (GPtrArray *members, const gchar *state, const gchar *peer_id, const gchar *except)
{
  g_autofree gchar *tail = g_strconcat (" is ", state, NULL);
  guint count = 0;

  for (guint i = 0; i < members->len; i++) {
    Member *member = g_ptr_array_index (members, i);
    const gchar *p = member->node->log->str;

    while ((p = strstr (p, "member ")) != NULL) {
      const gchar *id = p + strlen ("member ");
      gsize id_len = strspn (id, "0123456789abcdef");
      g_autofree gchar *who = g_strndup (id, id_len);

      p = id;
      if (id_len == 0 || !g_str_has_prefix (id + id_len, tail))
        continue;
      if (peer_id != NULL ? g_strcmp0 (who, peer_id) != 0 : g_strcmp0 (who, except) == 0)
        continue;
      count++;
      g_printerr ("  %s logged: member %s%s\n", member->node->name, who, tail);
    }
  }
  return count;
}

static void
print_result (const Result *r)
{
  g_autofree gchar *tcp = r->idle_tcp_all >= 0
                          ? g_strdup_printf ("%6.0f %6.0f", r->idle_tcp_all, r->idle_tcp_server)
                          : g_strdup ("   n/a    n/a");

  g_print ("%3u | %5.2f | %5.2f %5.2f %5.2f %5.2f %2u/%-2u | %6.0f %6.0f %4.0f..%-4.0f | %s | %2u %2u | "
           "%5.2f %5.2f %5.2f %5.2f %2u/%-2u | %5u %5u\n",
           r->n, r->start_s,
           r->join_50, r->join_99, r->join_100, (log2 (r->n) + log (r->n)) * 0.2, r->join_seen, r->n,
           r->idle_frames_all, r->idle_frames_server, r->idle_frames_super_min, r->idle_frames_super_max,
           tcp, r->pause_suspects, r->pause_deads,
           r->detect_all, r->detect_min, r->detect_median, r->detect_max, r->detect_seen, r->detect_expected,
           r->false_dead, r->false_suspect);
  fflush (stdout);
}

/* Starts a node and watches its Peer objects; @ready_at is when it owned
 * its bus name (within the two proxy calls the fixture makes after). */
static PlexusTestNode *
start_node (PlexusTestFixture *fixture, const gchar * const *args, GPtrArray *members,
            gint64 *ready_at, GError **error)
{
  PlexusTestNode *node = plexus_test_fixture_add_node (fixture, args, error);
  Member *member;

  if (ready_at != NULL)
    *ready_at = g_get_monotonic_time ();
  if (node == NULL)
    return NULL;
  member = member_new (node, error);
  if (member == NULL)
    return NULL;
  g_ptr_array_add (members, member);
  return node;
}

static gboolean
run_size (guint n, Result *r, GError **error)
{
  PlexusTestFixture *fixture = plexus_test_fixture_new ();
  g_autoptr(GPtrArray) members = g_ptr_array_new_with_free_func ((GDestroyNotify) member_free);
  const gchar *server_args[] = { "--role", "server", NULL };
  const gchar *super_args[] = { "--role", "super", "--server", NULL, NULL };
  g_autofree gchar *server_address = NULL;
  g_autoptr(GHashTable) tcp_before = NULL;
  g_autoptr(GHashTable) tcp_after = NULL;
  g_autoptr(GArray) delays = NULL;
  g_autoptr(GArray) supers_rate = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autofree guint64 *frames_before = NULL;
  gint64 start, t0, t_kill;
  Member *server, *joiner, *paused, *victim;
  SightingWait join_wait, dead_wait;
  g_autoptr(GError) local_error = NULL;
  gboolean ok = FALSE;
  guint n_group;
  gdouble total;

  memset (r, 0, sizeof *r);
  r->n = n;
  fixture->timeout_ms = 30000;

  g_printerr ("N=%u: starting 1 server and %u super peers\n", n, n - 1);
  start = g_get_monotonic_time ();
  if (start_node (fixture, server_args, members, NULL, error) == NULL)
    goto out;
  server = g_ptr_array_index (members, 0);
  server_address = g_strdup (plexus_dbus_manager_get_address (server->node->manager));
  super_args[3] = server_address;
  for (guint i = 1; i < n; i++) {
    if (start_node (fixture, super_args, members, NULL, error) == NULL)
      goto out;
  }
  g_printerr ("N=%u: %u daemons up after %.1f s; waiting for the group to converge\n",
              n, n, seconds_since (start));
  /* In slices: between them, clients that missed a change are renewed. */
  for (guint waited = 0; !group_converged (members) && waited < CONVERGE_TIMEOUT_MS; waited += CONVERGE_SLICE_MS) {
    if (plexus_test_wait_for (group_converged, members, CONVERGE_SLICE_MS))
      break;
    renew_stale_watches (members, &local_error);
    if (local_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&local_error));
      goto out;
    }
  }
  if (!group_converged (members)) {
    print_unconverged (members);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_TIMED_OUT,
                 "N=%u: the group did not converge within %u s: %u of %u (observer, member) pairs "
                 "never showed alive with roles",
                 n, CONVERGE_TIMEOUT_MS / 1000, count_unconverged (members), n * (n - 1));
    goto out;
  }
  g_printerr ("N=%u: converged %.1f s after the first start\n", n, seconds_since (start));

  /* Join. */
  start = g_get_monotonic_time ();
  if (start_node (fixture, super_args, members, &t0, error) == NULL)
    goto out;
  r->start_s = (t0 - start) / (gdouble) G_USEC_PER_SEC;
  joiner = g_ptr_array_index (members, n);
  join_wait = (SightingWait) { members, n, joiner->peer_id, FALSE, NULL };
  if (!plexus_test_wait_for (all_sighted, &join_wait, JOIN_TIMEOUT_MS))
    g_printerr ("N=%u: the newcomer was not seen by every member within %u s\n", n, JOIN_TIMEOUT_MS / 1000);
  delays = collect_delays (&join_wait, t0);
  r->join_seen = delays->len;
  r->join_50 = quantile (delays, n, 0.5);
  r->join_99 = quantile (delays, n, 0.99);
  r->join_100 = quantile (delays, n, 1.0);
  g_clear_pointer (&delays, g_array_unref);
  g_printerr ("N=%u: newcomer %.8s… seen by %u of %u members (100%% after %.2f s)\n",
              n, joiner->peer_id, r->join_seen, n, r->join_100);

  /* Idle traffic, the newcomer included. */
  n_group = members->len;
  sleep_in_loop (SETTLE_MS);
  g_printerr ("N=%u: idle traffic over %d s\n", n, IDLE_SECONDS);
  frames_before = g_new0 (guint64, n_group);
  for (guint i = 0; i < n_group; i++)
    frames_before[i] = member_bytes_out (g_ptr_array_index (members, i));
  tcp_before = tcp_bytes_sent_by_pid ();
  sleep_in_loop (IDLE_SECONDS * 1000);
  tcp_after = tcp_bytes_sent_by_pid ();
  total = 0;
  for (guint i = 0; i < n_group; i++) {
    /* Signed: a link closed in the window takes its counter with it. */
    gdouble rate = ((gdouble) member_bytes_out (g_ptr_array_index (members, i)) - (gdouble) frames_before[i]) /
                   IDLE_SECONDS;

    total += rate;
    if (i == 0)
      r->idle_frames_server = rate;
    else
      g_array_append_val (supers_rate, rate);
  }
  g_array_sort (supers_rate, compare_doubles);
  r->idle_frames_all = total / n_group;
  r->idle_frames_super_min = g_array_index (supers_rate, gdouble, 0);
  r->idle_frames_super_max = g_array_index (supers_rate, gdouble, supers_rate->len - 1);
  r->idle_tcp_all = -1;
  if (tcp_before != NULL && tcp_after != NULL) {
    total = 0;
    for (guint i = 0; i < n_group; i++) {
      Member *member = g_ptr_array_index (members, i);
      gdouble rate = ((gdouble) pid_bytes (tcp_after, member) - (gdouble) pid_bytes (tcp_before, member)) / IDLE_SECONDS;

      total += rate;
      if (i == 0)
        r->idle_tcp_server = rate;
    }
    r->idle_tcp_all = total / n_group;
  }

  /* A pause shorter than the suspicion timeout is no death. */
  paused = g_ptr_array_index (members, 2);
  g_printerr ("N=%u: pausing %s (%.8s…) for %d ms, then watching %d s\n",
              n, paused->node->name, paused->peer_id, PAUSE_MS, PAUSE_WATCH_MS / 1000);
  g_subprocess_send_signal (paused->node->daemon, SIGSTOP);
  sleep_in_loop (PAUSE_MS);
  g_subprocess_send_signal (paused->node->daemon, SIGCONT);
  sleep_in_loop (PAUSE_WATCH_MS);
  r->pause_suspects = count_verdicts (members, "suspect", paused->peer_id, NULL);
  r->pause_deads = count_verdicts (members, "dead", paused->peer_id, NULL);

  /* Detection. */
  victim = g_ptr_array_index (members, 1);
  g_printerr ("N=%u: killing %s (%.8s…)\n", n, victim->node->name, victim->peer_id);
  t_kill = g_get_monotonic_time ();
  g_subprocess_force_exit (victim->node->daemon);
  dead_wait = (SightingWait) { members, n_group, victim->peer_id, TRUE, victim };
  if (!plexus_test_wait_for (all_sighted, &dead_wait, DETECT_TIMEOUT_MS))
    g_printerr ("N=%u: not every member declared it dead within %u s\n", n, DETECT_TIMEOUT_MS / 1000);
  delays = collect_delays (&dead_wait, t_kill);
  r->detect_expected = n_group - 1;
  r->detect_seen = delays->len;
  r->detect_all = quantile (delays, r->detect_expected, 1.0);
  r->detect_min = delays->len > 0 ? g_array_index (delays, gdouble, 0) : -1;
  r->detect_median = quantile (delays, delays->len, 0.5);
  r->detect_max = delays->len > 0 ? g_array_index (delays, gdouble, delays->len - 1) : -1;
  g_printerr ("N=%u: dead for %u of %u members, all after %.2f s\n",
              n, r->detect_seen, r->detect_expected, r->detect_all);

  r->false_dead = count_verdicts (members, "dead", NULL, victim->peer_id);
  r->false_suspect = count_verdicts (members, "suspect", NULL, victim->peer_id);
  ok = TRUE;

out:
  g_printerr ("N=%u: tearing down\n", n);
  /* The object managers hold the connections the fixture closes. */
  g_ptr_array_set_size (members, 0);
  plexus_test_fixture_free (fixture);
  return ok;
}

/* Like the tests' environment (tests/Makefile.inc), but defaulting to the
 * build tree so that the bench runs as it is. */
static gboolean
setup_environment (GError **error)
{
  const gchar *plugin_dir;
  g_autofree gchar *plugin_file = NULL;

  g_setenv ("PLEXUSD", ABS_TOP_BUILDDIR "/core/plexusd", FALSE);
  g_setenv ("PLEXUS_GOSSIP_PLUGIN_DIR", ABS_TOP_BUILDDIR "/plugins/gossip/.libs", FALSE);
  g_setenv ("PLEXUS_SYSTEM_CONFIG", "/dev/null", TRUE);
  plugin_dir = g_getenv ("PLEXUS_GOSSIP_PLUGIN_DIR");
  plugin_file = g_build_filename (plugin_dir, "gossip.plugin", NULL);
  if (!g_file_test (g_getenv ("PLEXUSD"), G_FILE_TEST_IS_EXECUTABLE)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND,
                 "no plexusd at %s (build it, or set PLEXUSD)", g_getenv ("PLEXUSD"));
    return FALSE;
  }
  if (!g_file_test (plugin_file, G_FILE_TEST_EXISTS)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND,
                 "no gossip.plugin in %s (build the plugin with 'make check', "
                 "or set PLEXUS_GOSSIP_PLUGIN_DIR)", plugin_dir);
    return FALSE;
  }
  /* For the daemons, which inherit the environment. */
  g_setenv ("PLEXUS_PLUGIN_PATH", plugin_dir, TRUE);
  return TRUE;
}

int
main (int argc, char **argv)
{
  guint sizes[] = { 8, 16, 24 };
  g_autoptr(GArray) list = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GError) error = NULL;
  PlexusSwimConfig config;

  verbose = g_getenv ("PLEXUS_BENCH_VERBOSE") != NULL;
  g_set_printerr_handler (print_stderr);
  for (gint i = 1; i < argc; i++) {
    guint64 n = g_ascii_strtoull (argv[i], NULL, 10);

    /* A server, a victim, a paused one and an observer at least. */
    if (n < 4 || n > 64) {
      g_printerr ("usage: %s [N...]  (4 <= N <= 64 members; default 8 16 24)\n", argv[0]);
      return 1;
    }
    g_array_append_val (list, n);
  }
  if (list->len == 0)
    g_array_append_vals (list, sizes, G_N_ELEMENTS (sizes));
  if (!setup_environment (&error)) {
    g_printerr ("gossip-procs: %s\n", error->message);
    return 1;
  }

  plexus_swim_config_init (&config);
  g_print ("gossip-procs: the gossip plugin in real processes: 1 server + N-1 super peers, "
           "each plexusd on its own bus, on 127.0.0.1\n");
  g_print ("plexusd %s, plugin %s\n", g_getenv ("PLEXUSD"), g_getenv ("PLEXUS_GOSSIP_PLUGIN_DIR"));
  g_print ("timers (plugin defaults): probe every %u ms, timeout %u ms, %u indirect probes; gossip every %u ms "
           "to %u members; updates sent %u x ceil(log10(N+1)) times; suspicion %.0f..%.0f x max(1, log10 N) "
           "x probe interval, K = %u; push-pull every %u ms; link keepalive ping every %u s\n",
           config.probe_interval_ms, config.probe_timeout_ms, config.indirect_probes,
           config.gossip_interval_ms, config.gossip_fanout, config.retransmit_mult,
           (gdouble) config.suspicion_alpha, (gdouble) config.suspicion_alpha * config.suspicion_beta,
           config.suspicion_k, config.push_pull_interval_ms, PLEXUS_LINK_DEFAULT_KEEPALIVE_INTERVAL);
  g_print ("columns: start = the newcomer's spawn to bus name (s); j50%%/j99%%/j100%% = from its bus name "
           "until that share of the N members show it alive with roles (s; 99%% of N < 100 is all), "
           "ref = (log2 N + ln N) x %u ms, seen = members that did; frames = BytesOut (link frame "
           "plaintext, i.e. envelopes, on all its links) in B/s per member over %d s idle: mean, server, "
           "super peers min..max; tcp = the same as TCP payload (ss bytes_sent: adds Noise tags, "
           "WebSocket framing and keepalive pings): mean, server; ps/pd = 'is suspect'/'is dead' log "
           "lines about a super peer stopped for %d ms, within %d s; dead = SIGKILL until every live "
           "member shows it dead, min/med/max = the individual verdicts (s); false/susp = 'is dead'/"
           "'is suspect' lines about members never killed, whole run (the pause included); "
           "-1 = not reached\n",
           config.gossip_interval_ms, IDLE_SECONDS, PAUSE_MS, PAUSE_WATCH_MS / 1000);
  /* The same widths as print_result (). */
  g_print ("%3s | %5s | %5s %5s %5s %5s %5s | %6s %6s %10s | %6s %6s | %2s %2s | %5s %5s %5s %5s %5s | %5s %5s\n",
           "N", "start", "j50%", "j99%", "j100%", "ref", "seen", "frames", "server", "super",
           "tcp", "server", "ps", "pd", "dead", "min", "med", "max", "seen", "false", "susp");

  for (guint i = 0; i < list->len; i++) {
    Result r;

    if (!run_size (g_array_index (list, guint, i), &r, &error)) {
      g_printerr ("gossip-procs: %s\n", error->message);
      return 1;
    }
    print_result (&r);
  }
  return 0;
}
