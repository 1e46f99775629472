/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A working plugin that claims a future major ABI, written out by hand
 * instead of with PLEXUS_PLUGIN_DEFINE: the loader must refuse it. */

struct _WrongAbiPlugin {
  PlexusPlugin parent_instance;
};

G_DECLARE_FINAL_TYPE (WrongAbiPlugin, wrong_abi_plugin, WRONG_ABI, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (WrongAbiPlugin, wrong_abi_plugin, PLEXUS_TYPE_PLUGIN)

G_MODULE_EXPORT const guint32 plexus_plugin_abi_major = PLEXUS_PLUGIN_ABI_MAJOR + 1;
G_MODULE_EXPORT const guint32 plexus_plugin_abi_minor = 0;
G_MODULE_EXPORT GType plexus_plugin_query_type (void);

GType
plexus_plugin_query_type (void)
{
  return wrong_abi_plugin_get_type ();
}

static void
wrong_abi_plugin_class_init (WrongAbiPluginClass *klass)
{
}

static void
wrong_abi_plugin_init (WrongAbiPlugin *self)
{
}
