/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "plexus-plugin-loader.h"
#include "plexus-test-fixture.h"

/* The loader's own log domain (libplexus-daemon). */
#define LOADER_DOMAIN "plexusd"

typedef struct {
  gchar              *tmp_dir;
  PlexusConfig       *config;
  PlexusIdentity     *identity;
  PlexusBroker       *broker;
  PlexusContext      *context;
  PlexusPluginLoader *loader;
} Fixture;

static const gchar *
test_plugin_dir (void)
{
  const gchar *dir = g_getenv ("PLEXUS_TEST_PLUGIN_DIR");

  /* Set by AM_TESTS_ENVIRONMENT; without it there is nothing to load. */
  g_assert_nonnull (dir);
  return dir;
}

static void
fixture_set_up (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->tmp_dir = g_dir_make_tmp ("plexus-test-plugin-loader-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->config = plexus_config_new ();
  fixture->identity = plexus_identity_new_ephemeral ();
  fixture->broker = plexus_broker_new ();
  fixture->context = plexus_context_new (fixture->config, fixture->identity,
                                         fixture->broker, fixture->tmp_dir);
  fixture->loader = plexus_plugin_loader_new (fixture->context);
}

static void
fixture_tear_down (Fixture *fixture, gconstpointer user_data)
{
  g_clear_object (&fixture->loader);
  g_clear_object (&fixture->context);
  g_clear_object (&fixture->broker);
  g_clear_object (&fixture->identity);
  g_clear_object (&fixture->config);
  plexus_test_remove_tree (fixture->tmp_dir);
  g_free (fixture->tmp_dir);
}

static gchar *
write_file (const gchar *dir, const gchar *name, const gchar *contents)
{
  g_autoptr(GError) error = NULL;
  gchar *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static PlexusPluginInfo *
find_info (PlexusPluginLoader *loader, const gchar *name)
{
  g_autoptr(GPtrArray) infos = plexus_plugin_loader_list (loader);

  for (guint i = 0; i < infos->len; i++) {
    PlexusPluginInfo *info = g_ptr_array_index (infos, i);
    if (g_strcmp0 (plexus_plugin_info_get_name (info), name) == 0)
      return info;
  }
  g_error ("plugin %s was not found", name);
  return NULL;
}

static void
assert_state (PlexusPluginLoader *loader,
              const gchar        *name,
              PlexusPluginState   state,
              const gchar        *message_pattern)
{
  PlexusPluginInfo *info = find_info (loader, name);
  const gchar *message = plexus_plugin_info_get_message (info);

  g_assert_cmpstr (plexus_plugin_state_to_string (plexus_plugin_info_get_state (info)), ==,
                   plexus_plugin_state_to_string (state));
  if (message_pattern == NULL) {
    g_assert_null (message);
  } else {
    g_assert_nonnull (message);
    if (!g_pattern_match_simple (message_pattern, message))
      g_error ("plugin %s: message “%s” does not match “%s”", name, message, message_pattern);
  }
  if (state == PLEXUS_PLUGIN_STATE_LOADED)
    g_assert_nonnull (plexus_plugin_loader_get_plugin (loader, name));
  else
    g_assert_null (plexus_plugin_loader_get_plugin (loader, name));
}

static PlexusProvider *
lookup_good_provider (Fixture *fixture)
{
  return plexus_broker_lookup_provider (fixture->broker, "signaling",
                                        plexus_identity_get_peer_id (fixture->identity));
}

/* Metadata */

static void
test_info_parse (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusPluginInfo) info = NULL;
  g_autoptr(PlexusPluginInfo) minimal = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *minimal_path = NULL;
  g_autofree gchar *module_path = NULL;
  GHashTable *config_keys;

  path = write_file (fixture->tmp_dir, "relay.plugin",
                     "[Plugin]\n"
                     "Name=relay\n"
                     "Module=librelay\n"
                     "Description=Relays signaling\n"
                     "Services=signaling;stun;\n"
                     "Roles=super;bootstrap;\n"
                     "Depends=good;other-2;\n"
                     "\n"
                     "[Config]\n"
                     "listen=address\n"
                     "peers=uri-list\n"
                     "max-rooms=integer\n");
  info = plexus_plugin_info_new_from_file (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (info);

  g_assert_cmpstr (plexus_plugin_info_get_name (info), ==, "relay");
  g_assert_cmpstr (plexus_plugin_info_get_description (info), ==, "Relays signaling");
  g_assert_cmpstr (plexus_plugin_info_get_filename (info), ==, path);
  module_path = g_build_filename (fixture->tmp_dir, "librelay." G_MODULE_SUFFIX, NULL);
  g_assert_cmpstr (plexus_plugin_info_get_module_path (info), ==, module_path);
  g_assert_cmpstrv (plexus_plugin_info_get_services (info),
                    ((const gchar *[]) { "signaling", "stun", NULL }));
  g_assert_cmpint (plexus_plugin_info_get_roles (info), ==, PLEXUS_ROLE_SUPER | PLEXUS_ROLE_BOOTSTRAP);
  g_assert_cmpstrv (plexus_plugin_info_get_depends (info),
                    ((const gchar *[]) { "good", "other-2", NULL }));
  config_keys = plexus_plugin_info_get_config_keys (info);
  g_assert_cmpuint (g_hash_table_size (config_keys), ==, 3);
  g_assert_cmpstr (g_hash_table_lookup (config_keys, "listen"), ==, "address");
  g_assert_cmpstr (g_hash_table_lookup (config_keys, "peers"), ==, "uri-list");
  g_assert_cmpstr (g_hash_table_lookup (config_keys, "max-rooms"), ==, "integer");
  g_assert_cmpint (plexus_plugin_info_get_state (info), ==, PLEXUS_PLUGIN_STATE_AVAILABLE);
  g_assert_null (plexus_plugin_info_get_message (info));

  /* Everything but the name is optional; the module defaults to the name. */
  minimal_path = write_file (fixture->tmp_dir, "bare.plugin", "[Plugin]\nName=bare\nDepends=\n");
  minimal = plexus_plugin_info_new_from_file (minimal_path, &error);
  g_assert_no_error (error);
  g_clear_pointer (&module_path, g_free);
  module_path = g_build_filename (fixture->tmp_dir, "bare." G_MODULE_SUFFIX, NULL);
  g_assert_cmpstr (plexus_plugin_info_get_module_path (minimal), ==, module_path);
  g_assert_cmpstr (plexus_plugin_info_get_description (minimal), ==, "");
  g_assert_cmpstrv (plexus_plugin_info_get_services (minimal), ((const gchar *[]) { NULL }));
  g_assert_cmpstrv (plexus_plugin_info_get_depends (minimal), ((const gchar *[]) { NULL }));
  g_assert_cmpint (plexus_plugin_info_get_roles (minimal), ==, PLEXUS_ROLE_NONE);
  g_assert_cmpuint (g_hash_table_size (plexus_plugin_info_get_config_keys (minimal)), ==, 0);
}

static void
count_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  guint *count = user_data;
  (*count)++;
}

static void
test_info_state (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusPluginInfo) info = NULL;
  g_autofree gchar *path = write_file (fixture->tmp_dir, "x.plugin", "[Plugin]\nName=x\n");
  guint notified = 0;

  info = plexus_plugin_info_new_from_file (path, &error);
  g_assert_no_error (error);
  /* The D-Bus service follows state changes through notify. */
  g_signal_connect (info, "notify::state", G_CALLBACK (count_notify), &notified);
  g_signal_connect (info, "notify::message", G_CALLBACK (count_notify), &notified);

  plexus_plugin_info_set_message (info, "not in [plugins] enabled");
  plexus_plugin_info_set_state (info, PLEXUS_PLUGIN_STATE_DISABLED);
  g_assert_cmpuint (notified, ==, 2);
  plexus_plugin_info_set_state (info, PLEXUS_PLUGIN_STATE_DISABLED);
  g_assert_cmpuint (notified, ==, 2);
  g_assert_cmpint (plexus_plugin_info_get_state (info), ==, PLEXUS_PLUGIN_STATE_DISABLED);
  g_assert_cmpstr (plexus_plugin_info_get_message (info), ==, "not in [plugins] enabled");
  plexus_plugin_info_set_message (info, NULL);
  g_assert_null (plexus_plugin_info_get_message (info));
  g_assert_cmpuint (notified, ==, 3);
}

