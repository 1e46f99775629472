/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

#include "plexus-json.h"
#include "plexus-swim.h"

/* The gossip-discovery plugin: binds the SWIM engine (plexus-swim.c) to
 * node links, the broker and the daemon.
 *
 * - Super peers, bootstrap peers and the server form the SWIM group. Each
 *   says its roles to every neighbour (`gossip.hello`); a neighbour that
 *   holds one of those roles too becomes a member, and the engine finds
 *   the rest of the group through it.
 * - SWIM messages travel as envelopes of the types the engine names
 *   (`swim.ping`, ...) through the messenger, which routes them to members
 *   this node has no link to.
 * - The node's capabilities are advertised by the engine, which signs them
 *   with the identity and re-advertises only on material changes.
 * - Advertisements feed the broker: each service a member says it offers
 *   becomes a provider (kind server for the server role, peer otherwise),
 *   updated as the member re-advertises and removed when it is declared
 *   dead, leaves, or stops offering the service.
 * - Every member's state is told to the daemon through the
 *   `member-changed` signal, which it shows on D-Bus.
 * - A standard peer attaches to ATTACH_TARGET super peers (`gossip.supers`
 *   names them). To each it sends its own signed advertisement, which
 *   lists the super peers it is attached to (`gossip.attach`); the super
 *   peer gossips it to the group, so that anyone can find a way to the
 *   standard peer, and from then on sends it the group's view
 *   (`gossip.view`: members' states and advertisements), which the standard
 *   peer merges from all its super peers as SWIM merges updates. The link's
 *   keepalive is the heartbeat: when it goes, the super peer stops sending
 *   and the standard peer attaches elsewhere and re-advertises. */

#define HELLO_TIMEOUT_MS 10000
/* A standard peer keeps links to this many super peers. */
#define ATTACH_TARGET 2
/* Super peers listed in one gossip.supers answer, at most. */
#define MAX_SUPERS_LISTED 32
/* Super peers remembered from those answers, for when nobody is left to
 * ask; beyond this the memory starts afresh. */
#define MAX_KNOWN_SUPERS 64
/* A super peer whose link went is not picked again for this long, unless
 * there is no other. */
#define AVOID_SECONDS 60
/* A super peer not linked this long after dialing began is given up. */
#define ATTACH_TIMEOUT_SECONDS 10
/* Short of super peers (none known yet, or all avoided): ask again. */
#define ATTACH_RETRY_SECONDS 2
/* How often the node's own capabilities are offered to the engine, which
 * decides whether they changed enough to advertise. */
#define CAPABILITIES_CHECK_MS 1000
/* A standard peer renews its advertisement this often, well within the
 * engine's retention of advertisements of nodes that are not members. */
#define READVERTISE_SECONDS 120
/* A super peer keeps links to at most this many other super peers. */
#define MAX_SUPER_LINKS 8
/* Room for updates in one gossip.view, below the envelope's limit. */
#define VIEW_BUDGET 40000
/* A standard peer's view holds at most as many nodes as a member's table. */
#define MAX_VIEW 4096
/* A standard peer forgets dead and left members after this long. */
#define VIEW_RETENTION_SECONDS 300

#define GROUP_ROLES (PLEXUS_ROLE_SUPER | PLEXUS_ROLE_BOOTSTRAP | PLEXUS_ROLE_SERVER)

struct _PlexusGossipPlugin {
  PlexusPlugin     parent_instance;

  PlexusMessenger *messenger;
  PlexusSwim      *swim;          /* NULL on a standard peer */
  gboolean         joined;        /* through the first member met */
  GCancellable    *cancellable;
  guint            tick_id;
  guint            capabilities_id;
  gulong           peer_linked_id;
  GHashTable      *providers;     /* peer ID → GPtrArray of service names we added */

  /* a standard peer's attachment to super peers */
  gulong           peer_unlinked_id;
  GHashTable      *group_neighbours; /* peer IDs of linked group nodes */
  GHashTable      *attached;      /* super peer ID → URI we keep a link to */
  GHashTable      *avoid;         /* super peer ID → monotonic µs until which it is not picked */
  GHashTable      *known_supers;  /* super peer ID → address, from gossip.supers answers */
  GHashTable      *attach_since;  /* super peer ID → monotonic µs its dialing began */
  guint            attach_check_id;
  gboolean         asking;        /* a gossip.supers request is out */
  guint            attach_retry_id;
  GHashTable      *view;          /* peer ID → ViewEntry: the group as its super peers tell it */
  guint64          ad_version;    /* of its own advertisement */
  guint64          viewed_version;  /* own advertisement last put in the view */
  GStrv            advertised_attached; /* the super peers it last advertised */
  guint            readvertise_id;
  guint            view_reap_id;

  /* a group node: routes to standard peers, links to super peers */
  GHashTable      *routes;        /* standard peer ID → the super peer given as its route */
  GHashTable      *super_links;   /* super peer ID → URI this node dials */

  /* a super peer's attached standard peers */
  GHashTable      *subscribers;   /* peer IDs sent the view */
  GHashTable      *snapshot_owed; /* subscribers to send it once the engine synced */
  PlexusSwimMessage *view_changes; /* updates to pass on after this drain */
};

typedef struct {
  PlexusSwimState state;
  guint64         incarnation;
  gint64          state_since;  /* monotonic µs */
  guint64         version;      /* of the advertisement, 0 if none */
  gchar          *capabilities;
  GPtrArray      *vouchers;     /* super peers attached to that told of it since */
} ViewEntry;

static void
view_entry_free (gpointer data)
{
  ViewEntry *entry = data;

  g_free (entry->capabilities);
  g_ptr_array_unref (entry->vouchers);
  g_free (entry);
}

