/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gmodule.h>
#include <string.h>

#include "plexus-plugin-loader.h"

#define METADATA_SUFFIX ".plugin"

/**
 * SECTION:plexus-plugin-loader
 * @title: PlexusPluginLoader
 * @short_description: Finds, orders, loads and shuts down plugins
 *
 * The loader lists plugins from their metadata alone, so the daemon can
 * show every installed plugin and register its configuration keys before
 * any plugin code runs. Loading then goes dependency first; every refusal
 * (disabled, missing dependency, not a module, wrong ABI, missing symbol,
 * failed setup) is recorded on the plugin's #PlexusPluginInfo and logged,
 * and the remaining plugins load regardless.
 */

struct _PlexusPluginLoader {
  GObject        parent_instance;

  PlexusContext *context;
  GPtrArray     *search_paths;  /* (element-type filename) */
  GHashTable    *infos;         /* name -> PlexusPluginInfo */
  GHashTable    *plugins;       /* name -> PlexusPlugin, loaded only */
  GPtrArray     *load_order;    /* (element-type PlexusPlugin) */
  gboolean       loaded;
  gboolean       shut_down;
};

G_DEFINE_TYPE (PlexusPluginLoader, plexus_plugin_loader, G_TYPE_OBJECT)

typedef GType (*PlexusPluginQueryTypeFunc) (void);

static void
plexus_plugin_loader_dispose (GObject *object)
{
  PlexusPluginLoader *self = PLEXUS_PLUGIN_LOADER (object);

  /* Plugins hold sockets and broker entries; a loader dropped without an
   * explicit shutdown must still let them go. */
  if (self->loaded && !self->shut_down)
    plexus_plugin_loader_shutdown (self);

  g_ptr_array_set_size (self->load_order, 0);
  g_hash_table_remove_all (self->plugins);
  g_clear_object (&self->context);

  G_OBJECT_CLASS (plexus_plugin_loader_parent_class)->dispose (object);
}

static void
plexus_plugin_loader_finalize (GObject *object)
{
  PlexusPluginLoader *self = PLEXUS_PLUGIN_LOADER (object);

  g_ptr_array_unref (self->search_paths);
  g_hash_table_unref (self->infos);
  g_hash_table_unref (self->plugins);
  g_ptr_array_unref (self->load_order);

  G_OBJECT_CLASS (plexus_plugin_loader_parent_class)->finalize (object);
}

static void
plexus_plugin_loader_class_init (PlexusPluginLoaderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_plugin_loader_dispose;
  object_class->finalize = plexus_plugin_loader_finalize;
}

static void
plexus_plugin_loader_init (PlexusPluginLoader *self)
{
  self->search_paths = g_ptr_array_new_with_free_func (g_free);
  self->infos = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->plugins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->load_order = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * plexus_plugin_loader_new:
 * @context: (nullable): the context handed to every plugin
 *
 * Returns: (transfer full): a loader with an empty search path
 */
PlexusPluginLoader *
plexus_plugin_loader_new (PlexusContext *context)
{
  PlexusPluginLoader *self;

  g_return_val_if_fail (context == NULL || PLEXUS_IS_CONTEXT (context), NULL);

  self = g_object_new (PLEXUS_TYPE_PLUGIN_LOADER, NULL);
  if (context != NULL)
    self->context = g_object_ref (context);
  return self;
}

/**
 * plexus_plugin_loader_add_search_path:
 * @self: a #PlexusPluginLoader
 * @path: a folder holding `NAME.plugin` files and their modules
 *
 * Appends @path to the search path. Folders are searched in the order
 * added and the first plugin of a name wins, so the daemon adds each
 * `PLEXUS_PLUGIN_PATH` entry before the installed plugin folder.
 */
void
plexus_plugin_loader_add_search_path (PlexusPluginLoader *self, const gchar *path)
{
  g_return_if_fail (PLEXUS_IS_PLUGIN_LOADER (self));
  g_return_if_fail (path != NULL);

  for (guint i = 0; i < self->search_paths->len; i++) {
    if (g_strcmp0 (g_ptr_array_index (self->search_paths, i), path) == 0)
      return;
  }
  g_ptr_array_add (self->search_paths, g_strdup (path));
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const gchar * const *) a, *(const gchar * const *) b);
}