static void
test_info_errors (Fixture *fixture, gconstpointer user_data)
{
  /* Each bad file is refused with an error naming the file and what is
   * wrong with it. */
  static const struct {
    const gchar *file;
    const gchar *contents;
    const gchar *pattern;  /* after "PATH: " */
  } cases[] = {
    { "syntax.plugin", "Name=syntax\n", "*" },
    { "nogroup.plugin", "[Other]\nName=nogroup\n", "[Other]: unknown group*" },
    { "empty.plugin", "", "no [Plugin] group" },
    { "noname.plugin", "[Plugin]\nDescription=x\n", "[Plugin] Name: missing" },
    { "mismatch.plugin", "[Plugin]\nName=other\n", "[Plugin] Name: “other” does not match the file name; expected “mismatch”" },
    { "Upper.plugin", "[Plugin]\nName=Upper\n", "[Plugin] Name: “Upper” is not a plugin name*" },
    { "typo.plugin", "[Plugin]\nName=typo\nService=stun\n", "[Plugin] Service: unknown key*" },
    { "module.plugin", "[Plugin]\nName=module\nModule=../evil\n", "[Plugin] Module: “../evil” is not a module name*" },
    { "service.plugin", "[Plugin]\nName=service\nServices=stun;teleport;\n", "[Plugin] Services: “teleport” is not a service Plexus knows" },
    { "role.plugin", "[Plugin]\nName=role\nRoles=standard;king;\n", "[Plugin] Roles: *king*" },
    { "depends.plugin", "[Plugin]\nName=depends\nDepends=Not Valid;\n", "[Plugin] Depends: “Not Valid” is not a plugin name" },
    { "type.plugin", "[Plugin]\nName=type\n[Config]\nport=number\n", "[Config] port: “number” is not a configuration type*" },
    { "enum.plugin", "[Plugin]\nName=enum\n[Config]\nlevel=enum\n", "[Config] level: “enum” is not a configuration type*" },
    { "key.plugin", "[Plugin]\nName=key\n[Config]\n9lives=string\n", "[Config] 9lives: not a configuration key name*" },
    /* GLib returns such values, less the bad escape, and sets an error. */
    { "escname.plugin", "[Plugin]\nName=escname\\\n", "[Plugin] Name: invalid escape sequence*" },
    { "escmodule.plugin", "[Plugin]\nName=escmodule\nModule=escmodule\\\n", "[Plugin] Module: invalid escape sequence*" },
    { "escdesc.plugin", "[Plugin]\nName=escdesc\nDescription=caf\\x\n", "[Plugin] Description: invalid escape sequence*" },
    { "escdescde.plugin", "[Plugin]\nName=escdescde\nDescription=ok\nDescription[de]=\\q\n", "[Plugin] Description[de]: invalid escape sequence*" },
    { "escdepends.plugin", "[Plugin]\nName=escdepends\nDepends=good\\x\n", "[Plugin] Depends: invalid escape sequence*" },
    { "esctype.plugin", "[Plugin]\nName=esctype\n[Config]\nport=integer\\\n", "[Config] port: invalid escape sequence*" },
    /* GKeyFile checks values for UTF-8, but not names, which are quoted. */
    { "utf8key.plugin", "[Plugin]\nName=utf8key\nDescr\377iption=x\n", "not valid UTF-8 at byte 28 (line 3)*" },
    { "utf8group.plugin", "[Plu\351gin]\nName=utf8group\n", "not valid UTF-8 at byte 5 (line 1)*" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(PlexusPluginInfo) info = NULL;
    g_autofree gchar *path = write_file (fixture->tmp_dir, cases[i].file, cases[i].contents);
    g_autofree gchar *pattern = g_strdup_printf ("%s: %s", path, cases[i].pattern);

    info = plexus_plugin_info_new_from_file (path, &error);
    g_assert_null (info);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN);
    if (!g_pattern_match_simple (pattern, error->message))
      g_error ("%s: “%s” does not match “%s”", cases[i].file, error->message, pattern);
  }
}