enum {
  SIGNAL_MEMBER_CHANGED,
  SIGNAL_LOCATE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DECLARE_FINAL_TYPE (PlexusGossipPlugin, plexus_gossip_plugin, PLEXUS, GOSSIP_PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (PlexusGossipPlugin, plexus_gossip_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (PlexusGossipPlugin, plexus_gossip_plugin)

static void gossip_schedule (PlexusGossipPlugin *self);
static void attach_more (PlexusGossipPlugin *self);
static void attach_to_known (PlexusGossipPlugin *self, GHashTable *only);
static void view_add_member (PlexusGossipPlugin *self, const gchar *peer_id, PlexusSwimState state,
                             guint64 incarnation, gboolean with_advertisement);
static void view_flush (PlexusGossipPlugin *self);
static void send_owed_snapshots (PlexusGossipPlugin *self);
static void advertise_to_supers (PlexusGossipPlugin *self, gboolean force);

static PlexusContext *
gossip_context (PlexusGossipPlugin *self)
{
  return plexus_plugin_get_context (PLEXUS_PLUGIN (self));
}

static const gchar *
own_peer_id (PlexusGossipPlugin *self)
{
  return plexus_identity_get_peer_id (plexus_context_get_identity (gossip_context (self)));
}

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* ---- the broker, fed from advertisements ---- */

static void
forget_providers (PlexusGossipPlugin *self, const gchar *peer_id, PlexusCapabilities *keep)
{
  PlexusBroker *broker = plexus_context_get_broker (gossip_context (self));
  GPtrArray *services = g_hash_table_lookup (self->providers, peer_id);

  if (services == NULL)
    return;
  for (guint i = services->len; i > 0; i--) {
    const gchar *service = g_ptr_array_index (services, i - 1);
    PlexusServiceCapability capability;

    if (keep != NULL && plexus_capabilities_get_service (keep, service, &capability) && capability.available)
      continue;
    plexus_broker_remove_provider (broker, service, peer_id);
    g_ptr_array_remove_index (services, i - 1);
  }
  if (services->len == 0)
    g_hash_table_remove (self->providers, peer_id);
}

static void
apply_advertisement (PlexusGossipPlugin *self, const gchar *peer_id, PlexusCapabilities *caps)
{
  PlexusBroker *broker = plexus_context_get_broker (gossip_context (self));
  PlexusProviderKind kind = (plexus_capabilities_get_roles (caps) & PLEXUS_ROLE_SERVER) != 0
                            ? PLEXUS_PROVIDER_KIND_SERVER : PLEXUS_PROVIDER_KIND_PEER;
  g_auto(GStrv) services = plexus_capabilities_list_services (caps);
  GPtrArray *ours;

  /* Services it no longer offers go first. */
  forget_providers (self, peer_id, caps);
  ours = g_hash_table_lookup (self->providers, peer_id);
  if (ours == NULL) {
    ours = g_ptr_array_new_with_free_func (g_free);
    g_hash_table_insert (self->providers, g_strdup (peer_id), ours);
  }
  for (guint i = 0; services[i] != NULL; i++) {
    PlexusServiceCapability capability;
    PlexusProvider *provider;
    g_autoptr(PlexusProvider) added = NULL;
    g_autoptr(GError) error = NULL;

    if (!plexus_capabilities_get_service (caps, services[i], &capability) || !capability.available)
      continue;
    /* Anyone can advertise the server role: the server that relays
     * signaling is the configured one, which presence names
     * (plugins/relay). */
    if (kind == PLEXUS_PROVIDER_KIND_SERVER && strcmp (services[i], "signaling") == 0)
      continue;
    /* Known another way (e.g. a neighbour's STUN server with its address):
     * updated, not replaced. */
    provider = plexus_broker_lookup_provider (broker, services[i], peer_id);
    if (provider == NULL) {
      added = plexus_provider_new (services[i], peer_id, kind);
      provider = added;
    }
    plexus_provider_set_load (provider, capability.load);
    plexus_provider_set_capacity (provider, capability.capacity);
    plexus_provider_set_uptime (provider, plexus_capabilities_get_uptime (caps));
    plexus_provider_set_region (provider, plexus_capabilities_get_region (caps));
    if (added == NULL)
      continue;
    if (!plexus_broker_add_provider (broker, added, &error)) {
      g_debug ("cannot add %s's %s: %s", peer_id, services[i], error->message);
      continue;
    }
    if (!g_ptr_array_find_with_equal_func (ours, services[i], g_str_equal, NULL))
      g_ptr_array_add (ours, g_strdup (services[i]));
  }
  if (ours->len == 0)
    g_hash_table_remove (self->providers, peer_id);
}

/* ---- routes to standard peers, links between super peers ---- */

/* A standard peer's advertisement names its super peers: if this node is
 * linked to one of them, the node's routing is told that it reaches the
 * peer, so that signals for the peer go through a super peer it is
 * attached to rather than wherever a route search leads. */
static void
route_to_attached (PlexusGossipPlugin *self, const gchar *peer_id, PlexusCapabilities *caps)
{
  const gchar * const *attached = caps != NULL ? plexus_capabilities_get_attached (caps) : NULL;
  g_auto(GStrv) linked = plexus_messenger_list_linked_peers (self->messenger);
  const gchar *current = g_hash_table_lookup (self->routes, peer_id);
  const gchar *via = NULL;

  for (guint i = 0; attached != NULL && attached[i] != NULL && via == NULL; i++) {
    if (strcmp (attached[i], own_peer_id (self)) != 0 && g_strv_contains ((const gchar * const *) linked, attached[i]))
      via = attached[i];
  }
  if (g_strcmp0 (current, via) == 0)
    return;
  if (via == NULL) {
    plexus_messenger_remove_route (self->messenger, peer_id);
    g_hash_table_remove (self->routes, peer_id);
    return;
  }
  plexus_messenger_add_route (self->messenger, peer_id, via);
  g_hash_table_replace (self->routes, g_strdup (peer_id), g_strdup (via));
}

/* Routes again for every advertised standard peer: a link to a super peer
 * came or went. */
static void
route_all_attached (PlexusGossipPlugin *self)
{
  g_auto(GStrv) advertised = plexus_swim_list_advertised (self->swim);

  for (guint i = 0; advertised[i] != NULL; i++) {
    const gchar *text = plexus_swim_get_advertisement (self->swim, advertised[i], NULL);
    g_autoptr(PlexusCapabilities) caps = text != NULL ? plexus_capabilities_new_from_string (text, -1, NULL) : NULL;

    if (caps != NULL && plexus_capabilities_get_attached (caps)[0] != NULL)
      route_to_attached (self, advertised[i], caps);
  }
}

/* Super peers link to each other (the lower peer ID dials), up to
 * MAX_SUPER_LINKS, so that signals between their standard peers need not
 * cross the server. */
static void
link_to_super (PlexusGossipPlugin *self, const gchar *peer_id, PlexusCapabilities *caps)
{
  PlexusRole own_roles = plexus_context_get_roles (gossip_context (self));
  const gchar *address = plexus_capabilities_get_address (caps);
  g_autofree gchar *uri = NULL;

  if ((own_roles & PLEXUS_ROLE_SUPER) == 0 || (plexus_capabilities_get_roles (caps) & PLEXUS_ROLE_SUPER) == 0 ||
      address == NULL || strchr (address, '#') != NULL || strcmp (own_peer_id (self), peer_id) >= 0 ||
      g_hash_table_contains (self->super_links, peer_id) || g_hash_table_size (self->super_links) >= MAX_SUPER_LINKS)
    return;
  uri = g_strconcat (address, "#", peer_id, NULL);
  g_message ("linking to super peer %s at %s", peer_id, uri);
  plexus_messenger_connect (self->messenger, uri);
  g_hash_table_insert (self->super_links, g_strdup (peer_id), g_steal_pointer (&uri));
}

static void
unlink_super (PlexusGossipPlugin *self, const gchar *peer_id)
{
  const gchar *uri = g_hash_table_lookup (self->super_links, peer_id);

  if (uri == NULL)
    return;
  plexus_messenger_disconnect (self->messenger, uri);
  g_hash_table_remove (self->super_links, peer_id);
}

/* A super peer is alive again (restarted, or back from a partition): link
 * to it now rather than when the dialer's backoff ends, which can be a
 * minute after a few failed attempts. */
static void
relink_super (PlexusGossipPlugin *self, const gchar *peer_id)
{
  const gchar *uri = g_hash_table_lookup (self->super_links, peer_id);
  const gchar *text;
  g_autoptr(PlexusCapabilities) caps = NULL;

  if (uri != NULL) {
    plexus_messenger_connect (self->messenger, uri);
    return;
  }
  text = plexus_swim_get_advertisement (self->swim, peer_id, NULL);
  caps = text != NULL ? plexus_capabilities_new_from_string (text, -1, NULL) : NULL;
  if (caps != NULL && plexus_capabilities_get_attached (caps)[0] == NULL)
    link_to_super (self, peer_id, caps);
}

/* ---- the engine's outputs and events ---- */

static void
on_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  /* SWIM expects loss: an unreachable member is what probes find out. */
  if (!plexus_messenger_send_finish (PLEXUS_MESSENGER (source), result, &error))
    g_debug ("gossip message not sent: %s", error->message);
}

static void
drain (PlexusGossipPlugin *self)
{
  PlexusSwimOutput output;
  PlexusSwimEvent event;

  while (plexus_swim_pop_output (self->swim, &output)) {
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;

    root = plexus_json_parse_strict (output.body, output.length, PLEXUS_ENVELOPE_MAX_DEPTH, NULL, &error);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
      g_warning ("the membership engine wrote a body that does not parse: %s",
                 error != NULL ? error->message : "not an object");
    } else {
      g_autoptr(PlexusEnvelope) envelope =
        plexus_envelope_new (plexus_swim_message_type_to_string (output.type), own_peer_id (self),
                             output.to, json_node_get_object (root));

      plexus_messenger_send_async (self->messenger, envelope, self->cancellable, on_sent, NULL);
    }
    plexus_swim_output_clear (&output);
  }

  while (plexus_swim_pop_event (self->swim, &event)) {
    PlexusSwimState state = PLEXUS_SWIM_STATE_ALIVE;
    guint64 incarnation = 0;
    const gchar *capabilities = NULL;
    guint64 version = 0;

    switch (event.type) {
    case PLEXUS_SWIM_EVENT_ADVERTISEMENT: {
      g_autoptr(GError) error = NULL;
      g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new_from_string (event.capabilities, -1, &error);

      if (caps == NULL)
        g_warning ("member %s advertised capabilities that do not parse: %s", event.peer_id, error->message);
      else if (g_strcmp0 (plexus_capabilities_get_peer_id (caps), event.peer_id) != 0)
        g_warning ("member %s advertised the capabilities of %s", event.peer_id,
                   plexus_capabilities_get_peer_id (caps));
      else {
        apply_advertisement (self, event.peer_id, caps);
        if (plexus_capabilities_get_attached (caps)[0] != NULL)
          route_to_attached (self, event.peer_id, caps);
        else
          link_to_super (self, event.peer_id, caps);
      }
      break;
    }
    case PLEXUS_SWIM_EVENT_JOINED:
    case PLEXUS_SWIM_EVENT_ALIVE:
      relink_super (self, event.peer_id);
      break;
    case PLEXUS_SWIM_EVENT_DEAD:
    case PLEXUS_SWIM_EVENT_LEFT:
      forget_providers (self, event.peer_id, NULL);
      unlink_super (self, event.peer_id);
      break;
    default:
      break;
    }
    if (event.type == PLEXUS_SWIM_EVENT_FORGOTTEN) {
      forget_providers (self, event.peer_id, NULL);
      if (g_hash_table_remove (self->routes, event.peer_id))
        plexus_messenger_remove_route (self->messenger, event.peer_id);
      /* A member, not the advertisement of a node that never was one. */
      if (event.version == 0)
        g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, event.peer_id, "forgotten", NULL);
    } else if (plexus_swim_get_member_state (self->swim, event.peer_id, &state, &incarnation)) {
      capabilities = plexus_swim_get_advertisement (self->swim, event.peer_id, &version);
      /* A member's advertisement can come before the member does (gossip
       * carries both, in any order): a member that joins brings the one
       * held, or attached standard peers would never learn its roles. */
      view_add_member (self, event.peer_id, state, incarnation,
                       event.type == PLEXUS_SWIM_EVENT_ADVERTISEMENT || event.type == PLEXUS_SWIM_EVENT_JOINED);
      if (event.type != PLEXUS_SWIM_EVENT_ADVERTISEMENT)
        g_message ("member %s is %s", event.peer_id, plexus_swim_state_to_string (state));
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, event.peer_id,
                     plexus_swim_state_to_string (state), capabilities);
    }
    plexus_swim_event_clear (&event);
  }
  /* The group learns of a new advertisement of this node by gossip; the
   * standard peers attached here by their view (one attached to this
   * super peer alone would never hear of it otherwise). */
  if (plexus_swim_get_advertised_version (self->swim) != self->viewed_version) {
    self->viewed_version = plexus_swim_get_advertised_version (self->swim);
    view_add_member (self, own_peer_id (self), PLEXUS_SWIM_STATE_ALIVE, plexus_swim_get_incarnation (self->swim),
                     TRUE);
  }
  view_flush (self);
  if (g_hash_table_size (self->snapshot_owed) > 0 && plexus_swim_is_synced (self->swim))
    send_owed_snapshots (self);
  gossip_schedule (self);
}