static void
scan_folder (PlexusPluginLoader *self, const gchar *folder)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  const gchar *entry;

  dir = g_dir_open (folder, 0, &error);
  if (dir == NULL) {
    /* A folder in PLEXUS_PLUGIN_PATH that does not exist is not an error;
     * the installed one may be absent in a build tree too. */
    g_debug ("not scanning plugin folder %s: %s", folder, error->message);
    return;
  }
  while ((entry = g_dir_read_name (dir)) != NULL) {
    if (entry[0] != '.' && g_str_has_suffix (entry, METADATA_SUFFIX))
      g_ptr_array_add (files, g_strdup (entry));
  }
  /* Directory order is arbitrary; make logs and listings reproducible. */
  g_ptr_array_sort (files, compare_strings);

  for (guint i = 0; i < files->len; i++) {
    const gchar *file = g_ptr_array_index (files, i);
    g_autofree gchar *path = g_build_filename (folder, file, NULL);
    g_autofree gchar *name = g_strndup (file, strlen (file) - strlen (METADATA_SUFFIX));
    g_autoptr(GError) local_error = NULL;
    PlexusPluginInfo *existing = g_hash_table_lookup (self->infos, name);
    PlexusPluginInfo *info;

    if (existing != NULL) {
      g_message ("plugin %s: %s is hidden by %s, found earlier in the search path",
                 name, path, plexus_plugin_info_get_filename (existing));
      continue;
    }
    info = plexus_plugin_info_new_from_file (path, &local_error);
    if (info == NULL) {
      /* The error names the file already. */
      g_warning ("plugin %s: %s", name, local_error->message);
      info = plexus_plugin_info_new_failed (path, local_error->message);
    } else {
      g_debug ("found plugin %s in %s", name, path);
    }
    g_hash_table_insert (self->infos, g_steal_pointer (&name), info);
  }
}

/**
 * plexus_plugin_loader_scan:
 * @self: a #PlexusPluginLoader
 *
 * Reads every `NAME.plugin` in the search path without loading anything;
 * afterwards plexus_plugin_loader_list() shows each plugin as
 * %PLEXUS_PLUGIN_STATE_AVAILABLE. A file whose metadata cannot be used
 * shows up as a failed plugin named after the file, with the reason, and a
 * warning is logged. Scanning again forgets the previous scan; it is not
 * allowed once plugins are loaded.
 */
void
plexus_plugin_loader_scan (PlexusPluginLoader *self)
{
  g_return_if_fail (PLEXUS_IS_PLUGIN_LOADER (self));
  g_return_if_fail (!self->loaded);

  g_hash_table_remove_all (self->infos);
  for (guint i = 0; i < self->search_paths->len; i++)
    scan_folder (self, g_ptr_array_index (self->search_paths, i));
}

static gint
compare_infos_by_name (gconstpointer a, gconstpointer b)
{
  PlexusPluginInfo *info_a = *(PlexusPluginInfo * const *) a;
  PlexusPluginInfo *info_b = *(PlexusPluginInfo * const *) b;

  return g_strcmp0 (plexus_plugin_info_get_name (info_a), plexus_plugin_info_get_name (info_b));
}

/**
 * plexus_plugin_loader_list:
 * @self: a #PlexusPluginLoader
 *
 * Returns: (transfer container) (element-type PlexusPluginInfo): every
 *   plugin found, sorted by name
 */
GPtrArray *
plexus_plugin_loader_list (PlexusPluginLoader *self)
{
  GPtrArray *list;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PLEXUS_IS_PLUGIN_LOADER (self), NULL);

  list = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, self->infos);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, compare_infos_by_name);
  return list;
}

/**
 * plexus_plugin_loader_register_config:
 * @self: a #PlexusPluginLoader
 * @config: the daemon's configuration
 *
 * Adds the `[Config]` keys of every plugin found (loaded or not) to the
 * schema of @config, in a group named after the plugin, so configuration
 * files can set them before the plugins load. The metadata gives no
 * defaults: an unset key reads empty, `false` or 0, and numbers take any
 * value. A key the schema already has (a plugin named like a core group)
 * is skipped with a warning.
 */
