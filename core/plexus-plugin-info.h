/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib-object.h>

#include "plexus-enums.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_PLUGIN_INFO (plexus_plugin_info_get_type ())
G_DECLARE_FINAL_TYPE (PlexusPluginInfo, plexus_plugin_info, PLEXUS, PLUGIN_INFO, GObject)

/* What NAME.plugin (a GKeyFile next to the .so) says about a plugin, and
 * what became of it; readable without loading the module:
 *
 *   [Plugin]
 *   Name=example
 *   Module=example            # example.so in the same folder
 *   Description=An example
 *   Services=signaling;stun   # services it provides (plexus_service_names())
 *   Roles=standard;super      # roles it serves in
 *   Depends=other-plugin;     # plugins it needs loaded first
 *
 *   [Config]                  # optional: keys of the plugin's own config group
 *   listen=address            # a PlexusConfigType name
 */
PlexusPluginInfo   *plexus_plugin_info_new_from_file (const gchar *path,
                                                      GError     **error);
/* Stands in for unreadable metadata: named after the file, state FAILED. */
PlexusPluginInfo   *plexus_plugin_info_new_failed (const gchar *path,
                                                   const gchar *message);

const gchar        *plexus_plugin_info_get_name (PlexusPluginInfo *self);
const gchar        *plexus_plugin_info_get_description (PlexusPluginInfo *self);
const gchar        *plexus_plugin_info_get_filename (PlexusPluginInfo *self);
const gchar        *plexus_plugin_info_get_module_path (PlexusPluginInfo *self);
const gchar * const *plexus_plugin_info_get_services (PlexusPluginInfo *self);
PlexusRole          plexus_plugin_info_get_roles (PlexusPluginInfo *self);
const gchar * const *plexus_plugin_info_get_depends (PlexusPluginInfo *self);
/* (element-type utf8 utf8): key name to PlexusConfigType name */
GHashTable         *plexus_plugin_info_get_config_keys (PlexusPluginInfo *self);

PlexusPluginState   plexus_plugin_info_get_state (PlexusPluginInfo *self);
void                plexus_plugin_info_set_state (PlexusPluginInfo  *self,
                                                  PlexusPluginState  state);
/* Why it failed or is disabled, for humans; NULL otherwise. */
const gchar        *plexus_plugin_info_get_message (PlexusPluginInfo *self);
void                plexus_plugin_info_set_message (PlexusPluginInfo *self,
                                                    const gchar      *message);

G_END_DECLS
