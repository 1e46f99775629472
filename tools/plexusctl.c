/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <locale.h>
#include <signal.h>
#include <string.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>

#include "plexus-dbus-generated.h"

/* plexusctl: the command-line client. Human output by default; with --json
 * one JSON document whose snake_case keys scripts rely on (see
 * doc/architecture.md). Exit 0 on success, 1 on an error with the reason
 * on stderr. */

#define PLEXUS_DBUS_NAME "org.plexus.Plexus1"
#define PLEXUS_DBUS_PATH "/org/plexus/Plexus1"

typedef struct {
  gboolean           json;
  GDBusConnection   *connection;
  PlexusDBusManager *manager;
  PlexusDBusBroker  *broker;
} PlexusCtl;

static void
print_json (JsonNode *node)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree gchar *text = NULL;

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
}

static void
print_error (const gchar *what, GError *error)
{
  if (g_dbus_error_is_remote_error (error))
    g_dbus_error_strip_remote_error (error);
  g_printerr ("plexusctl: %s: %s\n", what, error->message);
}

/* Connects without auto-starting: "is plexusd running?" must get an honest
 * answer, not a freshly activated daemon. */
static gboolean
plexusctl_connect (PlexusCtl *ctl)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *owner = NULL;

  ctl->connection = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  if (ctl->connection == NULL) {
    print_error (_("cannot connect to the session bus"), error);
    return FALSE;
  }
  ctl->manager = plexus_dbus_manager_proxy_new_sync (ctl->connection,
                                                     G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
                                                     PLEXUS_DBUS_NAME, PLEXUS_DBUS_PATH "/Manager",
                                                     NULL, &error);
  if (ctl->manager == NULL) {
    print_error (_("cannot reach plexusd"), error);
    return FALSE;
  }
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (ctl->manager));
  if (owner == NULL) {
    g_printerr (_("plexusctl: plexusd is not running (nobody owns %s on the session bus)\n"),
                PLEXUS_DBUS_NAME);
    return FALSE;
  }
  ctl->broker = plexus_dbus_broker_proxy_new_sync (ctl->connection,
                                                   G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START |
                                                   G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                   PLEXUS_DBUS_NAME, PLEXUS_DBUS_PATH "/Broker",
                                                   NULL, &error);
  if (ctl->broker == NULL) {
    print_error (_("cannot reach plexusd"), error);
    return FALSE;
  }
  return TRUE;
}

static const gchar *
or_dash (const gchar *s)
{
  return (s != NULL && s[0] != '\0') ? s : "-";
}

static gchar *
join_strv (const gchar * const *strv)
{
  if (strv == NULL || strv[0] == NULL)
    return g_strdup ("-");
  return g_strjoinv (", ", (gchar **) strv);
}

static const gchar *
or_empty (const gchar *s)
{
  return s != NULL ? s : "";
}

static void
add_string_array (JsonBuilder *b, const gchar * const *strv)
{
  json_builder_begin_array (b);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (b, strv[i]);
  json_builder_end_array (b);
}