void
plexus_plugin_loader_register_config (PlexusPluginLoader *self, PlexusConfig *config)
{
  g_autoptr(GPtrArray) infos = NULL;

  g_return_if_fail (PLEXUS_IS_PLUGIN_LOADER (self));
  g_return_if_fail (PLEXUS_IS_CONFIG (config));

  infos = plexus_plugin_loader_list (self);
  for (guint i = 0; i < infos->len; i++) {
    PlexusPluginInfo *info = g_ptr_array_index (infos, i);
    const gchar *name = plexus_plugin_info_get_name (info);
    g_autofree gchar *description = NULL;
    g_autoptr(GList) keys = NULL;

    if (plexus_plugin_info_get_state (info) == PLEXUS_PLUGIN_STATE_FAILED)
      continue;
    description = g_strdup_printf ("option of the %s plugin", name);
    keys = g_hash_table_get_keys (plexus_plugin_info_get_config_keys (info));
    keys = g_list_sort (keys, (GCompareFunc) g_strcmp0);
    for (GList *l = keys; l != NULL; l = l->next) {
      const gchar *key = l->data;
      const gchar *type_name = g_hash_table_lookup (plexus_plugin_info_get_config_keys (info), key);
      PlexusConfigType type;

      /* PlexusPluginInfo has checked the name already. */
      if (!plexus_config_type_from_string (type_name, &type, NULL))
        g_return_if_reached ();
      if (plexus_config_has_key (config, name, key)) {
        g_warning ("plugin %s (%s): configuration key [%s] %s already exists; ignored",
                   name, plexus_plugin_info_get_filename (info), name, key);
        continue;
      }
      plexus_config_add_key (config, name, key, type, NULL, description);
    }
  }
}

static void refuse (PlexusPluginInfo *info,
                    const gchar      *path,
                    const gchar      *format,
                    ...) G_GNUC_PRINTF (3, 4);

/* Every refusal looks the same in the log and on D-Bus: the log line names
 * the plugin and the file, the info keeps the reason. */
static void
refuse (PlexusPluginInfo *info, const gchar *path, const gchar *format, ...)
{
  g_autofree gchar *why = NULL;
  va_list args;

  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);

  g_warning ("plugin %s (%s): %s", plexus_plugin_info_get_name (info), path, why);
  plexus_plugin_info_set_message (info, why);
  plexus_plugin_info_set_state (info, PLEXUS_PLUGIN_STATE_FAILED);
}

static gboolean
lookup_abi (GModule *module, const gchar *symbol, guint32 *value)
{
  gpointer address = NULL;

  if (!g_module_symbol (module, symbol, &address) || address == NULL)
    return FALSE;
  *value = *(const guint32 *) address;
  return TRUE;
}

