/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* A plugin that speaks to other nodes through the messenger, as a third
 * party would: it handles `echo.say` messages (answering with what it
 * heard and who it is) and, once the daemon is on the bus, exports
 * org.plexus.Test.Echo at /org/plexus/Test/Echo whose Say(peer_id, text)
 * sends `echo.say` to any peer the node reaches and returns the answer. */

#define ECHO_PATH "/org/plexus/Test/Echo"
#define ECHO_TIMEOUT_MS 10000

static const gchar introspection_xml[] =
  "<node>"
  "  <interface name='org.plexus.Test.Echo'>"
  "    <method name='Say'>"
  "      <arg name='peer_id' type='s' direction='in'/>"
  "      <arg name='text' type='s' direction='in'/>"
  "      <arg name='answer' type='s' direction='out'/>"
  "      <arg name='from' type='s' direction='out'/>"
  "    </method>"
  "  </interface>"
  "</node>";

struct _EchoPlugin {
  PlexusPlugin     parent_instance;

  PlexusMessenger *messenger;
  GDBusConnection *connection;
  guint            registration_id;
};

G_DECLARE_FINAL_TYPE (EchoPlugin, echo_plugin, ECHO, PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (EchoPlugin, echo_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (EchoPlugin, echo_plugin)

static PlexusEnvelope *
echo_plugin_handle_say (PlexusMessenger *messenger,
                        const gchar     *link_peer_id,
                        PlexusEnvelope  *envelope,
                        gpointer         user_data)
{
  EchoPlugin *self = ECHO_PLUGIN (user_data);
  PlexusContext *context = plexus_plugin_get_context (PLEXUS_PLUGIN (self));
  const gchar *own_id = plexus_identity_get_peer_id (plexus_context_get_identity (context));
  JsonObject *body = plexus_envelope_get_body (envelope);
  JsonNode *text = json_object_get_member (body, "text");
  g_autoptr(JsonObject) answer = json_object_new ();
  g_autofree gchar *heard = NULL;

  if (text == NULL || json_node_get_value_type (text) != G_TYPE_STRING)
    return plexus_envelope_new_error (envelope, own_id, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "an echo.say body needs 'text', a string");
  heard = g_strdup_printf ("heard: %s", json_node_get_string (text));
  json_object_set_string_member (answer, "text", heard);
  return plexus_envelope_new_reply (envelope, "reply", own_id, answer);
}

static void
echo_plugin_on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;

  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, &error);
  if (answer == NULL) {
    g_dbus_method_invocation_return_gerror (invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value (invocation,
                                         g_variant_new ("(ss)",
                                                        json_object_get_string_member_with_default (plexus_envelope_get_body (answer), "text", ""),
                                                        plexus_envelope_get_from (answer)));
}

static void
echo_plugin_method_call (GDBusConnection       *connection,
                         const gchar           *sender,
                         const gchar           *object_path,
                         const gchar           *interface_name,
                         const gchar           *method_name,
                         GVariant              *parameters,
                         GDBusMethodInvocation *invocation,
                         gpointer               user_data)
{
  EchoPlugin *self = ECHO_PLUGIN (user_data);
  g_autoptr(JsonObject) body = json_object_new ();
  const gchar *peer_id;
  const gchar *text;

  g_variant_get (parameters, "(&s&s)", &peer_id, &text);
  if (!plexus_peer_id_is_valid (peer_id)) {
    g_dbus_method_invocation_return_error (invocation, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                                           "'%s' is not a peer ID", peer_id);
    return;
  }
  json_object_set_string_member (body, "text", text);
  plexus_messenger_request_async (self->messenger, peer_id, "echo.say", body, ECHO_TIMEOUT_MS,
                                  NULL, echo_plugin_on_answer, g_object_ref (invocation));
}

static const GDBusInterfaceVTable vtable = { echo_plugin_method_call, NULL, NULL };

static void
echo_plugin_on_connection (PlexusContext *context, GParamSpec *pspec, EchoPlugin *self)
{
  GDBusConnection *connection = plexus_context_get_connection (context);
  g_autoptr(GDBusNodeInfo) node = NULL;
  g_autoptr(GError) error = NULL;

  if (connection == NULL || self->registration_id != 0)
    return;
  node = g_dbus_node_info_new_for_xml (introspection_xml, &error);
  g_assert_no_error (error);
  self->registration_id = g_dbus_connection_register_object (connection, ECHO_PATH,
                                                             node->interfaces[0], &vtable,
                                                             self, NULL, &error);
  if (self->registration_id == 0) {
    g_warning ("cannot export %s: %s", ECHO_PATH, error->message);
    return;
  }
  self->connection = g_object_ref (connection);
}

static gboolean
echo_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  EchoPlugin *self = ECHO_PLUGIN (plugin);
  PlexusContext *context = plexus_plugin_get_context (plugin);
  PlexusMessenger *messenger = plexus_context_get_messenger (context);

  if (messenger == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, "the node does not run");
    return FALSE;
  }
  /* The handler's data is the plugin; shutdown unregisters it first. */
  if (!plexus_messenger_register_handler (messenger, "echo.say", echo_plugin_handle_say,
                                          self, NULL, error))
    return FALSE;
  self->messenger = g_object_ref (messenger);
  g_signal_connect_object (context, "notify::connection",
                           G_CALLBACK (echo_plugin_on_connection), self, 0);
  echo_plugin_on_connection (context, NULL, self);
  return TRUE;
}

static void
echo_plugin_shutdown (PlexusPlugin *plugin)
{
  EchoPlugin *self = ECHO_PLUGIN (plugin);

  if (self->messenger != NULL)
    plexus_messenger_unregister_handler (self->messenger, "echo.say");
  g_clear_object (&self->messenger);
  if (self->registration_id != 0)
    g_dbus_connection_unregister_object (self->connection, self->registration_id);
  self->registration_id = 0;
  g_clear_object (&self->connection);
}

static void
echo_plugin_finalize (GObject *object)
{
  EchoPlugin *self = ECHO_PLUGIN (object);

  g_clear_object (&self->messenger);
  g_clear_object (&self->connection);
  G_OBJECT_CLASS (echo_plugin_parent_class)->finalize (object);
}

static void
echo_plugin_class_init (EchoPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  PlexusPluginClass *plugin_class = PLEXUS_PLUGIN_CLASS (klass);

  object_class->finalize = echo_plugin_finalize;
  plugin_class->setup = echo_plugin_setup;
  plugin_class->shutdown = echo_plugin_shutdown;
}

static void
echo_plugin_init (EchoPlugin *self)
{
}