static gboolean
on_tick (gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;

  self->tick_id = 0;
  plexus_swim_tick (self->swim, now_ms ());
  drain (self);
  return G_SOURCE_REMOVE;
}

/* One timer, for the engine's next deadline. */
static void
gossip_schedule (PlexusGossipPlugin *self)
{
  gint64 deadline = plexus_swim_next_deadline (self->swim);
  gint64 delay = deadline < 0 ? 1000 : MAX (deadline - now_ms (), 0);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  self->tick_id = g_timeout_add ((guint) MIN (delay, 60000), on_tick, self);
}

static gboolean
on_capabilities_check (gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!plexus_swim_set_capabilities (self->swim, now_ms (), plexus_context_get_capabilities (gossip_context (self)),
                                     &error) && error != NULL)
    g_warning ("cannot advertise this node's capabilities: %s", error->message);
  drain (self);
  return G_SOURCE_CONTINUE;
}

/* ---- messages ---- */

static PlexusEnvelope *
on_swim_message (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope,
                 gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  PlexusSwimMessageType type;
  g_autoptr(PlexusSwimMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  if (!plexus_swim_message_type_from_string (plexus_envelope_get_message_type (envelope), &type))
    return NULL;
  message = plexus_swim_message_new_from_json (type, plexus_envelope_get_body (envelope), &error);
  if (message == NULL)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      error->message);
  plexus_swim_receive_message (self->swim, now_ms (), plexus_envelope_get_from (envelope), message);
  drain (self);
  return NULL;
}

static JsonObject *
hello_body (PlexusGossipPlugin *self)
{
  JsonObject *body = json_object_new ();
  JsonArray *array = json_array_new ();
  g_auto(GStrv) roles = plexus_roles_to_strv (plexus_context_get_roles (gossip_context (self)));

  for (guint i = 0; roles[i] != NULL; i++)
    json_array_add_string_element (array, roles[i]);
  json_object_set_array_member (body, "roles", array);
  return body;
}

/* Reads `roles` of a hello; unknown roles are ignored, a malformed list
 * gives FALSE. */
static gboolean
hello_roles (JsonObject *body, PlexusRole *roles)
{
  JsonNode *member = json_object_get_member (body, "roles");
  JsonArray *array;

  *roles = PLEXUS_ROLE_NONE;
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member))
    return FALSE;
  array = json_node_get_array (member);
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *element = json_array_get_element (array, i);
    PlexusRole role;

    if (json_node_get_value_type (element) != G_TYPE_STRING)
      return FALSE;
    if (plexus_role_from_string (json_node_get_string (element), &role, NULL))
      *roles |= role;
  }
  return TRUE;
}

/* A neighbour in the group is a member: the engine takes it from there. */
static void
neighbour_roles (PlexusGossipPlugin *self, const gchar *peer_id, PlexusRole roles)
{
  const gchar *seeds[] = { peer_id, NULL };

  if ((roles & GROUP_ROLES) == 0)
    return;
  g_hash_table_add (self->group_neighbours, g_strdup (peer_id));
  if (self->swim == NULL) {
    advertise_to_supers (self, FALSE);
    attach_more (self);
    return;
  }
  /* The first member met is the way in: joining through it exchanges the
   * whole membership at once; later ones are simply added. */
  if (!self->joined) {
    self->joined = TRUE;
    plexus_swim_join (self->swim, now_ms (), seeds);
  } else {
    plexus_swim_add_member (self->swim, now_ms (), peer_id);
  }
  drain (self);
  /* A new way to the standard peers attached to it. */
  route_all_attached (self);
}

/* ---- a super peer's view for its attached standard peers ---- */

/* Adds what @peer_id's update is (its state, and its advertisement when
 * @with_advertisement) to @message, about @self's own engine. */
static void
add_member_updates (PlexusGossipPlugin *self, PlexusSwimMessage *message, const gchar *peer_id,
                    PlexusSwimState state, guint64 incarnation, gboolean with_advertisement)
{
  PlexusSwimUpdate *update = plexus_swim_message_add_update (message);
  guint8 signature[PLEXUS_SWIM_SIGNATURE_SIZE];
  const gchar *capabilities;
  guint64 version;

  update->state = state;
  g_strlcpy (update->peer_id, peer_id, sizeof update->peer_id);
  update->incarnation = incarnation;
  if (!with_advertisement ||
      (capabilities = plexus_swim_get_advertisement_full (self->swim, peer_id, &version, signature)) == NULL)
    return;
  update = plexus_swim_message_add_update (message);
  update->is_advertisement = TRUE;
  g_strlcpy (update->peer_id, peer_id, sizeof update->peer_id);
  update->version = version;
  update->capabilities = g_strdup (capabilities);
  memcpy (update->signature, signature, sizeof update->signature);
}