static void
load_one (PlexusPluginLoader *self, PlexusPluginInfo *info)
{
  const gchar *name = plexus_plugin_info_get_name (info);
  const gchar *path = plexus_plugin_info_get_module_path (info);
  g_autoptr(PlexusPlugin) plugin = NULL;
  g_autoptr(GError) error = NULL;
  PlexusPluginQueryTypeFunc query_type = NULL;
  guint32 abi_major, abi_minor;
  GModule *module;
  GType type;

  module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (module == NULL) {
    refuse (info, path, "%s", g_module_error ());
    return;
  }

  if (!lookup_abi (module, "plexus_plugin_abi_major", &abi_major)) {
    refuse (info, path, "missing symbol plexus_plugin_abi_major: not built with PLEXUS_PLUGIN_DEFINE?");
    g_module_close (module);
    return;
  }
  if (!lookup_abi (module, "plexus_plugin_abi_minor", &abi_minor)) {
    refuse (info, path, "missing symbol plexus_plugin_abi_minor: not built with PLEXUS_PLUGIN_DEFINE?");
    g_module_close (module);
    return;
  }
  /* Same major, and nothing newer than we provide: a plugin built against
   * an older minor only uses what we still have. */
  if (abi_major != PLEXUS_PLUGIN_ABI_MAJOR || abi_minor > PLEXUS_PLUGIN_ABI_MINOR) {
    refuse (info, path, "built for plugin ABI %u.%u, this daemon provides %u.%u",
            abi_major, abi_minor, PLEXUS_PLUGIN_ABI_MAJOR, PLEXUS_PLUGIN_ABI_MINOR);
    g_module_close (module);
    return;
  }
  if (!g_module_symbol (module, "plexus_plugin_query_type", (gpointer *) &query_type) ||
      query_type == NULL) {
    refuse (info, path, "missing symbol plexus_plugin_query_type: not built with PLEXUS_PLUGIN_DEFINE?");
    g_module_close (module);
    return;
  }

  /* From here on the module registers a GType, which cannot be undone:
   * the code must stay mapped even if the plugin is refused below. */
  g_module_make_resident (module);
  type = query_type ();
  if (!g_type_is_a (type, PLEXUS_TYPE_PLUGIN) || type == PLEXUS_TYPE_PLUGIN ||
      !G_TYPE_IS_INSTANTIATABLE (type) || G_TYPE_IS_ABSTRACT (type)) {
    refuse (info, path, "plexus_plugin_query_type() returned %s, not an instantiable subtype of PlexusPlugin",
            type != G_TYPE_INVALID ? g_type_name (type) : "an invalid type");
    return;
  }

  plugin = g_object_new (type, "context", self->context, "info", info, NULL);
  if (!plexus_plugin_setup (plugin, &error)) {
    /* Undo whatever setup did get done (providers it registered before it
     * failed), so nothing is left in the broker without a plugin behind it. */
    plexus_plugin_shutdown (plugin);
    refuse (info, path, "setup failed: %s", error->message);
    return;
  }

  g_debug ("plugin %s loaded from %s", name, path);
  plexus_plugin_info_set_message (info, NULL);
  plexus_plugin_info_set_state (info, PLEXUS_PLUGIN_STATE_LOADED);
  g_hash_table_insert (self->plugins, g_strdup (name), g_object_ref (plugin));
  g_ptr_array_add (self->load_order, g_steal_pointer (&plugin));
}

static const gchar *
state_reason (PlexusPluginState state)
{
  switch (state) {
  case PLEXUS_PLUGIN_STATE_DISABLED:
    return "is disabled";
  case PLEXUS_PLUGIN_STATE_FAILED:
    return "failed";
  case PLEXUS_PLUGIN_STATE_AVAILABLE:
  case PLEXUS_PLUGIN_STATE_LOADED:
  default:
    return "is not loaded";
  }
}

/* Depth-first: dependencies load before the plugins that need them. @stack
 * holds the plugins being visited, so a dependency found on it closes a
 * cycle; every plugin on the cycle is refused. */
static void
load_with_depends (PlexusPluginLoader *self, PlexusPluginInfo *info, GPtrArray *stack)
{
  const gchar * const *depends = plexus_plugin_info_get_depends (info);

  if (plexus_plugin_info_get_state (info) != PLEXUS_PLUGIN_STATE_AVAILABLE)
    return;

  g_ptr_array_add (stack, info);
  for (guint i = 0; depends[i] != NULL; i++) {
    PlexusPluginInfo *dep = g_hash_table_lookup (self->infos, depends[i]);
    guint position;

    if (dep == NULL) {
      refuse (info, plexus_plugin_info_get_filename (info),
              "depends on %s, which was not found", depends[i]);
      break;
    }
    if (g_ptr_array_find (stack, dep, &position)) {
      g_autoptr(GString) cycle = g_string_new (NULL);

      for (guint j = position; j < stack->len; j++)
        g_string_append_printf (cycle, "%s -> ",
                                plexus_plugin_info_get_name (g_ptr_array_index (stack, j)));
      g_string_append (cycle, depends[i]);
      for (guint j = position; j < stack->len; j++) {
        PlexusPluginInfo *member = g_ptr_array_index (stack, j);
        refuse (member, plexus_plugin_info_get_filename (member),
                "dependency cycle: %s", cycle->str);
      }
      break;
    }

    load_with_depends (self, dep, stack);
    /* Refused meanwhile, as part of a cycle. */
    if (plexus_plugin_info_get_state (info) != PLEXUS_PLUGIN_STATE_AVAILABLE)
      break;
    if (plexus_plugin_info_get_state (dep) != PLEXUS_PLUGIN_STATE_LOADED) {
      refuse (info, plexus_plugin_info_get_filename (info),
              "depends on %s, which %s", depends[i],
              state_reason (plexus_plugin_info_get_state (dep)));
      break;
    }
  }
  g_ptr_array_remove_index (stack, stack->len - 1);

  if (plexus_plugin_info_get_state (info) == PLEXUS_PLUGIN_STATE_AVAILABLE)
    load_one (self, info);
}

