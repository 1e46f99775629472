/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>

#include "plexus-daemon.h"
#include "plexus-messaging.h"
#include "plexus-dbus-generated.h"

/**
 * SECTION:plexus-daemon
 * @title: PlexusDaemon
 * @short_description: plexusd: configuration, identity, plugins and the D-Bus service
 *
 * The daemon wires the shared types together. Start-up order matters:
 * identity first (its directory is a command-line choice), then plugin
 * metadata (plugins add keys to the config schema), then every config
 * layer, then the plugins, and last the bus name, so that owning
 * `org.plexus.Plexus1` means "ready".
 */

#define PLEXUS_DBUS_NAME "org.plexus.Plexus1"
#define PLEXUS_DBUS_PATH "/org/plexus/Plexus1"

struct _PlexusDaemon {
  GObject                   parent_instance;

  PlexusContext            *context;
  PlexusPluginLoader       *loader;
  PlexusNode               *node;
  GBusType                  bus_type;
  PlexusDaemonState         state;

  GMainLoop                *loop;
  int                       exit_status;
  guint                     sigint_id;
  guint                     sigterm_id;

  GDBusObjectManagerServer *object_manager;
  PlexusDBusManager        *manager_iface;
  PlexusDBusBroker         *broker_iface;
  PlexusDBusMessaging      *messaging_iface;
  PlexusMessaging          *messaging;
  GHashTable               *peer_objects;   /* peer ID → PlexusDBusObjectSkeleton */
  GHashTable               *members;        /* peer ID → membership state, from gossip */
  guint                     peer_refresh_id;
  guint                     name_owner_id;
  gboolean                  name_acquired;
};

G_DEFINE_TYPE (PlexusDaemon, plexus_daemon, G_TYPE_OBJECT)

static void plexus_daemon_on_provider_added (PlexusBroker *broker, PlexusProvider *provider, PlexusDaemon *self);
static void plexus_daemon_on_provider_removed (PlexusBroker *broker, PlexusProvider *provider, PlexusDaemon *self);
static void plexus_daemon_on_provider_selected (PlexusBroker *broker, const gchar *service,
                                                PlexusProvider *provider, const gchar *reason,
                                                PlexusDaemon *self);
static void plexus_daemon_on_failover (PlexusBroker *broker, const gchar *service, PlexusProvider *from,
                                       PlexusProvider *to, const gchar *reason, PlexusDaemon *self);

static void
plexus_daemon_set_state (PlexusDaemon *self, PlexusDaemonState state)
{
  self->state = state;
  if (self->manager_iface != NULL)
    plexus_dbus_manager_set_state (self->manager_iface, plexus_daemon_state_to_string (state));
}

/**
 * plexus_daemon_default_state_dir:
 *
 * Returns: (transfer full): `$XDG_DATA_HOME/plexus`
 */
gchar *
plexus_daemon_default_state_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "plexus", NULL);
}

static gboolean
plexus_daemon_load_config (PlexusDaemon *self, const PlexusDaemonOptions *options, GError **error)
{
  PlexusConfig *config = plexus_context_get_config (self->context);
  const gchar *system_file = g_getenv ("PLEXUS_SYSTEM_CONFIG");
  g_autofree gchar *system_default = g_build_filename (PLEXUS_SYSCONFDIR, "plexus", "plexus.conf", NULL);
  g_autofree gchar *user_file = NULL;

  if (system_file == NULL)
    system_file = system_default;
  if (!plexus_config_load_file (config, system_file, FALSE, error))
    return FALSE;

  /* --config replaces the user file, not the system one: an administrator's
   * settings still apply underneath. */
  if (options->config_file != NULL) {
    if (!plexus_config_load_file (config, options->config_file, TRUE, error))
      return FALSE;
  } else {
    user_file = g_build_filename (g_get_user_config_dir (), "plexus", "plexus.conf", NULL);
    if (!plexus_config_load_file (config, user_file, FALSE, error))
      return FALSE;
  }

  if (options->roles != NULL &&
      !plexus_config_set_override_list_from (config, "--role", "node", "roles",
                                        (const gchar * const *) options->roles, error))
    return FALSE;
  if (options->mode != NULL &&
      !plexus_config_set_override_from (config, "--mode", "node", "mode", options->mode, error))
    return FALSE;
  if (options->listen != NULL &&
      !plexus_config_set_override_from (config, "--listen", "node", "listen", options->listen, error))
    return FALSE;
  if (options->bootstrap != NULL &&
      !plexus_config_set_override_list_from (config, "--bootstrap", "node", "bootstrap",
                                        (const gchar * const *) options->bootstrap, error))
    return FALSE;
  if (options->server != NULL &&
      !plexus_config_set_override_from (config, "--server", "node", "server", options->server, error))
    return FALSE;
  return TRUE;
}

static gboolean
plexus_daemon_apply_config (PlexusDaemon *self, GError **error)
{
  PlexusConfig *config = plexus_context_get_config (self->context);
  PlexusCapabilities *caps = plexus_context_get_capabilities (self->context);
  g_autofree gchar *mode_str = plexus_config_get_string (config, "node", "mode");
  g_auto(GStrv) roles_strv = plexus_config_get_string_list (config, "node", "roles");
  g_autofree gchar *region = plexus_config_get_string (config, "node", "region");
  g_autofree gchar *timezone = plexus_config_get_string (config, "node", "timezone");
  PlexusMode mode;
  PlexusRole roles;

  /* The schema already validated both; these cannot fail on a value the
   * config accepted, but an error is still better than an assertion. */
  if (!plexus_mode_from_string (mode_str, &mode, error))
    return FALSE;
  if (!plexus_roles_from_strv ((const gchar * const *) roles_strv, &roles, error))
    return FALSE;
  /* Every node is a standard peer; the other roles come on top. */
  roles |= PLEXUS_ROLE_STANDARD;

  plexus_broker_set_hysteresis (plexus_context_get_broker (self->context),
                                plexus_config_get_double (config, "broker", "hysteresis"));
  plexus_context_set_mode (self->context, mode);
  plexus_context_set_roles (self->context, roles);
  if (region != NULL && region[0] != '\0') {
    plexus_capabilities_set_region (caps, region);
    plexus_broker_set_local_region (plexus_context_get_broker (self->context), region);
  }
  if (timezone != NULL && timezone[0] != '\0')
    plexus_capabilities_set_timezone (caps, timezone);
  return TRUE;
}

