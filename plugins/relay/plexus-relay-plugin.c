/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

#include "plexus-relay.h"

/* One module source, built twice (plugins/relay/Makefile.inc):
 *
 * - server-fallback (RELAY_SERVER): the server half of the traditional
 *   path. On a node with the server role it relays signals to the peers
 *   linked to it and holds those for a peer that is reconnecting. Peers
 *   keep their link to the server (--server) in hybrid and traditional
 *   mode; presence (`fallback.presence`) makes the configured server, and
 *   no other node that says it is one, a `signaling` provider of kind
 *   server in their brokers; the server keeps every linked peer's presence
 *   (its capabilities) while the link lasts.
 * - signaling-relay: on a super peer, relays signals to the standard peers
 *   attached to it and hands others to the node's routing, which reaches
 *   the super peer the recipient is attached to.
 *
 * Either way the node offers the `signaling` service in its capabilities,
 * which the gossip plugin advertises. */

#ifdef RELAY_SERVER
#define RELAY_ROLE PLEXUS_ROLE_SERVER
#define RELAY_MISS PLEXUS_RELAY_MISS_QUEUE
#define RelayPlugin PlexusServerFallbackPlugin
#define relay_plugin plexus_server_fallback_plugin
#define RELAY_PLUGIN SERVER_FALLBACK_PLUGIN
#else
#define RELAY_ROLE PLEXUS_ROLE_SUPER
#define RELAY_MISS PLEXUS_RELAY_MISS_FORWARD
#define RelayPlugin PlexusSignalingRelayPlugin
#define relay_plugin plexus_signaling_relay_plugin
#define RELAY_PLUGIN SIGNALING_RELAY_PLUGIN
#endif

/* Through these the names above are expanded before GLib pastes them. */
#define CONCAT_(a, b) a##b
#define CONCAT(a, b) CONCAT_ (a, b)
#define DECLARE_TYPE(Name, name, MODULE, OBJ, Parent) G_DECLARE_FINAL_TYPE (Name, name, MODULE, OBJ, Parent)
#define DEFINE_TYPE(Name, name, parent) G_DEFINE_TYPE (Name, name, parent)
#define DEFINE_PLUGIN(Name, name) PLEXUS_PLUGIN_DEFINE (Name, name)

struct CONCAT (_, RelayPlugin) {
  PlexusPlugin     parent_instance;

  PlexusRelay     *relay;
#ifdef RELAY_SERVER
  PlexusMessenger *messenger;
  GCancellable    *cancellable;
  gulong           linked_id;
  gulong           unlinked_id;
  GHashTable      *presence;   /* server: peer ID → its capabilities, JSON */
  GHashTable      *servers;    /* client: server peer IDs this plugin made providers */
#endif
};

DECLARE_TYPE (RelayPlugin, relay_plugin, PLEXUS, RELAY_PLUGIN, PlexusPlugin)
DEFINE_TYPE (RelayPlugin, relay_plugin, PLEXUS_TYPE_PLUGIN)
DEFINE_PLUGIN (RelayPlugin, relay_plugin)

#ifdef RELAY_SERVER
/* Presence (`fallback.presence`): every peer that links to a node says who
 * it is and what it can do; the server keeps that while the link lasts and
 * answers that it is one, and the peer makes it a `signaling` provider of
 * kind server, whether or not membership gossip says so too. */

#define PRESENCE_TIMEOUT_MS 10000

static PlexusEnvelope *
on_presence (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  RelayPlugin *self = user_data;
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  const gchar *own = plexus_identity_get_peer_id (plexus_context_get_identity (context));
  JsonObject *body = plexus_envelope_get_body (envelope);
  const gchar *text = json_object_get_string_member_with_default (body, "capabilities", NULL);
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(JsonObject) answer = json_object_new ();
  g_autoptr(GError) error = NULL;

  if (g_strcmp0 (link_peer_id, plexus_envelope_get_from (envelope)) != 0)
    return plexus_envelope_new_error (envelope, own, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "presence is given over the peer's own link");
  if (text == NULL || (caps = plexus_capabilities_new_from_string (text, -1, &error)) == NULL ||
      g_strcmp0 (plexus_capabilities_get_peer_id (caps), link_peer_id) != 0)
    return plexus_envelope_new_error (envelope, own, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      error != NULL ? error->message
                                                    : "fallback.presence needs 'capabilities', the sender's own");
  g_hash_table_replace (self->presence, g_strdup (link_peer_id), g_strdup (text));
  json_object_set_boolean_member (answer, "server", TRUE);
  json_object_set_int_member (answer, "connected", g_hash_table_size (self->presence));
  return plexus_envelope_new_reply (envelope, "fallback.presence", own, answer);
}

