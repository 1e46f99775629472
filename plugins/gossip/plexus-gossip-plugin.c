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
 *   `member-changed` signal, which it shows on D-Bus. */

#define HELLO_TIMEOUT_MS 10000
/* How often the node's own capabilities are offered to the engine, which
 * decides whether they changed enough to advertise. */
#define CAPABILITIES_CHECK_MS 1000

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
};

enum {
  SIGNAL_MEMBER_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DECLARE_FINAL_TYPE (PlexusGossipPlugin, plexus_gossip_plugin, PLEXUS, GOSSIP_PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (PlexusGossipPlugin, plexus_gossip_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (PlexusGossipPlugin, plexus_gossip_plugin)

static void gossip_schedule (PlexusGossipPlugin *self);

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
      else
        apply_advertisement (self, event.peer_id, caps);
      break;
    }
    case PLEXUS_SWIM_EVENT_DEAD:
    case PLEXUS_SWIM_EVENT_LEFT:
      forget_providers (self, event.peer_id, NULL);
      break;
    default:
      break;
    }
    if (plexus_swim_get_member_state (self->swim, event.peer_id, &state, &incarnation)) {
      capabilities = plexus_swim_get_advertisement (self->swim, event.peer_id, &version);
      if (event.type != PLEXUS_SWIM_EVENT_ADVERTISEMENT)
        g_message ("member %s is %s", event.peer_id, plexus_swim_state_to_string (state));
      g_signal_emit (self, signals[SIGNAL_MEMBER_CHANGED], 0, event.peer_id,
                     plexus_swim_state_to_string (state), capabilities);
    }
    plexus_swim_event_clear (&event);
  }
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

  if (self->swim == NULL || (roles & GROUP_ROLES) == 0)
    return;
  /* The first member met is the way in: joining through it exchanges the
   * whole membership at once; later ones are simply added. */
  if (!self->joined) {
    self->joined = TRUE;
    plexus_swim_join (self->swim, now_ms (), seeds);
  } else {
    plexus_swim_add_member (self->swim, now_ms (), peer_id);
  }
  drain (self);
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
    on_capabilities_check (self);
    self->capabilities_id = g_timeout_add (CAPABILITIES_CHECK_MS, on_capabilities_check, self);
  }

  self->peer_linked_id = g_signal_connect (messenger, "peer-linked", G_CALLBACK (on_peer_linked), self);
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
  if (self->swim != NULL && self->messenger != NULL) {
    /* Tell the group, so that it need not find out by probing. */
    plexus_swim_leave (self->swim, now_ms ());
    g_clear_object (&self->cancellable);
    drain (self);
    g_clear_handle_id (&self->tick_id, g_source_remove);
  }
  if (self->messenger != NULL) {
    plexus_messenger_unregister_handler (self->messenger, "gossip.hello");
    for (guint i = 0; self->swim != NULL && i < PLEXUS_SWIM_MESSAGE_N_TYPES; i++)
      plexus_messenger_unregister_handler (self->messenger, plexus_swim_message_type_to_string (i));
    g_clear_signal_handler (&self->peer_linked_id, self->messenger);
  }
  peers = g_hash_table_get_keys (self->providers);
  for (GList *l = peers; l != NULL; l = l->next) {
    GPtrArray *services = g_hash_table_lookup (self->providers, l->data);

    for (guint i = 0; i < services->len; i++)
      plexus_broker_remove_provider (broker, g_ptr_array_index (services, i), l->data);
  }
  g_hash_table_remove_all (self->providers);
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
   * @state: alive, suspect, dead or left
   * @capabilities: (nullable): its last advertised capabilities, JSON
   *
   * A member of the group changed state or advertised.
   */
  signals[SIGNAL_MEMBER_CHANGED] =
    g_signal_new ("member-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
plexus_gossip_plugin_init (PlexusGossipPlugin *self)
{
  self->providers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_ptr_array_unref);
}