/**
 * plexus_plugin_loader_load:
 * @self: a #PlexusPluginLoader
 * @enabled: (nullable) (array zero-terminated=1): `[plugins] enabled`; empty
 *   or %NULL means every plugin
 * @disabled: (nullable) (array zero-terminated=1): `[plugins] disabled`,
 *   which wins over @enabled
 *
 * Loads and sets up every plugin found by plexus_plugin_loader_scan() that
 * the configuration allows, each after its dependencies. Plugins left out
 * end in %PLEXUS_PLUGIN_STATE_DISABLED. A plugin that cannot be loaded
 * (missing or disabled dependency, dependency cycle, not a shared object,
 * wrong ABI, missing symbol, failed setup) ends in
 * %PLEXUS_PLUGIN_STATE_FAILED with the reason as its message, and a warning
 * naming it is logged; the others load regardless. Call once.
 */
void
plexus_plugin_loader_load (PlexusPluginLoader  *self,
                           const gchar * const *enabled,
                           const gchar * const *disabled)
{
  g_autoptr(GPtrArray) infos = NULL;
  g_autoptr(GPtrArray) stack = NULL;
  gboolean filter = enabled != NULL && enabled[0] != NULL;

  g_return_if_fail (PLEXUS_IS_PLUGIN_LOADER (self));
  g_return_if_fail (!self->loaded);
  self->loaded = TRUE;

  for (guint i = 0; enabled != NULL && enabled[i] != NULL; i++) {
    if (!g_hash_table_contains (self->infos, enabled[i]))
      g_warning ("[plugins] enabled names %s, which is not installed", enabled[i]);
  }
  for (guint i = 0; disabled != NULL && disabled[i] != NULL; i++) {
    if (!g_hash_table_contains (self->infos, disabled[i]))
      g_message ("[plugins] disabled names %s, which is not installed", disabled[i]);
  }

  infos = plexus_plugin_loader_list (self);
  for (guint i = 0; i < infos->len; i++) {
    PlexusPluginInfo *info = g_ptr_array_index (infos, i);
    const gchar *name = plexus_plugin_info_get_name (info);
    const gchar *why = NULL;

    if (plexus_plugin_info_get_state (info) != PLEXUS_PLUGIN_STATE_AVAILABLE)
      continue;
    if (disabled != NULL && g_strv_contains (disabled, name))
      why = "disabled by [plugins] disabled";
    else if (filter && !g_strv_contains (enabled, name))
      why = "not in [plugins] enabled";
    if (why != NULL) {
      g_debug ("plugin %s: %s", name, why);
      plexus_plugin_info_set_message (info, why);
      plexus_plugin_info_set_state (info, PLEXUS_PLUGIN_STATE_DISABLED);
    }
  }

  stack = g_ptr_array_new ();
  for (guint i = 0; i < infos->len; i++)
    load_with_depends (self, g_ptr_array_index (infos, i), stack);
}

/**
 * plexus_plugin_loader_get_plugin:
 * @self: a #PlexusPluginLoader
 * @name: a plugin name
 *
 * Returns: (transfer none) (nullable): the plugin if it is loaded
 */
PlexusPlugin *
plexus_plugin_loader_get_plugin (PlexusPluginLoader *self, const gchar *name)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_LOADER (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  return g_hash_table_lookup (self->plugins, name);
}

/**
 * plexus_plugin_loader_shutdown:
 * @self: a #PlexusPluginLoader
 *
 * Shuts the loaded plugins down, last loaded first, so nothing a plugin
 * depends on goes away before it. Later calls do nothing.
 */
void
plexus_plugin_loader_shutdown (PlexusPluginLoader *self)
{
  g_return_if_fail (PLEXUS_IS_PLUGIN_LOADER (self));

  if (self->shut_down)
    return;
  self->shut_down = TRUE;
  for (guint i = self->load_order->len; i > 0; i--) {
    PlexusPlugin *plugin = g_ptr_array_index (self->load_order, i - 1);

    g_debug ("shutting plugin %s down", plexus_plugin_get_name (plugin));
    plexus_plugin_shutdown (plugin);
  }
}