static int
cmd_status (PlexusCtl *ctl, gchar **args)
{
  const gchar * const *roles = plexus_dbus_manager_get_roles (ctl->manager);
  const gchar *address = plexus_dbus_manager_get_address (ctl->manager);
  g_autofree gchar *roles_text = join_strv (roles);
  g_autofree gchar *stun_listen_text = join_strv (plexus_dbus_manager_get_stun_listen (ctl->manager));
  g_autofree gchar *stun_servers_text = join_strv (plexus_dbus_manager_get_stun_servers (ctl->manager));

  if (plexus_dbus_manager_get_peer_id (ctl->manager) == NULL) {
    g_printerr (_("plexusctl: plexusd did not answer with its properties\n"));
    return 1;
  }

  if (ctl->json) {
    g_autoptr(JsonBuilder) b = json_builder_new ();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "peer_id");
    json_builder_add_string_value (b, plexus_dbus_manager_get_peer_id (ctl->manager));
    json_builder_set_member_name (b, "version");
    json_builder_add_string_value (b, plexus_dbus_manager_get_version (ctl->manager));
    json_builder_set_member_name (b, "mode");
    json_builder_add_string_value (b, plexus_dbus_manager_get_mode (ctl->manager));
    json_builder_set_member_name (b, "roles");
    add_string_array (b, roles);
    json_builder_set_member_name (b, "state");
    json_builder_add_string_value (b, plexus_dbus_manager_get_state (ctl->manager));
    json_builder_set_member_name (b, "address");
    json_builder_add_string_value (b, address != NULL ? address : "");
    json_builder_set_member_name (b, "nat");
    json_builder_add_string_value (b, or_empty (plexus_dbus_manager_get_nat (ctl->manager)));
    json_builder_set_member_name (b, "mapped_address");
    json_builder_add_string_value (b, or_empty (plexus_dbus_manager_get_mapped_address (ctl->manager)));
    json_builder_set_member_name (b, "stun_listen");
    add_string_array (b, plexus_dbus_manager_get_stun_listen (ctl->manager));
    json_builder_set_member_name (b, "stun_servers");
    add_string_array (b, plexus_dbus_manager_get_stun_servers (ctl->manager));
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    print_json (root);
    return 0;
  }

  g_print ("%-10s %s\n", _("Peer ID:"), plexus_dbus_manager_get_peer_id (ctl->manager));
  g_print ("%-10s %s\n", _("Version:"), plexus_dbus_manager_get_version (ctl->manager));
  g_print ("%-10s %s\n", _("Mode:"), plexus_dbus_manager_get_mode (ctl->manager));
  g_print ("%-10s %s\n", _("Roles:"), roles_text);
  g_print ("%-10s %s\n", _("State:"), plexus_dbus_manager_get_state (ctl->manager));
  g_print ("%-10s %s\n", _("Address:"), (address != NULL && address[0] != '\0') ? address : _("(not listening)"));
  g_print ("%-10s %s\n", _("NAT:"), or_dash (plexus_dbus_manager_get_nat (ctl->manager)));
  g_print ("%-10s %s\n", _("Mapped:"), or_dash (plexus_dbus_manager_get_mapped_address (ctl->manager)));
  g_print ("%-10s %s\n", _("STUN:"), stun_listen_text);
  g_print ("%-10s %s\n", _("Use STUN:"), stun_servers_text);
  return 0;
}

static const gchar *
dict_string (GVariant *dict, const gchar *key)
{
  const gchar *value = NULL;

  if (!g_variant_lookup (dict, key, "&s", &value))
    return "";
  return value;
}

static gchar *
dict_strv_joined (GVariant *dict, const gchar *key)
{
  g_autofree const gchar **strv = NULL;

  if (!g_variant_lookup (dict, key, "^a&s", &strv))
    return g_strdup ("-");
  return join_strv (strv);
}

static int
cmd_plugins (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) plugins = NULL;
  GVariantIter iter;
  GVariant *dict;

  if (!plexus_dbus_manager_call_list_plugins_sync (ctl->manager, &plugins, NULL, &error)) {
    print_error (_("cannot list plugins"), error);
    return 1;
  }
  if (ctl->json) {
    g_autoptr(JsonNode) node = json_gvariant_serialize (plugins);
    print_json (node);
    return 0;
  }
  if (g_variant_n_children (plugins) == 0) {
    g_print (_("No plugins found.\n"));
    return 0;
  }
  g_print ("%-20s %-10s %-28s %s\n", _("NAME"), _("STATE"), _("SERVICES"), _("DESCRIPTION"));
  g_variant_iter_init (&iter, plugins);
  while ((dict = g_variant_iter_next_value (&iter)) != NULL) {
    g_autofree gchar *services = dict_strv_joined (dict, "services");
    const gchar *message = dict_string (dict, "message");

    g_print ("%-20s %-10s %-28s %s\n", dict_string (dict, "name"), dict_string (dict, "state"),
             services, or_dash (dict_string (dict, "description")));
    if (message[0] != '\0')
      g_print ("%20s %s\n", "", message);
    g_variant_unref (dict);
  }
  return 0;
}

