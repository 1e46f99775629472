/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include <plexus.h>

#include "plexus-plugin-loader.h"
#include "plexus-test-fixture.h"

/* The stun plugin loaded in-process by the daemon's loader, as plexusd
 * does, and read through what the daemon may wire to D-Bus: its GObject
 * properties, the broker and the capabilities. PLEXUS_STUN_PLUGIN_DIR
 * names the folder with stun.so and stun.plugin. */

#define LOADER_DOMAIN "plexusd"
#define TIMEOUT_MS 15000

typedef struct {
  gchar              *state_dir;
  PlexusConfig       *config;
  PlexusBroker       *broker;
  PlexusContext      *context;
  PlexusPluginLoader *loader;
} Fixture;

static const gchar *
plugin_dir (void)
{
  static gchar *dir;

  if (dir == NULL) {
    const gchar *env = g_getenv ("PLEXUS_STUN_PLUGIN_DIR");

    dir = env != NULL ? g_strdup (env)
                      : g_test_build_filename (G_TEST_BUILT, "..", "plugins", "stun", ".libs", NULL);
  }
  return dir;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusIdentity) identity = NULL;

  f->state_dir = g_dir_make_tmp ("plexus-test-stun-plugin-XXXXXX", &error);
  g_assert_no_error (error);
  identity = plexus_identity_load_or_create (f->state_dir, &error);
  g_assert_no_error (error);
  f->config = plexus_config_new ();
  f->broker = plexus_broker_new ();
  f->context = plexus_context_new (f->config, identity, f->broker, f->state_dir);
  f->loader = plexus_plugin_loader_new (f->context);
  plexus_plugin_loader_add_search_path (f->loader, plugin_dir ());
  plexus_plugin_loader_scan (f->loader);
  plexus_plugin_loader_register_config (f->loader, f->config);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  plexus_plugin_loader_shutdown (f->loader);
  g_clear_object (&f->loader);
  g_clear_object (&f->context);
  g_clear_object (&f->broker);
  g_clear_object (&f->config);
  plexus_test_remove_tree (f->state_dir);
  g_free (f->state_dir);
}

