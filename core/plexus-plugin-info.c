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

/* The file's name without ".plugin", as bytes: a plugin's Name must match
 * it exactly. */
static gchar *
name_from_path (const gchar *path)
{
  g_autofree gchar *base = g_path_get_basename (path);

  if (g_str_has_suffix (base, METADATA_SUFFIX))
    base[strlen (base) - strlen (METADATA_SUFFIX)] = '\0';
  return g_steal_pointer (&base);
}

/* The same as UTF-8, for names and messages that reach D-Bus, whatever
 * bytes the file's name holds. */
static gchar *
display_name_from_path (const gchar *path)
{
  g_autofree gchar *base = g_filename_display_basename (path);

  if (g_str_has_suffix (base, METADATA_SUFFIX))
    base[strlen (base) - strlen (METADATA_SUFFIX)] = '\0';
  return g_steal_pointer (&base);
}

/* GKeyFile checks that values are UTF-8, but not group and key names, which
 * errors quote and which reach D-Bus: refuse text that is not UTF-8 before
 * GKeyFile sees it, saying where the first bad byte is (counted from 1). */
static gboolean
check_utf8 (const gchar *text, gsize length, const gchar *display_path, GError **error)
{
  const gchar *end = NULL;
  guint line = 1;

  if (g_utf8_validate_len (text, length, &end))
    return TRUE;
  for (const gchar *p = text; p < end; p++) {
    if (*p == '\n')
      line++;
  }
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
               "%s: %s at byte %" G_GSIZE_FORMAT " (line %u); plugin metadata must be UTF-8 text",
               display_path, *end == '\0' ? "NUL character" : "not valid UTF-8",
               (gsize) (end - text) + 1, line);
  return FALSE;
}

/* Reads a string. GLib 2.74 returns the value *and* sets an error when a
 * backslash starts no escape sequence (Name=fuzz\ comes back as "fuzz"),
 * so the error decides; a missing key is no error here: %NULL without one. */
static gboolean
get_string (GKeyFile     *keyfile,
            const gchar  *group,
            const gchar  *key,
            const gchar  *display_path,
            gchar       **value,
            GError      **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *text = NULL;

  *value = NULL;
  if (!g_key_file_has_key (keyfile, group, key, NULL))
    return TRUE;
  text = g_key_file_get_string (keyfile, group, key, &local_error);
  if (local_error != NULL) {
    /* The text is UTF-8 by now, so only an escape can be at fault. */
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] %s: invalid escape sequence in the value; a backslash must start "
                 "\\s, \\n, \\t, \\r or \\\\",
                 display_path, group, key);
    return FALSE;
  }
  *value = g_steal_pointer (&text);
  return TRUE;
}

/* Description, in the first of the user's languages it is translated to.
 * Every translation is checked (the key file keeps them all), so that a
 * file does not work in one locale and fail in another. Not
 * g_key_file_get_locale_string(), which in GLib 2.74 takes a value with a
 * bad escape and leaks the error. */
static gboolean
get_description (GKeyFile     *keyfile,
                 const gchar  *display_path,
                 gchar       **description,
                 GError      **error)
{
  g_auto(GStrv) keys = g_key_file_get_keys (keyfile, PLUGIN_GROUP, NULL, NULL);
  g_autoptr(GHashTable) translations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const gchar * const *languages = g_get_language_names_with_category ("LC_MESSAGES");
  g_autofree gchar *untranslated = NULL;
  const gchar *found = NULL;

  *description = NULL;
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    const gchar *key = keys[i];
    gchar *value = NULL;

    /* The caller allows only Description and Description[LOCALE]. */
    if (!g_str_has_prefix (key, "Description"))
      continue;
    if (!get_string (keyfile, PLUGIN_GROUP, key, display_path, &value, error))
      return FALSE;
    /* A key may repeat: get_keys() lists it each time. */
    if (g_str_equal (key, "Description")) {
      g_free (untranslated);
      untranslated = value;
    } else {
      g_hash_table_replace (translations,
                            g_strndup (key + strlen ("Description["),
                                       strlen (key) - strlen ("Description[]")),
                            value);
    }
  }
  for (guint i = 0; languages[i] != NULL && found == NULL; i++)
    found = g_hash_table_lookup (translations, languages[i]);
  *description = g_strdup (found != NULL ? found : untranslated);
  return TRUE;
}