static void
view_add_member (PlexusGossipPlugin *self, const gchar *peer_id, PlexusSwimState state,
                 guint64 incarnation, gboolean with_advertisement)
{
  if (g_hash_table_size (self->subscribers) == 0)
    return;
  if (self->view_changes == NULL)
    self->view_changes = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  add_member_updates (self, self->view_changes, peer_id, state, incarnation, with_advertisement);
}

/* A whole snapshot on its way: once every part of it is queued on the
 * link, `gossip.view-end` follows them, telling the peer its view is
 * whole. */
typedef struct {
  PlexusGossipPlugin *self;  /* strong */
  gchar              *to;
  guint               pending;  /* parts not yet sent, +1 while making them */
  gboolean            failed;
} SnapshotSend;

static void
snapshot_part_done (SnapshotSend *send, gboolean sent)
{
  if (!sent)
    send->failed = TRUE;
  if (--send->pending > 0)
    return;
  if (!send->failed && send->self->messenger != NULL && send->self->cancellable != NULL &&
      g_hash_table_contains (send->self->subscribers, send->to)) {
    g_autoptr(JsonObject) body = json_object_new ();
    g_autoptr(PlexusEnvelope) end = plexus_envelope_new ("gossip.view-end", own_peer_id (send->self), send->to, body);

    plexus_messenger_send_async (send->self->messenger, end, send->self->cancellable, on_sent, NULL);
  }
  g_object_unref (send->self);
  g_free (send->to);
  g_free (send);
}

static void
on_snapshot_part_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SnapshotSend *send = user_data;
  g_autoptr(GError) error = NULL;
  gboolean sent = plexus_messenger_send_finish (PLEXUS_MESSENGER (source), result, &error);

  if (!sent)
    g_debug ("part of the view for %s not sent: %s", send->to, error->message);
  snapshot_part_done (send, sent);
}

/* @snapshot, if not NULL, is told when the message is on its way. */
static void
send_view (PlexusGossipPlugin *self, const gchar *to, PlexusSwimMessage *message, SnapshotSend *snapshot)
{
  g_autoptr(JsonObject) body = plexus_swim_message_to_json (message);
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("gossip.view", own_peer_id (self), to, body);

  if (snapshot != NULL)
    snapshot->pending++;
  plexus_messenger_send_async (self->messenger, envelope, self->cancellable,
                               snapshot != NULL ? on_snapshot_part_sent : on_sent, snapshot);
}

/* Sends @message's updates to @to in gossip.view messages that each fit
 * in an envelope. */
static void
send_view_chunked (PlexusGossipPlugin *self, const gchar *to, PlexusSwimMessage *message, SnapshotSend *snapshot)
{
  g_autoptr(PlexusSwimMessage) chunk = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  gsize used = 0;

  for (guint i = 0; i < message->updates->len; i++) {
    const PlexusSwimUpdate *update = &g_array_index (message->updates, PlexusSwimUpdate, i);
    gsize size = plexus_swim_update_encoded_size (update);

    if (chunk->updates->len > 0 &&
        (used + size > VIEW_BUDGET || chunk->updates->len >= PLEXUS_SWIM_MESSAGE_MAX_UPDATES)) {
      send_view (self, to, chunk, snapshot);
      plexus_swim_message_free (chunk);
      chunk = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
      used = 0;
    }
    plexus_swim_update_copy (plexus_swim_message_add_update (chunk), update);
    used += size;
  }
  if (chunk->updates->len > 0)
    send_view (self, to, chunk, snapshot);
}

/* What changed in this drain goes to every attached standard peer. */
static void
view_flush (PlexusGossipPlugin *self)
{
  g_autoptr(PlexusSwimMessage) changes = g_steal_pointer (&self->view_changes);
  GHashTableIter iter;
  gpointer key;

  if (changes == NULL || self->messenger == NULL || self->cancellable == NULL)
    return;
  g_hash_table_iter_init (&iter, self->subscribers);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    send_view_chunked (self, key, changes, NULL);
}

/* The whole group as this node sees it: itself and every member, with
 * their advertisements. Dead and left ones too, while remembered: a
 * standard peer that comes back after a while (a laptop that slept) may
 * still hold them alive, and nothing else would tell it. With @whole (the
 * engine has synced), `gossip.view-end` follows. */
static void
send_view_snapshot (PlexusGossipPlugin *self, const gchar *to, gboolean whole)
{
  g_autoptr(PlexusSwimMessage) snapshot = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  g_auto(GStrv) members = plexus_swim_list_members (self->swim);
  SnapshotSend *send;

  add_member_updates (self, snapshot, own_peer_id (self), PLEXUS_SWIM_STATE_ALIVE,
                      plexus_swim_get_incarnation (self->swim), TRUE);
  for (guint i = 0; members[i] != NULL; i++) {
    PlexusSwimState state;
    guint64 incarnation;

    if (plexus_swim_get_member_state (self->swim, members[i], &state, &incarnation))
      add_member_updates (self, snapshot, members[i], state, incarnation, TRUE);
  }
  if (!whole) {
    send_view_chunked (self, to, snapshot, NULL);
    return;
  }
  send = g_new0 (SnapshotSend, 1);
  send->self = g_object_ref (self);
  send->to = g_strdup (to);
  send->pending = 1;
  send_view_chunked (self, to, snapshot, send);
  snapshot_part_done (send, TRUE);
}

/* Subscribers that attached before the engine had synced: they had what
 * it knew then, and get the whole view now. */
static void
send_owed_snapshots (PlexusGossipPlugin *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->snapshot_owed);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    if (g_hash_table_contains (self->subscribers, key))
      send_view_snapshot (self, key, TRUE);
    g_hash_table_iter_remove (&iter);
  }
}

/* `gossip.attach`: a standard peer linked here gives its advertisement,
 * which lists this node among its super peers; the group hears of it and
 * the peer gets the view from now on. */
static PlexusEnvelope *
on_attach (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  const gchar *from = plexus_envelope_get_from (envelope);
  g_autoptr(PlexusSwimMessage) message = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) body = NULL;
  const PlexusSwimUpdate *update;
  gboolean is_new;

  if (g_strcmp0 (link_peer_id, from) != 0)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "a peer attaches over its own link");
  message = plexus_swim_message_new_from_json (PLEXUS_SWIM_MESSAGE_GOSSIP, plexus_envelope_get_body (envelope), &error);
  if (message == NULL)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      error->message);
  update = message->updates->len == 1 ? &g_array_index (message->updates, PlexusSwimUpdate, 0) : NULL;
  if (update == NULL || !update->is_advertisement || strcmp (update->peer_id, from) != 0)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "gossip.attach carries one advertisement: the sender's own");
  caps = plexus_capabilities_new_from_string (update->capabilities, -1, &error);
  if (caps == NULL)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      error->message);
  if (!g_strv_contains (plexus_capabilities_get_attached (caps), own_peer_id (self)))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "the advertisement does not list this node among the peer's super peers");
  if ((plexus_capabilities_get_roles (caps) & GROUP_ROLES) != 0)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "members of the group do not attach");
  if (!plexus_swim_offer_advertisement (self->swim, now_ms (), update, &error))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      error->message);
  is_new = g_hash_table_add (self->subscribers, g_strdup (from));
  if (is_new)
    g_message ("standard peer %s attached", from);
  drain (self);
  body = json_object_new ();
  json_object_set_boolean_member (body, "attached", TRUE);
  /* An engine no member has answered a sync yet may know little more
   * than itself (or be alone): what it knows goes now, the whole view
   * once it has synced. */
  if (is_new)
    send_view_snapshot (self, from, plexus_swim_is_synced (self->swim));
  if (is_new && !plexus_swim_is_synced (self->swim))
    g_hash_table_add (self->snapshot_owed, g_strdup (from));
  return plexus_envelope_new_reply (envelope, "gossip.attach", own_peer_id (self), body);
}