typedef struct {
  RelayPlugin *self;  /* strong */
  gchar       *peer_id;
} PresenceCall;

static void
on_presence_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PresenceCall *call = user_data;
  RelayPlugin *self = call->self;
  g_autoptr(PlexusEnvelope) answer = NULL;

  g_autofree gchar *server = NULL;

  /* Anything but a server answers unknown-type: not a server, nothing to
   * do. Only the configured server is believed: any node can say it is
   * one. */
  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, NULL);
  if (answer != NULL && self->messenger != NULL)
    server = plexus_messenger_get_server_peer_id (self->messenger);
  if (answer != NULL && self->messenger != NULL &&
      json_object_get_boolean_member_with_default (plexus_envelope_get_body (answer), "server", FALSE) &&
      g_strcmp0 (server, call->peer_id) != 0) {
    g_message ("%s says it is a server, but it is not the one configured; not relaying through it", call->peer_id);
  } else if (answer != NULL && self->messenger != NULL &&
             json_object_get_boolean_member_with_default (plexus_envelope_get_body (answer), "server", FALSE)) {
    PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));

    if (plexus_broker_lookup_provider (broker, "signaling", call->peer_id) == NULL) {
      g_autoptr(PlexusProvider) provider = plexus_provider_new ("signaling", call->peer_id,
                                                                PLEXUS_PROVIDER_KIND_SERVER);

      if (plexus_broker_add_provider (broker, provider, NULL)) {
        g_hash_table_add (self->servers, g_strdup (call->peer_id));
        g_message ("the server %s relays signaling for this node", call->peer_id);
      }
    }
  }
  g_object_unref (call->self);
  g_free (call->peer_id);
  g_free (call);
}

static void
on_peer_linked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  RelayPlugin *self = user_data;
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  g_autoptr(JsonObject) body = json_object_new ();
  g_autofree gchar *text = plexus_capabilities_to_string (plexus_context_get_capabilities (context));
  PresenceCall *call;

  /* The server itself needs no relay. */
  if ((plexus_context_get_roles (context) & PLEXUS_ROLE_SERVER) != 0)
    return;
  json_object_set_string_member (body, "capabilities", text);
  call = g_new0 (PresenceCall, 1);
  call->self = g_object_ref (self);
  call->peer_id = g_strdup (peer_id);
  plexus_messenger_request_async (messenger, peer_id, "fallback.presence", body, PRESENCE_TIMEOUT_MS,
                                  self->cancellable, on_presence_answer, call);
}

static void
on_peer_unlinked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  RelayPlugin *self = user_data;

  /* The configured server stays a provider while its link is down: the
   * node redials it, and messages wait for it (the broker judges its
   * health by what it answers). */
  g_hash_table_remove (self->presence, peer_id);
}

static gboolean
setup_presence (RelayPlugin *self, PlexusMessenger *messenger, GError **error)
{
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  g_auto(GStrv) linked = NULL;

  if ((plexus_context_get_roles (context) & PLEXUS_ROLE_SERVER) != 0 &&
      !plexus_messenger_register_handler (messenger, "fallback.presence", on_presence, self, NULL, error))
    return FALSE;
  self->messenger = g_object_ref (messenger);
  self->cancellable = g_cancellable_new ();
  self->linked_id = g_signal_connect (messenger, "peer-linked", G_CALLBACK (on_peer_linked), self);
  self->unlinked_id = g_signal_connect (messenger, "peer-unlinked", G_CALLBACK (on_peer_unlinked), self);
  linked = plexus_messenger_list_linked_peers (messenger);
  for (guint i = 0; linked[i] != NULL; i++)
    on_peer_linked (messenger, linked[i], self);
  return TRUE;
}

