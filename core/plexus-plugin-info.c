/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gmodule.h>
#include <string.h>

#include "plexus-capabilities.h"
#include "plexus-config.h"
#include "plexus-enum-types.h"
#include "plexus-error.h"
#include "plexus-plugin-info.h"

#define PLUGIN_GROUP "Plugin"
#define CONFIG_GROUP "Config"
#define METADATA_SUFFIX ".plugin"

/**
 * SECTION:plexus-plugin-info
 * @title: PlexusPluginInfo
 * @short_description: What a plugin's metadata says, and what became of it
 *
 * Every plugin ships a small keyfile, `NAME.plugin`, next to its module.
 * The daemon reads it to list plugins, to learn their configuration keys
 * and to order them by dependency without loading any code. The same
 * object then carries the plugin's state and, when it was refused, why.
 */

struct _PlexusPluginInfo {
  GObject            parent_instance;

  gchar             *name;
  gchar             *description;
  gchar             *filename;
  gchar             *module_path;
  gchar            **services;
  PlexusRole         roles;
  gchar            **depends;
  GHashTable        *config_keys;

  PlexusPluginState  state;
  gchar             *message;
};

enum {
  PROP_0,
  PROP_NAME,
  PROP_STATE,
  PROP_MESSAGE,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (PlexusPluginInfo, plexus_plugin_info, G_TYPE_OBJECT)

static void
plexus_plugin_info_finalize (GObject *object)
{
  PlexusPluginInfo *self = PLEXUS_PLUGIN_INFO (object);

  g_free (self->name);
  g_free (self->description);
  g_free (self->filename);
  g_free (self->module_path);
  g_strfreev (self->services);
  g_strfreev (self->depends);
  g_hash_table_unref (self->config_keys);
  g_free (self->message);

  G_OBJECT_CLASS (plexus_plugin_info_parent_class)->finalize (object);
}

static void
plexus_plugin_info_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  PlexusPluginInfo *self = PLEXUS_PLUGIN_INFO (object);