/* Found by fuzzing: whatever bytes a file holds or its name has, what
 * reaches D-Bus (names and messages) is UTF-8. */
static void
test_info_not_utf8 (Fixture *fixture, gconstpointer user_data)
{
  static const gchar with_nul[] = "[Plugin]\nName=nul\nDescription=a\0b\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusPluginInfo) info = NULL;
  g_autoptr(PlexusPluginInfo) failed = NULL;
  g_autofree gchar *nul_path = g_build_filename (fixture->tmp_dir, "nul.plugin", NULL);
  g_autofree gchar *latin1_path = NULL;
  g_autofree gchar *expected = NULL;

  g_file_set_contents (nul_path, with_nul, sizeof with_nul - 1, &error);
  g_assert_no_error (error);
  info = plexus_plugin_info_new_from_file (nul_path, &error);
  g_assert_null (info);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN);
  expected = g_strdup_printf ("%s: NUL character at byte 32 (line 3)*", nul_path);
  g_assert_true (g_pattern_match_simple (expected, error->message));
  g_clear_error (&error);

  /* "\351" is é in Latin-1: a name no plugin can have, but the file is
   * listed, so its name and message must still be UTF-8. */
  latin1_path = write_file (fixture->tmp_dir, "caf\351.plugin", "[Plugin]\nName=cafe\n");
  info = plexus_plugin_info_new_from_file (latin1_path, &error);
  g_assert_null (info);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN);
  g_test_message ("message: %s", error->message);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_nonnull (strstr (error->message, "expected “caf\357\277\275”"));

  failed = plexus_plugin_info_new_failed (latin1_path, error->message);
  g_assert_cmpstr (plexus_plugin_info_get_name (failed), ==, "caf\357\277\275");
  g_assert_cmpstr (plexus_plugin_info_get_filename (failed), ==, latin1_path);
}

