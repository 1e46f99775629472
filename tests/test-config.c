/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "plexus.h"
#include "plexus-test-fixture.h"

/* A private directory for config files, removed by tmp_dir_free(). */
typedef struct {
  gchar *path;
} TmpDir;

static TmpDir *
tmp_dir_new (void)
{
  g_autoptr(GError) error = NULL;
  TmpDir *dir = g_new0 (TmpDir, 1);

  dir->path = g_dir_make_tmp ("test-config-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static void
tmp_dir_free (TmpDir *dir)
{
  plexus_test_remove_tree (dir->path);
  g_free (dir->path);
  g_free (dir);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TmpDir, tmp_dir_free)

static gchar *
tmp_dir_write (TmpDir *dir, const gchar *name, const gchar *contents)
{
  g_autoptr(GError) error = NULL;
  gchar *path = g_build_filename (dir->path, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static void
assert_string (PlexusConfig *config, const gchar *group, const gchar *key, const gchar *expected)
{
  g_autofree gchar *value = plexus_config_get_string (config, group, key);

  g_assert_cmpstr (value, ==, expected);
}

static void
assert_list (PlexusConfig *config, const gchar *group, const gchar *key, const gchar * const *expected)
{
  g_auto(GStrv) value = plexus_config_get_string_list (config, group, key);

  g_assert_nonnull (value);
  g_assert_cmpstrv (value, expected);
}

static void
test_defaults (void)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  const gchar * const empty[] = { NULL };
  const gchar * const standard[] = { "standard", NULL };

  assert_string (config, "node", "listen", "0.0.0.0:0");
  assert_list (config, "node", "bootstrap", empty);
  assert_string (config, "node", "server", "");
  assert_string (config, "node", "mode", "hybrid");
  assert_list (config, "node", "roles", standard);
  assert_string (config, "node", "region", "");
  assert_string (config, "node", "timezone", "");
  assert_list (config, "plugins", "enabled", empty);
  assert_list (config, "plugins", "disabled", empty);
  g_assert_cmpint (plexus_config_get_integer (config, "broker", "redundancy"), ==, 2);
  g_assert_cmpfloat (plexus_config_get_double (config, "broker", "hysteresis"), ==, 0.15);
  assert_string (config, "broker", "hysteresis", "0.15");
  assert_string (config, "stun", "listen", "0.0.0.0:3478");

  g_assert_cmpstr (plexus_config_get_origin (config, "node", "mode"), ==, "default");
  g_assert_cmpstr (plexus_config_get_origin (config, "stun", "listen"), ==, "default");
  g_assert_true (plexus_config_has_key (config, "node", "listen"));
  g_assert_false (plexus_config_has_key (config, "node", "colour"));
  g_assert_false (plexus_config_has_key (config, "nodes", "listen"));
}

static void
test_layers (void)
{
  g_autoptr(TmpDir) dir = tmp_dir_new ();
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *system_path = NULL;
  g_autofree gchar *user_path = NULL;
  g_autofree gchar *late_path = NULL;
  const gchar * const system_roles[] = { "standard", "super", NULL };
  const gchar * const override_roles[] = { "bootstrap", NULL };

  system_path = tmp_dir_write (dir, "system.conf",
                               "# the system's settings\n"
                               "[node]\n"
                               "mode=peer\n"
                               "region=eu-west\n"
                               "roles=standard;super\n"
                               "listen=0.0.0.0:4000\n"
                               "[broker]\n"
                               "redundancy=3\n");
  user_path = tmp_dir_write (dir, "user.conf",
                             "[node]\n"
                             "mode=traditional\n"
                             "listen=127.0.0.1:4001\n"
                             "[broker]\n"
                             "hysteresis=0.25\n");
  late_path = tmp_dir_write (dir, "late.conf",
                             "[node]\n"
                             "listen=10.0.0.1:1\n"
                             "mode=peer\n");

  g_assert_true (plexus_config_load_file (config, system_path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_config_load_file (config, user_path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_config_set_override (config, "node", "listen", "[::1]:5000", &error));
  g_assert_no_error (error);

  /* The user file wins where it says something, the system file elsewhere. */
  assert_string (config, "node", "mode", "traditional");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "mode"), ==, user_path);
  assert_string (config, "node", "region", "eu-west");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "region"), ==, system_path);
  assert_list (config, "node", "roles", system_roles);
  g_assert_cmpint (plexus_config_get_integer (config, "broker", "redundancy"), ==, 3);
  g_assert_cmpstr (plexus_config_get_origin (config, "broker", "redundancy"), ==, system_path);
  g_assert_cmpfloat (plexus_config_get_double (config, "broker", "hysteresis"), ==, 0.25);
  g_assert_cmpstr (plexus_config_get_origin (config, "broker", "hysteresis"), ==, user_path);
  assert_string (config, "node", "listen", "[::1]:5000");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "listen"), ==, "command line");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "server"), ==, "default");

  /* The command line wins even over a file loaded after it. */
  g_assert_true (plexus_config_load_file (config, late_path, TRUE, &error));
  g_assert_no_error (error);
  assert_string (config, "node", "listen", "[::1]:5000");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "listen"), ==, "command line");
  assert_string (config, "node", "mode", "peer");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "mode"), ==, late_path);

  g_assert_true (plexus_config_set_override_list (config, "node", "roles", override_roles, &error));
  g_assert_no_error (error);
  assert_list (config, "node", "roles", override_roles);
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "roles"), ==, "command line");
}

