/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A plugin whose providers come and go on demand, so the tests can watch
 * the broker's signals reach D-Bus from a real daemon. Once the daemon is on
 * the bus it exports org.plexus.Test.Dynamic at /org/plexus/Test/Dynamic;
 * Flap() then plays a fixed story with two remote "stun" providers:
 * both appear, the better one is selected, becomes unavailable (failover to
 * the other), and both are removed. It returns the two peer IDs. */

#define DYNAMIC_PATH "/org/plexus/Test/Dynamic"

static const gchar introspection_xml[] =
  "<node>"
  "  <interface name='org.plexus.Test.Dynamic'>"
  "    <method name='Flap'>"
  "      <arg name='first' type='s' direction='out'/>"
  "      <arg name='second' type='s' direction='out'/>"
  "    </method>"
  "  </interface>"
  "</node>";

struct _DynamicPlugin {
  PlexusPlugin     parent_instance;

  GDBusConnection *connection;
  guint            registration_id;
};

G_DECLARE_FINAL_TYPE (DynamicPlugin, dynamic_plugin, DYNAMIC, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (DynamicPlugin, dynamic_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (DynamicPlugin, dynamic_plugin)

static PlexusProvider *
remote_stun_provider (gdouble load)
{
  g_autoptr(PlexusIdentity) peer = plexus_identity_new_ephemeral ();
  PlexusProvider *provider = plexus_provider_new ("stun", plexus_identity_get_peer_id (peer),
                                                  PLEXUS_PROVIDER_KIND_PEER);

  plexus_provider_set_load (provider, load);
  return provider;
}

static gboolean
dynamic_plugin_flap (DynamicPlugin *self, gchar **first_id, gchar **second_id, GError **error)
{
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (PLEXUS_PLUGIN (self)));
  g_autoptr(PlexusProvider) first = remote_stun_provider (0.1);
  g_autoptr(PlexusProvider) second = remote_stun_provider (0.6);
  g_autoptr(GPtrArray) selected = NULL;

  if (!plexus_broker_add_provider (broker, first, error) ||
      !plexus_broker_add_provider (broker, second, error))
    return FALSE;
  selected = plexus_broker_select (broker, "stun", 2, error);
  if (selected == NULL)
    return FALSE;
  plexus_provider_set_available (first, FALSE);
  plexus_broker_remove_provider (broker, "stun", plexus_provider_get_peer_id (first));
  plexus_broker_remove_provider (broker, "stun", plexus_provider_get_peer_id (second));
  *first_id = g_strdup (plexus_provider_get_peer_id (first));
  *second_id = g_strdup (plexus_provider_get_peer_id (second));
  return TRUE;
}

static void
dynamic_plugin_method_call (GDBusConnection       *connection,
                            const gchar           *sender,
                            const gchar           *object_path,
                            const gchar           *interface_name,
                            const gchar           *method_name,
                            GVariant              *parameters,
                            GDBusMethodInvocation *invocation,
                            gpointer               user_data)
{
  DynamicPlugin *self = DYNAMIC_PLUGIN (user_data);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = NULL;
  g_autofree gchar *second = NULL;

  if (!dynamic_plugin_flap (self, &first, &second, &error)) {
    g_dbus_method_invocation_return_gerror (invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(ss)", first, second));
}

static const GDBusInterfaceVTable vtable = { dynamic_plugin_method_call, NULL, NULL };

static void
dynamic_plugin_on_connection (PlexusContext *context, GParamSpec *pspec, DynamicPlugin *self)
{
  GDBusConnection *connection = plexus_context_get_connection (context);
  g_autoptr(GDBusNodeInfo) node = NULL;
  g_autoptr(GError) error = NULL;

  if (connection == NULL || self->registration_id != 0)
    return;
  node = g_dbus_node_info_new_for_xml (introspection_xml, &error);
  g_assert_no_error (error);
  self->registration_id = g_dbus_connection_register_object (connection, DYNAMIC_PATH,
                                                             node->interfaces[0], &vtable,
                                                             self, NULL, &error);
  if (self->registration_id == 0) {
    g_warning ("cannot export %s: %s", DYNAMIC_PATH, error->message);
    return;
  }
  self->connection = g_object_ref (connection);
}

static gboolean
dynamic_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  DynamicPlugin *self = DYNAMIC_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);

  g_signal_connect_object (context, "notify::connection",
                           G_CALLBACK (dynamic_plugin_on_connection), self, 0);
  dynamic_plugin_on_connection (context, NULL, self);
  return TRUE;
}

static void
dynamic_plugin_shutdown (PlexusPlugin *plugin)
{
  DynamicPlugin *self = DYNAMIC_PLUGIN (plugin);

  if (self->registration_id != 0)
    g_dbus_connection_unregister_object (self->connection, self->registration_id);
  self->registration_id = 0;
  g_clear_object (&self->connection);
}

static void
dynamic_plugin_finalize (GObject *object)
{
  DynamicPlugin *self = DYNAMIC_PLUGIN (object);

  g_clear_object (&self->connection);
  G_OBJECT_CLASS (dynamic_plugin_parent_class)->finalize (object);
}

static void
dynamic_plugin_class_init (DynamicPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PlexusPluginClass *plugin_class = PLEXUS_PLUGIN_CLASS (klass);

  object_class->finalize = dynamic_plugin_finalize;
  plugin_class->setup = dynamic_plugin_setup;
  plugin_class->shutdown = dynamic_plugin_shutdown;
}

static void
dynamic_plugin_init (DynamicPlugin *self)
{
}