  switch (prop_id) {
  case PROP_NAME:
    g_value_set_string (value, self->name);
    break;
  case PROP_STATE:
    g_value_set_enum (value, self->state);
    break;
  case PROP_MESSAGE:
    g_value_set_string (value, self->message);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_plugin_info_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  PlexusPluginInfo *self = PLEXUS_PLUGIN_INFO (object);

  switch (prop_id) {
  case PROP_STATE:
    plexus_plugin_info_set_state (self, g_value_get_enum (value));
    break;
  case PROP_MESSAGE:
    plexus_plugin_info_set_message (self, g_value_get_string (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_plugin_info_class_init (PlexusPluginInfoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_plugin_info_finalize;
  object_class->get_property = plexus_plugin_info_get_property;
  object_class->set_property = plexus_plugin_info_set_property;

  /**
   * PlexusPluginInfo:name:
   *
   * The plugin's name, from its metadata (or its file name when the
   * metadata could not be read).
   */
  props[PROP_NAME] =
    g_param_spec_string ("name", "Name", "The plugin's name",
                         NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * PlexusPluginInfo:state:
   *
   * What became of the plugin.
   */
  props[PROP_STATE] =
    g_param_spec_enum ("state", "State", "What became of the plugin",
                       PLEXUS_TYPE_PLUGIN_STATE,
                       PLEXUS_PLUGIN_STATE_AVAILABLE,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  /**
   * PlexusPluginInfo:message:
   *
   * Why the plugin failed or is disabled, or %NULL.
   */
  props[PROP_MESSAGE] =
    g_param_spec_string ("message", "Message", "Why the plugin failed or is disabled",
                         NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
plexus_plugin_info_init (PlexusPluginInfo *self)
{
  self->description = g_strdup ("");
  self->services = g_new0 (gchar *, 1);
  self->depends = g_new0 (gchar *, 1);
  self->config_keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->state = PLEXUS_PLUGIN_STATE_AVAILABLE;
}

static gboolean
is_valid_plugin_name (const gchar *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const gchar *p = name; *p != '\0'; p++) {
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-')
      return FALSE;
  }
  return TRUE;
}

/* A module name is a file name in the plugin's own folder: no separators,
 * no "..", nothing hidden. */
static gboolean
is_valid_module_name (const gchar *module)
{
  if (module == NULL || *module == '\0' || *module == '.')
    return FALSE;
  for (const gchar *p = module; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  }
  return TRUE;
}

static gboolean
is_valid_config_key (const gchar *key)
{
  if (key == NULL || !g_ascii_isalpha (*key))
    return FALSE;
  for (const gchar *p = key; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  }
  return TRUE;
}

/* Keys the [Plugin] group may hold; Description may also be localized
 * (Description[de]=...), as in desktop files. */
static gboolean
is_known_plugin_key (const gchar *key)
{
  static const gchar *known[] = { "Name", "Module", "Description", "Services", "Roles", "Depends" };

  if (g_str_has_prefix (key, "Description[") && g_str_has_suffix (key, "]"))
    return TRUE;
  return g_strv_contains (known, key);
}

static gchar *
name_from_path (const gchar *path)
{
  g_autofree gchar *base = g_path_get_basename (path);

  if (g_str_has_suffix (base, METADATA_SUFFIX))
    base[strlen (base) - strlen (METADATA_SUFFIX)] = '\0';
  return g_steal_pointer (&base);
}

/* Reads an optional list; a missing key is an empty list. */
static gchar **
get_optional_list (GKeyFile    *keyfile,
                   const gchar *key,
                   const gchar *path,
                   GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  gchar **list;

  if (!g_key_file_has_key (keyfile, PLUGIN_GROUP, key, NULL))
    return g_new0 (gchar *, 1);
  list = g_key_file_get_string_list (keyfile, PLUGIN_GROUP, key, NULL, &local_error);
  if (list == NULL) {
    /* An empty value ("Depends=") is an empty list, not an error. */
    if (g_error_matches (local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE))
      return g_new0 (gchar *, 1);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] %s: %s", path, PLUGIN_GROUP, key, local_error->message);
    return NULL;
  }
  return list;
}

static gboolean
parse_plugin_group (PlexusPluginInfo *self,
                    GKeyFile         *keyfile,
                    const gchar      *path,
                    GError          **error)
{
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) keys = NULL;
  g_auto(GStrv) roles = NULL;
  g_autofree gchar *file_name = name_from_path (path);
  g_autofree gchar *module = NULL;
  g_autofree gchar *dir = NULL;
  g_autofree gchar *module_file = NULL;
  gchar *description;

  keys = g_key_file_get_keys (keyfile, PLUGIN_GROUP, NULL, &local_error);
  if (keys == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: no [%s] group", path, PLUGIN_GROUP);
    return FALSE;
  }
  for (guint i = 0; keys[i] != NULL; i++) {
    if (!is_known_plugin_key (keys[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: unknown key; expected Name, Module, Description, "
                   "Services, Roles or Depends",
                   path, PLUGIN_GROUP, keys[i]);
      return FALSE;
    }
  }

  self->name = g_key_file_get_string (keyfile, PLUGIN_GROUP, "Name", NULL);
  if (self->name == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Name: missing", path, PLUGIN_GROUP);
    return FALSE;
  }
  if (!is_valid_plugin_name (self->name)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Name: “%s” is not a plugin name; use lower-case letters, "
                 "digits and “-”",
                 path, PLUGIN_GROUP, self->name);
    return FALSE;
  }
  /* One name, one file: this is what makes "first in the search path
   * wins" possible without opening every file. */
  if (g_strcmp0 (self->name, file_name) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Name: “%s” does not match the file name; expected “%s”",
                 path, PLUGIN_GROUP, self->name, file_name);
    return FALSE;
  }

  module = g_key_file_get_string (keyfile, PLUGIN_GROUP, "Module", NULL);
  if (module == NULL)
    module = g_strdup (self->name);
  if (!is_valid_module_name (module)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Module: “%s” is not a module name in the same folder",
                 path, PLUGIN_GROUP, module);
    return FALSE;
  }
  dir = g_path_get_dirname (path);
  module_file = g_strconcat (module, "." G_MODULE_SUFFIX, NULL);
  self->module_path = g_build_filename (dir, module_file, NULL);

  description = g_key_file_get_locale_string (keyfile, PLUGIN_GROUP, "Description", NULL, NULL);
  if (description != NULL) {
    g_free (self->description);
    self->description = description;
  }

  g_strfreev (self->services);
  self->services = get_optional_list (keyfile, "Services", path, error);
  if (self->services == NULL)
    return FALSE;
  for (guint i = 0; self->services[i] != NULL; i++) {
    if (!plexus_service_name_is_known (self->services[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] Services: “%s” is not a service Plexus knows",
                   path, PLUGIN_GROUP, self->services[i]);
      return FALSE;
    }
  }

  roles = get_optional_list (keyfile, "Roles", path, error);
  if (roles == NULL)
    return FALSE;
  if (!plexus_roles_from_strv ((const gchar * const *) roles, &self->roles, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Roles: %s", path, PLUGIN_GROUP, local_error->message);
    return FALSE;
  }

  g_strfreev (self->depends);
  self->depends = get_optional_list (keyfile, "Depends", path, error);
  if (self->depends == NULL)
    return FALSE;
  for (guint i = 0; self->depends[i] != NULL; i++) {
    if (!is_valid_plugin_name (self->depends[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] Depends: “%s” is not a plugin name",
                   path, PLUGIN_GROUP, self->depends[i]);
      return FALSE;
    }
  }

  return TRUE;
}

static gboolean
parse_config_group (PlexusPluginInfo *self,
                    GKeyFile         *keyfile,
                    const gchar      *path,
                    GError          **error)
{
  g_auto(GStrv) keys = NULL;

  if (!g_key_file_has_group (keyfile, CONFIG_GROUP))
    return TRUE;

  keys = g_key_file_get_keys (keyfile, CONFIG_GROUP, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    g_autofree gchar *type = g_key_file_get_string (keyfile, CONFIG_GROUP, keys[i], NULL);
    PlexusConfigType config_type;

    if (!is_valid_config_key (keys[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: not a configuration key name; use letters, digits, "
                   "“-” and “_”",
                   path, CONFIG_GROUP, keys[i]);
      return FALSE;
    }
    /* Enums need their choices, which one keyfile value cannot carry. */
    if (type == NULL ||
        !plexus_config_type_from_string (type, &config_type, NULL) ||
        config_type == PLEXUS_CONFIG_TYPE_ENUM || config_type == PLEXUS_CONFIG_TYPE_ENUM_LIST) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: “%s” is not a configuration type; expected string, "
                   "string-list, boolean, integer, double, address, uri or uri-list",
                   path, CONFIG_GROUP, keys[i], type != NULL ? type : "");
      return FALSE;
    }
    g_hash_table_insert (self->config_keys, g_strdup (keys[i]), g_steal_pointer (&type));
  }
  return TRUE;
}

/**
 * plexus_plugin_info_new_from_file:
 * @path: a `NAME.plugin` file
 * @error: return location for a #GError
 *
 * Reads a plugin's metadata. The file must be called after the plugin's
 * `Name`; its module is `Module` (default: the name) plus the platform's
 * module suffix, in the same folder. Unknown keys, unknown services and
 * roles and unknown configuration types are errors naming the file and the
 * key (%PLEXUS_ERROR_PLUGIN). Nothing is loaded.
 *
 * Returns: (transfer full): the info, in state
 *   %PLEXUS_PLUGIN_STATE_AVAILABLE, or %NULL on error
 */
PlexusPluginInfo *
plexus_plugin_info_new_from_file (const gchar *path, GError **error)
{
  g_autoptr(PlexusPluginInfo) self = NULL;
  g_autoptr(GKeyFile) keyfile = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) groups = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_str_has_suffix (path, METADATA_SUFFIX)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: plugin metadata files end in “%s”", path, METADATA_SUFFIX);
    return NULL;
  }
  if (!g_key_file_load_from_file (keyfile, path, G_KEY_FILE_NONE, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: %s", path, local_error->message);
    return NULL;
  }

  groups = g_key_file_get_groups (keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    if (g_strcmp0 (groups[i], PLUGIN_GROUP) != 0 && g_strcmp0 (groups[i], CONFIG_GROUP) != 0) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s]: unknown group; expected [%s] and optionally [%s]",
                   path, groups[i], PLUGIN_GROUP, CONFIG_GROUP);
      return NULL;
    }
  }