static void
plexus_daemon_add_plugin_paths (PlexusDaemon *self)
{
  const gchar *env = g_getenv ("PLEXUS_PLUGIN_PATH");

  if (env != NULL) {
    g_auto(GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
    for (guint i = 0; dirs[i] != NULL; i++) {
      if (dirs[i][0] != '\0')
        plexus_plugin_loader_add_search_path (self->loader, dirs[i]);
    }
  }
  plexus_plugin_loader_add_search_path (self->loader, PLEXUS_PLUGINDIR);
}

/**
 * plexus_daemon_setup:
 * @self: a #PlexusDaemon
 * @options: the command-line options
 * @error: return location for a #GError
 *
 * Loads the identity, the configuration layers and the plugins. On error
 * the daemon must not start; the error says why.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_daemon_setup (PlexusDaemon *self, const PlexusDaemonOptions *options, GError **error)
{
  g_autofree gchar *state_dir = NULL;
  g_autoptr(PlexusIdentity) identity = NULL;
  g_autoptr(PlexusConfig) config = NULL;
  g_autoptr(PlexusBroker) broker = NULL;
  PlexusConfig *cfg;
  g_auto(GStrv) enabled = NULL;
  g_auto(GStrv) disabled = NULL;
  g_autofree gchar *listen = NULL;

  g_return_val_if_fail (PLEXUS_IS_DAEMON (self), FALSE);
  g_return_val_if_fail (self->context == NULL, FALSE);

  self->bus_type = options->bus;
  state_dir = options->state_dir != NULL ? g_strdup (options->state_dir)
                                         : plexus_daemon_default_state_dir ();
  identity = plexus_identity_load_or_create (state_dir, error);
  if (identity == NULL)
    return FALSE;

  config = plexus_config_new ();
  broker = plexus_broker_new ();
  self->context = plexus_context_new (config, identity, broker, state_dir);
  g_signal_connect (broker, "provider-added", G_CALLBACK (plexus_daemon_on_provider_added), self);
  g_signal_connect (broker, "provider-removed", G_CALLBACK (plexus_daemon_on_provider_removed), self);
  g_signal_connect (broker, "provider-selected", G_CALLBACK (plexus_daemon_on_provider_selected), self);
  g_signal_connect (broker, "failover", G_CALLBACK (plexus_daemon_on_failover), self);
  self->loader = plexus_plugin_loader_new (self->context);
  plexus_daemon_add_plugin_paths (self);
  plexus_plugin_loader_scan (self->loader);
  plexus_plugin_loader_register_config (self->loader, config);

  if (!plexus_daemon_load_config (self, options, error))
    return FALSE;
  if (!plexus_daemon_apply_config (self, error))
    return FALSE;

  cfg = plexus_context_get_config (self->context);
  listen = plexus_config_get_string (cfg, "node", "listen");
  self->node = plexus_node_new (self->context);
  if (!plexus_node_listen (self->node, listen, error))
    return FALSE;
  plexus_context_set_messenger (self->context, PLEXUS_MESSENGER (self->node));
  self->messaging = plexus_messaging_new (self->context, PLEXUS_MESSENGER (self->node), error);
  if (self->messaging == NULL)
    return FALSE;
  /* Advertised so that others can link here; not a wildcard address. */
  if (plexus_capabilities_address_is_valid (plexus_node_get_address (self->node)))
    plexus_capabilities_set_address (plexus_context_get_capabilities (self->context),
                                     plexus_node_get_address (self->node));

  enabled = plexus_config_get_string_list (cfg, "plugins", "enabled");
  disabled = plexus_config_get_string_list (cfg, "plugins", "disabled");
  plexus_plugin_loader_load (self->loader,
                             (const gchar * const *) enabled,
                             (const gchar * const *) disabled);
  return TRUE;
}

/* ---- D-Bus: Peers ---- */

/* Counters change with every frame; D-Bus hears of them once a second. */
#define PEER_REFRESH_SECONDS 1

static void
plexus_daemon_update_peer (PlexusDBusPeer *iface, PlexusLink *link)
{
  plexus_dbus_peer_set_rtt_ms (iface, plexus_link_get_rtt_ms (link));
  plexus_dbus_peer_set_bytes_in (iface, plexus_link_get_bytes_in (link));
  plexus_dbus_peer_set_bytes_out (iface, plexus_link_get_bytes_out (link));
}

static gboolean
plexus_daemon_refresh_peers (gpointer user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->peer_objects);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    PlexusLink *link = plexus_node_get_link (self->node, key);
    g_autoptr(PlexusDBusPeer) iface = plexus_dbus_object_get_peer (PLEXUS_DBUS_OBJECT (value));

    if (link != NULL && iface != NULL)
      plexus_daemon_update_peer (iface, link);
  }
  return G_SOURCE_CONTINUE;
}

static void
plexus_daemon_peer_set_link (PlexusDaemon *self, PlexusDBusPeer *iface, PlexusLink *link)
{
  GDateTime *created = plexus_link_get_created (link);
  const gchar *member_state = g_hash_table_lookup (self->members, plexus_link_get_peer_id (link));

  plexus_dbus_peer_set_address (iface, plexus_link_get_remote_address (link) != NULL
                                       ? plexus_link_get_remote_address (link) : "");
  plexus_dbus_peer_set_direction (iface, plexus_link_get_direction (link) == PLEXUS_LINK_DIRECTION_OUTBOUND
                                         ? "outbound" : "inbound");
  plexus_dbus_peer_set_since (iface, g_date_time_to_unix (created) * G_USEC_PER_SEC +
                                     g_date_time_get_microsecond (created));
  plexus_dbus_peer_set_state (iface, member_state != NULL ? member_state : "alive");
  plexus_dbus_peer_set_linked (iface, TRUE);
  plexus_daemon_update_peer (iface, link);
}