/* ---- a standard peer: its advertisement and its view of the group ---- */

/* The super peers it is attached to now: those picked that are linked and
 * said they are in the group. */
static GStrv
linked_attached (PlexusGossipPlugin *self)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GList) keys = g_hash_table_get_keys (self->attached);
  guint n = 0;

  keys = g_list_sort (keys, (GCompareFunc) strcmp);
  for (GList *l = keys; l != NULL && n < PLEXUS_CAPABILITIES_MAX_ATTACHED; l = l->next) {
    if (g_hash_table_contains (self->group_neighbours, l->data)) {
      g_strv_builder_add (builder, l->data);
      n++;
    }
  }
  return g_strv_builder_end (builder);
}

static void
on_attach_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree gchar *peer_id = user_data;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;

  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, &error);
  if (answer == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("super peer %s did not take the attachment: %s", peer_id, error->message);
}

/* Signs the node's capabilities, listing its super peers, and gives them
 * to each of those super peers; @force renews an unchanged list. */
static void
advertise_to_supers (PlexusGossipPlugin *self, gboolean force)
{
  PlexusContext *context = gossip_context (self);
  PlexusCapabilities *own = plexus_context_get_capabilities (context);
  g_auto(GStrv) supers = linked_attached (self);
  g_autoptr(PlexusSwimMessage) message = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autofree guint8 *data = NULL;
  g_autoptr(GBytes) signature = NULL;
  PlexusSwimUpdate *update;
  gsize length;

  if (self->messenger == NULL || self->cancellable == NULL)
    return;
  if (!force && self->advertised_attached != NULL &&
      g_strv_equal ((const gchar * const *) supers, (const gchar * const *) self->advertised_attached))
    return;
  g_strfreev (self->advertised_attached);
  self->advertised_attached = g_strdupv (supers);
  plexus_capabilities_set_attached (own, (const gchar * const *) supers);
  if (supers[0] == NULL)
    return;

  message = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  update = plexus_swim_message_add_update (message);
  update->is_advertisement = TRUE;
  g_strlcpy (update->peer_id, own_peer_id (self), sizeof update->peer_id);
  /* Wall-clock milliseconds: a restarted peer still goes above the
   * versions its earlier life gave out. */
  self->ad_version = MAX (self->ad_version + 1, (guint64) (g_get_real_time () / 1000));
  update->version = self->ad_version;
  update->capabilities = plexus_capabilities_to_string (own);
  data = plexus_swim_advertisement_signed_data (update->peer_id, update->version, update->capabilities, &length);
  signature = plexus_identity_sign (plexus_context_get_identity (context), data, length);
  if (g_bytes_get_size (signature) != PLEXUS_SWIM_SIGNATURE_SIZE)
    return;
  memcpy (update->signature, g_bytes_get_data (signature, NULL), PLEXUS_SWIM_SIGNATURE_SIZE);
  body = plexus_swim_message_to_json (message);
  for (guint i = 0; supers[i] != NULL; i++)
    plexus_messenger_request_async (self->messenger, supers[i], "gossip.attach", body, HELLO_TIMEOUT_MS,
                                    self->cancellable, on_attach_answer, g_strdup (supers[i]));
}

static gboolean
on_readvertise (gpointer user_data)
{
  advertise_to_supers (user_data, TRUE);
  return G_SOURCE_CONTINUE;
}

/* SWIM's order between updates of one incarnation. */
static guint
state_rank (PlexusSwimState state)
{
  switch (state) {
  case PLEXUS_SWIM_STATE_ALIVE:
    return 0;
  case PLEXUS_SWIM_STATE_SUSPECT:
    return 1;
  case PLEXUS_SWIM_STATE_DEAD:
  case PLEXUS_SWIM_STATE_LEFT:
  default:
    return 2;
  }
}

/* Merges one update of a view; TRUE if it told something new. */
static gboolean
view_merge (PlexusGossipPlugin *self, const PlexusSwimUpdate *update, ViewEntry **changed)
{
  ViewEntry *entry = g_hash_table_lookup (self->view, update->peer_id);
  g_autoptr(PlexusCapabilities) caps = NULL;

  if (entry == NULL) {
    if (g_hash_table_size (self->view) >= MAX_VIEW)
      return FALSE;
    entry = g_new0 (ViewEntry, 1);
    entry->vouchers = g_ptr_array_new_with_free_func (g_free);
    /* Known by its advertisement before its state: alive, at the lowest
     * incarnation, until told otherwise. */
    entry->state = PLEXUS_SWIM_STATE_ALIVE;
    entry->state_since = g_get_monotonic_time ();
    g_hash_table_insert (self->view, g_strdup (update->peer_id), entry);
    if (!update->is_advertisement) {
      entry->state = update->state;
      entry->incarnation = update->incarnation;
      *changed = entry;
      return TRUE;
    }
  }
  if (update->is_advertisement) {
    if (update->version <= entry->version || !plexus_swim_advertisement_verify (update))
      return FALSE;
    caps = plexus_capabilities_new_from_string (update->capabilities, -1, NULL);
    if (caps == NULL)
      return FALSE;
    entry->version = update->version;
    g_free (entry->capabilities);
    entry->capabilities = g_strdup (update->capabilities);
    if (entry->state == PLEXUS_SWIM_STATE_ALIVE || entry->state == PLEXUS_SWIM_STATE_SUSPECT)
      apply_advertisement (self, update->peer_id, caps);
    *changed = entry;
    return TRUE;
  }
  if (update->incarnation < entry->incarnation ||
      (update->incarnation == entry->incarnation && state_rank (update->state) <= state_rank (entry->state)))
    return FALSE;
  entry->state = update->state;
  entry->incarnation = update->incarnation;
  entry->state_since = g_get_monotonic_time ();
  if (entry->state == PLEXUS_SWIM_STATE_DEAD || entry->state == PLEXUS_SWIM_STATE_LEFT) {
    forget_providers (self, update->peer_id, NULL);
  } else if (entry->capabilities != NULL) {
    caps = plexus_capabilities_new_from_string (entry->capabilities, -1, NULL);
    if (caps != NULL)
      apply_advertisement (self, update->peer_id, caps);
  }
  *changed = entry;
  return TRUE;
}

/* @super, a super peer this node is attached to, told of @peer_id. */
static void
view_vouch (PlexusGossipPlugin *self, const gchar *peer_id, const gchar *super)
{
  ViewEntry *entry = g_hash_table_lookup (self->view, peer_id);

  for (guint i = 0; entry != NULL && i < entry->vouchers->len; i++) {
    if (strcmp (g_ptr_array_index (entry->vouchers, i), super) == 0)
      return;
  }
  if (entry != NULL)
    g_ptr_array_add (entry->vouchers, g_strdup (super));
}

/* This node is no longer attached to @super: what it told no longer
 * counts. */
static void
view_unvouch (PlexusGossipPlugin *self, const gchar *super)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->view);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    GPtrArray *vouchers = ((ViewEntry *) value)->vouchers;

    for (guint i = 0; i < vouchers->len; i++) {
      if (strcmp (g_ptr_array_index (vouchers, i), super) == 0) {
        g_ptr_array_remove_index_fast (vouchers, i);
        break;
      }
    }
  }
}

/* `gossip.view`: what a super peer this node is attached to knows of the
 * group. */
static PlexusEnvelope *
on_view (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  const gchar *from = plexus_envelope_get_from (envelope);
  g_autoptr(PlexusSwimMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (link_peer_id, from) != 0 || !g_hash_table_contains (self->attached, from))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "a view comes from a super peer this node is attached to, over its link");
  message = plexus_swim_message_new_from_json (PLEXUS_SWIM_MESSAGE_GOSSIP, plexus_envelope_get_body (envelope), &error);
  if (message == NULL)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      error->message);
  for (guint i = 0; i < message->updates->len; i++) {
    const PlexusSwimUpdate *update = &g_array_index (message->updates, PlexusSwimUpdate, i);
    ViewEntry *entry = NULL;

    if (strcmp (update->peer_id, own_peer_id (self)) == 0)
      continue;
    if (view_merge (self, update, &entry)) {
      if (!update->is_advertisement)
        g_message ("member %s is %s", update->peer_id, plexus_swim_state_to_string (entry->state));
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, update->peer_id,
                     plexus_swim_state_to_string (entry->state), entry->capabilities);
    }
    view_vouch (self, update->peer_id, from);
  }
  return NULL;
}