  self = g_object_new (PLEXUS_TYPE_PLUGIN_INFO, NULL);
  self->filename = g_strdup (path);
  if (!parse_plugin_group (self, keyfile, path, error))
    return NULL;
  if (!parse_config_group (self, keyfile, path, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * plexus_plugin_info_new_failed:
 * @path: the `NAME.plugin` file that could not be read
 * @message: why
 *
 * Stands in for a plugin whose metadata is unusable, so that it still
 * shows up in plugin listings, named after its file, with the reason.
 *
 * Returns: (transfer full): an info in state %PLEXUS_PLUGIN_STATE_FAILED
 */
PlexusPluginInfo *
plexus_plugin_info_new_failed (const gchar *path, const gchar *message)
{
  PlexusPluginInfo *self;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (message != NULL, NULL);

  self = g_object_new (PLEXUS_TYPE_PLUGIN_INFO, NULL);
  self->name = name_from_path (path);
  self->filename = g_strdup (path);
  self->state = PLEXUS_PLUGIN_STATE_FAILED;
  self->message = g_strdup (message);
  return self;
}

/**
 * plexus_plugin_info_get_name:
 * @self: a #PlexusPluginInfo
 *
 * Returns: the plugin's name
 */
const gchar *
plexus_plugin_info_get_name (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return self->name;
}

/**
 * plexus_plugin_info_get_description:
 * @self: a #PlexusPluginInfo
 *
 * Returns: the description for humans, in the user's language when the
 *   metadata has one; empty when it has none
 */
const gchar *
plexus_plugin_info_get_description (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return self->description;
}

/**
 * plexus_plugin_info_get_filename:
 * @self: a #PlexusPluginInfo
 *
 * Returns: the path of the metadata file
 */
const gchar *
plexus_plugin_info_get_filename (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return self->filename;
}

/**
 * plexus_plugin_info_get_module_path:
 * @self: a #PlexusPluginInfo
 *
 * Returns: (nullable): the path of the shared object, or %NULL when the
 *   metadata could not be read
 */
const gchar *
plexus_plugin_info_get_module_path (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return self->module_path;
}

/**
 * plexus_plugin_info_get_services:
 * @self: a #PlexusPluginInfo
 *
 * Returns: (transfer none): the services the plugin provides, possibly none
 */
const gchar * const *
plexus_plugin_info_get_services (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return (const gchar * const *) self->services;
}

/**
 * plexus_plugin_info_get_roles:
 * @self: a #PlexusPluginInfo
 *
 * Returns: the roles the plugin serves in; %PLEXUS_ROLE_NONE when the
 *   metadata names none
 */
PlexusRole
plexus_plugin_info_get_roles (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), PLEXUS_ROLE_NONE);
  return self->roles;
}

/**
 * plexus_plugin_info_get_depends:
 * @self: a #PlexusPluginInfo
 *
 * Returns: (transfer none): the plugins that must be loaded first
 */
const gchar * const *
plexus_plugin_info_get_depends (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return (const gchar * const *) self->depends;
}

/**
 * plexus_plugin_info_get_config_keys:
 * @self: a #PlexusPluginInfo
 *
 * The keys of the plugin's own configuration group (named after the
 * plugin), from the `[Config]` group of its metadata.
 *
 * Returns: (transfer none) (element-type utf8 utf8): key name to
 *   configuration type name (`string`, `integer`, `address`, ...)
 */
GHashTable *
plexus_plugin_info_get_config_keys (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return self->config_keys;
}

/**
 * plexus_plugin_info_get_state:
 * @self: a #PlexusPluginInfo
 *
 * Returns: what became of the plugin
 */
PlexusPluginState
plexus_plugin_info_get_state (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), PLEXUS_PLUGIN_STATE_FAILED);
  return self->state;
}