/* Description follows the user's languages, as in desktop files. */
static void
test_info_description_locale (Fixture *fixture, gconstpointer user_data)
{
  g_autofree gchar *saved = g_strdup (g_getenv ("LANGUAGE"));
  g_autofree gchar *path = write_file (fixture->tmp_dir, "words.plugin",
                                       "[Plugin]\n"
                                       "Name=words\n"
                                       "Description=Words\n"
                                       "Description[de]=Wörter\n"
                                       "Description[fr_CA]=Mots\n");
  static const struct {
    const gchar *languages;
    const gchar *expected;
  } cases[] = {
    { "de_AT", "Wörter" },
    { "fr_CA.UTF-8", "Mots" },
    { "fr:de", "Wörter" },
    { "nl", "Words" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(PlexusPluginInfo) info = NULL;

    /* GLib reads LANGUAGE again whenever it changes. */
    g_setenv ("LANGUAGE", cases[i].languages, TRUE);
    info = plexus_plugin_info_new_from_file (path, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (plexus_plugin_info_get_description (info), ==, cases[i].expected);
  }
  if (saved != NULL)
    g_setenv ("LANGUAGE", saved, TRUE);
  else
    g_unsetenv ("LANGUAGE");

  /* Found by fuzzing: a repeated key is listed, and was read, twice. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(PlexusPluginInfo) info = NULL;
    g_autofree gchar *twice = write_file (fixture->tmp_dir, "twice.plugin",
                                          "[Plugin]\nName=twice\n"
                                          "Description=First\nDescription=Second\n");

    info = plexus_plugin_info_new_from_file (twice, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (plexus_plugin_info_get_description (info), ==, "Second");
  }
}

/* Loading the test plugins */

static void
test_list_without_loading (Fixture *fixture, gconstpointer user_data)
{
  static const gchar *expected[] = {
    "dependent", "depends-on-missing", "dynamic", "echo", "failing-init", "good", "missing-symbol",
    "newer-minor", "not-a-module", "wrong-abi",
  };
  g_autoptr(GPtrArray) infos = NULL;
  g_autofree gchar *good_module = NULL;
  PlexusPluginInfo *good;

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);
  infos = plexus_plugin_loader_list (fixture->loader);

  g_assert_cmpuint (infos->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < infos->len; i++) {
    PlexusPluginInfo *info = g_ptr_array_index (infos, i);
    g_assert_cmpstr (plexus_plugin_info_get_name (info), ==, expected[i]);
    g_assert_cmpint (plexus_plugin_info_get_state (info), ==, PLEXUS_PLUGIN_STATE_AVAILABLE);
    g_assert_null (plexus_plugin_info_get_message (info));
    g_assert_null (plexus_plugin_loader_get_plugin (fixture->loader, expected[i]));
  }

  good = find_info (fixture->loader, "good");
  good_module = g_build_filename (test_plugin_dir (), "good." G_MODULE_SUFFIX, NULL);
  g_assert_cmpstr (plexus_plugin_info_get_module_path (good), ==, good_module);
  g_assert_cmpstrv (plexus_plugin_info_get_services (good), ((const gchar *[]) { "signaling", NULL }));
  g_assert_cmpint (plexus_plugin_info_get_roles (good), ==, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER);

  /* Listing ran no plugin code. */
  g_assert_null (lookup_good_provider (fixture));
}

static void
expect_refusal (const gchar *name, const gchar *why)
{
  g_autofree gchar *pattern = g_strdup_printf ("plugin %s (*): %s", name, why);
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_WARNING, pattern);
}

static void
test_load (Fixture *fixture, gconstpointer user_data)
{
  g_autofree gchar *abi = NULL;
  g_autofree gchar *newer = NULL;
  PlexusPlugin *good;
  PlexusProvider *provider;

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);

  abi = g_strdup_printf ("built for plugin ABI %u.0, this daemon provides %u.%u",
                         PLEXUS_PLUGIN_ABI_MAJOR + 1, PLEXUS_PLUGIN_ABI_MAJOR, PLEXUS_PLUGIN_ABI_MINOR);
  newer = g_strdup_printf ("built for plugin ABI %u.%u, this daemon provides %u.%u",
                           PLEXUS_PLUGIN_ABI_MAJOR, PLEXUS_PLUGIN_ABI_MINOR + 1,
                           PLEXUS_PLUGIN_ABI_MAJOR, PLEXUS_PLUGIN_ABI_MINOR);

  /* In load order: by name, dependencies first. Each refusal names the
   * plugin, its file and why; the other plugins still load. */
  expect_refusal ("depends-on-missing", "depends on no-such-plugin, which was not found");
  /* No node in this test: a plugin that needs the messenger says so. */
  expect_refusal ("echo", "setup failed: the node does not run");
  expect_refusal ("failing-init", "setup failed: cannot open its database");
  expect_refusal ("missing-symbol", "missing symbol plexus_plugin_query_type: not built with PLEXUS_PLUGIN_DEFINE?");
  expect_refusal ("newer-minor", newer);
  expect_refusal ("not-a-module", "*not-a-module." G_MODULE_SUFFIX "*");
  expect_refusal ("wrong-abi", abi);
  plexus_plugin_loader_load (fixture->loader, NULL, NULL);
  g_test_assert_expected_messages ();

  /* "dependent" sorts first but could only set up after "good". */
  assert_state (fixture->loader, "dependent", PLEXUS_PLUGIN_STATE_LOADED, NULL);
  assert_state (fixture->loader, "good", PLEXUS_PLUGIN_STATE_LOADED, NULL);
  assert_state (fixture->loader, "depends-on-missing", PLEXUS_PLUGIN_STATE_FAILED,
                "depends on no-such-plugin, which was not found");
  assert_state (fixture->loader, "failing-init", PLEXUS_PLUGIN_STATE_FAILED,
                "setup failed: cannot open its database");
  /* The provider failing-init registered before it failed is gone again. */
  g_assert_null (plexus_broker_lookup_provider (fixture->broker, "stun",
                                                plexus_identity_get_peer_id (fixture->identity)));
  assert_state (fixture->loader, "missing-symbol", PLEXUS_PLUGIN_STATE_FAILED,
                "missing symbol plexus_plugin_query_type: *");
  assert_state (fixture->loader, "newer-minor", PLEXUS_PLUGIN_STATE_FAILED, newer);
  /* g_module_error() text: the file and what dlopen() thought of it. */
  assert_state (fixture->loader, "not-a-module", PLEXUS_PLUGIN_STATE_FAILED,
                "*not-a-module." G_MODULE_SUFFIX ": *");
  assert_state (fixture->loader, "wrong-abi", PLEXUS_PLUGIN_STATE_FAILED, abi);

  good = plexus_plugin_loader_get_plugin (fixture->loader, "good");
  g_assert_cmpstr (plexus_plugin_get_name (good), ==, "good");
  g_assert_true (plexus_plugin_get_context (good) == fixture->context);
  g_assert_true (plexus_plugin_get_info (good) == find_info (fixture->loader, "good"));
  g_assert_true (g_type_is_a (G_OBJECT_TYPE (good), PLEXUS_TYPE_PLUGIN));
  g_assert_cmpstr (G_OBJECT_TYPE_NAME (good), ==, "GoodPlugin");

  provider = lookup_good_provider (fixture);
  g_assert_nonnull (provider);
  g_assert_cmpint (plexus_provider_get_kind (provider), ==, PLEXUS_PROVIDER_KIND_LOCAL);
  g_assert_cmpstr (plexus_provider_get_peer_id (provider), ==,
                   plexus_identity_get_peer_id (fixture->identity));

  plexus_plugin_loader_shutdown (fixture->loader);
  g_assert_null (lookup_good_provider (fixture));
  /* Shutting down again is harmless. */
  plexus_plugin_loader_shutdown (fixture->loader);
  assert_state (fixture->loader, "good", PLEXUS_PLUGIN_STATE_LOADED, NULL);
}

