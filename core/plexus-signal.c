/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sodium.h>
#include <json-glib/json-glib.h>

#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-json.h"
#include "plexus-signal.h"

/* A signaling message or acknowledgement as it crosses relays
 * (doc/protocol.md, "Signaling"):
 *
 *   sealed = base64 (sealed box to `to` of the inner document)
 *   inner  = {"v": 1, "kind": "message"|"ack", "from": PEER_ID, "to": PEER_ID,
 *             "id": ID, "ts": MS, "payload": BASE64 (messages only),
 *             "sig": BASE64}
 *
 * `sig` is the sender's Ed25519 signature over
 *
 *   "plexus-signal-v1\n" kind "\n" from "\n" to "\n" id "\n" ts "\n" payload
 *
 * (payload as its base64 text, empty for an ack). Signing inside the box
 * keeps the sender's identity from the relays; naming `to` inside the
 * signature keeps a recipient from passing a message on as if it had been
 * sent to someone else. */

#define SIGNATURE_CONTEXT "plexus-signal-v1"
/* Base64 of the largest sealed inner document, with room to spare. */
#define MAX_SEALED_LENGTH 32768

PlexusSignal *
plexus_signal_new (PlexusSignalKind kind, const gchar *from, const gchar *to, const gchar *id,
                   gint64 timestamp_ms, GBytes *payload)
{
  PlexusSignal *signal = g_new0 (PlexusSignal, 1);

  signal->kind = kind;
  signal->from = g_strdup (from);
  signal->to = g_strdup (to);
  signal->id = g_strdup (id);
  signal->timestamp_ms = timestamp_ms;
  signal->payload = payload != NULL ? g_bytes_ref (payload) : NULL;
  return signal;
}

void
plexus_signal_free (PlexusSignal *signal)
{
  if (signal == NULL)
    return;
  g_free (signal->from);
  g_free (signal->to);
  g_free (signal->id);
  g_clear_pointer (&signal->payload, g_bytes_unref);
  g_free (signal);
}

static const gchar *
kind_to_string (PlexusSignalKind kind)
{
  return kind == PLEXUS_SIGNAL_KIND_ACK ? "ack" : "message";
}

static gchar *
to_base64 (const guint8 *data, gsize length)
{
  gsize size = sodium_base64_ENCODED_LEN (length, sodium_base64_VARIANT_ORIGINAL);
  gchar *text = g_malloc (size);

  sodium_bin2base64 (text, size, data, length, sodium_base64_VARIANT_ORIGINAL);
  return text;
}

/* Strict and canonical standard base64 (GLib's decoder skips what it does
 * not understand). */
static GBytes *
from_base64 (const gchar *text, gsize max_length, const gchar *what, GError **error)
{
  gsize text_length = strlen (text);
  gsize capacity = text_length / 4 * 3 + 3;
  g_autofree guint8 *data = g_malloc (capacity);
  g_autofree gchar *again = NULL;
  const gchar *end = NULL;
  gsize length = 0;

  if (sodium_base642bin (data, capacity, text, text_length, NULL, &length, &end,
                         sodium_base64_VARIANT_ORIGINAL) != 0 || end != text + text_length) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "%s is not base64", what);
    return NULL;
  }
  again = to_base64 (data, length);
  if (strcmp (again, text) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "%s is not canonical base64", what);
    return NULL;
  }
  if (length > max_length) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s has %" G_GSIZE_FORMAT " bytes, at most %" G_GSIZE_FORMAT, what, length, max_length);
    return NULL;
  }
  return g_bytes_new_take (g_steal_pointer (&data), length);
}

static gchar *
signed_text (const gchar *kind, const gchar *from, const gchar *to, const gchar *id, gint64 ts,
             const gchar *payload)
{
  return g_strdup_printf (SIGNATURE_CONTEXT "\n%s\n%s\n%s\n%s\n%" G_GINT64_FORMAT "\n%s",
                          kind, from, to, id, ts, payload != NULL ? payload : "");
}

/**
 * plexus_signal_seal:
 * @signal: what to send; @signal->from must be @sender's peer ID
 * @sender: the sender's identity, which signs
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the sealed form, base64 text, or %NULL with
 *   %PLEXUS_ERROR_INVALID_ARGUMENT when @signal is malformed (peer IDs, ID,
 *   payload too large or where it does not belong)
 */