/* A peer has an object while it is linked or a member of the group. A new
 * one is filled in (from @link, if any) before it is exported, so that
 * InterfacesAdded carries its properties. */
/* Roles, region and capabilities from an advertisement (@capabilities
 * JSON, or NULL to leave them). */
static void
plexus_daemon_peer_set_capabilities (PlexusDBusPeer *iface, const gchar *capabilities)
{
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_auto(GStrv) roles = NULL;
  const gchar *region;

  if (capabilities == NULL || (caps = plexus_capabilities_new_from_string (capabilities, -1, NULL)) == NULL)
    return;
  roles = plexus_roles_to_strv (plexus_capabilities_get_roles (caps));
  region = plexus_capabilities_get_region (caps);
  plexus_dbus_peer_set_roles (iface, (const gchar * const *) roles);
  plexus_dbus_peer_set_region (iface, region != NULL ? region : "");
  plexus_dbus_peer_set_capabilities (iface, capabilities);
}

static PlexusDBusPeer *
plexus_daemon_peer_ensure (PlexusDaemon *self, const gchar *peer_id, PlexusLink *link, const gchar *capabilities)
{
  PlexusDBusObject *object = g_hash_table_lookup (self->peer_objects, peer_id);
  g_autoptr(PlexusDBusObjectSkeleton) skeleton = NULL;
  g_autoptr(PlexusDBusPeer) iface = NULL;
  g_autofree gchar *path = NULL;
  const gchar *none[] = { NULL };

  if (object != NULL) {
    if (link != NULL)
      plexus_daemon_peer_set_link (self, plexus_dbus_object_peek_peer (object), link);
    return plexus_dbus_object_peek_peer (object);
  }
  /* Peer IDs are lower-case hex: valid object path elements as they are. */
  path = g_strconcat (PLEXUS_DBUS_PATH "/Peers/", peer_id, NULL);
  iface = plexus_dbus_peer_skeleton_new ();
  plexus_dbus_peer_set_peer_id (iface, peer_id);
  plexus_dbus_peer_set_address (iface, "");
  plexus_dbus_peer_set_direction (iface, "");
  plexus_dbus_peer_set_rtt_ms (iface, -1);
  plexus_dbus_peer_set_state (iface, "alive");
  plexus_dbus_peer_set_roles (iface, none);
  plexus_dbus_peer_set_region (iface, "");
  plexus_dbus_peer_set_capabilities (iface, "");
  if (link != NULL)
    plexus_daemon_peer_set_link (self, iface, link);
  /* Filled in before it is exported, so that InterfacesAdded carries it
   * all: a client that is still starting would miss a change that
   * follows at once. */
  if (g_hash_table_lookup (self->members, peer_id) != NULL)
    plexus_dbus_peer_set_state (iface, g_hash_table_lookup (self->members, peer_id));
  plexus_daemon_peer_set_capabilities (iface, capabilities);
  skeleton = plexus_dbus_object_skeleton_new (path);
  plexus_dbus_object_skeleton_set_peer (skeleton, iface);
  g_hash_table_replace (self->peer_objects, g_strdup (peer_id), g_object_ref (skeleton));
  g_dbus_object_manager_server_export (self->object_manager, G_DBUS_OBJECT_SKELETON (skeleton));
  return iface;
}

static void
plexus_daemon_peer_release (PlexusDaemon *self, const gchar *peer_id)
{
  g_autofree gchar *path = NULL;
  PlexusDBusObject *object = g_hash_table_lookup (self->peer_objects, peer_id);

  if (object == NULL || plexus_dbus_peer_get_linked (plexus_dbus_object_peek_peer (object))
      || g_hash_table_contains (self->members, peer_id))
    return;
  path = g_strconcat (PLEXUS_DBUS_PATH "/Peers/", peer_id, NULL);
  g_dbus_object_manager_server_unexport (self->object_manager, path);
  g_hash_table_remove (self->peer_objects, peer_id);
}

static void
plexus_daemon_on_link_added (PlexusNode *node, PlexusLink *link, PlexusDaemon *self)
{
  const gchar *peer_id = plexus_link_get_peer_id (link);
  PlexusDBusPeer *iface;

  if (self->object_manager == NULL)
    return;
  iface = plexus_daemon_peer_ensure (self, peer_id, link, NULL);
  plexus_dbus_manager_emit_peer_linked (self->manager_iface, peer_id,
                                        plexus_dbus_peer_get_address (iface),
                                        plexus_dbus_peer_get_direction (iface));
  if (self->peer_refresh_id == 0)
    self->peer_refresh_id = g_timeout_add_seconds (PEER_REFRESH_SECONDS, plexus_daemon_refresh_peers, self);
}

static void
plexus_daemon_on_link_removed (PlexusNode *node, PlexusLink *link, PlexusDaemon *self)
{
  const gchar *peer_id = plexus_link_get_peer_id (link);
  PlexusDBusObject *object;
  PlexusDBusPeer *iface;

  if (self->object_manager == NULL || (object = g_hash_table_lookup (self->peer_objects, peer_id)) == NULL)
    return;
  /* Replaced by a duplicate link to the same peer: it never went away, and
   * link-added follows with the new link. */
  if (plexus_node_get_link (node, peer_id) != NULL)
    return;
  iface = plexus_dbus_object_peek_peer (object);
  plexus_dbus_peer_set_linked (iface, FALSE);
  plexus_dbus_peer_set_address (iface, "");
  plexus_dbus_peer_set_direction (iface, "");
  plexus_dbus_peer_set_rtt_ms (iface, -1);
  plexus_daemon_peer_release (self, peer_id);
  plexus_dbus_manager_emit_peer_unlinked (self->manager_iface, peer_id,
                                          MAX (plexus_link_get_close_code (link), 0),
                                          plexus_link_get_close_reason (link) != NULL
                                          ? plexus_link_get_close_reason (link) : "");
}

/* The gossip plugin's view of the group (plugins/gossip), on the Peer
 * objects: state, roles, region and capabilities of each member. */
