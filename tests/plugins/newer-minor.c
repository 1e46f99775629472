/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A working plugin that claims a minor ABI newer than the daemon's: it may
 * use what this daemon lacks, so the loader must refuse it. */

struct _NewerMinorPlugin {
  PlexusPlugin parent_instance;
};

G_DECLARE_FINAL_TYPE (NewerMinorPlugin, newer_minor_plugin, NEWER_MINOR, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (NewerMinorPlugin, newer_minor_plugin, PLEXUS_TYPE_PLUGIN)

G_MODULE_EXPORT const guint32 plexus_plugin_abi_major = PLEXUS_PLUGIN_ABI_MAJOR;
G_MODULE_EXPORT const guint32 plexus_plugin_abi_minor = PLEXUS_PLUGIN_ABI_MINOR + 1;
G_MODULE_EXPORT GType plexus_plugin_query_type (void);

GType
plexus_plugin_query_type (void)
{
  return newer_minor_plugin_get_type ();
}

static void
newer_minor_plugin_class_init (NewerMinorPluginClass *klass)
{
}

static void
newer_minor_plugin_init (NewerMinorPlugin *self)
{
}