static void
shutdown_presence (RelayPlugin *self)
{
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  GHashTableIter iter;
  gpointer key;

  if (self->messenger == NULL)
    return;
  g_cancellable_cancel (self->cancellable);
  g_clear_signal_handler (&self->linked_id, self->messenger);
  g_clear_signal_handler (&self->unlinked_id, self->messenger);
  if ((plexus_context_get_roles (context) & PLEXUS_ROLE_SERVER) != 0)
    plexus_messenger_unregister_handler (self->messenger, "fallback.presence");
  g_hash_table_iter_init (&iter, self->servers);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    plexus_broker_remove_provider (plexus_context_get_broker (context), "signaling", key);
  g_hash_table_remove_all (self->servers);
  g_hash_table_remove_all (self->presence);
  g_clear_object (&self->messenger);
  g_clear_object (&self->cancellable);
}
#endif

/* A key of the plugin's own section ([server-fallback] or
 * [signaling-relay]); @fallback when it is not set. */
static guint
config_count (PlexusConfig *config, const gchar *key, guint fallback)
{
  gint64 value;

  if (!plexus_config_has_key (config, G_LOG_DOMAIN, key) ||
      g_strcmp0 (plexus_config_get_origin (config, G_LOG_DOMAIN, key), "default") == 0)
    return fallback;
  value = plexus_config_get_integer (config, G_LOG_DOMAIN, key);
  return (guint) CLAMP (value, 0, G_MAXINT32);
}

static gboolean
CONCAT (relay_plugin, _setup) (PlexusPlugin *plugin, GError **error)
{
  RelayPlugin *self = (RelayPlugin *) plugin;
  PlexusContext *context = plexus_plugin_get_context (plugin);
  PlexusMessenger *messenger = plexus_context_get_messenger (context);
  PlexusServiceCapability signaling = { TRUE, 0.0, -1, -1 };

  if (messenger == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, "the node does not run");
    return FALSE;
  }
#ifdef RELAY_SERVER
  /* Every node takes part in presence: the server keeps it, the others
   * learn which neighbour is the server. */
  if (!setup_presence (self, messenger, error))
    return FALSE;
#endif
  /* Other roles have nothing to relay. */
  if ((plexus_context_get_roles (context) & RELAY_ROLE) == 0)
    return TRUE;
  self->relay = plexus_relay_new (messenger, plexus_identity_get_peer_id (plexus_context_get_identity (context)),
                                  RELAY_MISS, error);
  if (self->relay == NULL)
    return FALSE;
  plexus_relay_set_rate_limit (self->relay,
                               config_count (plexus_context_get_config (context), "rate-limit",
                                             PLEXUS_RELAY_DEFAULT_RATE),
                               config_count (plexus_context_get_config (context), "burst",
                                             PLEXUS_RELAY_DEFAULT_BURST));
  plexus_capabilities_set_service (plexus_context_get_capabilities (context), "signaling", &signaling);
  return TRUE;
}

static void
CONCAT (relay_plugin, _shutdown) (PlexusPlugin *plugin)
{
  RelayPlugin *self = (RelayPlugin *) plugin;

#ifdef RELAY_SERVER
  shutdown_presence (self);
#endif
  if (self->relay == NULL)
    return;
  plexus_capabilities_remove_service (plexus_context_get_capabilities (plexus_plugin_get_context (plugin)),
                                      "signaling");
  plexus_relay_shutdown (self->relay);
  g_clear_object (&self->relay);
}

static void
CONCAT (relay_plugin, _finalize) (GObject *object)
{
  RelayPlugin *self = (RelayPlugin *) object;

  g_clear_object (&self->relay);
#ifdef RELAY_SERVER
  g_clear_object (&self->messenger);
  g_clear_object (&self->cancellable);
  g_hash_table_unref (self->presence);
  g_hash_table_unref (self->servers);
#endif
  G_OBJECT_CLASS (CONCAT (relay_plugin, _parent_class))->finalize (object);
}

static void
CONCAT (relay_plugin, _class_init) (CONCAT (RelayPlugin, Class) *klass)
{
  G_OBJECT_CLASS (klass)->finalize = CONCAT (relay_plugin, _finalize);
  PLEXUS_PLUGIN_CLASS (klass)->setup = CONCAT (relay_plugin, _setup);
  PLEXUS_PLUGIN_CLASS (klass)->shutdown = CONCAT (relay_plugin, _shutdown);
}

static void
CONCAT (relay_plugin, _init) (RelayPlugin *self)
{
#ifdef RELAY_SERVER
  self->presence = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->servers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
#endif
}
