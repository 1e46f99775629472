/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

/* A hostile super peer for tests/test-signaling.c: it offers `signaling`
 * and takes `signal.relay` on like a relay (silently), but, by
 * `[evil-relay] mode`:
 *   tamper  alters one character of the sealed signal before delivering it;
 *   drop    throws the signal away;
 *   replay  delivers the signal twice;
 *   hold    throws the signal away and answers that it holds it, as only
 *           the server may.
 * It claims a capacity of 1000 to be tried first.
 * With mode `off` (the default) it does nothing, so every node of a test
 * may load it. Never installed. */

struct _EvilRelayPlugin {
  PlexusPlugin     parent_instance;

  PlexusMessenger *messenger;
  gchar           *mode;
};

G_DECLARE_FINAL_TYPE (EvilRelayPlugin, evil_relay_plugin, EVIL, RELAY_PLUGIN, PlexusPlugin)
G_DEFINE_TYPE (EvilRelayPlugin, evil_relay_plugin, PLEXUS_TYPE_PLUGIN)
PLEXUS_PLUGIN_DEFINE (EvilRelayPlugin, evil_relay_plugin)

static const gchar *
own_peer_id (EvilRelayPlugin *self)
{
  return plexus_identity_get_peer_id (plexus_context_get_identity (plexus_plugin_get_context (PLEXUS_PLUGIN (self))));
}

static void
deliver (EvilRelayPlugin *self, const gchar *to, const gchar *id, GBytes *sealed, const gchar *label)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) envelope = NULL;

  json_object_set_string_member (body, "id", id);
  json_object_set_string_member (body, "path", label);
  json_object_set_string_member (body, "relay", own_peer_id (self));
  envelope = plexus_envelope_new ("signal.deliver", own_peer_id (self), to, body);
  plexus_envelope_set_attachment (envelope, sealed);
  plexus_messenger_send_async (self->messenger, envelope, NULL, NULL, NULL);
}

static PlexusEnvelope *
on_relay (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  EvilRelayPlugin *self = user_data;
  JsonObject *body = plexus_envelope_get_body (envelope);
  const gchar *to = json_object_get_string_member_with_default (body, "to", "");
  const gchar *id = json_object_get_string_member_with_default (body, "id", "");
  GBytes *sealed = plexus_envelope_get_attachment (envelope);
  const gchar *label = json_object_get_string_member_with_default (body, "path", "");
  if (sealed == NULL)
    return NULL;
  if (g_str_equal (self->mode, "tamper") && g_bytes_get_size (sealed) > 8) {
    gsize length;
    guint8 *altered = g_bytes_unref_to_data (g_bytes_ref (sealed), &length);
    g_autoptr(GBytes) altered_bytes = NULL;

    /* Still base64, no longer what was sealed. */
    altered[length / 2] = altered[length / 2] == 'A' ? 'B' : 'A';
    altered_bytes = g_bytes_new_take (altered, length);
    g_message ("tampering with signal %s for %s", id, to);
    deliver (self, to, id, altered_bytes, label);
  } else if (g_str_equal (self->mode, "drop")) {
    g_message ("dropping signal %s for %s", id, to);
  } else if (g_str_equal (self->mode, "hold")) {
    g_autoptr(JsonObject) answer = json_object_new ();

    g_message ("dropping signal %s for %s, saying it is held", id, to);
    json_object_set_string_member (answer, "status", "held");
    return plexus_envelope_new_reply (envelope, "signal.relay", own_peer_id (self), answer);
  } else if (g_str_equal (self->mode, "replay")) {
    g_message ("delivering signal %s for %s twice", id, to);
    deliver (self, to, id, sealed, label);
    deliver (self, to, id, sealed, label);
  } else {
    deliver (self, to, id, sealed, label);
  }
  return NULL;
}

static gboolean
evil_relay_plugin_setup (PlexusPlugin *plugin, GError **error)
{
  EvilRelayPlugin *self = (EvilRelayPlugin *) plugin;
  PlexusContext *context = plexus_plugin_get_context (plugin);
  /* It claims a large capacity, as a relay out for traffic would, so that
   * senders try it before an honest super peer. */
  PlexusServiceCapability signaling = { TRUE, 0.0, 1000, -1 };

  self->mode = plexus_config_get_string (plexus_context_get_config (context), "evil-relay", "mode");
  if (self->mode == NULL || self->mode[0] == '\0' || g_str_equal (self->mode, "off") ||
      (plexus_context_get_roles (context) & PLEXUS_ROLE_SUPER) == 0 || plexus_context_get_messenger (context) == NULL)
    return TRUE;
  if (!plexus_messenger_register_handler (plexus_context_get_messenger (context), "signal.relay", on_relay, self,
                                          NULL, error))
    return FALSE;
  self->messenger = g_object_ref (plexus_context_get_messenger (context));
  plexus_capabilities_set_service (plexus_context_get_capabilities (context), "signaling", &signaling);
  g_message ("relaying signals badly: %s", self->mode);
  return TRUE;
}

static void
evil_relay_plugin_shutdown (PlexusPlugin *plugin)
{
  EvilRelayPlugin *self = (EvilRelayPlugin *) plugin;

  if (self->messenger == NULL)
    return;
  plexus_messenger_unregister_handler (self->messenger, "signal.relay");
  g_clear_object (&self->messenger);
}

static void
evil_relay_plugin_finalize (GObject *object)
{
  EvilRelayPlugin *self = (EvilRelayPlugin *) object;

  g_clear_object (&self->messenger);
  g_free (self->mode);
  G_OBJECT_CLASS (evil_relay_plugin_parent_class)->finalize (object);
}

static void
evil_relay_plugin_class_init (EvilRelayPluginClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = evil_relay_plugin_finalize;
  PLEXUS_PLUGIN_CLASS (klass)->setup = evil_relay_plugin_setup;
  PLEXUS_PLUGIN_CLASS (klass)->shutdown = evil_relay_plugin_shutdown;
}

static void
evil_relay_plugin_init (EvilRelayPlugin *self)
{
}