/* Reads an optional list; a missing key or an empty value is an empty
 * list. */
static gchar **
get_optional_list (GKeyFile    *keyfile,
                   const gchar *key,
                   const gchar *display_path,
                   GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) list = NULL;

  if (!g_key_file_has_key (keyfile, PLUGIN_GROUP, key, NULL))
    return g_new0 (gchar *, 1);
  list = g_key_file_get_string_list (keyfile, PLUGIN_GROUP, key, NULL, &local_error);
  if (local_error != NULL) {
    /* The text is UTF-8 by now, so only an escape can be at fault. */
    if (g_error_matches (local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE))
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: invalid escape sequence in the value; a backslash must start "
                   "\\s, \\n, \\t, \\r, \\\\ or \\;",
                   display_path, PLUGIN_GROUP, key);
    else
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: %s", display_path, PLUGIN_GROUP, key, local_error->message);
    return NULL;
  }
  /* An empty value is an empty list; never NULL without an error. */
  if (list == NULL)
    return g_new0 (gchar *, 1);
  return g_steal_pointer (&list);
}

/* @path is the file as bytes, for the name check and the module's folder;
 * @display_path is it as UTF-8, for messages. */
static gboolean
parse_plugin_group (PlexusPluginInfo *self,
                    GKeyFile         *keyfile,
                    const gchar      *path,
                    const gchar      *display_path,
                    GError          **error)
{
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) keys = NULL;
  g_auto(GStrv) roles = NULL;
  g_autofree gchar *file_name = name_from_path (path);
  g_autofree gchar *module = NULL;
  g_autofree gchar *dir = NULL;
  g_autofree gchar *module_file = NULL;
  g_autofree gchar *description = NULL;

  keys = g_key_file_get_keys (keyfile, PLUGIN_GROUP, NULL, NULL);
  if (keys == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: no [%s] group", display_path, PLUGIN_GROUP);
    return FALSE;
  }
  for (guint i = 0; keys[i] != NULL; i++) {
    if (!is_known_plugin_key (keys[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: unknown key; expected Name, Module, Description, "
                   "Services, Roles or Depends",
                   display_path, PLUGIN_GROUP, keys[i]);
      return FALSE;
    }
  }

  if (!get_string (keyfile, PLUGIN_GROUP, "Name", display_path, &self->name, error))
    return FALSE;
  if (self->name == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Name: missing", display_path, PLUGIN_GROUP);
    return FALSE;
  }
  if (!is_valid_plugin_name (self->name)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Name: “%s” is not a plugin name; use lower-case letters, "
                 "digits and “-”",
                 display_path, PLUGIN_GROUP, self->name);
    return FALSE;
  }
  /* One name, one file: this is what makes "first in the search path
   * wins" possible without opening every file. */
  if (g_strcmp0 (self->name, file_name) != 0) {
    g_autofree gchar *display_file_name = display_name_from_path (path);

    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Name: “%s” does not match the file name; expected “%s”",
                 display_path, PLUGIN_GROUP, self->name, display_file_name);
    return FALSE;
  }

  if (!get_string (keyfile, PLUGIN_GROUP, "Module", display_path, &module, error))
    return FALSE;
  if (module == NULL)
    module = g_strdup (self->name);
  if (!is_valid_module_name (module)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Module: “%s” is not a module name in the same folder",
                 display_path, PLUGIN_GROUP, module);
    return FALSE;
  }
  dir = g_path_get_dirname (path);
  module_file = g_strconcat (module, "." G_MODULE_SUFFIX, NULL);
  self->module_path = g_build_filename (dir, module_file, NULL);

  if (!get_description (keyfile, display_path, &description, error))
    return FALSE;
  if (description != NULL) {
    g_free (self->description);
    self->description = g_steal_pointer (&description);
  }

  g_strfreev (self->services);
  self->services = get_optional_list (keyfile, "Services", display_path, error);
  if (self->services == NULL)
    return FALSE;
  for (guint i = 0; self->services[i] != NULL; i++) {
    if (!plexus_service_name_is_known (self->services[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] Services: “%s” is not a service Plexus knows",
                   display_path, PLUGIN_GROUP, self->services[i]);
      return FALSE;
    }
  }

  roles = get_optional_list (keyfile, "Roles", display_path, error);
  if (roles == NULL)
    return FALSE;
  if (!plexus_roles_from_strv ((const gchar * const *) roles, &self->roles, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: [%s] Roles: %s", display_path, PLUGIN_GROUP, local_error->message);
    return FALSE;
  }

  g_strfreev (self->depends);
  self->depends = get_optional_list (keyfile, "Depends", display_path, error);
  if (self->depends == NULL)
    return FALSE;
  for (guint i = 0; self->depends[i] != NULL; i++) {
    if (!is_valid_plugin_name (self->depends[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] Depends: “%s” is not a plugin name",
                   display_path, PLUGIN_GROUP, self->depends[i]);
      return FALSE;
    }
  }

  return TRUE;
}

