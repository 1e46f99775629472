/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "plexus-config.h"
#include "plexus-error.h"
#include "fuzz-common.h"

/* Configuration files are written by users and administrators:
 * plexus_config_load_data() must take any bytes and either apply them or
 * fail with PLEXUS_ERROR_INVALID_CONFIG, changing nothing. The same text is
 * also tried as a command-line value for every key and as an address. */

static const gchar * const fuzz_choices[] = { "low", "medium", "high", NULL };

typedef struct {
  const gchar      *group;
  const gchar      *key;
  PlexusConfigType  type;
  gdouble           min;  /* INTEGER and DOUBLE */
  gdouble           max;
} Key;

/* The core schema plus a plugin's worth of keys of every type. */
static const Key keys[] = {
  { "node", "listen", PLEXUS_CONFIG_TYPE_ADDRESS },
  { "node", "bootstrap", PLEXUS_CONFIG_TYPE_URI_LIST },
  { "node", "server", PLEXUS_CONFIG_TYPE_URI },
  { "node", "mode", PLEXUS_CONFIG_TYPE_ENUM },
  { "node", "roles", PLEXUS_CONFIG_TYPE_ENUM_LIST },
  { "node", "region", PLEXUS_CONFIG_TYPE_STRING },
  { "node", "timezone", PLEXUS_CONFIG_TYPE_STRING },
  { "plugins", "enabled", PLEXUS_CONFIG_TYPE_STRING_LIST },
  { "plugins", "disabled", PLEXUS_CONFIG_TYPE_STRING_LIST },
  { "broker", "redundancy", PLEXUS_CONFIG_TYPE_INTEGER, 1, 16 },
  { "broker", "hysteresis", PLEXUS_CONFIG_TYPE_DOUBLE, 0.0, 1.0 },
  { "stun", "listen", PLEXUS_CONFIG_TYPE_ADDRESS },
  { "fuzz", "flag", PLEXUS_CONFIG_TYPE_BOOLEAN },
  { "fuzz", "name", PLEXUS_CONFIG_TYPE_STRING },
  { "fuzz", "names", PLEXUS_CONFIG_TYPE_STRING_LIST },
  { "fuzz", "count", PLEXUS_CONFIG_TYPE_INTEGER, -10, 1000 },
  { "fuzz", "ratio", PLEXUS_CONFIG_TYPE_DOUBLE, -1.0, 1.0 },
  { "fuzz", "level", PLEXUS_CONFIG_TYPE_ENUM },
  { "fuzz", "levels", PLEXUS_CONFIG_TYPE_ENUM_LIST },
  { "fuzz", "address", PLEXUS_CONFIG_TYPE_ADDRESS },
  { "fuzz", "uri", PLEXUS_CONFIG_TYPE_URI },
  { "fuzz", "uris", PLEXUS_CONFIG_TYPE_URI_LIST },
};

static PlexusConfig *
config_new (void)
{
  PlexusConfig *config = plexus_config_new ();

  plexus_config_add_key (config, "fuzz", "flag", PLEXUS_CONFIG_TYPE_BOOLEAN, NULL, "");
  plexus_config_add_key (config, "fuzz", "name", PLEXUS_CONFIG_TYPE_STRING, NULL, "");
  plexus_config_add_key (config, "fuzz", "names", PLEXUS_CONFIG_TYPE_STRING_LIST, "a;b", "");
  plexus_config_add_integer_key (config, "fuzz", "count", -10, 1000, 7, "");
  plexus_config_add_double_key (config, "fuzz", "ratio", -1.0, 1.0, 0.5, "");
  plexus_config_add_enum_key (config, "fuzz", "level", FALSE, fuzz_choices, NULL, "");
  plexus_config_add_enum_key (config, "fuzz", "levels", TRUE, fuzz_choices, "low;high", "");
  plexus_config_add_key (config, "fuzz", "address", PLEXUS_CONFIG_TYPE_ADDRESS, NULL, "");
  plexus_config_add_key (config, "fuzz", "uri", PLEXUS_CONFIG_TYPE_URI, NULL, "");
  plexus_config_add_key (config, "fuzz", "uris", PLEXUS_CONFIG_TYPE_URI_LIST, NULL, "");
  return config;
}

static gboolean
is_list (PlexusConfigType type)
{
  return type == PLEXUS_CONFIG_TYPE_STRING_LIST ||
         type == PLEXUS_CONFIG_TYPE_ENUM_LIST ||
         type == PLEXUS_CONFIG_TYPE_URI_LIST;
}