static void
plexus_daemon_on_member_changed (GObject      *plugin,
                                 const gchar  *peer_id,
                                 const gchar  *state,
                                 const gchar  *capabilities,
                                 PlexusDaemon *self)
{
  PlexusDBusPeer *iface;

  if (self->object_manager == NULL || !plexus_peer_id_is_valid (peer_id))
    return;
  /* Dead or left long enough ago: its object goes, unless it is linked. */
  if (g_strcmp0 (state, "forgotten") == 0) {
    PlexusDBusObject *object = g_hash_table_lookup (self->peer_objects, peer_id);

    g_hash_table_remove (self->members, peer_id);
    if (object != NULL)
      plexus_dbus_peer_set_state (plexus_dbus_object_peek_peer (object), "alive");
    plexus_daemon_peer_release (self, peer_id);
    return;
  }
  g_hash_table_replace (self->members, g_strdup (peer_id), g_strdup (state));
  iface = plexus_daemon_peer_ensure (self, peer_id, NULL, capabilities);
  plexus_dbus_peer_set_state (iface, state);
  plexus_daemon_peer_set_capabilities (iface, capabilities);
}

static void
plexus_daemon_watch_gossip (PlexusDaemon *self)
{
  PlexusPlugin *gossip = plexus_plugin_loader_get_plugin (self->loader, "gossip");

  if (gossip == NULL || g_signal_lookup ("member-changed", G_OBJECT_TYPE (gossip)) == 0)
    return;
  g_signal_connect_object (gossip, "member-changed", G_CALLBACK (plexus_daemon_on_member_changed), self, 0);
}

/* ---- D-Bus: Manager ---- */

static GVariant *
plexus_daemon_plugin_to_variant (PlexusPluginInfo *info)
{
  GVariantDict dict;
  g_auto(GStrv) roles = plexus_roles_to_strv (plexus_plugin_info_get_roles (info));
  const gchar * const *services = plexus_plugin_info_get_services (info);
  const gchar *empty[] = { NULL };
  const gchar *message = plexus_plugin_info_get_message (info);
  g_autofree gchar *filename = plexus_plugin_info_get_filename (info) != NULL
                               ? g_filename_display_name (plexus_plugin_info_get_filename (info))
                               : g_strdup ("");

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "name", "s", plexus_plugin_info_get_name (info));
  g_variant_dict_insert (&dict, "description", "s",
                         plexus_plugin_info_get_description (info) != NULL ? plexus_plugin_info_get_description (info) : "");
  /* File names need not be UTF-8; D-Bus strings must be. */
  g_variant_dict_insert (&dict, "filename", "s", filename);
  g_variant_dict_insert_value (&dict, "services",
                               g_variant_new_strv (services != NULL ? services : empty, -1));
  g_variant_dict_insert_value (&dict, "roles", g_variant_new_strv ((const gchar * const *) roles, -1));
  g_variant_dict_insert (&dict, "state", "s",
                         plexus_plugin_state_to_string (plexus_plugin_info_get_state (info)));
  g_variant_dict_insert (&dict, "message", "s", message != NULL ? message : "");
  return g_variant_dict_end (&dict);
}

