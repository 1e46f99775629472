/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <gmodule.h>
#include <glib-object.h>

#include "plexus-context.h"
#include "plexus-plugin-info.h"
#include "plexus-version.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_PLUGIN (plexus_plugin_get_type ())
G_DECLARE_DERIVABLE_TYPE (PlexusPlugin, plexus_plugin, PLEXUS, PLUGIN, GObject)

/**
 * PlexusPluginClass:
 * @parent_class: the parent class
 * @setup: called once after loading; registers the plugin's service
 *   providers with the broker (plexus_context_get_broker()) and opens what
 *   it needs. Return %FALSE and set @error to refuse; the daemon then
 *   carries on without the plugin.
 * @shutdown: called once at daemon shutdown, in reverse load order; close
 *   sockets and remove providers here. Must not block.
 *
 * The virtual functions a plugin implements. Both are optional.
 */
struct _PlexusPluginClass {
  GObjectClass parent_class;

  gboolean (*setup)    (PlexusPlugin *self,
                        GError      **error);
  void     (*shutdown) (PlexusPlugin *self);

  /*< private >*/
  gpointer padding[14];
};

PlexusContext    *plexus_plugin_get_context (PlexusPlugin *self);
PlexusPluginInfo *plexus_plugin_get_info (PlexusPlugin *self);
const gchar      *plexus_plugin_get_name (PlexusPlugin *self);

gboolean          plexus_plugin_setup (PlexusPlugin *self,
                                       GError      **error);
void              plexus_plugin_shutdown (PlexusPlugin *self);

/**
 * PLEXUS_PLUGIN_DEFINE:
 * @TypeName: the plugin's type, e.g. `ExamplePlugin`
 * @type_name: the same in lower case, e.g. `example_plugin`
 *
 * Exports what the loader looks for: the ABI numbers the plugin was built
 * against and plexus_plugin_query_type(). Use it once per plugin, after
 * G_DEFINE_TYPE. Build the module with
 * `-export-symbols-regex '^plexus_plugin_'` so nothing else leaks.
 */
#define PLEXUS_PLUGIN_DEFINE(TypeName, type_name) \
  G_MODULE_EXPORT const guint32 plexus_plugin_abi_major = PLEXUS_PLUGIN_ABI_MAJOR; \
  G_MODULE_EXPORT const guint32 plexus_plugin_abi_minor = PLEXUS_PLUGIN_ABI_MINOR; \
  G_MODULE_EXPORT GType plexus_plugin_query_type (void); \
  G_MODULE_EXPORT GType plexus_plugin_query_type (void) { return type_name##_get_type (); }

G_END_DECLS