static int
cmd_providers (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) providers = NULL;
  const gchar *service = args[0] != NULL ? args[0] : "";
  GVariantIter iter;
  GVariant *dict;

  if (args[0] != NULL && args[1] != NULL) {
    g_printerr (_("plexusctl: providers takes at most one SERVICE\n"));
    return 1;
  }
  if (!plexus_dbus_broker_call_list_providers_sync (ctl->broker, service, &providers, NULL, &error)) {
    print_error (_("cannot list providers"), error);
    return 1;
  }
  if (ctl->json) {
    g_autoptr(JsonNode) node = json_gvariant_serialize (providers);
    print_json (node);
    return 0;
  }
  if (g_variant_n_children (providers) == 0) {
    g_print (_("No providers.\n"));
    return 0;
  }
  g_print ("%-18s %-12s %-7s %6s %5s %8s %s\n", _("SERVICE"), _("PEER"), _("KIND"),
           _("SCORE"), _("LOAD"), _("RTT"), _("STATUS"));
  g_variant_iter_init (&iter, providers);
  while ((dict = g_variant_iter_next_value (&iter)) != NULL) {
    const gchar *peer_id = dict_string (dict, "peer_id");
    gdouble score = 0, load = 0, rtt = -1;
    gboolean selected = FALSE, healthy = TRUE, available = TRUE;
    g_autofree gchar *peer_short = g_strndup (peer_id, 10);
    g_autofree gchar *rtt_text = NULL;
    g_autoptr(GString) status = g_string_new (NULL);

    g_variant_lookup (dict, "score", "d", &score);
    g_variant_lookup (dict, "load", "d", &load);
    g_variant_lookup (dict, "rtt_ms", "d", &rtt);
    g_variant_lookup (dict, "selected", "b", &selected);
    g_variant_lookup (dict, "healthy", "b", &healthy);
    g_variant_lookup (dict, "available", "b", &available);
    rtt_text = rtt >= 0 ? g_strdup_printf ("%.1fms", rtt) : g_strdup ("-");
    if (selected)
      g_string_append (status, _("selected"));
    if (!available)
      g_string_append_printf (status, "%s%s", status->len ? ", " : "", _("unavailable"));
    if (!healthy)
      g_string_append_printf (status, "%s%s", status->len ? ", " : "", _("unhealthy"));
    g_print ("%-18s %-12s %-7s %6.2f %5.2f %8s %s\n", dict_string (dict, "service"), peer_short,
             dict_string (dict, "kind"), score, load, rtt_text, status->len ? status->str : "-");
    g_variant_unref (dict);
  }
  return 0;
}

static gint
compare_peers (gconstpointer a, gconstpointer b)
{
  PlexusDBusPeer *pa = *(PlexusDBusPeer * const *) a;
  PlexusDBusPeer *pb = *(PlexusDBusPeer * const *) b;

  return g_strcmp0 (plexus_dbus_peer_get_peer_id (pa), plexus_dbus_peer_get_peer_id (pb));
}

/* The linked peers, sorted by peer ID: one object each under /Peers. */
static GPtrArray *
list_peers (PlexusCtl *ctl, GError **error)
{
  g_autoptr(GDBusObjectManager) manager = NULL;
  g_autolist(GDBusObject) objects = NULL;
  GPtrArray *peers;

  manager = plexus_dbus_object_manager_client_new_sync (ctl->connection,
                                                        G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                        PLEXUS_DBUS_NAME, PLEXUS_DBUS_PATH,
                                                        NULL, error);
  if (manager == NULL)
    return NULL;
  peers = g_ptr_array_new_with_free_func (g_object_unref);
  objects = g_dbus_object_manager_get_objects (manager);
  for (GList *l = objects; l != NULL; l = l->next) {
    PlexusDBusPeer *peer = plexus_dbus_object_get_peer (PLEXUS_DBUS_OBJECT (l->data));

    if (peer != NULL)
      g_ptr_array_add (peers, peer);
  }
  g_ptr_array_sort (peers, compare_peers);
  return peers;
}