static void
test_enabled (Fixture *fixture, gconstpointer user_data)
{
  const gchar *enabled[] = { "good", "failing-init", NULL };
  g_autoptr(GPtrArray) infos = NULL;

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);
  expect_refusal ("failing-init", "setup failed: cannot open its database");
  plexus_plugin_loader_load (fixture->loader, enabled, NULL);
  g_test_assert_expected_messages ();

  assert_state (fixture->loader, "good", PLEXUS_PLUGIN_STATE_LOADED, NULL);
  assert_state (fixture->loader, "failing-init", PLEXUS_PLUGIN_STATE_FAILED,
                "setup failed: cannot open its database");
  /* Everything else, broken or not, is simply left out. */
  infos = plexus_plugin_loader_list (fixture->loader);
  for (guint i = 0; i < infos->len; i++) {
    const gchar *name = plexus_plugin_info_get_name (g_ptr_array_index (infos, i));
    if (!g_strv_contains (enabled, name))
      assert_state (fixture->loader, name, PLEXUS_PLUGIN_STATE_DISABLED, "not in [plugins] enabled");
  }
  g_assert_nonnull (lookup_good_provider (fixture));
}

static void
test_disabled (Fixture *fixture, gconstpointer user_data)
{
  /* disabled wins over enabled, and a plugin whose dependency is disabled
   * cannot load. */
  const gchar *enabled[] = { "good", "dependent", NULL };
  const gchar *disabled[] = { "good", NULL };

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);
  expect_refusal ("dependent", "depends on good, which is disabled");
  plexus_plugin_loader_load (fixture->loader, enabled, disabled);
  g_test_assert_expected_messages ();

  assert_state (fixture->loader, "good", PLEXUS_PLUGIN_STATE_DISABLED, "disabled by [plugins] disabled");
  assert_state (fixture->loader, "dependent", PLEXUS_PLUGIN_STATE_FAILED, "depends on good, which is disabled");
  assert_state (fixture->loader, "wrong-abi", PLEXUS_PLUGIN_STATE_DISABLED, "not in [plugins] enabled");
  g_assert_null (lookup_good_provider (fixture));
}

