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

static const gchar *path;

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

  /* The decoder keeps every locale's keys, to check them all. */
  if (fuzz_key_file_makes_glib_warn (data, size, G_KEY_FILE_KEEP_TRANSLATIONS))
    return -1;  /* not added to the corpus */
  fuzz_tmp_write (data, size);
  info = plexus_plugin_info_new_from_file (path, &error);
  if (info == NULL) {
    /* The message ends up in the plugin listing on D-Bus. */
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN, TRUE);
    return 0;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  check_accepted (info);
  return 0;
}