static gboolean
plexus_daemon_handle_list_plugins (PlexusDBusManager     *iface,
                                   GDBusMethodInvocation *invocation,
                                   gpointer               user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  g_autoptr(GPtrArray) infos = plexus_plugin_loader_list (self->loader);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < infos->len; i++)
    g_variant_builder_add_value (&builder, plexus_daemon_plugin_to_variant (g_ptr_array_index (infos, i)));
  plexus_dbus_manager_complete_list_plugins (iface, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
plexus_daemon_handle_get_capabilities (PlexusDBusManager     *iface,
                                       GDBusMethodInvocation *invocation,
                                       gpointer               user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  g_autofree gchar *json = plexus_capabilities_to_string (plexus_context_get_capabilities (self->context));

  plexus_dbus_manager_complete_get_capabilities (iface, invocation, json);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Ping: the round trip of a `ping` over the node links. */
#define PING_TIMEOUT_MS 10000

typedef struct {
  GDBusMethodInvocation *invocation;
  gint64                 started;
} PingCall;

static void
plexus_daemon_on_pong (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PingCall *call = user_data;
  g_autoptr(PlexusEnvelope) pong = NULL;
  g_autoptr(GError) error = NULL;
  gdouble rtt_ms = (gdouble) (g_get_monotonic_time () - call->started) / 1000.0;
  guint ttl;

  pong = plexus_node_request_finish (PLEXUS_NODE (source), result, &error);
  if (pong == NULL) {
    g_dbus_method_invocation_return_gerror (call->invocation, error);
  } else {
    /* Every node on the way took one off the pong's TTL. */
    ttl = MIN (plexus_envelope_get_ttl (pong), PLEXUS_ENVELOPE_DEFAULT_TTL);
    g_dbus_method_invocation_return_value (call->invocation,
                                           g_variant_new ("(du)", rtt_ms,
                                                          PLEXUS_ENVELOPE_DEFAULT_TTL - ttl + 1));
  }
  g_object_unref (call->invocation);
  g_free (call);
}

static gboolean
plexus_daemon_handle_ping (PlexusDBusManager     *iface,
                           GDBusMethodInvocation *invocation,
                           const gchar           *peer_id,
                           gpointer               user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  PingCall *call;

  if (!plexus_peer_id_is_valid (peer_id)) {
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                                           "'%s' is not a peer ID (64 lower-case hex digits)", peer_id);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  if (strcmp (peer_id, plexus_identity_get_peer_id (plexus_context_get_identity (self->context))) == 0) {
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                                           "%s is this node itself", peer_id);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  call = g_new0 (PingCall, 1);
  call->invocation = g_object_ref (invocation);
  call->started = g_get_monotonic_time ();
  plexus_node_request_async (self->node, peer_id, "ping", NULL, PING_TIMEOUT_MS, NULL,
                             plexus_daemon_on_pong, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Locate: what the membership gossip says about a peer. */
static gboolean
plexus_daemon_handle_locate (PlexusDBusManager     *iface,
                             GDBusMethodInvocation *invocation,
                             const gchar           *peer_id,
                             gpointer               user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  PlexusPlugin *gossip = plexus_plugin_loader_get_plugin (self->loader, "gossip");
  g_autofree gchar *text = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;

  if (!plexus_peer_id_is_valid (peer_id)) {
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                                           "'%s' is not a peer ID (64 lower-case hex digits)", peer_id);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  if (gossip == NULL || g_signal_lookup ("locate", G_OBJECT_TYPE (gossip)) == 0) {
    g_dbus_method_invocation_return_error_literal (invocation, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                                                   "the gossip plugin is not loaded");
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  g_signal_emit_by_name (gossip, "locate", peer_id, &text);
  if (text == NULL) {
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND,
                                           "no advertisement of %s is known here", peer_id);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  caps = plexus_capabilities_new_from_string (text, -1, &error);
  if (caps == NULL) {
    g_dbus_method_invocation_return_gerror (invocation, error);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  plexus_dbus_manager_complete_locate (iface, invocation, plexus_capabilities_get_attached (caps), text);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- D-Bus: Messaging ---- */

static gboolean
plexus_daemon_handle_send (PlexusDBusMessaging   *iface,
                           GDBusMethodInvocation *invocation,
                           const gchar           *peer_id,
                           GVariant              *payload,
                           GVariant              *options,
                           gpointer               user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  PlexusMode mode = plexus_context_get_mode (self->context);
  g_autoptr(GBytes) bytes = g_variant_get_data_as_bytes (payload);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *id = NULL;
  GVariantIter iter;
  const gchar *key;
  GVariant *value;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
    if (g_strcmp0 (key, "mode") == 0 && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) &&
        plexus_mode_from_string (g_variant_get_string (value, NULL), &mode, NULL))
      continue;
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                                           "unknown option or bad value: '%s' (known: mode, a string: "
                                           "hybrid, peer or traditional)", key);
    g_variant_unref (value);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }
  id = plexus_messaging_send (self->messaging, peer_id, bytes, mode, &error);
  if (id == NULL) {
    g_dbus_method_invocation_return_gerror (invocation, error);
  } else {
    plexus_dbus_messaging_set_sent_count (iface, plexus_dbus_messaging_get_sent_count (iface) + 1);
    plexus_dbus_messaging_complete_send (iface, invocation, id);
  }
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
plexus_daemon_on_delivered (PlexusMessaging *messaging, const gchar *id, const gchar *to, const gchar *kind,
                            const gchar *relay, gdouble latency_ms, PlexusDaemon *self)
{
  plexus_dbus_messaging_set_delivered_count (self->messaging_iface,
                                             plexus_dbus_messaging_get_delivered_count (self->messaging_iface) + 1);
  plexus_dbus_messaging_emit_delivered (self->messaging_iface, id, to, kind, relay, latency_ms);
}

static void
plexus_daemon_on_path_failed (PlexusMessaging *messaging, const gchar *id, const gchar *to, const gchar *kind,
                              const gchar *relay, const gchar *reason, PlexusDaemon *self)
{
  plexus_dbus_messaging_emit_path_failed (self->messaging_iface, id, to, kind, relay, reason);
}

static void
plexus_daemon_on_message_failed (PlexusMessaging *messaging, const gchar *id, const gchar *to,
                                 const gchar *error_name, const gchar *reason, PlexusDaemon *self)
{
  plexus_dbus_messaging_set_failed_count (self->messaging_iface,
                                          plexus_dbus_messaging_get_failed_count (self->messaging_iface) + 1);
  plexus_dbus_messaging_emit_failed (self->messaging_iface, id, to, error_name, reason);
}

static void
plexus_daemon_on_received (PlexusMessaging *messaging, const gchar *from, GBytes *payload, const gchar *id,
                           PlexusDaemon *self)
{
  GVariant *bytes = g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, payload, TRUE);

  plexus_dbus_messaging_set_received_count (self->messaging_iface,
                                            plexus_dbus_messaging_get_received_count (self->messaging_iface) + 1);
  plexus_dbus_messaging_emit_received (self->messaging_iface, from, bytes, id);
}

static void
plexus_daemon_on_duplicate (PlexusMessaging *messaging, const gchar *from, const gchar *id, PlexusDaemon *self)
{
  plexus_dbus_messaging_set_duplicate_count (self->messaging_iface,
                                             plexus_dbus_messaging_get_duplicate_count (self->messaging_iface) + 1);
}

static void
plexus_daemon_on_refused (PlexusMessaging *messaging, const gchar *link_peer, const gchar *reason,
                          PlexusDaemon *self)
{
  plexus_dbus_messaging_set_refused_count (self->messaging_iface,
                                           plexus_dbus_messaging_get_refused_count (self->messaging_iface) + 1);
}

static void
plexus_daemon_export_messaging (PlexusDaemon *self)
{
  g_autoptr(PlexusDBusObjectSkeleton) object = plexus_dbus_object_skeleton_new (PLEXUS_DBUS_PATH "/Messaging");

  self->messaging_iface = plexus_dbus_messaging_skeleton_new ();
  g_signal_connect (self->messaging_iface, "handle-send", G_CALLBACK (plexus_daemon_handle_send), self);
  g_signal_connect (self->messaging, "delivered", G_CALLBACK (plexus_daemon_on_delivered), self);
  g_signal_connect (self->messaging, "path-failed", G_CALLBACK (plexus_daemon_on_path_failed), self);
  g_signal_connect (self->messaging, "failed", G_CALLBACK (plexus_daemon_on_message_failed), self);
  g_signal_connect (self->messaging, "received", G_CALLBACK (plexus_daemon_on_received), self);
  g_signal_connect (self->messaging, "duplicate", G_CALLBACK (plexus_daemon_on_duplicate), self);
  g_signal_connect (self->messaging, "refused", G_CALLBACK (plexus_daemon_on_refused), self);
  plexus_dbus_object_skeleton_set_messaging (object, self->messaging_iface);
  g_dbus_object_manager_server_export (self->object_manager, G_DBUS_OBJECT_SKELETON (object));
}

/* ---- D-Bus: Broker ---- */

static GVariant *
plexus_daemon_provider_to_variant (PlexusDaemon *self, PlexusProvider *provider)
{
  PlexusBroker *broker = plexus_context_get_broker (self->context);
  const gchar *service = plexus_provider_get_service (provider);
  GVariantDict dict;

  g_variant_dict_init (&dict, NULL);
  g_variant_dict_insert (&dict, "service", "s", service);
  g_variant_dict_insert (&dict, "peer_id", "s", plexus_provider_get_peer_id (provider));
  g_variant_dict_insert (&dict, "kind", "s", plexus_provider_kind_to_string (plexus_provider_get_kind (provider)));
  g_variant_dict_insert (&dict, "address", "s",
                         plexus_provider_get_address (provider) != NULL ? plexus_provider_get_address (provider) : "");
  g_variant_dict_insert (&dict, "available", "b", plexus_provider_get_available (provider));
  g_variant_dict_insert (&dict, "healthy", "b", plexus_broker_provider_is_healthy (broker, provider));
  g_variant_dict_insert (&dict, "selected", "b", plexus_broker_get_selected (broker, service) == provider);
  g_variant_dict_insert (&dict, "score", "d", plexus_broker_score (broker, provider));
  g_variant_dict_insert (&dict, "load", "d", plexus_provider_get_load (provider));
  g_variant_dict_insert (&dict, "capacity", "x", plexus_provider_get_capacity (provider));
  g_variant_dict_insert (&dict, "rtt_ms", "d", plexus_provider_get_rtt_ms (provider));
  g_variant_dict_insert (&dict, "region", "s",
                         plexus_provider_get_region (provider) != NULL ? plexus_provider_get_region (provider) : "");
  g_variant_dict_insert (&dict, "uptime", "d", plexus_provider_get_uptime (provider));
  g_variant_dict_insert (&dict, "reputation", "d", plexus_provider_get_reputation (provider));
  return g_variant_dict_end (&dict);
}

static gboolean
plexus_daemon_handle_list_providers (PlexusDBusBroker      *iface,
                                     GDBusMethodInvocation *invocation,
                                     const gchar           *service,
                                     gpointer               user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);
  PlexusBroker *broker = plexus_context_get_broker (self->context);
  g_autoptr(GPtrArray) providers = NULL;
  GVariantBuilder builder;

  if (service[0] != '\0' && !plexus_service_name_is_known (service)) {
    g_autofree gchar *known = g_strjoinv (", ", (gchar **) plexus_service_names ());
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE,
                                           "unknown service '%s'; known services: %s",
                                           service, known);
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  }

  providers = plexus_broker_list_providers (broker, service[0] != '\0' ? service : NULL);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < providers->len; i++)
    g_variant_builder_add_value (&builder, plexus_daemon_provider_to_variant (self, g_ptr_array_index (providers, i)));
  plexus_dbus_broker_complete_list_providers (iface, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
plexus_daemon_on_provider_added (PlexusBroker *broker, PlexusProvider *provider, PlexusDaemon *self)
{
  g_message ("provider added: %s by %s (%s)",
             plexus_provider_get_service (provider),
             plexus_provider_get_peer_id (provider),
             plexus_provider_kind_to_string (plexus_provider_get_kind (provider)));
  if (self->broker_iface != NULL)
    plexus_dbus_broker_emit_provider_added (self->broker_iface,
                                            plexus_provider_get_service (provider),
                                            plexus_provider_get_peer_id (provider),
                                            plexus_provider_kind_to_string (plexus_provider_get_kind (provider)));
}

static void
plexus_daemon_on_provider_removed (PlexusBroker *broker, PlexusProvider *provider, PlexusDaemon *self)
{
  g_message ("provider removed: %s by %s",
             plexus_provider_get_service (provider),
             plexus_provider_get_peer_id (provider));
  if (self->broker_iface != NULL)
    plexus_dbus_broker_emit_provider_removed (self->broker_iface,
                                              plexus_provider_get_service (provider),
                                              plexus_provider_get_peer_id (provider));
}

static void
plexus_daemon_on_provider_selected (PlexusBroker   *broker,
                                    const gchar    *service,
                                    PlexusProvider *provider,
                                    const gchar    *reason,
                                    PlexusDaemon   *self)
{
  g_message ("provider selected for %s: %s (%s)", service,
             plexus_provider_get_peer_id (provider), reason);
  if (self->broker_iface != NULL)
    plexus_dbus_broker_emit_provider_selected (self->broker_iface, service,
                                               plexus_provider_get_peer_id (provider), reason);
}

static void
plexus_daemon_on_failover (PlexusBroker   *broker,
                           const gchar    *service,
                           PlexusProvider *from,
                           PlexusProvider *to,
                           const gchar    *reason,
                           PlexusDaemon   *self)
{
  const gchar *from_id = from != NULL ? plexus_provider_get_peer_id (from) : "";
  const gchar *to_id = to != NULL ? plexus_provider_get_peer_id (to) : "";

  g_message ("failover for %s: %s -> %s (%s)", service, from_id,
             to_id[0] != '\0' ? to_id : "nothing", reason);
  if (self->broker_iface != NULL)
    plexus_dbus_broker_emit_failover (self->broker_iface, service, from_id, to_id, reason);
}

/* The stun plugin's findings (plugins/stun), shown on the Manager. The
 * daemon reads them through GObject properties: the plugin exports no
 * other symbol. */
static void
plexus_daemon_on_stun_notify (GObject *stun, GParamSpec *pspec, PlexusDaemon *self)
{
  g_autofree gchar *nat = NULL;
  g_autofree gchar *mapped = NULL;
  g_autofree gchar *udp = NULL;
  g_autofree gchar *tcp = NULL;
  g_auto(GStrv) uris = NULL;
  g_autoptr(GPtrArray) listen = g_ptr_array_new_with_free_func (g_free);
  const gchar *none[] = { NULL };

  if (self->manager_iface == NULL)
    return;
  g_object_get (stun, "nat-type", &nat, "mapped-address", &mapped, "udp-address", &udp,
                "tcp-address", &tcp, "stun-uris", &uris, NULL);
  if (udp != NULL)
    g_ptr_array_add (listen, g_strconcat ("udp ", udp, NULL));
  if (tcp != NULL)
    g_ptr_array_add (listen, g_strconcat ("tcp ", tcp, NULL));
  g_ptr_array_add (listen, NULL);
  plexus_dbus_manager_set_nat (self->manager_iface, nat != NULL ? nat : "unknown");
  plexus_dbus_manager_set_mapped_address (self->manager_iface, mapped != NULL ? mapped : "");
  plexus_dbus_manager_set_stun_listen (self->manager_iface, (const gchar * const *) listen->pdata);
  plexus_dbus_manager_set_stun_servers (self->manager_iface,
                                        uris != NULL ? (const gchar * const *) uris : none);
}

static void
plexus_daemon_watch_stun (PlexusDaemon *self)
{
  PlexusPlugin *stun = plexus_plugin_loader_get_plugin (self->loader, "stun");
  const gchar *none[] = { NULL };

  plexus_dbus_manager_set_nat (self->manager_iface, "unknown");
  plexus_dbus_manager_set_mapped_address (self->manager_iface, "");
  plexus_dbus_manager_set_stun_listen (self->manager_iface, none);
  plexus_dbus_manager_set_stun_servers (self->manager_iface, none);
  /* Another plugin could be named stun; only one with these properties counts. */
  if (stun == NULL || g_object_class_find_property (G_OBJECT_GET_CLASS (stun), "nat-type") == NULL
      || g_object_class_find_property (G_OBJECT_GET_CLASS (stun), "stun-uris") == NULL)
    return;
  plexus_daemon_on_stun_notify (G_OBJECT (stun), NULL, self);
  g_signal_connect_object (stun, "notify", G_CALLBACK (plexus_daemon_on_stun_notify), self, 0);
}

static void
plexus_daemon_on_context_notify (PlexusContext *context, GParamSpec *pspec, PlexusDaemon *self)
{
  g_auto(GStrv) roles = plexus_roles_to_strv (plexus_context_get_roles (context));

  if (self->manager_iface == NULL)
    return;
  plexus_dbus_manager_set_mode (self->manager_iface, plexus_mode_to_string (plexus_context_get_mode (context)));
  plexus_dbus_manager_set_roles (self->manager_iface, (const gchar * const *) roles);
}

static void
plexus_daemon_export_objects (PlexusDaemon *self, GDBusConnection *connection)
{
  g_autoptr(PlexusDBusObjectSkeleton) manager_object = NULL;
  g_autoptr(PlexusDBusObjectSkeleton) broker_object = NULL;

  self->object_manager = g_dbus_object_manager_server_new (PLEXUS_DBUS_PATH);

  self->manager_iface = plexus_dbus_manager_skeleton_new ();
  plexus_dbus_manager_set_peer_id (self->manager_iface,
                                   plexus_identity_get_peer_id (plexus_context_get_identity (self->context)));
  plexus_dbus_manager_set_version (self->manager_iface, PACKAGE_VERSION);
  plexus_dbus_manager_set_address (self->manager_iface,
                                   plexus_node_get_address (self->node) != NULL ? plexus_node_get_address (self->node) : "");
  plexus_daemon_set_state (self, self->state);
  plexus_daemon_on_context_notify (self->context, NULL, self);
  g_signal_connect_object (self->context, "notify", G_CALLBACK (plexus_daemon_on_context_notify), self, 0);
  plexus_daemon_watch_stun (self);
  plexus_daemon_watch_gossip (self);
  g_signal_connect (self->manager_iface, "handle-list-plugins",
                    G_CALLBACK (plexus_daemon_handle_list_plugins), self);
  g_signal_connect (self->manager_iface, "handle-get-capabilities",
                    G_CALLBACK (plexus_daemon_handle_get_capabilities), self);
  g_signal_connect (self->manager_iface, "handle-ping",
                    G_CALLBACK (plexus_daemon_handle_ping), self);
  g_signal_connect (self->manager_iface, "handle-locate",
                    G_CALLBACK (plexus_daemon_handle_locate), self);
  manager_object = plexus_dbus_object_skeleton_new (PLEXUS_DBUS_PATH "/Manager");
  plexus_dbus_object_skeleton_set_manager (manager_object, self->manager_iface);
  g_dbus_object_manager_server_export (self->object_manager, G_DBUS_OBJECT_SKELETON (manager_object));

  self->broker_iface = plexus_dbus_broker_skeleton_new ();
  g_signal_connect (self->broker_iface, "handle-list-providers",
                    G_CALLBACK (plexus_daemon_handle_list_providers), self);
  broker_object = plexus_dbus_object_skeleton_new (PLEXUS_DBUS_PATH "/Broker");
  plexus_dbus_object_skeleton_set_broker (broker_object, self->broker_iface);
  g_dbus_object_manager_server_export (self->object_manager, G_DBUS_OBJECT_SKELETON (broker_object));
  plexus_daemon_export_messaging (self);

  g_signal_connect (self->node, "link-added", G_CALLBACK (plexus_daemon_on_link_added), self);
  g_signal_connect (self->node, "link-removed", G_CALLBACK (plexus_daemon_on_link_removed), self);

  g_dbus_object_manager_server_set_connection (self->object_manager, connection);
}

static void
plexus_daemon_on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);

  self->name_acquired = TRUE;
  g_message ("ready: peer %s owns %s",
             plexus_identity_get_peer_id (plexus_context_get_identity (self->context)), name);
}

static void
plexus_daemon_on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);

  if (connection == NULL)
    g_printerr (_("plexusd: lost the connection to the bus\n"));
  else if (!self->name_acquired)
    g_printerr (_("plexusd: the name %s is already owned on this bus; is another plexusd running?\n"), name);
  else
    g_printerr (_("plexusd: lost the name %s on the bus\n"), name);
  plexus_daemon_stop (self, 1);
}

