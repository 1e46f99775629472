/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* An example Plexus plugin, built out of tree against the installed SDK
 * (see Makefile and README.md next to this file).
 *
 * It registers this node as a local provider of contact discovery while it
 * is loaded. A real plugin would also serve the service: open its sockets
 * in setup, answer requests, keep the provider's load and availability up
 * to date, and close everything in shutdown. */

#define G_LOG_DOMAIN "example"

#include <plexus.h>

struct _ExamplePlugin {
  PlexusPlugin    parent_instance;

  PlexusProvider *provider;
};

G_DECLARE_FINAL_TYPE (ExamplePlugin, example_plugin, EXAMPLE, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (ExamplePlugin, example_plugin, PLEXUS_TYPE_PLUGIN)
/* Exports the ABI numbers and plexus_plugin_query_type() for the loader. */
PLEXUS_PLUGIN_DEFINE (ExamplePlugin, example_plugin)

static gboolean
example_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  ExamplePlugin *self = EXAMPLE_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);
  PlexusConfig *config = plexus_context_get_config (context);
  const gchar *peer_id = plexus_identity_get_peer_id (plexus_context_get_identity (context));
  g_autoptr(PlexusProvider) provider = NULL;
  g_autofree gchar *greeting = NULL;

  /* [example] greeting, declared in the [Config] group of example.plugin;
   * empty when the configuration does not set it. */
  greeting = plexus_config_get_string (config, plexus_plugin_get_name (plugin), "greeting");
  g_debug ("%s", greeting != NULL && *greeting != '\0' ? greeting : "hello from the example plugin");

  provider = plexus_provider_new ("contact-discovery", peer_id, PLEXUS_PROVIDER_KIND_LOCAL);
  plexus_provider_set_capacity (provider, 100);
  if (!plexus_broker_add_provider (plexus_context_get_broker (context), provider, error))
    return FALSE;
  self->provider = g_steal_pointer (&provider);
  return TRUE;
}

static void
example_plugin_shutdown (PlexusPlugin *plugin)
{
  ExamplePlugin *self = EXAMPLE_PLUGIN (plugin);
  PlexusBroker *broker = plexus_context_get_broker (plexus_plugin_get_context (plugin));

  if (self->provider == NULL)
    return;
  plexus_broker_remove_provider (broker,
                                 plexus_provider_get_service (self->provider),
                                 plexus_provider_get_peer_id (self->provider));
  g_clear_object (&self->provider);
}

static void
example_plugin_finalize (GObject *object)
{
  ExamplePlugin *self = EXAMPLE_PLUGIN (object);

  g_clear_object (&self->provider);
  G_OBJECT_CLASS (example_plugin_parent_class)->finalize (object);
}

static void
example_plugin_class_init (ExamplePluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PlexusPluginClass *plugin_class = PLEXUS_PLUGIN_CLASS (klass);

  object_class->finalize = example_plugin_finalize;
  plugin_class->setup = example_plugin_setup;
  plugin_class->shutdown = example_plugin_shutdown;
}

static void
example_plugin_init (ExamplePlugin *self)
{
}