typedef struct {
  const gchar *data;
  const gchar *where;    /* what follows "PATH: " */
  const gchar *reason;
} ErrorCase;

static const ErrorCase error_cases[] = {
  { "[nodes]\nlisten=0.0.0.0:1\n", "[nodes]: ", "unknown group; the known groups are broker, node, plugins, stun" },
  { "[node]\ncolour=red\n", "[node] colour: ", "unknown key; the keys of [node] are bootstrap, listen, mode, region, roles, server, timezone" },
  { "[test]\nflag=yes\n", "[test] flag: ", "'yes' is not a boolean" },
  { "[test]\nflag=\n", "[test] flag: ", "'' is not a boolean" },
  { "[broker]\nredundancy=two\n", "[broker] redundancy: ", "'two' is not an integer" },
  { "[broker]\nredundancy=2.5\n", "[broker] redundancy: ", "'2.5' is not an integer" },
  { "[broker]\nhysteresis=high\n", "[broker] hysteresis: ", "'high' is not a number" },
  { "[broker]\nhysteresis=nan\n", "[broker] hysteresis: ", "'nan' is not a number" },
  { "[broker]\nredundancy=17\n", "[broker] redundancy: ", "17 is out of range 1..16" },
  { "[broker]\nredundancy=0\n", "[broker] redundancy: ", "0 is out of range 1..16" },
  { "[broker]\nredundancy=99999999999999999999\n", "[broker] redundancy: ", "is out of range 1..16" },
  { "[broker]\nhysteresis=1.5\n", "[broker] hysteresis: ", "1.5 is out of range 0..1" },
  { "[stun]\nlisten=0.0.0.0:70000\n", "[stun] listen: ", "port 70000 is out of range 0..65535" },
  { "[node]\nlisten=localhost\n", "[node] listen: ", "'localhost' has no port" },
  { "[node]\nlisten=::1:80\n", "[node] listen: ", "needs brackets" },
  { "[node]\nlisten=\n", "[node] listen: ", "the address is empty" },
  { "[node]\nmode=fast\n", "[node] mode: ", "'fast' is not one of hybrid, peer, traditional" },
  { "[node]\nroles=standard;admin\n", "[node] roles: ", "'admin' is not one of standard, super, bootstrap, server" },
  { "[node]\nserver=http://example.org/\n", "[node] server: ", "'http://example.org/' is not a ws:// or wss:// URI" },
  { "[node]\nserver=ws:///path\n", "[node] server: ", "'ws:///path' has no host" },
  { "[node]\nserver=example.org\n", "[node] server: ", "'example.org' is not a URI" },
  { "[node]\nbootstrap=ws://a.example/;https://b.example/\n", "[node] bootstrap: ", "'https://b.example/' is not a ws:// or wss:// URI" },
  /* GLib returns these values (eu\xwest verbatim, eu\ as eu) with an error. */
  { "[node]\nregion=eu\\xwest\n", "[node] region: ", "invalid escape sequence" },
  { "[node]\nregion=eu\\\n", "[node] region: ", "invalid escape sequence" },
  { "[node]\nregion=eu\\;west\n", "[node] region: ", "invalid escape sequence" },
  { "[node]\nbootstrap=ws://a.example/\\x\n", "[node] bootstrap: ", "invalid escape sequence" },
  /* GKeyFile checks values for UTF-8, but not names, which are quoted. */
  { "[node]\nlist\264n=92.3:80\n", "", "not valid UTF-8 at byte 12 (line 2)" },
  { "[n\377ode]\n", "", "not valid UTF-8 at byte 3 (line 1)" },
  { "[node]\nregion=\303\n", "", "not valid UTF-8 at byte 15 (line 2)" },
  { "[node]\nthis is not a key\n", "", "this is not a key" },
  { "mode=peer\n", "", "" },
};