static PlexusPlugin *
load (Fixture *f, PlexusRole roles, const gchar *listen)
{
  g_autoptr(GError) error = NULL;

  plexus_context_set_roles (f->context, roles);
  g_assert_true (plexus_config_set_override (f->config, "stun", "listen", listen, &error));
  g_assert_no_error (error);
  plexus_plugin_loader_load (f->loader, NULL, NULL);
  return plexus_plugin_loader_get_plugin (f->loader, "stun");
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
on_notify (GObject *object, GParamSpec *pspec, gpointer data)
{
  *(gboolean *) data = TRUE;
}

static guint64
counter (PlexusPlugin *plugin, const gchar *name)
{
  g_autoptr(GVariant) counters = NULL;
  guint64 value = G_MAXUINT64;

  g_object_get (plugin, "counters", &counters, NULL);
  g_assert_true (g_variant_lookup (counters, name, "t", &value));
  return value;
}

/* A super node: the server listens, is in the broker and the
 * capabilities; asked by its own client it finds no NAT on loopback. */
static void
test_super (Fixture *f, gconstpointer data)
{
  PlexusPlugin *plugin = load (f, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER, "127.0.0.1:0");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *udp = NULL;
  g_autofree gchar *tcp = NULL;
  g_autofree gchar *nat_type = NULL;
  g_autofree gchar *mapped = NULL;
  g_autofree gchar *uri = NULL;
  g_auto(GStrv) uris = NULL;
  const gchar *servers[2] = { NULL, NULL };
  PlexusProvider *provider;
  PlexusServiceCapability capability;
  gboolean notified = FALSE;
  gboolean expired = FALSE;
  gboolean eligible = FALSE;
  guint id;

  g_assert_nonnull (plugin);
  g_object_get (plugin, "udp-address", &udp, "tcp-address", &tcp, "nat-type", &nat_type, NULL);
  g_assert_true (g_str_has_prefix (udp, "127.0.0.1:"));
  g_assert_cmpstr (udp, ==, tcp);
  g_assert_cmpstr (nat_type, ==, "unknown");
  g_assert_cmpuint (counter (plugin, "received"), ==, 0);

  uri = g_strconcat ("stun:", udp, NULL);
  provider = plexus_broker_lookup_provider (f->broker, "stun",
                                            plexus_identity_get_peer_id (plexus_context_get_identity (f->context)));
  g_assert_nonnull (provider);
  g_assert_cmpstr (plexus_provider_get_address (provider), ==, uri);
  g_assert_cmpint (plexus_provider_get_kind (provider), ==, PLEXUS_PROVIDER_KIND_LOCAL);
  g_assert_true (plexus_capabilities_get_service (plexus_context_get_capabilities (f->context), "stun", &capability));
  g_assert_true (capability.available);
  g_assert_cmpfloat (capability.load, ==, 0.0);
  g_object_get (plugin, "stun-uris", &uris, NULL);
  g_assert_true (g_strv_contains ((const gchar * const *) uris, uri));

  /* Its own server is not asked as a broker provider; as a configured one
   * it is, before the main loop first runs. */
  servers[0] = udp;
  g_assert_true (plexus_config_set_override_list (f->config, "stun", "servers", servers, &error));
  g_assert_no_error (error);
  g_signal_connect (plugin, "notify::nat-type", G_CALLBACK (on_notify), &notified);
  id = g_timeout_add (TIMEOUT_MS, on_deadline, &expired);
  g_test_expect_message ("stun", G_LOG_LEVEL_MESSAGE, "NAT: none, mapped address 127.0.0.1:*");
  while (!notified && !expired)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (expired);
  g_source_remove (id);
  g_test_assert_expected_messages ();

  g_clear_pointer (&nat_type, g_free);
  g_object_get (plugin, "nat-type", &nat_type, "mapped-address", &mapped, "super-eligible", &eligible, NULL);
  g_assert_cmpstr (nat_type, ==, "none");
  g_assert_true (g_str_has_prefix (mapped, "127.0.0.1:"));
  g_assert_cmpstr (mapped, !=, udp);
  g_assert_true (eligible);
  g_assert_cmpuint (counter (plugin, "received"), ==, 1);
  g_assert_cmpuint (counter (plugin, "answered"), ==, 1);

  /* Shut down: out of the broker and the capabilities. */
  plexus_plugin_loader_shutdown (f->loader);
  g_assert_null (plexus_broker_lookup_provider (f->broker, "stun",
                                                plexus_identity_get_peer_id (plexus_context_get_identity (f->context))));
  g_assert_false (plexus_capabilities_get_service (plexus_context_get_capabilities (f->context), "stun", NULL));
}

/* A standard node serves nothing. */
static void
test_standard (Fixture *f, gconstpointer data)
{
  PlexusPlugin *plugin = load (f, PLEXUS_ROLE_STANDARD, "127.0.0.1:0");
  g_autofree gchar *udp = NULL;
  g_autoptr(GPtrArray) providers = NULL;

  g_assert_nonnull (plugin);
  g_object_get (plugin, "udp-address", &udp, NULL);
  g_assert_null (udp);
  providers = plexus_broker_list_providers (f->broker, "stun");
  g_assert_cmpuint (providers->len, ==, 0);
  g_assert_false (plexus_capabilities_get_service (plexus_context_get_capabilities (f->context), "stun", NULL));
  g_assert_cmpuint (counter (plugin, "received"), ==, 0);
}

/* A port already taken fails the plugin, not the node. */
static void
test_listen_in_use (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &error);
  g_autofree gchar *listen = NULL;
  g_autoptr(GPtrArray) infos = NULL;

  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  listen = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_test_expect_message (LOADER_DOMAIN, G_LOG_LEVEL_WARNING, "plugin stun (*): *cannot listen for STUN on*");
  g_assert_null (load (f, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SERVER, listen));
  g_test_assert_expected_messages ();
  g_assert_null (plexus_broker_lookup_provider (f->broker, "stun",
                                                plexus_identity_get_peer_id (plexus_context_get_identity (f->context))));
  infos = plexus_plugin_loader_list (f->loader);
  for (guint i = 0; i < infos->len; i++) {
    PlexusPluginInfo *info = g_ptr_array_index (infos, i);

    if (g_strcmp0 (plexus_plugin_info_get_name (info), "stun") == 0)
      g_assert_cmpint (plexus_plugin_info_get_state (info), ==, PLEXUS_PLUGIN_STATE_FAILED);
  }
}

int
main (int argc, char *argv[])
{
  g_autofree gchar *metadata = NULL;

  g_test_init (&argc, &argv, NULL);

  metadata = g_build_filename (plugin_dir (), "stun.plugin", NULL);
  if (!g_file_test (metadata, G_FILE_TEST_EXISTS)) {
    g_printerr ("no %s; set PLEXUS_STUN_PLUGIN_DIR\n", metadata);
    return 1;
  }

#define ADD(path, func) g_test_add ("/plexus/stun/plugin/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("super", test_super);
  ADD ("standard", test_standard);
  ADD ("listen-in-use", test_listen_in_use);
#undef ADD

  return g_test_run ();
}