static gchar *
format_since (gint64 since_usec)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (since_usec / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = NULL;

  if (utc == NULL)
    return g_strdup ("-");
  local = g_date_time_to_local (utc);
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

static int
cmd_peers (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) peers = NULL;

  if (args[0] != NULL) {
    g_printerr (_("plexusctl: peers takes no arguments\n"));
    return 1;
  }
  peers = list_peers (ctl, &error);
  if (peers == NULL) {
    print_error (_("cannot list peers"), error);
    return 1;
  }

  if (ctl->json) {
    g_autoptr(JsonBuilder) b = json_builder_new ();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_array (b);
    for (guint i = 0; i < peers->len; i++) {
      PlexusDBusPeer *peer = g_ptr_array_index (peers, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "peer_id");
      json_builder_add_string_value (b, plexus_dbus_peer_get_peer_id (peer));
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, plexus_dbus_peer_get_address (peer));
      /* What a peer advertises about itself comes with gossip (plugins/gossip). */
      json_builder_set_member_name (b, "roles");
      add_string_array (b, plexus_dbus_peer_get_roles (peer));
      json_builder_set_member_name (b, "linked");
      json_builder_add_boolean_value (b, plexus_dbus_peer_get_linked (peer));
      json_builder_set_member_name (b, "region");
      json_builder_add_string_value (b, or_empty (plexus_dbus_peer_get_region (peer)));
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, plexus_dbus_peer_get_state (peer));
      json_builder_set_member_name (b, "direction");
      json_builder_add_string_value (b, plexus_dbus_peer_get_direction (peer));
      json_builder_set_member_name (b, "rtt_ms");
      json_builder_add_double_value (b, plexus_dbus_peer_get_rtt_ms (peer));
      json_builder_set_member_name (b, "bytes_in");
      json_builder_add_int_value (b, (gint64) plexus_dbus_peer_get_bytes_in (peer));
      json_builder_set_member_name (b, "bytes_out");
      json_builder_add_int_value (b, (gint64) plexus_dbus_peer_get_bytes_out (peer));
      json_builder_set_member_name (b, "since");
      json_builder_add_int_value (b, plexus_dbus_peer_get_since (peer));
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
    root = json_builder_get_root (b);
    print_json (root);
    return 0;
  }

  if (peers->len == 0) {
    g_print (_("No peers.\n"));
    return 0;
  }
  g_print ("%-16s %-16s %-9s %-22s %-7s %8s %10s %10s %s\n", _("PEER"), _("ROLES"), _("DIRECTION"),
           _("ADDRESS"), _("STATE"), _("RTT"), _("IN"), _("OUT"), _("SINCE"));
  for (guint i = 0; i < peers->len; i++) {
    PlexusDBusPeer *peer = g_ptr_array_index (peers, i);
    gdouble rtt = plexus_dbus_peer_get_rtt_ms (peer);
    g_autofree gchar *peer_short = g_strndup (plexus_dbus_peer_get_peer_id (peer), 16);
    g_autofree gchar *rtt_text = rtt >= 0 ? g_strdup_printf ("%.1fms", rtt) : g_strdup ("-");
    g_autofree gchar *in_text = g_format_size (plexus_dbus_peer_get_bytes_in (peer));
    g_autofree gchar *out_text = g_format_size (plexus_dbus_peer_get_bytes_out (peer));
    g_autofree gchar *since_text = plexus_dbus_peer_get_linked (peer)
                                   ? format_since (plexus_dbus_peer_get_since (peer)) : g_strdup ("-");
    g_autofree gchar *roles_text = join_strv (plexus_dbus_peer_get_roles (peer));

    g_print ("%-16s %-16s %-9s %-22s %-7s %8s %10s %10s %s\n", peer_short, roles_text,
             or_dash (plexus_dbus_peer_get_direction (peer)), or_dash (plexus_dbus_peer_get_address (peer)),
             or_dash (plexus_dbus_peer_get_state (peer)), rtt_text, in_text, out_text, since_text);
  }
  return 0;
}