/* Whatever was accepted reads back as a value of the key's type. */
static void
check_values (PlexusConfig *config)
{
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    const Key *k = &keys[i];
    const gchar *origin = plexus_config_get_origin (config, k->group, k->key);

    FUZZ_CHECK (origin != NULL && g_utf8_validate (origin, -1, NULL), k->key);
    if (is_list (k->type)) {
      g_auto(GStrv) items = plexus_config_get_string_list (config, k->group, k->key);

      FUZZ_CHECK (items != NULL, k->key);
      for (guint j = 0; items[j] != NULL; j++)
        FUZZ_CHECK (*items[j] != '\0' && g_utf8_validate (items[j], -1, NULL), k->key);
      if (k->type == PLEXUS_CONFIG_TYPE_ENUM_LIST) {
        for (guint j = 0; items[j] != NULL; j++)
          FUZZ_CHECK (g_strv_contains (fuzz_choices, items[j]) ||
                      g_str_equal (k->group, "node"), items[j]);
      }
    } else {
      g_autofree gchar *text = plexus_config_get_string (config, k->group, k->key);

      FUZZ_CHECK (text != NULL && g_utf8_validate (text, -1, NULL), k->key);
      switch (k->type) {
      case PLEXUS_CONFIG_TYPE_BOOLEAN:
        FUZZ_CHECK (g_str_equal (text, plexus_config_get_boolean (config, k->group, k->key)
                                       ? "true" : "false"), text);
        break;
      case PLEXUS_CONFIG_TYPE_INTEGER: {
        gint64 value = plexus_config_get_integer (config, k->group, k->key);

        FUZZ_CHECK (value >= k->min && value <= k->max, text);
        FUZZ_CHECK (g_ascii_strtoll (text, NULL, 10) == value, text);
        break;
      }
      case PLEXUS_CONFIG_TYPE_DOUBLE: {
        gdouble value = plexus_config_get_double (config, k->group, k->key);

        FUZZ_CHECK (isfinite (value) && value >= k->min && value <= k->max, text);
        FUZZ_CHECK (g_ascii_strtod (text, NULL) == value, text);
        break;
      }
      case PLEXUS_CONFIG_TYPE_ADDRESS:
        /* Only the plugin key without a default may be unset. */
        if (*text != '\0') {
          g_autoptr(GError) error = NULL;

          FUZZ_CHECK (plexus_config_parse_address (text, NULL, NULL, &error), text);
        }
        break;
      case PLEXUS_CONFIG_TYPE_ENUM:
        FUZZ_CHECK (g_strv_contains (fuzz_choices, text) || g_str_equal (k->group, "node"), text);
        break;
      case PLEXUS_CONFIG_TYPE_STRING:
      case PLEXUS_CONFIG_TYPE_STRING_LIST:
      case PLEXUS_CONFIG_TYPE_ENUM_LIST:
      case PLEXUS_CONFIG_TYPE_URI:
      case PLEXUS_CONFIG_TYPE_URI_LIST:
      default:
        break;
      }
    }
  }
}

static void
fuzz_address (const gchar *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *host = NULL;
  guint16 port = 0;

  if (plexus_config_parse_address (text, &host, &port, &error)) {
    FUZZ_CHECK (host != NULL && *host != '\0', text);
    FUZZ_CHECK (error == NULL, text);
  } else {
    FUZZ_CHECK (host == NULL, text);
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT, TRUE);
  }
}

static void
fuzz_overrides (PlexusConfig *config, const gchar *text)
{
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
    g_autoptr(GError) error = NULL;

    if (!plexus_config_set_override_from (config, "--fuzz", keys[i].group, keys[i].key,
                                          text, &error))
      fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG, TRUE);
  }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init (*argv);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;

  if (fuzz_key_file_makes_glib_warn (data, size, G_KEY_FILE_NONE))
    return -1;  /* not added to the corpus */
  config = config_new ();
  if (plexus_config_load_data (config, (const gchar *) data, (gssize) size, "fuzz.conf", &error)) {
    FUZZ_CHECK (error == NULL, "success with an error set");
  } else {
    /* Messages quote group and key names, and reach logs and D-Bus. */
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG, TRUE);
    /* A file that fails changes nothing. */
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
      FUZZ_CHECK (g_str_equal (plexus_config_get_origin (config, keys[i].group, keys[i].key),
                               "default"), keys[i].key);
  }
  check_values (config);

  /* Command-line values and addresses arrive as UTF-8 strings (GOption
   * converts them), so only such text goes there. */
  text = g_strndup ((const gchar *) data, size);
  if (g_utf8_validate (text, -1, NULL)) {
    fuzz_address (text);
    if (!fuzz_value_makes_glib_warn (text)) {
      fuzz_overrides (config, text);
      check_values (config);
    }
  }
  return 0;
}