static void
test_errors (void)
{
  g_autoptr(TmpDir) dir = tmp_dir_new ();

  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++) {
    const ErrorCase *c = &error_cases[i];
    g_autoptr(PlexusConfig) config = plexus_config_new ();
    g_autoptr(GError) error = NULL;
    g_autofree gchar *name = g_strdup_printf ("case-%u.conf", i);
    g_autofree gchar *path = tmp_dir_write (dir, name, c->data);
    g_autofree gchar *prefix = g_strdup_printf ("%s: %s", path, c->where);
    g_autofree gchar *escaped = g_strescape (c->data, NULL);

    plexus_config_add_key (config, "test", "flag", PLEXUS_CONFIG_TYPE_BOOLEAN, "false", NULL);

    g_test_message ("case %u: %s", i, escaped);
    g_assert_false (plexus_config_load_file (config, path, TRUE, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
    g_test_message ("message: %s", error->message);
    g_assert_true (g_str_has_prefix (error->message, prefix));
    g_assert_nonnull (strstr (error->message + strlen (prefix), c->reason));
  }
}

/* Whatever the input, messages are UTF-8: they reach logs and D-Bus. */
static void
test_not_utf8 (void)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  static const gchar with_nul[] = "[node]\nregion=eu\0west\n";
  const gchar * const bad_items[] = { "ws://a.example/", "ws://\377.example/", NULL };

  g_assert_false (plexus_config_load_data (config, with_nul, sizeof with_nul - 1, "nul.conf", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==,
                   "nul.conf: NUL character at byte 17 (line 2); configuration must be UTF-8 text");
  g_clear_error (&error);
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "region"), ==, "default");

  g_assert_false (plexus_config_set_override_from (config, "--region", "node", "region",
                                                   "eu\377", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_true (g_str_has_prefix (error->message,
                                   "--region: [node] region: not valid UTF-8 at byte 3"));
  g_clear_error (&error);

  g_assert_false (plexus_config_set_override_list_from (config, "--bootstrap", "node", "bootstrap",
                                                        bad_items, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message,
                                   "--bootstrap: [node] bootstrap: not valid UTF-8 at byte 6"));
  g_clear_error (&error);

  /* A command-line scalar is taken as it is: a backslash is no escape. */
  g_assert_true (plexus_config_set_override (config, "node", "region", "eu\\xwest", &error));
  g_assert_no_error (error);
  assert_string (config, "node", "region", "eu\\xwest");
}

static void
test_failed_file_changes_nothing (void)
{
  g_autoptr(TmpDir) dir = tmp_dir_new ();
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *good_path = NULL;
  g_autofree gchar *bad_path = NULL;

  good_path = tmp_dir_write (dir, "good.conf", "[node]\nmode=peer\n[broker]\nredundancy=4\n");
  /* Valid keys come before the bad one and must not stick. */
  bad_path = tmp_dir_write (dir, "bad.conf",
                            "[node]\nmode=traditional\nregion=x\n[broker]\nredundancy=99\n");

  g_assert_true (plexus_config_load_file (config, good_path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_false (plexus_config_load_file (config, bad_path, TRUE, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  assert_string (config, "node", "mode", "peer");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "mode"), ==, good_path);
  assert_string (config, "node", "region", "");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "region"), ==, "default");
  g_assert_cmpint (plexus_config_get_integer (config, "broker", "redundancy"), ==, 4);

  /* A failed override keeps the one before it. */
  g_assert_true (plexus_config_set_override (config, "node", "listen", "127.0.0.1:1", &error));
  g_assert_no_error (error);
  g_assert_false (plexus_config_set_override (config, "node", "listen", "127.0.0.1", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  assert_string (config, "node", "listen", "127.0.0.1:1");
}

static void
test_must_exist (void)
{
  g_autoptr(TmpDir) dir = tmp_dir_new ();
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *missing = g_build_filename (dir->path, "missing.conf", NULL);
  g_autofree gchar *subdir = g_build_filename (dir->path, "a-directory", NULL);
  g_autofree gchar *empty = tmp_dir_write (dir, "empty.conf", "");

  g_assert_true (plexus_config_load_file (config, missing, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "mode"), ==, "default");

  g_assert_false (plexus_config_load_file (config, missing, TRUE, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  /* Only a missing file is skipped, not one that cannot be read. */
  g_assert_cmpint (g_mkdir (subdir, 0700), ==, 0);
  g_assert_false (plexus_config_load_file (config, subdir, FALSE, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, subdir));
  g_clear_error (&error);

  g_assert_true (plexus_config_load_file (config, empty, TRUE, &error));
  g_assert_no_error (error);
}

static void
test_parse_address (void)
{
  const struct {
    const gchar *address;
    const gchar *host;
    guint16      port;
  } good[] = {
    { "127.0.0.1:0", "127.0.0.1", 0 },
    { "[::1]:8080", "::1", 8080 },
    { "[2001:db8::7]:65535", "2001:db8::7", 65535 },
    { "localhost:1", "localhost", 1 },
    { "node-1.example.org:443", "node-1.example.org", 443 },
  };
  const gchar *bad[] = {
    "::1:80", "host", "host:", ":80", "host:65536", "host:12ab", "",
    "host:-1", "host:+80", "[::1]", "[::1]80", "[::1:80", "[127.0.0.1]:80",
    "bad host:80", "-bad:80", "bad_host:80", "999.1.1.1:80", "a..b:80",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *host = NULL;
    guint16 port = 12345;

    g_assert_true (plexus_config_parse_address (good[i].address, &host, &port, &error));
    g_assert_no_error (error);
    g_assert_cmpstr (host, ==, good[i].host);
    g_assert_cmpuint (port, ==, good[i].port);
  }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *host = NULL;
    guint16 port = 12345;

    g_test_message ("address '%s'", bad[i]);
    g_assert_false (plexus_config_parse_address (bad[i], &host, &port, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
    g_assert_null (host);
    g_assert_cmpuint (port, ==, 12345);
  }
}

static void
test_overrides (void)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  const gchar * const two[] = { "ws://a.example:1/", "wss://b.example/", NULL };
  const gchar * const one[] = { "ws://c.example/", NULL };
  const gchar * const pair[] = { "127.0.0.1:1", "127.0.0.1:2", NULL };
  const gchar * const single[] = { "127.0.0.1:3", NULL };

  g_assert_false (plexus_config_set_override (config, "node", "mode", "x", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==,
                   "command line: [node] mode: 'x' is not one of hybrid, peer, traditional");
  g_clear_error (&error);

  g_assert_false (plexus_config_set_override (config, "node", "colour", "red", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "command line: [node] colour: unknown key"));
  g_clear_error (&error);

  g_assert_false (plexus_config_set_override (config, "nodes", "mode", "peer", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "command line: [nodes]: unknown group"));
  g_clear_error (&error);

  /* A single string splits like a key file list... */
  g_assert_true (plexus_config_set_override (config, "node", "bootstrap",
                                             "ws://a.example:1/;wss://b.example/", &error));
  g_assert_no_error (error);
  assert_list (config, "node", "bootstrap", two);
  /* ...separate items replace it whole. */
  g_assert_true (plexus_config_set_override_list (config, "node", "bootstrap", one, &error));
  g_assert_no_error (error);
  assert_list (config, "node", "bootstrap", one);

  g_assert_false (plexus_config_set_override_list (config, "node", "listen", pair, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==, "command line: [node] listen: takes one value, not 2");
  g_clear_error (&error);
  g_assert_true (plexus_config_set_override_list (config, "node", "listen", single, &error));
  g_assert_no_error (error);
  assert_string (config, "node", "listen", "127.0.0.1:3");

  /* The daemon names its option. */
  g_assert_false (plexus_config_set_override_from (config, "--listen", "node", "listen",
                                                   "localhost", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "--listen: [node] listen: 'localhost' has no port"));
  g_clear_error (&error);
  g_assert_true (plexus_config_set_override_from (config, "--listen", "node", "listen",
                                                  "localhost:0", &error));
  g_assert_no_error (error);
  assert_string (config, "node", "listen", "localhost:0");
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "listen"), ==, "--listen");

  g_assert_false (plexus_config_set_override_list_from (config, "--bootstrap", "node", "bootstrap",
                                                        (const gchar * const []) { "http://x/", NULL },
                                                        &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "--bootstrap: [node] bootstrap: 'http://x/'"));
  g_clear_error (&error);

  /* A command-line string is not key file syntax: no unescaping. */
  g_assert_true (plexus_config_set_override (config, "node", "region", "eu\\swest", &error));
  g_assert_no_error (error);
  assert_string (config, "node", "region", "eu\\swest");
}

static void
test_values (void)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  const gchar * const roles[] = { "super", "bootstrap", NULL };
  const gchar * const empty[] = { NULL };
  const gchar * const enabled[] = { "a;b", "c", NULL };

  plexus_config_add_key (config, "test", "flag", PLEXUS_CONFIG_TYPE_BOOLEAN, NULL, NULL);
  g_assert_false (plexus_config_get_boolean (config, "test", "flag"));

  /* Spaces around values and items are ignored, and so are empty items. */
  g_assert_true (plexus_config_load_data (config,
                                          "[node]\n"
                                          "roles= super ; ;bootstrap;\n"
                                          "bootstrap=\n"
                                          "mode = peer  \n"
                                          "server=WSS://server.example/plexus\n"
                                          "[plugins]\n"
                                          "enabled=a\\;b;c\n"
                                          "[broker]\n"
                                          "hysteresis=0.250\n"
                                          "[test]\n"
                                          "flag=1\n",
                                          -1, "memory", &error));
  g_assert_no_error (error);
  assert_list (config, "node", "roles", roles);
  assert_list (config, "node", "bootstrap", empty);
  g_assert_cmpstr (plexus_config_get_origin (config, "node", "bootstrap"), ==, "memory");
  assert_string (config, "node", "mode", "peer");
  assert_string (config, "node", "server", "WSS://server.example/plexus");
  assert_list (config, "plugins", "enabled", enabled);
  assert_string (config, "broker", "hysteresis", "0.25");
  g_assert_true (plexus_config_get_boolean (config, "test", "flag"));
  assert_string (config, "test", "flag", "true");

  g_assert_true (plexus_config_set_override (config, "test", "flag", "false", &error));
  g_assert_no_error (error);
  g_assert_false (plexus_config_get_boolean (config, "test", "flag"));
}

static void
test_plugin_keys (void)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();
  g_autoptr(GError) error = NULL;
  const gchar * const colours[] = { "red", "green", "blue", NULL };
  const gchar * const empty[] = { NULL };
  const gchar *data = "[example]\nport=5\n";

  g_assert_false (plexus_config_load_data (config, data, -1, "example.conf", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_true (g_str_has_prefix (error->message, "example.conf: [example]: unknown group"));
  g_clear_error (&error);

  plexus_config_add_integer_key (config, "example", "port", 1, 100, 10, "A port");
  plexus_config_add_double_key (config, "example", "ratio", -1.0, 1.0, 0.5, NULL);
  plexus_config_add_key (config, "example", "name", PLEXUS_CONFIG_TYPE_STRING, "x", NULL);
  plexus_config_add_key (config, "example", "peer", PLEXUS_CONFIG_TYPE_URI, NULL, NULL);
  plexus_config_add_key (config, "example", "where", PLEXUS_CONFIG_TYPE_ADDRESS, NULL, NULL);
  plexus_config_add_key (config, "example", "any", PLEXUS_CONFIG_TYPE_INTEGER, NULL, NULL);
  plexus_config_add_enum_key (config, "example", "colour", FALSE, colours, NULL, NULL);
  plexus_config_add_enum_key (config, "example", "colours", TRUE, colours, NULL, NULL);
  g_assert_true (plexus_config_has_key (config, "example", "port"));

  g_assert_cmpint (plexus_config_get_integer (config, "example", "port"), ==, 10);
  g_assert_cmpfloat (plexus_config_get_double (config, "example", "ratio"), ==, 0.5);
  assert_string (config, "example", "name", "x");
  assert_string (config, "example", "peer", "");
  assert_string (config, "example", "where", "");
  g_assert_cmpint (plexus_config_get_integer (config, "example", "any"), ==, 0);
  assert_string (config, "example", "colour", "red");
  assert_list (config, "example", "colours", empty);

  g_assert_true (plexus_config_load_data (config, data, -1, "example.conf", &error));
  g_assert_no_error (error);
  g_assert_cmpint (plexus_config_get_integer (config, "example", "port"), ==, 5);
  g_assert_cmpstr (plexus_config_get_origin (config, "example", "port"), ==, "example.conf");

  g_assert_true (plexus_config_load_data (config,
                                          "[example]\nany=-9000000000\ncolours=blue;red\nratio=-1\n",
                                          -1, "more.conf", &error));
  g_assert_no_error (error);
  g_assert_cmpint (plexus_config_get_integer (config, "example", "any"), ==, -9000000000);
  assert_list (config, "example", "colours", ((const gchar * const []) { "blue", "red", NULL }));
  g_assert_cmpfloat (plexus_config_get_double (config, "example", "ratio"), ==, -1.0);

  g_assert_false (plexus_config_load_data (config, "[example]\nport=101\n", -1, "x.conf", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==, "x.conf: [example] port: 101 is out of range 1..100");
  g_clear_error (&error);

  g_assert_false (plexus_config_load_data (config, "[example]\ncolour=pink\n", -1, "x.conf", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_assert_cmpstr (error->message, ==, "x.conf: [example] colour: 'pink' is not one of red, green, blue");
  g_clear_error (&error);

  /* Only a default may leave an address unset. */
  g_assert_false (plexus_config_load_data (config, "[example]\nwhere=\n", -1, "x.conf", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  /* A plugin declaring a core key again keeps the core default. */
  plexus_config_add_key (config, "stun", "listen", PLEXUS_CONFIG_TYPE_ADDRESS, NULL, NULL);
  assert_string (config, "stun", "listen", "0.0.0.0:3478");
}

/* The enum keys accept exactly the strings plexus-enums.h defines. */
static void
test_enum_strings (void)
{
  g_autoptr(PlexusConfig) config = plexus_config_new ();

  for (PlexusMode mode = PLEXUS_MODE_HYBRID; mode <= PLEXUS_MODE_TRADITIONAL; mode++) {
    g_autoptr(GError) error = NULL;
    const gchar *name = plexus_mode_to_string (mode);

    g_assert_true (plexus_config_set_override (config, "node", "mode", name, &error));
    g_assert_no_error (error);
    assert_string (config, "node", "mode", name);
  }
  for (guint bit = 0; (1u << bit) <= PLEXUS_ROLE_ALL; bit++) {
    g_autoptr(GError) error = NULL;
    const gchar *name = plexus_role_to_string ((PlexusRole) (1u << bit));
    const gchar * const expected[] = { name, NULL };

    g_assert_true (plexus_config_set_override (config, "node", "roles", name, &error));
    g_assert_no_error (error);
    assert_list (config, "node", "roles", expected);
  }
}

static void
test_type_names (void)
{
  g_autoptr(GError) error = NULL;
  PlexusConfigType type;

  for (PlexusConfigType t = PLEXUS_CONFIG_TYPE_STRING; t <= PLEXUS_CONFIG_TYPE_URI_LIST; t++) {
    const gchar *name = plexus_config_type_to_string (t);

    g_assert_nonnull (name);
    g_assert_true (plexus_config_type_from_string (name, &type, &error));
    g_assert_no_error (error);
    g_assert_cmpint (type, ==, t);
  }
  g_assert_true (plexus_config_type_from_string ("address", &type, &error));
  g_assert_cmpint (type, ==, PLEXUS_CONFIG_TYPE_ADDRESS);
  g_assert_true (plexus_config_type_from_string ("string-list", &type, &error));
  g_assert_cmpint (type, ==, PLEXUS_CONFIG_TYPE_STRING_LIST);

  g_assert_false (plexus_config_type_from_string ("port", &type, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "'port'"));
  g_assert_null (plexus_config_type_to_string ((PlexusConfigType) 99));
}

/* Reading a key outside the schema, or as the wrong type, is a bug the
 * caller hears about. */
static void
test_unknown_key_is_a_bug (void)
{
  if (g_test_subprocess ()) {
    g_autoptr(PlexusConfig) config = plexus_config_new ();

    plexus_config_get_integer (config, "node", "colour");
    return;
  }
  g_test_trap_subprocess (NULL, 0, 0);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*[node] colour is not a configuration key*");
}

static void
test_wrong_type_is_a_bug (void)
{
  if (g_test_subprocess ()) {
    g_autoptr(PlexusConfig) config = plexus_config_new ();

    plexus_config_get_integer (config, "node", "mode");
    return;
  }
  g_test_trap_subprocess (NULL, 0, 0);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*[node] mode is of type enum, not integer*");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/config/defaults", test_defaults);
  g_test_add_func ("/plexus/config/layers", test_layers);
  g_test_add_func ("/plexus/config/errors", test_errors);
  g_test_add_func ("/plexus/config/not-utf8", test_not_utf8);
  g_test_add_func ("/plexus/config/failed-file-changes-nothing", test_failed_file_changes_nothing);
  g_test_add_func ("/plexus/config/must-exist", test_must_exist);
  g_test_add_func ("/plexus/config/parse-address", test_parse_address);
  g_test_add_func ("/plexus/config/overrides", test_overrides);
  g_test_add_func ("/plexus/config/values", test_values);
  g_test_add_func ("/plexus/config/plugin-keys", test_plugin_keys);
  g_test_add_func ("/plexus/config/enum-strings", test_enum_strings);
  g_test_add_func ("/plexus/config/type-names", test_type_names);
  g_test_add_func ("/plexus/config/unknown-key-is-a-bug", test_unknown_key_is_a_bug);
  g_test_add_func ("/plexus/config/wrong-type-is-a-bug", test_wrong_type_is_a_bug);

  return g_test_run ();
}