gchar *
plexus_signal_seal (const PlexusSignal *signal, PlexusIdentity *sender, GError **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *payload = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *signature_text = NULL;
  g_autofree gchar *inner = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autoptr(GBytes) sealed = NULL;
  gsize inner_length;

  g_return_val_if_fail (signal != NULL, NULL);
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (sender), NULL);

  if (g_strcmp0 (signal->from, plexus_identity_get_peer_id (sender)) != 0 || !plexus_peer_id_is_valid (signal->to) ||
      !plexus_envelope_id_is_valid (signal->id)) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                         "a signal needs the sender's own peer ID, a recipient's peer ID and a message ID");
    return NULL;
  }
  if ((signal->kind == PLEXUS_SIGNAL_KIND_MESSAGE) != (signal->payload != NULL)) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                         "a message carries a payload and an acknowledgement none");
    return NULL;
  }
  if (signal->payload != NULL && g_bytes_get_size (signal->payload) > PLEXUS_SIGNAL_MAX_PAYLOAD) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "a payload of %" G_GSIZE_FORMAT " bytes is larger than the %d allowed",
                 g_bytes_get_size (signal->payload), PLEXUS_SIGNAL_MAX_PAYLOAD);
    return NULL;
  }
  if (signal->payload != NULL)
    payload = to_base64 (g_bytes_get_data (signal->payload, NULL), g_bytes_get_size (signal->payload));
  signature_text = signed_text (kind_to_string (signal->kind), signal->from, signal->to, signal->id,
                                signal->timestamp_ms, payload);
  signature = plexus_identity_sign (sender, (const guint8 *) signature_text, strlen (signature_text));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "v");
  json_builder_add_int_value (builder, 1);
  json_builder_set_member_name (builder, "kind");
  json_builder_add_string_value (builder, kind_to_string (signal->kind));
  json_builder_set_member_name (builder, "from");
  json_builder_add_string_value (builder, signal->from);
  json_builder_set_member_name (builder, "to");
  json_builder_add_string_value (builder, signal->to);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, signal->id);
  json_builder_set_member_name (builder, "ts");
  json_builder_add_int_value (builder, signal->timestamp_ms);
  if (payload != NULL) {
    json_builder_set_member_name (builder, "payload");
    json_builder_add_string_value (builder, payload);
  }
  json_builder_set_member_name (builder, "sig");
  text = to_base64 (g_bytes_get_data (signature, NULL), g_bytes_get_size (signature));
  json_builder_add_string_value (builder, text);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  inner = plexus_json_to_string (root, &inner_length);

  sealed = plexus_identity_seal (signal->to, (const guint8 *) inner, inner_length, error);
  if (sealed == NULL)
    return NULL;
  return to_base64 (g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
}

static const gchar *
get_string (JsonObject *object, const gchar *name, GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal's '%s' is missing or not a string", name);
    return NULL;
  }
  return json_node_get_string (node);
}

/**
 * plexus_signal_open:
 * @recipient: the identity the signal is sealed to
 * @sealed: the sealed form, as plexus_signal_seal() wrote it
 * @now_ms: the recipient's wall clock, milliseconds
 * @error: return location for a #GError
 *
 * Opens and checks a signal: sealed to @recipient, addressed to it, signed
 * by the sender it names, made within %PLEXUS_SIGNAL_MAX_AGE_MS before
 * @now_ms and at most %PLEXUS_SIGNAL_MAX_SKEW_MS after.
 *
 * Returns: (transfer full): the signal, or %NULL with
 *   %PLEXUS_ERROR_INVALID_DATA saying what does not hold
 */