/* Nodes that no super peer this node is attached to has told of since it
 * attached, once one of them has sent its whole view: the group forgot
 * them while this node was away (asleep, cut off), and no change will
 * ever say so. */
static void
view_prune (PlexusGossipPlugin *self)
{
  GHashTableIter iter;
  gpointer key, value;
  g_autoptr(GPtrArray) unknown = g_ptr_array_new_with_free_func (g_free);

  g_hash_table_iter_init (&iter, self->view);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (((ViewEntry *) value)->vouchers->len == 0) {
      g_ptr_array_add (unknown, g_strdup (key));
      g_hash_table_iter_remove (&iter);
    }
  }
  for (guint i = 0; i < unknown->len; i++) {
    const gchar *peer_id = g_ptr_array_index (unknown, i);

    g_message ("member %s is unknown to the super peers; forgetting it", peer_id);
    forget_providers (self, peer_id, NULL);
    g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, peer_id, "forgotten", NULL);
  }
}

/* `gossip.view-end`: the whole view of a super peer this node is attached
 * to came before, over the same link. */
static PlexusEnvelope *
on_view_end (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  const gchar *from = plexus_envelope_get_from (envelope);

  if (g_strcmp0 (link_peer_id, from) != 0 || !g_hash_table_contains (self->attached, from))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "a view comes from a super peer this node is attached to, over its link");
  view_prune (self);
  return NULL;
}

/* Dead and left members are kept a while, as the group does, then
 * forgotten. */
static gboolean
on_view_reap (gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key, value;
  g_autoptr(GPtrArray) forgotten = g_ptr_array_new_with_free_func (g_free);

  g_hash_table_iter_init (&iter, self->view);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    ViewEntry *entry = value;

    if ((entry->state == PLEXUS_SWIM_STATE_DEAD || entry->state == PLEXUS_SWIM_STATE_LEFT) &&
        now - entry->state_since >= (gint64) VIEW_RETENTION_SECONDS * G_USEC_PER_SEC) {
      g_ptr_array_add (forgotten, g_strdup (key));
      g_hash_table_iter_remove (&iter);
    }
  }
  for (guint i = 0; i < forgotten->len; i++)
    g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, g_ptr_array_index (forgotten, i), "forgotten", NULL);
  return G_SOURCE_CONTINUE;
}

/* ---- standard peers attach to super peers ---- */

/* `gossip.supers`: the super peers this group node knows alive, with the
 * address each advertised. */
static PlexusEnvelope *
on_supers (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  g_autoptr(JsonObject) body = json_object_new ();
  JsonArray *list = json_array_new ();
  g_auto(GStrv) members = plexus_swim_get_members (self->swim);
  PlexusCapabilities *own = plexus_context_get_capabilities (gossip_context (self));
  guint listed = 0;

  if ((plexus_capabilities_get_roles (own) & PLEXUS_ROLE_SUPER) != 0 && plexus_capabilities_get_address (own) != NULL) {
    JsonObject *entry = json_object_new ();

    json_object_set_string_member (entry, "peer", own_peer_id (self));
    json_object_set_string_member (entry, "address", plexus_capabilities_get_address (own));
    json_array_add_object_element (list, entry);
    listed++;
  }
  for (guint i = 0; members[i] != NULL && listed < MAX_SUPERS_LISTED; i++) {
    PlexusSwimState state;
    guint64 incarnation, version;
    const gchar *text;
    g_autoptr(PlexusCapabilities) caps = NULL;
    JsonObject *entry;

    if (!plexus_swim_get_member_state (self->swim, members[i], &state, &incarnation) || state != PLEXUS_SWIM_STATE_ALIVE)
      continue;
    text = plexus_swim_get_advertisement (self->swim, members[i], &version);
    if (text == NULL || (caps = plexus_capabilities_new_from_string (text, -1, NULL)) == NULL)
      continue;
    if ((plexus_capabilities_get_roles (caps) & PLEXUS_ROLE_SUPER) == 0 || plexus_capabilities_get_address (caps) == NULL)
      continue;
    entry = json_object_new ();
    json_object_set_string_member (entry, "peer", members[i]);
    json_object_set_string_member (entry, "address", plexus_capabilities_get_address (caps));
    json_array_add_object_element (list, entry);
    listed++;
  }
  json_object_set_array_member (body, "supers", list);
  return plexus_envelope_new_reply (envelope, "gossip.supers", own_peer_id (self), body);
}

static gboolean
is_avoided (PlexusGossipPlugin *self, const gchar *peer_id)
{
  gint64 *until = g_hash_table_lookup (self->avoid, peer_id);

  return until != NULL && *until > g_get_monotonic_time ();
}

static gboolean
on_attach_retry (gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;

  self->attach_retry_id = 0;
  attach_more (self);
  return G_SOURCE_REMOVE;
}

/* Called when an attempt ends: short of super peers, try again soon. */
static void
attach_retry_later (PlexusGossipPlugin *self)
{
  if (self->messenger == NULL || self->attach_retry_id != 0 || g_hash_table_size (self->attached) >= ATTACH_TARGET)
    return;
  self->attach_retry_id = g_timeout_add_seconds (ATTACH_RETRY_SECONDS, on_attach_retry, self);
}

static void
on_supers_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(PlexusGossipPlugin) self = user_data;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) listed = NULL;
  JsonNode *member;
  JsonArray *list;

  self->asking = FALSE;
  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, &error);
  if (answer == NULL || self->messenger == NULL) {
    if (answer == NULL)
      g_debug ("cannot list super peers: %s", error->message);
    attach_retry_later (self);
    return;
  }
  member = json_object_get_member (plexus_envelope_get_body (answer), "supers");
  if (member == NULL || !JSON_NODE_HOLDS_ARRAY (member)) {
    g_message ("ignoring a malformed gossip.supers answer from %s", plexus_envelope_get_from (answer));
    attach_retry_later (self);
    return;
  }
  list = json_node_get_array (member);
  /* Merged, not replaced: a super peer missing from this answer may be
   * restarting, and is worth a try when there is nobody left to ask. */
  if (g_hash_table_size (self->known_supers) > MAX_KNOWN_SUPERS)
    g_hash_table_remove_all (self->known_supers);
  listed = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < json_array_get_length (list); i++) {
    JsonNode *element = json_array_get_element (list, i);
    JsonObject *entry = JSON_NODE_HOLDS_OBJECT (element) ? json_node_get_object (element) : NULL;
    const gchar *peer = entry != NULL ? json_object_get_string_member_with_default (entry, "peer", NULL) : NULL;
    const gchar *address = entry != NULL ? json_object_get_string_member_with_default (entry, "address", NULL) : NULL;

    if (!plexus_peer_id_is_valid (peer) || !plexus_capabilities_address_is_valid (address)
        || strchr (address, '#') != NULL || strcmp (peer, own_peer_id (self)) == 0)
      continue;
    g_hash_table_replace (self->known_supers, g_strdup (peer), g_strdup (address));
    g_hash_table_add (listed, (gpointer) peer);
  }
  /* Those alive now; the remembered ones only when nobody can be asked. */
  attach_to_known (self, listed);
  attach_retry_later (self);
}

/* Attaches to super peers neighbours listed (those in @only, if given), up
 * to ATTACH_TARGET: random among the candidates, so that peers spread over
 * super peers; one that failed lately only when there is nothing else (it
 * may be back: a restarted super peer keeps its address). */