static int
cmd_ping (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(GError) error = NULL;
  gdouble rtt_ms = 0;
  guint hops = 0;

  if (args[0] == NULL || args[1] != NULL) {
    g_printerr (_("plexusctl: ping takes one PEER (a peer ID)\n"));
    return 1;
  }
  if (!plexus_dbus_manager_call_ping_sync (ctl->manager, args[0], &rtt_ms, &hops, NULL, &error)) {
    print_error (_("ping failed"), error);
    return 1;
  }
  if (ctl->json) {
    g_autoptr(JsonBuilder) builder = json_builder_new ();
    g_autoptr(JsonNode) node = NULL;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "peer_id");
    json_builder_add_string_value (builder, args[0]);
    json_builder_set_member_name (builder, "rtt_ms");
    json_builder_add_double_value (builder, rtt_ms);
    json_builder_set_member_name (builder, "hops");
    json_builder_add_int_value (builder, hops);
    json_builder_end_object (builder);
    node = json_builder_get_root (builder);
    print_json (node);
    return 0;
  }
  g_print (g_dngettext (GETTEXT_PACKAGE, "pong from %s in %.1f ms, %u hop\n",
                        "pong from %s in %.1f ms, %u hops\n", hops),
           args[0], rtt_ms, hops);
  return 0;
}

static int
cmd_locate (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) attached_to = NULL;
  g_autofree gchar *capabilities = NULL;

  if (args[0] == NULL || args[1] != NULL) {
    g_printerr (_("plexusctl: locate takes one PEER (a peer ID)\n"));
    return 1;
  }
  if (!plexus_dbus_manager_call_locate_sync (ctl->manager, args[0], &attached_to, &capabilities, NULL, &error)) {
    print_error (_("cannot locate the peer"), error);
    return 1;
  }
  if (ctl->json) {
    g_autoptr(JsonBuilder) builder = json_builder_new ();
    g_autoptr(JsonNode) node = NULL;
    g_autoptr(JsonParser) parser = json_parser_new ();

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "peer_id");
    json_builder_add_string_value (builder, args[0]);
    json_builder_set_member_name (builder, "attached_to");
    json_builder_begin_array (builder);
    for (guint i = 0; attached_to[i] != NULL; i++)
      json_builder_add_string_value (builder, attached_to[i]);
    json_builder_end_array (builder);
    json_builder_set_member_name (builder, "capabilities");
    if (json_parser_load_from_data (parser, capabilities, -1, NULL))
      json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
    else
      json_builder_add_null_value (builder);
    json_builder_end_object (builder);
    node = json_builder_get_root (builder);
    print_json (node);
    return 0;
  }
  if (attached_to[0] == NULL) {
    g_print (_("%s is a member of the group\n"), args[0]);
    return 0;
  }
  g_print (_("%s is attached to:\n"), args[0]);
  for (guint i = 0; attached_to[i] != NULL; i++)
    g_print ("  %s\n", attached_to[i]);
  return 0;
}

/* ---- send and monitor ---- */

/* What plexusctl send waits for: the outcome of its own message. Events
 * may come before Send returns the ID, so all are kept until then. */
typedef struct {
  GMainLoop  *loop;
  gchar      *id;         /* once Send returned */
  GHashTable *outcomes;   /* message ID → GVariant (path, relay, latency) or error string */
  gboolean    delivered;
  gchar      *text;
  GVariant   *result;
} SendWait;

static void
send_wait_check (SendWait *wait)
{
  GVariant *outcome;

  if (wait->id == NULL || (outcome = g_hash_table_lookup (wait->outcomes, wait->id)) == NULL)
    return;
  wait->result = g_variant_ref (outcome);
  g_main_loop_quit (wait->loop);
}

static void
on_send_delivered (PlexusDBusMessaging *proxy, const gchar *id, const gchar *peer_id, const gchar *path,
                   const gchar *relay, gdouble latency_ms, SendWait *wait)
{
  g_hash_table_replace (wait->outcomes, g_strdup (id),
                        g_variant_ref_sink (g_variant_new ("(bsssd)", TRUE, path, relay, "", latency_ms)));
  send_wait_check (wait);
}

static void
on_send_failed (PlexusDBusMessaging *proxy, const gchar *id, const gchar *peer_id, const gchar *error_name,
                const gchar *reason, SendWait *wait)
{
  g_hash_table_replace (wait->outcomes, g_strdup (id),
                        g_variant_ref_sink (g_variant_new ("(bsssd)", FALSE, error_name, "", reason, 0.0)));
  send_wait_check (wait);
}