static gboolean
plexus_daemon_on_signal (gpointer user_data)
{
  PlexusDaemon *self = PLEXUS_DAEMON (user_data);

  g_message ("shutting down on signal");
  plexus_daemon_stop (self, 0);
  return G_SOURCE_CONTINUE;
}

/**
 * plexus_daemon_run:
 * @self: a #PlexusDaemon, set up
 *
 * Connects to the bus, exports the objects, owns the name and serves until
 * a signal or plexus_daemon_stop().
 *
 * Returns: the exit status for main()
 */
int
plexus_daemon_run (PlexusDaemon *self)
{
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  g_return_val_if_fail (PLEXUS_IS_DAEMON (self), 1);
  g_return_val_if_fail (self->context != NULL, 1);

  self->loop = g_main_loop_new (NULL, FALSE);
  self->sigint_id = g_unix_signal_add (SIGINT, plexus_daemon_on_signal, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, plexus_daemon_on_signal, self);

  if (self->bus_type != G_BUS_TYPE_NONE) {
    connection = g_bus_get_sync (self->bus_type, NULL, &error);
    if (connection == NULL) {
      g_printerr (_("plexusd: cannot connect to the %s bus: %s\n"),
                  self->bus_type == G_BUS_TYPE_SYSTEM ? "system" : "session", error->message);
      return 1;
    }
    /* A bus that goes away ends the daemon through name-lost, not _exit(). */
    g_dbus_connection_set_exit_on_close (connection, FALSE);
    plexus_context_set_connection (self->context, connection);
    /* Running before the name is requested: a client that sees the name
     * owned never sees "starting". */
    plexus_daemon_set_state (self, PLEXUS_DAEMON_STATE_RUNNING);
    plexus_daemon_export_objects (self, connection);
    self->name_owner_id = g_bus_own_name_on_connection (connection, PLEXUS_DBUS_NAME,
                                                        G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                        plexus_daemon_on_name_acquired,
                                                        plexus_daemon_on_name_lost,
                                                        self, NULL);
  } else {
    plexus_daemon_set_state (self, PLEXUS_DAEMON_STATE_RUNNING);
    g_message ("ready: peer %s (no bus)",
               plexus_identity_get_peer_id (plexus_context_get_identity (self->context)));
  }

  if (self->exit_status == 0 && self->state != PLEXUS_DAEMON_STATE_STOPPING) {
    /* Dialing starts once links can be shown on the bus. */
    plexus_node_start (self->node);
    g_main_loop_run (self->loop);
  }

  plexus_daemon_set_state (self, PLEXUS_DAEMON_STATE_STOPPING);
  plexus_messaging_shutdown (self->messaging);
  plexus_plugin_loader_shutdown (self->loader);
  plexus_node_stop (self->node);
  plexus_context_set_messenger (self->context, NULL);
  if (self->name_owner_id != 0) {
    g_bus_unown_name (self->name_owner_id);
    self->name_owner_id = 0;
  }
  if (self->object_manager != NULL)
    g_dbus_object_manager_server_set_connection (self->object_manager, NULL);
  if (connection != NULL)
    g_dbus_connection_flush_sync (connection, NULL, NULL);
  g_message ("stopped");
  return self->exit_status;
}