PlexusSignal *
plexus_signal_open (PlexusIdentity *recipient, const gchar *sealed, gint64 now_ms, GError **error)
{
  g_autoptr(GBytes) box = NULL;
  g_autoptr(GBytes) inner = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autofree gchar *signature_text = NULL;
  g_autoptr(GError) local_error = NULL;
  static const gchar * const members[] = { "v", "kind", "from", "to", "id", "ts", "payload", "sig", NULL };
  JsonObject *object;
  JsonNode *node;
  const gchar *kind, *from, *to, *id, *sig, *payload_text = NULL;
  PlexusSignalKind signal_kind;
  gint64 ts;
  GList *names;

  g_return_val_if_fail (PLEXUS_IS_IDENTITY (recipient), NULL);
  g_return_val_if_fail (sealed != NULL, NULL);

  if (strlen (sealed) > MAX_SEALED_LENGTH) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "a sealed signal of %" G_GSIZE_FORMAT " characters is longer than the %d allowed",
                 strlen (sealed), MAX_SEALED_LENGTH);
    return NULL;
  }
  box = from_base64 (sealed, MAX_SEALED_LENGTH, "the sealed signal", error);
  if (box == NULL)
    return NULL;
  inner = plexus_identity_open_sealed (recipient, g_bytes_get_data (box, NULL), g_bytes_get_size (box), error);
  if (inner == NULL)
    return NULL;
  root = plexus_json_parse_strict (g_bytes_get_data (inner, NULL), g_bytes_get_size (inner), 4, NULL, &local_error);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the sealed signal holds no JSON object%s%s",
                 local_error != NULL ? ": " : "", local_error != NULL ? local_error->message : "");
    return NULL;
  }
  object = json_node_get_object (root);
  names = json_object_get_members (object);
  for (GList *l = names; l != NULL; l = l->next) {
    if (!g_strv_contains (members, l->data)) {
      g_autofree gchar *quoted = plexus_json_quote (l->data);

      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal has an unknown member %s", quoted);
      g_list_free (names);
      return NULL;
    }
  }
  g_list_free (names);

  node = json_object_get_member (object, "v");
  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64 || json_node_get_int (node) != 1) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal is not of version 1");
    return NULL;
  }
  if ((kind = get_string (object, "kind", error)) == NULL || (from = get_string (object, "from", error)) == NULL ||
      (to = get_string (object, "to", error)) == NULL || (id = get_string (object, "id", error)) == NULL ||
      (sig = get_string (object, "sig", error)) == NULL)
    return NULL;
  if (strcmp (kind, "message") == 0) {
    signal_kind = PLEXUS_SIGNAL_KIND_MESSAGE;
  } else if (strcmp (kind, "ack") == 0) {
    signal_kind = PLEXUS_SIGNAL_KIND_ACK;
  } else {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal's kind is not message or ack");
    return NULL;
  }
  if (!plexus_peer_id_is_valid (from) || !plexus_envelope_id_is_valid (id)) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal's sender or ID is malformed");
    return NULL;
  }
  if (strcmp (to, plexus_identity_get_peer_id (recipient)) != 0) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal is addressed to another node");
    return NULL;
  }
  node = json_object_get_member (object, "ts");
  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal's 'ts' is missing or not an integer");
    return NULL;
  }
  ts = json_node_get_int (node);
  if (ts < now_ms - PLEXUS_SIGNAL_MAX_AGE_MS || ts > now_ms + PLEXUS_SIGNAL_MAX_SKEW_MS) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                         "the signal was made outside the accepted time window (too old, or ahead of this clock)");
    return NULL;
  }
  if (json_object_has_member (object, "payload")) {
    if ((payload_text = get_string (object, "payload", error)) == NULL)
      return NULL;
    payload = from_base64 (payload_text, PLEXUS_SIGNAL_MAX_PAYLOAD, "the signal's payload", error);
    if (payload == NULL)
      return NULL;
  }
  if ((signal_kind == PLEXUS_SIGNAL_KIND_MESSAGE) != (payload != NULL)) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                         "a message carries a payload and an acknowledgement none");
    return NULL;
  }
  signature = from_base64 (sig, PLEXUS_IDENTITY_SIGNATURE_SIZE, "the signal's signature", error);
  if (signature == NULL)
    return NULL;
  signature_text = signed_text (kind, from, to, id, ts, payload_text);
  if (!plexus_identity_verify (from, (const guint8 *) signature_text, strlen (signature_text),
                               g_bytes_get_data (signature, NULL), g_bytes_get_size (signature), &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "the signal is not signed by %s", from);
    return NULL;
  }
  return plexus_signal_new (signal_kind, from, to, id, ts, payload);
}