static void
attach_to_known (PlexusGossipPlugin *self, GHashTable *only)
{
  g_autoptr(GPtrArray) candidates = g_ptr_array_new ();
  g_autoptr(GPtrArray) avoided = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->known_supers);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    if (!g_hash_table_contains (self->attached, key) && (only == NULL || g_hash_table_contains (only, key)))
      g_ptr_array_add (is_avoided (self, key) ? avoided : candidates, key);
  }
  while ((candidates->len > 0 || avoided->len > 0) && g_hash_table_size (self->attached) < ATTACH_TARGET) {
    GPtrArray *from = candidates->len > 0 ? candidates : avoided;
    guint pick = (guint) g_random_int_range (0, (gint32) from->len);
    const gchar *peer = g_ptr_array_index (from, pick);
    g_autofree gchar *uri = g_strconcat (g_hash_table_lookup (self->known_supers, peer), "#", peer, NULL);
    gint64 *since = g_new (gint64, 1);

    g_message ("attaching to super peer %s at %s", peer, uri);
    g_hash_table_remove (self->avoid, peer);
    g_hash_table_insert (self->attached, g_strdup (peer), g_strdup (uri));
    *since = g_get_monotonic_time ();
    g_hash_table_replace (self->attach_since, g_strdup (peer), since);
    plexus_messenger_connect (self->messenger, uri);
    g_ptr_array_remove_index_fast (from, pick);
  }
}

/* A standard peer with fewer than ATTACH_TARGET super peers asks a group
 * neighbour which super peers there are. */
static void
attach_more (PlexusGossipPlugin *self)
{
  GHashTableIter iter;
  gpointer key;

  if (self->swim != NULL || self->messenger == NULL || self->asking
      || g_hash_table_size (self->attached) >= ATTACH_TARGET)
    return;
  g_hash_table_iter_init (&iter, self->group_neighbours);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    /* Asking a super peer we are attached to is as good as any. */
    self->asking = TRUE;
    plexus_messenger_request_async (self->messenger, key, "gossip.supers", NULL, HELLO_TIMEOUT_MS,
                                    self->cancellable, on_supers_answer, g_object_ref (self));
    return;
  }
  /* Nobody to ask (the server is gone too): the super peers listed last
   * time, which may be coming back. */
  attach_to_known (self, NULL);
  attach_retry_later (self);
}

static void
avoid_super (PlexusGossipPlugin *self, const gchar *peer_id)
{
  gint64 *until = g_new (gint64, 1);

  *until = g_get_monotonic_time () + (gint64) AVOID_SECONDS * G_USEC_PER_SEC;
  g_hash_table_replace (self->avoid, g_strdup (peer_id), until);
}

/* A super peer picked but never linked (dead, though the group did not
 * know yet): given up, so that the peer attaches elsewhere. */
static gboolean
on_attach_check (gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->attached);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    gint64 *since = g_hash_table_lookup (self->attach_since, key);

    if (!g_hash_table_contains (self->group_neighbours, key) && since != NULL &&
        g_get_monotonic_time () - *since >= (gint64) ATTACH_TIMEOUT_SECONDS * G_USEC_PER_SEC)
      g_ptr_array_add (stale, g_strdup (key));
  }
  for (guint i = 0; i < stale->len; i++) {
    const gchar *peer_id = g_ptr_array_index (stale, i);

    g_message ("super peer %s did not link within %d s; attaching elsewhere", peer_id, ATTACH_TIMEOUT_SECONDS);
    plexus_messenger_disconnect (self->messenger, g_hash_table_lookup (self->attached, peer_id));
    g_hash_table_remove (self->attached, peer_id);
    g_hash_table_remove (self->attach_since, peer_id);
    view_unvouch (self, peer_id);
    avoid_super (self, peer_id);
  }
  if (stale->len > 0)
    attach_more (self);
  return G_SOURCE_CONTINUE;
}

static void
on_peer_unlinked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  const gchar *uri;

  g_hash_table_remove (self->group_neighbours, peer_id);
  g_hash_table_remove (self->snapshot_owed, peer_id);
  if (g_hash_table_remove (self->subscribers, peer_id))
    g_message ("standard peer %s detached", peer_id);
  if (self->swim != NULL) {
    GHashTableIter iter;
    gpointer key, value;

    /* The node dropped the routes through it; others may remain. */
    g_hash_table_iter_init (&iter, self->routes);
    while (g_hash_table_iter_next (&iter, &key, &value)) {
      if (strcmp (value, peer_id) == 0)
        g_hash_table_iter_remove (&iter);
    }
    route_all_attached (self);
  }
  uri = g_hash_table_lookup (self->attached, peer_id);
  if (uri == NULL)
    return;
  /* Gone, or going: attach elsewhere rather than wait for it. */
  g_message ("super peer %s is gone; attaching elsewhere", peer_id);
  plexus_messenger_disconnect (self->messenger, uri);
  g_hash_table_remove (self->attached, peer_id);
  g_hash_table_remove (self->attach_since, peer_id);
  view_unvouch (self, peer_id);
  avoid_super (self, peer_id);
  /* The rest of the group learns where it is attached now. */
  advertise_to_supers (self, FALSE);
  attach_more (self);
}

static PlexusEnvelope *
on_hello (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusGossipPlugin *self = user_data;
  g_autoptr(JsonObject) body = NULL;
  PlexusRole roles;

  if (!hello_roles (plexus_envelope_get_body (envelope), &roles))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "a gossip.hello body needs 'roles', an array of strings");
  neighbour_roles (self, plexus_envelope_get_from (envelope), roles);
  body = hello_body (self);
  return plexus_envelope_new_reply (envelope, "gossip.hello", own_peer_id (self), body);
}

typedef struct {
  PlexusGossipPlugin *self;  /* strong */
  gchar              *peer_id;
} HelloCall;

static void
on_hello_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HelloCall *call = user_data;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  PlexusRole roles;

  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, &error);
  if (answer == NULL)
    g_debug ("no gossip.hello from %s: %s", call->peer_id, error->message);
  else if (!hello_roles (plexus_envelope_get_body (answer), &roles))
    g_message ("ignoring a malformed gossip.hello from %s", call->peer_id);
  else if (call->self->messenger != NULL)
    neighbour_roles (call->self, call->peer_id, roles);
  g_object_unref (call->self);
  g_free (call->peer_id);
  g_free (call);
}

static void
say_hello (PlexusGossipPlugin *self, const gchar *peer_id)
{
  g_autoptr(JsonObject) body = hello_body (self);
  HelloCall *call = g_new0 (HelloCall, 1);

  call->self = g_object_ref (self);
  call->peer_id = g_strdup (peer_id);
  plexus_messenger_request_async (self->messenger, peer_id, "gossip.hello", body, HELLO_TIMEOUT_MS,
                                  self->cancellable, on_hello_answer, call);
}

static void
on_peer_linked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  say_hello (user_data, peer_id);
}

static gboolean
sign_with_identity (const guint8 *data, gsize length, guint8 *signature, gpointer user_data)
{
  g_autoptr(GBytes) bytes = plexus_identity_sign (user_data, data, length);
  gsize size;
  const guint8 *raw = g_bytes_get_data (bytes, &size);

  if (size != PLEXUS_SWIM_SIGNATURE_SIZE)
    return FALSE;
  memcpy (signature, raw, size);
  return TRUE;
}

/* ---- locating a peer ---- */

/* The "locate" action: the capabilities document @peer_id advertises, as
 * this node knows it; the daemon reads where it is attached from it. */
static gchar *
plexus_gossip_plugin_locate (PlexusGossipPlugin *self, const gchar *peer_id)
{
  ViewEntry *entry;

  if (peer_id == NULL)
    return NULL;
  if (self->swim != NULL)
    return g_strdup (plexus_swim_get_advertisement (self->swim, peer_id, NULL));
  entry = g_hash_table_lookup (self->view, peer_id);
  return entry != NULL ? g_strdup (entry->capabilities) : NULL;
}

/* ---- the plugin ---- */

