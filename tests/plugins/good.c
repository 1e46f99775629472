/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A plugin that loads: it provides "signaling" as a local provider with
 * the node's own peer ID while it is set up. */

struct _GoodPlugin {
  PlexusPlugin    parent_instance;

  PlexusProvider *provider;
};

G_DECLARE_FINAL_TYPE (GoodPlugin, good_plugin, GOOD, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (GoodPlugin, good_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (GoodPlugin, good_plugin)

static gboolean
good_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  GoodPlugin *self = GOOD_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);
  PlexusIdentity *identity = plexus_context_get_identity (context);
  g_autoptr(PlexusProvider) provider = NULL;

  provider = plexus_provider_new ("signaling",
                                  plexus_identity_get_peer_id (identity),
                                  PLEXUS_PROVIDER_KIND_LOCAL);
  if (!plexus_broker_add_provider (plexus_context_get_broker (context), provider, error))
    return FALSE;
  self->provider = g_steal_pointer (&provider);
  g_debug ("providing signaling as %s", plexus_identity_get_peer_id (identity));
  return TRUE;
}

static void
good_plugin_shutdown (PlexusPlugin *plugin)
{
  GoodPlugin *self = GOOD_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);

  if (self->provider == NULL)
    return;
  plexus_broker_remove_provider (plexus_context_get_broker (context),
                                 plexus_provider_get_service (self->provider),
                                 plexus_provider_get_peer_id (self->provider));
  g_clear_object (&self->provider);
}

static void
good_plugin_finalize (GObject *object)
{
  GoodPlugin *self = GOOD_PLUGIN (object);

  g_clear_object (&self->provider);
  G_OBJECT_CLASS (good_plugin_parent_class)->finalize (object);
}

static void
good_plugin_class_init (GoodPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PlexusPluginClass *plugin_class = PLEXUS_PLUGIN_CLASS (klass);

  object_class->finalize = good_plugin_finalize;
  plugin_class->setup = good_plugin_setup;
  plugin_class->shutdown = good_plugin_shutdown;
}

static void
good_plugin_init (GoodPlugin *self)
{
}