/**
 * plexus_daemon_stop:
 * @self: a #PlexusDaemon
 * @exit_status: what plexus_daemon_run() returns
 *
 * Ends plexus_daemon_run(). The first non-zero status wins.
 */
void
plexus_daemon_stop (PlexusDaemon *self, int exit_status)
{
  g_return_if_fail (PLEXUS_IS_DAEMON (self));

  if (self->exit_status == 0)
    self->exit_status = exit_status;
  plexus_daemon_set_state (self, PLEXUS_DAEMON_STATE_STOPPING);
  if (self->loop != NULL)
    g_main_loop_quit (self->loop);
}

/**
 * plexus_daemon_get_state:
 * @self: a #PlexusDaemon
 *
 * Returns: where the daemon is in its life cycle
 */
PlexusDaemonState
plexus_daemon_get_state (PlexusDaemon *self)
{
  g_return_val_if_fail (PLEXUS_IS_DAEMON (self), PLEXUS_DAEMON_STATE_STOPPING);
  return self->state;
}

/**
 * plexus_daemon_get_context:
 * @self: a #PlexusDaemon
 *
 * Returns: (transfer none) (nullable): the context, once set up
 */
PlexusContext *
plexus_daemon_get_context (PlexusDaemon *self)
{
  g_return_val_if_fail (PLEXUS_IS_DAEMON (self), NULL);
  return self->context;
}