static gboolean
on_send_timeout (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static PlexusDBusMessaging *
messaging_proxy (PlexusCtl *ctl)
{
  g_autoptr(GError) error = NULL;
  PlexusDBusMessaging *proxy;

  proxy = plexus_dbus_messaging_proxy_new_sync (ctl->connection,
                                                G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START |
                                                G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES,
                                                PLEXUS_DBUS_NAME, PLEXUS_DBUS_PATH "/Messaging", NULL, &error);
  if (proxy == NULL)
    print_error (_("cannot reach plexusd"), error);
  return proxy;
}

static int
cmd_send (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(PlexusDBusMessaging) proxy = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  SendWait wait = { 0, };
  const gchar *mode = NULL;
  gboolean delivered;
  const gchar *path, *relay, *reason;
  gdouble latency_ms;
  int status = 1;

  if (args[0] != NULL && g_str_has_prefix (args[0], "--mode=")) {
    mode = args[0] + strlen ("--mode=");
    args++;
  }
  if (args[0] == NULL || args[1] == NULL || args[2] != NULL) {
    g_printerr (_("plexusctl: send takes [--mode=MODE] PEER TEXT\n"));
    return 1;
  }
  if ((proxy = messaging_proxy (ctl)) == NULL)
    return 1;
  if (mode != NULL)
    g_variant_builder_add (&options, "{sv}", "mode", g_variant_new_string (mode));
  wait.loop = g_main_loop_new (NULL, FALSE);
  wait.outcomes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
  g_signal_connect (proxy, "delivered", G_CALLBACK (on_send_delivered), &wait);
  g_signal_connect (proxy, "failed", G_CALLBACK (on_send_failed), &wait);
  if (!plexus_dbus_messaging_call_send_sync (proxy, args[0],
                                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, args[1], strlen (args[1]), 1),
                                             g_variant_builder_end (&options), &wait.id, NULL, &error)) {
    print_error (_("cannot send"), error);
    goto out;
  }
  send_wait_check (&wait);
  if (wait.result == NULL) {
    /* Beyond the daemon's own 15 s deadline, which always answers first. */
    guint timeout_id = g_timeout_add_seconds (20, on_send_timeout, wait.loop);

    g_main_loop_run (wait.loop);
    if (wait.result != NULL)
      g_source_remove (timeout_id);
  }
  if (wait.result == NULL) {
    g_printerr (_("plexusctl: no word on message %s from plexusd\n"), wait.id);
    goto out;
  }
  g_variant_get (wait.result, "(b&s&s&sd)", &delivered, &path, &relay, &reason, &latency_ms);
  if (ctl->json) {
    g_autoptr(JsonBuilder) builder = json_builder_new ();
    g_autoptr(JsonNode) node = NULL;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "id");
    json_builder_add_string_value (builder, wait.id);
    json_builder_set_member_name (builder, "delivered");
    json_builder_add_boolean_value (builder, delivered);
    if (delivered) {
      json_builder_set_member_name (builder, "path");
      json_builder_add_string_value (builder, path);
      json_builder_set_member_name (builder, "relay");
      json_builder_add_string_value (builder, relay);
      json_builder_set_member_name (builder, "latency_ms");
      json_builder_add_double_value (builder, latency_ms);
    } else {
      json_builder_set_member_name (builder, "error_name");
      json_builder_add_string_value (builder, path);
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, reason);
    }
    json_builder_end_object (builder);
    node = json_builder_get_root (builder);
    print_json (node);
  } else if (delivered) {
    g_print (_("message %s delivered by the %s path (%s) in %.1f ms\n"), wait.id, path, relay, latency_ms);
  }
  if (!delivered)
    g_printerr (_("plexusctl: message %s failed (%s): %s\n"), wait.id, path, reason);
  status = delivered ? 0 : 1;
out:
  g_signal_handlers_disconnect_by_data (proxy, &wait);
  g_clear_pointer (&wait.result, g_variant_unref);
  g_hash_table_unref (wait.outcomes);
  g_main_loop_unref (wait.loop);
  g_free (wait.id);
  return status;
}

/* One event of plexusctl monitor: a line of text, or one JSON object per
 * line with --json. */
