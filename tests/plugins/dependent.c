/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A plugin that depends on "good": it sorts before it by name, so it only
 * finds good's provider at setup if the loader honours Depends. */

struct _DependentPlugin {
  PlexusPlugin parent_instance;
};

G_DECLARE_FINAL_TYPE (DependentPlugin, dependent_plugin, DEPENDENT, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (DependentPlugin, dependent_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (DependentPlugin, dependent_plugin)

static gboolean
dependent_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  PlexusContext *context = plexus_plugin_get_context (plugin);
  const gchar *peer_id = plexus_identity_get_peer_id (plexus_context_get_identity (context));

  if (plexus_broker_lookup_provider (plexus_context_get_broker (context), "signaling", peer_id) == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                         "set up before the good plugin it depends on");
    return FALSE;
  }
  return TRUE;
}

static void
dependent_plugin_class_init (DependentPluginClass *klass)
{
  PLEXUS_PLUGIN_CLASS (klass)->setup = dependent_plugin_setup;
}

static void
dependent_plugin_init (DependentPlugin *self)
{
}