static void
plexus_daemon_dispose (GObject *object)
{
  PlexusDaemon *self = PLEXUS_DAEMON (object);

  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_handle_id (&self->name_owner_id, g_bus_unown_name);
  g_clear_handle_id (&self->peer_refresh_id, g_source_remove);
  if (self->node != NULL)
    g_signal_handlers_disconnect_by_data (self->node, self);
  g_clear_pointer (&self->peer_objects, g_hash_table_unref);
  g_clear_pointer (&self->members, g_hash_table_unref);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->manager_iface);
  g_clear_object (&self->broker_iface);
  if (self->messaging != NULL)
    g_signal_handlers_disconnect_by_data (self->messaging, self);
  g_clear_object (&self->messaging_iface);
  g_clear_object (&self->messaging);
  g_clear_object (&self->loader);
  g_clear_object (&self->node);
  if (self->context != NULL)
    g_signal_handlers_disconnect_by_data (plexus_context_get_broker (self->context), self);
  g_clear_object (&self->context);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  G_OBJECT_CLASS (plexus_daemon_parent_class)->dispose (object);
}

static void
plexus_daemon_class_init (PlexusDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = plexus_daemon_dispose;
}

static void
plexus_daemon_init (PlexusDaemon *self)
{
  self->bus_type = G_BUS_TYPE_SESSION;
  self->state = PLEXUS_DAEMON_STATE_STARTING;
  self->peer_objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

/**
 * plexus_daemon_new:
 *
 * Returns: (transfer full): a daemon to set up with plexus_daemon_setup()
 */
PlexusDaemon *
plexus_daemon_new (void)
{
  return g_object_new (PLEXUS_TYPE_DAEMON, NULL);
}