static void
test_unknown_names (Fixture *fixture, gconstpointer user_data)
{
  const gchar *enabled[] = { "good", "goood", NULL };
  const gchar *disabled[] = { "elsewhere", NULL };

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);
  /* A typo in enabled silently turns a plugin off; say so. */
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_WARNING,
                         "[plugins] enabled names goood, which is not installed");
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_MESSAGE,
                         "[plugins] disabled names elsewhere, which is not installed");
  plexus_plugin_loader_load (fixture->loader, enabled, disabled);
  g_test_assert_expected_messages ();
  assert_state (fixture->loader, "good", PLEXUS_PLUGIN_STATE_LOADED, NULL);
}

static void
test_dispose_shuts_down (Fixture *fixture, gconstpointer user_data)
{
  const gchar *enabled[] = { "good", NULL };

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);
  plexus_plugin_loader_load (fixture->loader, enabled, NULL);
  g_assert_nonnull (lookup_good_provider (fixture));

  g_clear_object (&fixture->loader);
  g_assert_null (lookup_good_provider (fixture));
}

static void
test_search_path (Fixture *fixture, gconstpointer user_data)
{
  g_autofree gchar *first = g_build_filename (fixture->tmp_dir, "first", NULL);
  g_autofree gchar *override = NULL;
  g_autofree gchar *broken = NULL;
  g_autofree gchar *missing = g_build_filename (fixture->tmp_dir, "missing", NULL);
  g_autofree gchar *hidden_pattern = NULL;
  g_autoptr(GPtrArray) infos = NULL;
  PlexusPluginInfo *info;

  g_assert_cmpint (g_mkdir (first, 0700), ==, 0);
  override = write_file (first, "good.plugin", "[Plugin]\nName=good\nDescription=Earlier in the path\n");
  broken = write_file (first, "broken.plugin", "[Plugin]\nName=broken\nServices=teleport\n");

  /* A folder that does not exist is skipped; the first good.plugin found
   * wins and the later one is noted; broken metadata shows up as a failed
   * plugin named after its file. */
  plexus_plugin_loader_add_search_path (fixture->loader, missing);
  plexus_plugin_loader_add_search_path (fixture->loader, first);
  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_add_search_path (fixture->loader, first);

  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_WARNING,
                         "plugin broken: *broken.plugin: [Plugin] Services: “teleport”*");
  hidden_pattern = g_strdup_printf ("plugin good: %s%sgood.plugin is hidden by %s*",
                                    test_plugin_dir (), G_DIR_SEPARATOR_S, override);
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_MESSAGE, hidden_pattern);
  plexus_plugin_loader_scan (fixture->loader);
  g_test_assert_expected_messages ();

  info = find_info (fixture->loader, "good");
  g_assert_cmpstr (plexus_plugin_info_get_filename (info), ==, override);
  g_assert_cmpstr (plexus_plugin_info_get_description (info), ==, "Earlier in the path");

  info = find_info (fixture->loader, "broken");
  g_assert_cmpint (plexus_plugin_info_get_state (info), ==, PLEXUS_PLUGIN_STATE_FAILED);
  g_assert_cmpstr (plexus_plugin_info_get_filename (info), ==, broken);
  g_assert_nonnull (strstr (plexus_plugin_info_get_message (info), "teleport"));
  g_assert_null (plexus_plugin_info_get_module_path (info));

  /* Scanning again gives the same result, not duplicates. */
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_WARNING, "plugin broken: *");
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_MESSAGE, hidden_pattern);
  plexus_plugin_loader_scan (fixture->loader);
  g_test_assert_expected_messages ();
  infos = plexus_plugin_loader_list (fixture->loader);
  g_assert_cmpuint (infos->len, ==, 11);
}

