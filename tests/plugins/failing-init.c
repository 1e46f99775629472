/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A well-formed plugin whose setup refuses to start after it has already
 * registered a provider: the loader must shut it down so the provider
 * does not outlive the refusal. */

struct _FailingInitPlugin {
  PlexusPlugin parent_instance;
};

G_DECLARE_FINAL_TYPE (FailingInitPlugin, failing_init_plugin, FAILING_INIT, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (FailingInitPlugin, failing_init_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (FailingInitPlugin, failing_init_plugin)

static gboolean
failing_init_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  PlexusContext *context = plexus_plugin_get_context (plugin);
  g_autoptr(PlexusProvider) provider =
    plexus_provider_new ("stun", plexus_identity_get_peer_id (plexus_context_get_identity (context)),
                         PLEXUS_PROVIDER_KIND_LOCAL);

  if (!plexus_broker_add_provider (plexus_context_get_broker (context), provider, error))
    return FALSE;
  g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                       "cannot open its database");
  return FALSE;
}

static void
failing_init_plugin_shutdown (PlexusPlugin *plugin)
{
  PlexusContext *context = plexus_plugin_get_context (plugin);

  plexus_broker_remove_provider (plexus_context_get_broker (context), "stun",
                                 plexus_identity_get_peer_id (plexus_context_get_identity (context)));
}

static void
failing_init_plugin_class_init (FailingInitPluginClass *klass)
{
  PLEXUS_PLUGIN_CLASS (klass)->setup = failing_init_plugin_setup;
  PLEXUS_PLUGIN_CLASS (klass)->shutdown = failing_init_plugin_shutdown;
}

static void
failing_init_plugin_init (FailingInitPlugin *self)
{
}