/**
 * plexus_plugin_info_set_state:
 * @self: a #PlexusPluginInfo
 * @state: the new state
 *
 * Records what became of the plugin; emits #GObject::notify on change.
 */
void
plexus_plugin_info_set_state (PlexusPluginInfo *self, PlexusPluginState state)
{
  g_return_if_fail (PLEXUS_IS_PLUGIN_INFO (self));

  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_STATE]);
}

/**
 * plexus_plugin_info_get_message:
 * @self: a #PlexusPluginInfo
 *
 * Returns: (nullable): why the plugin failed or is disabled, or %NULL
 */
const gchar *
plexus_plugin_info_get_message (PlexusPluginInfo *self)
{
  g_return_val_if_fail (PLEXUS_IS_PLUGIN_INFO (self), NULL);
  return self->message;
}

/**
 * plexus_plugin_info_set_message:
 * @self: a #PlexusPluginInfo
 * @message: (nullable): why the plugin failed or is disabled
 *
 * Sets the explanation shown next to the state; emits #GObject::notify on
 * change.
 */
void
plexus_plugin_info_set_message (PlexusPluginInfo *self, const gchar *message)
{
  g_return_if_fail (PLEXUS_IS_PLUGIN_INFO (self));

  if (g_strcmp0 (self->message, message) == 0)
    return;
  g_free (self->message);
  self->message = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MESSAGE]);
}