static void
test_dependency_failures (Fixture *fixture, gconstpointer user_data)
{
  g_autofree gchar *a = write_file (fixture->tmp_dir, "cycle-a.plugin", "[Plugin]\nName=cycle-a\nDepends=cycle-b\n");
  g_autofree gchar *b = write_file (fixture->tmp_dir, "cycle-b.plugin", "[Plugin]\nName=cycle-b\nDepends=cycle-a\n");
  g_autofree gchar *self = write_file (fixture->tmp_dir, "narcissus.plugin", "[Plugin]\nName=narcissus\nDepends=narcissus\n");
  g_autofree gchar *nofile = write_file (fixture->tmp_dir, "no-module.plugin", "[Plugin]\nName=no-module\n");
  g_autofree gchar *chain = write_file (fixture->tmp_dir, "on-no-module.plugin", "[Plugin]\nName=on-no-module\nDepends=no-module\n");

  plexus_plugin_loader_add_search_path (fixture->loader, fixture->tmp_dir);
  plexus_plugin_loader_scan (fixture->loader);

  expect_refusal ("cycle-a", "dependency cycle: cycle-a -> cycle-b -> cycle-a");
  expect_refusal ("cycle-b", "dependency cycle: cycle-a -> cycle-b -> cycle-a");
  expect_refusal ("narcissus", "dependency cycle: narcissus -> narcissus");
  expect_refusal ("no-module", "*no-module." G_MODULE_SUFFIX "*");
  expect_refusal ("on-no-module", "depends on no-module, which failed");
  plexus_plugin_loader_load (fixture->loader, NULL, NULL);
  g_test_assert_expected_messages ();

  assert_state (fixture->loader, "cycle-a", PLEXUS_PLUGIN_STATE_FAILED, "dependency cycle: cycle-a -> cycle-b -> cycle-a");
  assert_state (fixture->loader, "cycle-b", PLEXUS_PLUGIN_STATE_FAILED, "dependency cycle: cycle-a -> cycle-b -> cycle-a");
  assert_state (fixture->loader, "narcissus", PLEXUS_PLUGIN_STATE_FAILED, "dependency cycle: narcissus -> narcissus");
  assert_state (fixture->loader, "no-module", PLEXUS_PLUGIN_STATE_FAILED, "*No such file or directory*");
  assert_state (fixture->loader, "on-no-module", PLEXUS_PLUGIN_STATE_FAILED, "depends on no-module, which failed");
}

