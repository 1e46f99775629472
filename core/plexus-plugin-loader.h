/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "plexus.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_PLUGIN_LOADER (plexus_plugin_loader_get_type ())
G_DECLARE_FINAL_TYPE (PlexusPluginLoader, plexus_plugin_loader, PLEXUS, PLUGIN_LOADER, GObject)

/* Finds plugins by their metadata, loads the enabled ones and keeps them.
 * A refused plugin never stops the daemon: its PlexusPluginInfo ends in
 * PLEXUS_PLUGIN_STATE_FAILED with a message naming it and why, and a
 * warning is logged. */
PlexusPluginLoader *plexus_plugin_loader_new (PlexusContext *context);

/* Folders are searched in the order added; the first plugin of a name wins.
 * The daemon adds each PLEXUS_PLUGIN_PATH entry, then the installed plugindir. */
void          plexus_plugin_loader_add_search_path (PlexusPluginLoader *self,
                                                    const gchar        *path);
/* Reads every NAME.plugin in the search path without loading anything.
 * Unreadable metadata shows up as a failed plugin named after the file. */
void          plexus_plugin_loader_scan (PlexusPluginLoader *self);
/* Adds each plugin's [Config] keys to the config schema (group = name). */
void          plexus_plugin_loader_register_config (PlexusPluginLoader *self,
                                                    PlexusConfig       *config);
/* Loads and sets up the plugins [plugins] enabled/disabled allow (an empty
 * enabled list means all), dependencies first. */
void          plexus_plugin_loader_load (PlexusPluginLoader  *self,
                                         const gchar * const *enabled,
                                         const gchar * const *disabled);
/* (element-type PlexusPluginInfo) (transfer container), sorted by name */
GPtrArray    *plexus_plugin_loader_list (PlexusPluginLoader *self);
PlexusPlugin *plexus_plugin_loader_get_plugin (PlexusPluginLoader *self,
                                               const gchar        *name);
/* Shuts the loaded plugins down in reverse load order. */
void          plexus_plugin_loader_shutdown (PlexusPluginLoader *self);

G_END_DECLS
