/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-capabilities.h"
#include "plexus-config.h"
#include "plexus-error.h"
#include "plexus-plugin-info.h"
#include "fuzz-common.h"

/* A plugin's NAME.plugin file is read before any of its code runs:
 * plexus_plugin_info_new_from_file() must take any bytes and either
 * describe a plugin or fail with PLEXUS_ERROR_PLUGIN. The file is always
 * called fuzz.plugin, so inputs with Name=fuzz get past the name check. */

/* FIXME: a file with a group or key name that is not UTF-8 gets an error
 * quoting it as it is (GKeyFile's own messages do too), and that message
 * ends up in the plugin listing on D-Bus; see corpus/plugin-info/non-utf8-*.
 * Turn this on once plexus_plugin_info_new_from_file() rejects text that
 * is not UTF-8; -DMESSAGES_ARE_UTF8=TRUE checks a fix. */
#ifndef MESSAGES_ARE_UTF8
#define MESSAGES_ARE_UTF8 FALSE
#endif

static const gchar *path;

/* GLib 2.74's g_key_file_get_string() returns the text *and* sets an error
 * when a value holds an invalid escape such as \x, and
 * g_key_file_get_locale_string(), which the decoder uses for Description,
 * then leaks that error. LeakSanitizer cannot tell that leak from one of
 * ours, and libFuzzer stops looking for leaks after 1000 inputs that seem
 * to leak, so such inputs are skipped: any Description key in [Plugin]
 * whose value GLib cannot unescape. */
static gboolean
has_bad_description (const uint8_t *data, size_t size)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_auto(GStrv) keys = NULL;

  if (!g_key_file_load_from_data (key_file, (const gchar *) data, size, G_KEY_FILE_NONE, NULL))
    return FALSE;
  keys = g_key_file_get_keys (key_file, "Plugin", NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *value = NULL;

    if (!g_str_has_prefix (keys[i], "Description"))
      continue;
    value = g_key_file_get_string (key_file, "Plugin", keys[i], &error);
    if (error != NULL)
      return TRUE;
  }
  return FALSE;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init (*argv);
  path = fuzz_tmp_file ("fuzz.plugin");
  return 0;
}

static void
check_accepted (PlexusPluginInfo *info)
{
  const gchar * const *services = plexus_plugin_info_get_services (info);
  const gchar * const *depends = plexus_plugin_info_get_depends (info);
  g_autofree gchar *dir = g_path_get_dirname (path);
  g_autofree gchar *module_dir = NULL;
  GHashTableIter iter;
  gpointer key, value;

  FUZZ_CHECK (g_str_equal (plexus_plugin_info_get_name (info), "fuzz"), "name");
  FUZZ_CHECK (g_str_equal (plexus_plugin_info_get_filename (info), path), "filename");
  FUZZ_CHECK (plexus_plugin_info_get_state (info) == PLEXUS_PLUGIN_STATE_AVAILABLE, "state");
  FUZZ_CHECK (plexus_plugin_info_get_message (info) == NULL, "message");
  FUZZ_CHECK (g_utf8_validate (plexus_plugin_info_get_description (info), -1, NULL),
              "description");
  FUZZ_CHECK ((plexus_plugin_info_get_roles (info) & ~PLEXUS_ROLE_ALL) == 0, "roles");

  /* The module stays in the plugin's own folder, whatever Module says. */
  module_dir = g_path_get_dirname (plexus_plugin_info_get_module_path (info));
  FUZZ_CHECK (g_str_equal (module_dir, dir), plexus_plugin_info_get_module_path (info));

  for (guint i = 0; services[i] != NULL; i++)
    FUZZ_CHECK (plexus_service_name_is_known (services[i]), services[i]);
  for (guint i = 0; depends[i] != NULL; i++)
    FUZZ_CHECK (*depends[i] != '\0', "empty dependency");

  /* The loader turns these into schema keys: each type must be one it can
   * add without a critical. */
  g_hash_table_iter_init (&iter, plexus_plugin_info_get_config_keys (info));
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    PlexusConfigType type;

    FUZZ_CHECK (plexus_config_type_from_string (value, &type, NULL), value);
    FUZZ_CHECK (type != PLEXUS_CONFIG_TYPE_ENUM && type != PLEXUS_CONFIG_TYPE_ENUM_LIST, value);
  }
  if (g_hash_table_size (plexus_plugin_info_get_config_keys (info)) > 0) {
    g_autoptr(PlexusConfig) config = plexus_config_new ();

    g_hash_table_iter_init (&iter, plexus_plugin_info_get_config_keys (info));
    while (g_hash_table_iter_next (&iter, &key, &value)) {
      PlexusConfigType type;

      plexus_config_type_from_string (value, &type, NULL);
      plexus_config_add_key (config, "fuzz", key, type, NULL, "");
      FUZZ_CHECK (plexus_config_has_key (config, "fuzz", key), key);
    }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusPluginInfo) info = NULL;
  g_autoptr(GError) error = NULL;

  if (fuzz_key_file_makes_glib_warn (data, size) || has_bad_description (data, size))
    return -1;  /* not added to the corpus */
  fuzz_tmp_write (data, size);
  info = plexus_plugin_info_new_from_file (path, &error);
  if (info == NULL) {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN, MESSAGES_ARE_UTF8);
    return 0;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  check_accepted (info);
  return 0;
}