static void
test_register_config (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *greeting = NULL;

  plexus_plugin_loader_add_search_path (fixture->loader, test_plugin_dir ());
  plexus_plugin_loader_scan (fixture->loader);
  g_assert_false (plexus_config_has_key (fixture->config, "good", "greeting"));
  plexus_plugin_loader_register_config (fixture->loader, fixture->config);
  g_assert_true (plexus_config_has_key (fixture->config, "good", "greeting"));
  g_assert_true (plexus_config_has_key (fixture->config, "good", "retries"));

  /* A config file can now set them, checked against their type. */
  plexus_config_load_data (fixture->config, "[good]\ngreeting=hello\nretries=3\n", -1, "test", &error);
  g_assert_no_error (error);
  greeting = plexus_config_get_string (fixture->config, "good", "greeting");
  g_assert_cmpstr (greeting, ==, "hello");
  g_assert_cmpint (plexus_config_get_integer (fixture->config, "good", "retries"), ==, 3);
  g_assert_false (plexus_config_load_data (fixture->config, "[good]\nretries=many\n", -1, "test", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/plexus/plugin-info/parse", test_info_parse);
  ADD ("/plexus/plugin-info/state", test_info_state);
  ADD ("/plexus/plugin-info/errors", test_info_errors);
  ADD ("/plexus/plugin-info/not-utf8", test_info_not_utf8);
  ADD ("/plexus/plugin-info/description-locale", test_info_description_locale);
  ADD ("/plexus/plugin-loader/list-without-loading", test_list_without_loading);
  ADD ("/plexus/plugin-loader/load", test_load);
  ADD ("/plexus/plugin-loader/enabled", test_enabled);
  ADD ("/plexus/plugin-loader/disabled", test_disabled);
  ADD ("/plexus/plugin-loader/unknown-names", test_unknown_names);
  ADD ("/plexus/plugin-loader/dispose-shuts-down", test_dispose_shuts_down);
  ADD ("/plexus/plugin-loader/search-path", test_search_path);
  ADD ("/plexus/plugin-loader/dependency-failures", test_dependency_failures);
  ADD ("/plexus/plugin-loader/register-config", test_register_config);

#undef ADD

  return g_test_run ();
}