static void
monitor_print (PlexusCtl *ctl, const gchar *event, ...)
{
  va_list args;
  const gchar *key;

  va_start (args, event);
  if (ctl->json) {
    g_autoptr(JsonBuilder) builder = json_builder_new ();
    g_autoptr(JsonGenerator) generator = json_generator_new ();
    g_autoptr(JsonNode) node = NULL;
    g_autofree gchar *text = NULL;

    json_builder_begin_object (builder);
    json_builder_set_member_name (builder, "event");
    json_builder_add_string_value (builder, event);
    while ((key = va_arg (args, const gchar *)) != NULL) {
      json_builder_set_member_name (builder, key);
      json_builder_add_string_value (builder, va_arg (args, const gchar *));
    }
    json_builder_end_object (builder);
    node = json_builder_get_root (builder);
    json_generator_set_root (generator, node);
    text = json_generator_to_data (generator, NULL);
    g_print ("%s\n", text);
  } else {
    g_autoptr(GString) line = g_string_new (event);

    while ((key = va_arg (args, const gchar *)) != NULL)
      g_string_append_printf (line, " %s=%s", key, va_arg (args, const gchar *));
    g_print ("%s\n", line->str);
  }
  va_end (args);
}

static void
on_monitor_delivered (PlexusDBusMessaging *proxy, const gchar *id, const gchar *peer_id, const gchar *path,
                      const gchar *relay, gdouble latency_ms, PlexusCtl *ctl)
{
  g_autofree gchar *latency = g_strdup_printf ("%.1f", latency_ms);

  monitor_print (ctl, "delivered", "id", id, "peer_id", peer_id, "path", path, "relay", relay, "latency_ms", latency,
                 NULL);
}

static void
on_monitor_failed (PlexusDBusMessaging *proxy, const gchar *id, const gchar *peer_id, const gchar *error_name,
                   const gchar *reason, PlexusCtl *ctl)
{
  monitor_print (ctl, "failed", "id", id, "peer_id", peer_id, "error_name", error_name, "error", reason, NULL);
}

static void
on_monitor_path_failed (PlexusDBusMessaging *proxy, const gchar *id, const gchar *peer_id, const gchar *path,
                        const gchar *relay, const gchar *reason, PlexusCtl *ctl)
{
  monitor_print (ctl, "failover", "id", id, "peer_id", peer_id, "path", path, "relay", relay, "reason", reason, NULL);
}

static void
on_monitor_received (PlexusDBusMessaging *proxy, const gchar *from, GVariant *payload, const gchar *id,
                     PlexusCtl *ctl)
{
  gsize length;
  const gchar *data = g_variant_get_fixed_array (payload, &length, 1);
  g_autofree gchar *text = length > 0 ? g_utf8_make_valid (data, (gssize) length) : g_strdup ("");

  monitor_print (ctl, "received", "id", id, "from", from, "payload", text, NULL);
}

static void
on_monitor_broker_signal (GDBusProxy *proxy, const gchar *sender, const gchar *signal_name, GVariant *parameters,
                          PlexusCtl *ctl)
{
  g_autofree gchar *text = g_variant_print (parameters, FALSE);

  monitor_print (ctl, "broker", "signal", signal_name, "args", text, NULL);
}

static void
on_monitor_manager_signal (GDBusProxy *proxy, const gchar *sender, const gchar *signal_name, GVariant *parameters,
                           PlexusCtl *ctl)
{
  g_autofree gchar *text = g_variant_print (parameters, FALSE);

  monitor_print (ctl, "link", "signal", signal_name, "args", text, NULL);
}