static gboolean
plexus_gossip_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  PlexusGossipPlugin *self = PLEXUS_GOSSIP_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);
  PlexusMessenger *messenger = plexus_context_get_messenger (context);
  g_auto(GStrv) linked = NULL;

  if (messenger == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, "the node does not run");
    return FALSE;
  }
  if (!plexus_messenger_register_handler (messenger, "gossip.hello", on_hello, self, NULL, error))
    return FALSE;
  self->messenger = g_object_ref (messenger);
  self->cancellable = g_cancellable_new ();

  if ((plexus_context_get_roles (context) & GROUP_ROLES) != 0) {
    PlexusServiceCapability membership = { TRUE, 0.0, -1, -1 };
    PlexusSwimConfig config;

    /* Members serve membership: a peer attaches to them. */
    plexus_capabilities_set_service (plexus_context_get_capabilities (context), "membership", &membership);
    plexus_swim_config_init (&config);
    config.sign = sign_with_identity;
    config.sign_data = plexus_context_get_identity (context);
    self->swim = plexus_swim_new (own_peer_id (self), &config, g_random_int () | ((guint64) g_random_int () << 32));
    for (guint i = 0; i < PLEXUS_SWIM_MESSAGE_N_TYPES; i++) {
      if (!plexus_messenger_register_handler (messenger, plexus_swim_message_type_to_string (i),
                                              on_swim_message, self, NULL, error))
        return FALSE;
    }
    if (!plexus_messenger_register_handler (messenger, "gossip.supers", on_supers, self, NULL, error) ||
        !plexus_messenger_register_handler (messenger, "gossip.attach", on_attach, self, NULL, error))
      return FALSE;
    on_capabilities_check (self);
    self->capabilities_id = g_timeout_add (CAPABILITIES_CHECK_MS, on_capabilities_check, self);
  } else {
    if (!plexus_messenger_register_handler (messenger, "gossip.view", on_view, self, NULL, error) ||
        !plexus_messenger_register_handler (messenger, "gossip.view-end", on_view_end, self, NULL, error))
      return FALSE;
    self->readvertise_id = g_timeout_add_seconds (READVERTISE_SECONDS, on_readvertise, self);
    self->view_reap_id = g_timeout_add_seconds (60, on_view_reap, self);
    self->attach_check_id = g_timeout_add_seconds (2, on_attach_check, self);
  }

  self->peer_linked_id = g_signal_connect (messenger, "peer-linked", G_CALLBACK (on_peer_linked), self);
  self->peer_unlinked_id = g_signal_connect (messenger, "peer-unlinked", G_CALLBACK (on_peer_unlinked), self);
  linked = plexus_messenger_list_linked_peers (messenger);
  for (guint i = 0; linked[i] != NULL; i++)
    say_hello (self, linked[i]);
  return TRUE;
}

static void
plexus_gossip_plugin_shutdown (PlexusPlugin *plugin)
{
  PlexusGossipPlugin *self = PLEXUS_GOSSIP_PLUGIN (plugin);
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (plugin));
  g_autoptr(GList) peers = NULL;

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->capabilities_id, g_source_remove);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->attach_retry_id, g_source_remove);
  g_clear_handle_id (&self->readvertise_id, g_source_remove);
  g_clear_handle_id (&self->view_reap_id, g_source_remove);
  g_clear_handle_id (&self->attach_check_id, g_source_remove);
  if (self->swim != NULL && self->messenger != NULL) {
    /* Tell the group, so that it need not find out by probing. */
    plexus_swim_leave (self->swim, now_ms ());
    g_clear_object (&self->cancellable);
    g_hash_table_remove_all (self->snapshot_owed);
    drain (self);
    g_clear_handle_id (&self->tick_id, g_source_remove);
  }
  if (self->messenger != NULL) {
    plexus_messenger_unregister_handler (self->messenger, "gossip.hello");
    for (guint i = 0; self->swim != NULL && i < PLEXUS_SWIM_MESSAGE_N_TYPES; i++)
      plexus_messenger_unregister_handler (self->messenger, plexus_swim_message_type_to_string (i));
    if (self->swim != NULL) {
      plexus_messenger_unregister_handler (self->messenger, "gossip.supers");
      plexus_messenger_unregister_handler (self->messenger, "gossip.attach");
    } else {
      plexus_messenger_unregister_handler (self->messenger, "gossip.view");
      plexus_messenger_unregister_handler (self->messenger, "gossip.view-end");
    }
    g_clear_signal_handler (&self->peer_linked_id, self->messenger);
    g_clear_signal_handler (&self->peer_unlinked_id, self->messenger);
  }
  peers = g_hash_table_get_keys (self->providers);
  for (GList *l = peers; l != NULL; l = l->next) {
    GPtrArray *services = g_hash_table_lookup (self->providers, l->data);

    for (guint i = 0; i < services->len; i++)
      plexus_broker_remove_provider (broker, g_ptr_array_index (services, i), l->data);
  }
  g_hash_table_remove_all (self->providers);
  /* The node's routes and dialers go with the node. */
  g_hash_table_remove_all (self->routes);
  g_hash_table_remove_all (self->super_links);
  if (self->swim != NULL)
    plexus_capabilities_remove_service (plexus_context_get_capabilities (plexus_plugin_get_context (plugin)),
                                        "membership");
  g_clear_object (&self->swim);
  g_clear_object (&self->messenger);
  g_clear_object (&self->cancellable);
}

static void
plexus_gossip_plugin_finalize (GObject *object)
{
  PlexusGossipPlugin *self = PLEXUS_GOSSIP_PLUGIN (object);

  g_clear_object (&self->swim);
  g_clear_object (&self->messenger);
  g_clear_object (&self->cancellable);
  g_hash_table_unref (self->providers);
  g_hash_table_unref (self->group_neighbours);
  g_hash_table_unref (self->attached);
  g_hash_table_unref (self->avoid);
  g_hash_table_unref (self->known_supers);
  g_hash_table_unref (self->attach_since);
  g_hash_table_unref (self->view);
  g_hash_table_unref (self->subscribers);
  g_hash_table_unref (self->snapshot_owed);
  g_hash_table_unref (self->routes);
  g_hash_table_unref (self->super_links);
  g_strfreev (self->advertised_attached);
  g_clear_pointer (&self->view_changes, plexus_swim_message_free);
  G_OBJECT_CLASS (plexus_gossip_plugin_parent_class)->finalize (object);
}

static void
plexus_gossip_plugin_class_init (PlexusGossipPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PlexusPluginClass *plugin_class = PLEXUS_PLUGIN_CLASS (klass);

  object_class->finalize = plexus_gossip_plugin_finalize;
  plugin_class->setup = plexus_gossip_plugin_setup;
  plugin_class->shutdown = plexus_gossip_plugin_shutdown;

  /**
   * PlexusGossipPlugin::member-changed:
   * @plugin: the plugin
   * @peer_id: the member
   * @state: alive, suspect, dead or left; forgotten when it is no longer
   *   kept
   * @capabilities: (nullable): its last advertised capabilities, JSON
   *
   * A member of the group changed state or advertised. A standard peer
   * hears of members through the super peers it is attached to.
   */
  signals[SIGNAL_MEMBER_CHANGED] =
    g_signal_new ("member-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);

  /**
   * PlexusGossipPlugin::locate:
   * @plugin: the plugin
   * @peer_id: a peer
   *
   * An action: what the gossip says about @peer_id.
   *
   * Returns: (transfer full) (nullable): the capabilities document it
   *   advertises, JSON, or %NULL if none is known
   */
  signals[SIGNAL_LOCATE] =
    g_signal_new_class_handler ("locate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
                                G_CALLBACK (plexus_gossip_plugin_locate), NULL, NULL, NULL,
                                G_TYPE_STRING, 1, G_TYPE_STRING);
}

static void
plexus_gossip_plugin_init (PlexusGossipPlugin *self)
{
  self->providers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_ptr_array_unref);
  self->group_neighbours = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->attached = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->avoid = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->known_supers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->attach_since = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->view = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, view_entry_free);
  self->subscribers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->snapshot_owed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->routes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->super_links = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}