static gboolean
parse_config_group (PlexusPluginInfo *self,
                    GKeyFile         *keyfile,
                    const gchar      *display_path,
                    GError          **error)
{
  g_auto(GStrv) keys = NULL;

  if (!g_key_file_has_group (keyfile, CONFIG_GROUP))
    return TRUE;

  keys = g_key_file_get_keys (keyfile, CONFIG_GROUP, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    g_autofree gchar *type = NULL;
    PlexusConfigType config_type;

    if (!is_valid_config_key (keys[i])) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: not a configuration key name; use letters, digits, "
                   "“-” and “_”",
                   display_path, CONFIG_GROUP, keys[i]);
      return FALSE;
    }
    if (!get_string (keyfile, CONFIG_GROUP, keys[i], display_path, &type, error))
      return FALSE;
    /* Enums need their choices, which one keyfile value cannot carry. */
    if (type == NULL ||
        !plexus_config_type_from_string (type, &config_type, NULL) ||
        config_type == PLEXUS_CONFIG_TYPE_ENUM || config_type == PLEXUS_CONFIG_TYPE_ENUM_LIST) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s] %s: “%s” is not a configuration type; expected string, "
                   "string-list, boolean, integer, double, address, uri or uri-list",
                   display_path, CONFIG_GROUP, keys[i], type != NULL ? type : "");
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
 * key (%PLEXUS_ERROR_PLUGIN), as are text that is not UTF-8 and values
 * with an invalid escape sequence. Nothing is loaded.
 *
 * Error messages are UTF-8 whatever the file holds or is called: they name
 * the file as g_filename_display_name() shows it.
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
  g_autofree gchar *display_path = NULL;
  g_autofree gchar *contents = NULL;
  gsize length = 0;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  display_path = g_filename_display_name (path);
  if (!g_str_has_suffix (path, METADATA_SUFFIX)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: plugin metadata files end in “%s”", display_path, METADATA_SUFFIX);
    return NULL;
  }
  if (!g_file_get_contents (path, &contents, &length, &local_error)) {
    /* GLib's message names the file already, for humans. */
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN, local_error->message);
    return NULL;
  }
  if (!check_utf8 (contents, length, display_path, error))
    return NULL;
  /* GKeyFile drops keys for locales the user does not use, unchecked,
   * unless asked to keep them: then a file is accepted or refused whatever
   * the locale. */
  if (!g_key_file_load_from_data (keyfile, contents, length, G_KEY_FILE_KEEP_TRANSLATIONS,
                                  &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                 "%s: %s", display_path, local_error->message);
    return NULL;
  }

  groups = g_key_file_get_groups (keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    if (g_strcmp0 (groups[i], PLUGIN_GROUP) != 0 && g_strcmp0 (groups[i], CONFIG_GROUP) != 0) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                   "%s: [%s]: unknown group; expected [%s] and optionally [%s]",
                   display_path, groups[i], PLUGIN_GROUP, CONFIG_GROUP);
      return NULL;
    }
  }

  self = g_object_new (PLEXUS_TYPE_PLUGIN_INFO, NULL);
  self->filename = g_strdup (path);
  if (!parse_plugin_group (self, keyfile, path, display_path, error))
    return NULL;
  if (!parse_config_group (self, keyfile, display_path, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * plexus_plugin_info_new_failed:
 * @path: the `NAME.plugin` file that could not be read
 * @message: why
 *
 * Stands in for a plugin whose metadata is unusable, so that it still
 * shows up in plugin listings, named after its file (as
 * g_filename_display_basename() shows it), with the reason.
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
  /* The name is shown (on D-Bus too), so it must be UTF-8. */
  self->name = display_name_from_path (path);
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