static gboolean
on_monitor_stop (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static int
cmd_monitor (PlexusCtl *ctl, gchar **args)
{
  g_autoptr(PlexusDBusMessaging) proxy = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint seconds = 0;

  if (args[0] != NULL && g_str_has_prefix (args[0], "--seconds=")) {
    guint64 value;

    if (!g_ascii_string_to_unsigned (args[0] + strlen ("--seconds="), 10, 1, G_MAXUINT, &value, NULL)) {
      g_printerr (_("plexusctl: --seconds takes a whole number of seconds, 1 or more\n"));
      return 1;
    }
    seconds = (guint) value;
    args++;
  }
  if (args[0] != NULL) {
    g_printerr (_("plexusctl: monitor takes [--seconds=N]\n"));
    return 1;
  }
  if ((proxy = messaging_proxy (ctl)) == NULL)
    return 1;
  loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (proxy, "delivered", G_CALLBACK (on_monitor_delivered), ctl);
  g_signal_connect (proxy, "failed", G_CALLBACK (on_monitor_failed), ctl);
  g_signal_connect (proxy, "path-failed", G_CALLBACK (on_monitor_path_failed), ctl);
  g_signal_connect (proxy, "received", G_CALLBACK (on_monitor_received), ctl);
  g_signal_connect (ctl->broker, "g-signal", G_CALLBACK (on_monitor_broker_signal), ctl);
  g_signal_connect (ctl->manager, "g-signal", G_CALLBACK (on_monitor_manager_signal), ctl);
  g_unix_signal_add (SIGINT, on_monitor_stop, loop);
  g_unix_signal_add (SIGTERM, on_monitor_stop, loop);
  if (seconds > 0)
    g_timeout_add_seconds (seconds, on_monitor_stop, loop);
  /* Tells a script that the subscriptions are in place. */
  monitor_print (ctl, "monitoring", NULL);
  g_main_loop_run (loop);
  g_signal_handlers_disconnect_by_data (ctl->broker, ctl);
  g_signal_handlers_disconnect_by_data (ctl->manager, ctl);
  return 0;
}

typedef struct {
  const gchar *name;
  const gchar *args;
  const gchar *help;
  int (*func) (PlexusCtl *ctl, gchar **args);
} PlexusCtlCommand;

static const PlexusCtlCommand commands[] = {
  { "status", "", N_("Show this node: peer ID, version, mode, roles, state, address"), cmd_status },
  { "plugins", "", N_("List plugins and whether they loaded"), cmd_plugins },
  { "providers", "[SERVICE]", N_("List service providers the broker knows, best first"), cmd_providers },
  { "peers", "", N_("List the peers this node is linked to"), cmd_peers },
  { "ping", "PEER", N_("Ping a peer over the node links, through neighbours if need be"), cmd_ping },
  { "locate", "PEER", N_("Show which super peers a peer is attached to, as the gossip says"), cmd_locate },
  { "send", "[--mode=MODE] PEER TEXT", N_("Send a message, signed and sealed; wait for its delivery"), cmd_send },
  { "monitor", "[--seconds=N]", N_("Print deliveries, failovers, received messages, links and broker events"), cmd_monitor },
};

static gchar *
commands_help (void)
{
  GString *s = g_string_new (_("Commands:"));

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (s, "\n  %-10s %-10s %s", commands[i].name, commands[i].args, _(commands[i].help));
  return g_string_free (s, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *help = NULL;
  PlexusCtl ctl = { 0 };
  gboolean version = FALSE;
  int status = 1;
  const GOptionEntry entries[] = {
    { "json", 'j', 0, G_OPTION_ARG_NONE, &ctl.json, N_("Print one JSON document"), NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  option_context = g_option_context_new (_("COMMAND [ARGS...]"));
  g_option_context_set_summary (option_context, _("Control and inspect the Plexus daemon."));
  help = commands_help ();
  g_option_context_set_description (option_context, help);
  g_option_context_add_main_entries (option_context, entries, GETTEXT_PACKAGE);
  /* Options may come only before the command. */
  g_option_context_set_strict_posix (option_context, TRUE);
  if (!g_option_context_parse (option_context, &argc, &argv, &error)) {
    g_printerr ("plexusctl: %s\n", error->message);
    return 1;
  }
  if (version) {
    g_print ("plexusctl %s\n", PACKAGE_VERSION);
    return 0;
  }
  if (argc < 2) {
    g_printerr (_("plexusctl: no command given\n%s\n"), help);
    return 1;
  }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (g_strcmp0 (argv[1], commands[i].name) != 0)
      continue;
    if (plexusctl_connect (&ctl))
      status = commands[i].func (&ctl, argv + 2);
    g_clear_object (&ctl.broker);
    g_clear_object (&ctl.manager);
    g_clear_object (&ctl.connection);
    return status;
  }
  g_printerr (_("plexusctl: unknown command '%s'\n%s\n"), argv[1], help);
  return 1;
}
