/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A well-formed plugin whose setup refuses to start. */

struct _FailingInitPlugin {
  PlexusPlugin parent_instance;
};

G_DECLARE_FINAL_TYPE (FailingInitPlugin, failing_init_plugin, FAILING_INIT, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (FailingInitPlugin, failing_init_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (FailingInitPlugin, failing_init_plugin)

static gboolean
failing_init_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                       "cannot open its database");
  return FALSE;
}

static void
failing_init_plugin_class_init (FailingInitPluginClass *klass)
{
  PLEXUS_PLUGIN_CLASS (klass)->setup = failing_init_plugin_setup;
}

static void
failing_init_plugin_init (FailingInitPlugin *self)
{
}
