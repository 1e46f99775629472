/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-json.h"
#include "plexus-swim-message.h"

/**
 * SECTION:plexus-swim-message
 * @title: PlexusSwimMessage
 * @short_description: the wire form of SWIM membership messages
 *
 * A SWIM message is a JSON object carried as the `body` of a node
 * envelope whose type names the kind (`swim.ping`, ...). Decoding is
 * strict, like the envelope's: unknown members, wrong types, numbers out
 * of range, malformed peer IDs and signatures are errors
 * (%PLEXUS_ERROR_INVALID_DATA) naming what is wrong. Members are written
 * in one order, so decoding then encoding gives the same bytes.
 *
 * plugins/gossip/README.md describes every field.
 */

/* Containers inside a body: body, updates array, update object. */
#define MAX_DEPTH 8
#define SIGNED_DATA_PREFIX "plexus-swim-advertisement-v1\n"

static const gchar * const type_names[PLEXUS_SWIM_MESSAGE_N_TYPES] = {
  "swim.ping", "swim.ack", "swim.ping-req", "swim.nack", "swim.gossip",
  "swim.sync", "swim.sync-reply",
};

static const gchar * const state_names[] = { "alive", "suspect", "dead", "left" };

/**
 * plexus_swim_message_type_to_string:
 * @type: a #PlexusSwimMessageType
 *
 * Returns: the envelope type that carries messages of @type, e.g.
 *   `swim.ping`
 */
const gchar *
plexus_swim_message_type_to_string (PlexusSwimMessageType type)
{
  g_return_val_if_fail ((guint) type < PLEXUS_SWIM_MESSAGE_N_TYPES, NULL);
  return type_names[type];
}

/**
 * plexus_swim_message_type_from_string:
 * @name: an envelope type
 * @type: (out): where to store the kind of message
 *
 * Returns: %TRUE if @name is the type of a SWIM message
 */
gboolean
plexus_swim_message_type_from_string (const gchar *name, PlexusSwimMessageType *type)
{
  for (guint i = 0; i < PLEXUS_SWIM_MESSAGE_N_TYPES; i++) {
    if (g_strcmp0 (name, type_names[i]) == 0) {
      *type = i;
      return TRUE;
    }
  }
  return FALSE;
}

/**
 * plexus_swim_state_to_string:
 * @state: a #PlexusSwimState
 *
 * Returns: the wire name of @state, e.g. `alive`
 */
const gchar *
plexus_swim_state_to_string (PlexusSwimState state)
{
  g_return_val_if_fail ((guint) state < G_N_ELEMENTS (state_names), NULL);
  return state_names[state];
}

/**
 * plexus_swim_update_clear:
 * @update: a #PlexusSwimUpdate
 *
 * Frees what @update holds and zeroes it.
 */
void
plexus_swim_update_clear (PlexusSwimUpdate *update)
{
  g_free (update->capabilities);
  memset (update, 0, sizeof *update);
}

/**
 * plexus_swim_update_copy:
 * @dest: an uninitialised #PlexusSwimUpdate
 * @src: the update to copy
 *
 * Makes @dest a deep copy of @src.
 */
void
plexus_swim_update_copy (PlexusSwimUpdate *dest, const PlexusSwimUpdate *src)
{
  *dest = *src;
  dest->capabilities = g_strdup (src->capabilities);
}

/**
 * plexus_swim_message_new:
 * @type: the kind of message
 *
 * Returns: (transfer full): an empty message of @type
 */
PlexusSwimMessage *
plexus_swim_message_new (PlexusSwimMessageType type)
{
  PlexusSwimMessage *message = g_new0 (PlexusSwimMessage, 1);

  message->type = type;
  message->updates = g_array_new (FALSE, TRUE, sizeof (PlexusSwimUpdate));
  g_array_set_clear_func (message->updates, (GDestroyNotify) plexus_swim_update_clear);
  message->want = g_ptr_array_new_with_free_func (g_free);
  return message;
}

/**
 * plexus_swim_message_free:
 * @message: (nullable): a #PlexusSwimMessage
 *
 * Frees @message.
 */
void
plexus_swim_message_free (PlexusSwimMessage *message)
{
  if (message == NULL)
    return;
  g_array_unref (message->updates);
  g_ptr_array_unref (message->want);
  g_free (message);
}

/**
 * plexus_swim_message_add_update:
 * @message: a #PlexusSwimMessage
 *
 * Appends a zeroed update to @message.
 *
 * Returns: (transfer none): the new update, valid until the next one is
 *   added
 */
PlexusSwimUpdate *
plexus_swim_message_add_update (PlexusSwimMessage *message)
{
  g_array_set_size (message->updates, message->updates->len + 1);
  return &g_array_index (message->updates, PlexusSwimUpdate, message->updates->len - 1);
}

/**
 * plexus_swim_advertisement_signed_data:
 * @peer_id: the advertiser
 * @version: the version of the advertisement
 * @capabilities: the capabilities document, JSON text
 * @length: (out): where to store the length of the data
 *
 * The bytes an advertiser signs: a fixed prefix naming the purpose, the
 * peer ID, the version in decimal, each on a line, then the capabilities
 * text exactly as carried. Nothing is re-encoded, so signer and verifier
 * never disagree on a canonical form.
 *
 * Returns: (transfer full): the data to sign or verify
 */
guint8 *
plexus_swim_advertisement_signed_data (const gchar *peer_id,
                                       guint64      version,
                                       const gchar *capabilities,
                                       gsize       *length)
{
  gchar *data = g_strdup_printf (SIGNED_DATA_PREFIX "%s\n%" G_GUINT64_FORMAT "\n%s",
                                 peer_id, version, capabilities);

  *length = strlen (data);
  return (guint8 *) data;
}

/* Encoding. */

static JsonObject *
update_to_json (const PlexusSwimUpdate *update)
{
  JsonObject *object = json_object_new ();

  if (update->is_advertisement) {
    gchar sig[sodium_base64_ENCODED_LEN (PLEXUS_SWIM_SIGNATURE_SIZE, sodium_base64_VARIANT_ORIGINAL)];

    sodium_bin2base64 (sig, sizeof sig, update->signature, sizeof update->signature,
                       sodium_base64_VARIANT_ORIGINAL);
    json_object_set_string_member (object, "type", "adv");
    json_object_set_string_member (object, "peer", update->peer_id);
    json_object_set_int_member (object, "ver", (gint64) update->version);
    json_object_set_string_member (object, "caps", update->capabilities);
    json_object_set_string_member (object, "sig", sig);
  } else {
    json_object_set_string_member (object, "type", state_names[update->state]);
    json_object_set_string_member (object, "peer", update->peer_id);
    json_object_set_int_member (object, "inc", (gint64) update->incarnation);
    if (update->by[0] != '\0')
      json_object_set_string_member (object, "by", update->by);
    if (update->version > 0)
      json_object_set_int_member (object, "ver", (gint64) update->version);
  }
  return object;
}

/**
 * plexus_swim_update_encoded_size:
 * @update: a #PlexusSwimUpdate
 *
 * Returns: how many bytes @update takes in an encoded message, the comma
 *   before it included
 */
gsize
plexus_swim_update_encoded_size (const PlexusSwimUpdate *update)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree gchar *text = NULL;
  gsize length;

  json_node_take_object (node, update_to_json (update));
  text = plexus_json_to_string (node, &length);
  return length + 1;
}

/**
 * plexus_swim_message_to_json:
 * @message: a #PlexusSwimMessage
 *
 * Builds the body of the envelope that carries @message.
 *
 * Returns: (transfer full): the body
 */
JsonObject *
plexus_swim_message_to_json (const PlexusSwimMessage *message)
{
  JsonObject *body = json_object_new ();
  PlexusSwimMessageType type = message->type;

  if (type == PLEXUS_SWIM_MESSAGE_PING || type == PLEXUS_SWIM_MESSAGE_ACK ||
      type == PLEXUS_SWIM_MESSAGE_PING_REQ || type == PLEXUS_SWIM_MESSAGE_NACK)
    json_object_set_int_member (body, "seq", (gint64) message->seq);
  if (type == PLEXUS_SWIM_MESSAGE_PING_REQ)
    json_object_set_string_member (body, "target", message->target);
  if (type != PLEXUS_SWIM_MESSAGE_NACK &&
      (message->updates->len > 0 || type == PLEXUS_SWIM_MESSAGE_GOSSIP)) {
    JsonArray *updates = json_array_sized_new (message->updates->len);

    for (guint i = 0; i < message->updates->len; i++)
      json_array_add_object_element (updates,
          update_to_json (&g_array_index (message->updates, PlexusSwimUpdate, i)));
    json_object_set_array_member (body, "updates", updates);
  }
  if ((type == PLEXUS_SWIM_MESSAGE_SYNC || type == PLEXUS_SWIM_MESSAGE_SYNC_REPLY) &&
      message->want->len > 0) {
    JsonArray *want = json_array_sized_new (message->want->len);

    for (guint i = 0; i < message->want->len; i++)
      json_array_add_string_element (want, g_ptr_array_index (message->want, i));
    json_object_set_array_member (body, "want", want);
  }
  return body;
}

/**
 * plexus_swim_message_encode:
 * @message: a #PlexusSwimMessage
 * @length: (out) (optional): where to store the length
 *
 * Writes @message as compact JSON text. The engine keeps messages within
 * %PLEXUS_SWIM_MESSAGE_MAX_SIZE.
 *
 * Returns: (transfer full): the encoded body
 */
gchar *
plexus_swim_message_encode (const PlexusSwimMessage *message, gsize *length)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, plexus_swim_message_to_json (message));
  return plexus_json_to_string (node, length);
}

/* Decoding. */

static gboolean
invalid (GError **error, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const gchar *format, ...)
{
  va_list args;
  g_autofree gchar *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "invalid SWIM message: %s", message);
  return FALSE;
}

static gboolean
get_counter (JsonObject *object, const gchar *name, const gchar *path,
             guint64 *value, GError **error)
{
  JsonNode *node = json_object_get_member (object, name);
  gint64 number;

  if (json_node_get_value_type (node) != G_TYPE_INT64)
    return invalid (error, "%s.%s is not an integer", path, name);
  number = json_node_get_int (node);
  if (number < 0 || (guint64) number > PLEXUS_SWIM_MAX_COUNTER)
    return invalid (error, "%s.%s is out of range", path, name);
  *value = (guint64) number;
  return TRUE;
}

static const gchar *
get_string (JsonObject *object, const gchar *name, const gchar *path, GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  if (json_node_get_value_type (node) != G_TYPE_STRING) {
    invalid (error, "%s.%s is not a string", path, name);
    return NULL;
  }
  return json_node_get_string (node);
}

static gboolean
get_peer_id (JsonObject *object, const gchar *name, const gchar *path,
             gchar *peer_id, GError **error)
{
  const gchar *value = get_string (object, name, path, error);

  if (value == NULL)
    return FALSE;
  if (!plexus_peer_id_is_valid (value))
    return invalid (error, "%s.%s is not a peer ID", path, name);
  g_strlcpy (peer_id, value, PLEXUS_SWIM_PEER_ID_LENGTH + 1);
  return TRUE;
}

/* Every member present must be one of @allowed; @required must all be. */
static gboolean
check_members (JsonObject *object, const gchar *path,
               const gchar * const *allowed, const gchar * const *required,
               GError **error)
{
  JsonObjectIter iter;
  const gchar *name;
  JsonNode *value;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &value)) {
    if (!g_strv_contains (allowed, name)) {
      g_autofree gchar *quoted = plexus_json_quote (name);
      return invalid (error, "%s has an unknown member %s", path, quoted);
    }
  }
  for (guint i = 0; required[i] != NULL; i++) {
    if (!json_object_has_member (object, required[i]))
      return invalid (error, "%s lacks the member '%s'", path, required[i]);
  }
  return TRUE;
}

static gboolean
update_from_json (JsonNode *node, guint index, PlexusSwimUpdate *update, GError **error)
{
  static const gchar * const adv_members[] = { "type", "peer", "ver", "caps", "sig", NULL };
  static const gchar * const state_members[] = { "type", "peer", "inc", "by", "ver", NULL };
  static const gchar * const state_required[] = { "type", "peer", "inc", NULL };
  g_autofree gchar *path = g_strdup_printf ("updates[%u]", index);
  JsonObject *object;
  const gchar *type;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, "%s is not an object", path);
  object = json_node_get_object (node);
  if (!json_object_has_member (object, "type"))
    return invalid (error, "%s lacks the member 'type'", path);
  type = get_string (object, "type", path, error);
  if (type == NULL)
    return FALSE;

  if (strcmp (type, "adv") == 0) {
    const gchar *caps, *sig;
    gsize sig_length = 0;
    const gchar *end = NULL;
    gchar again[sodium_base64_ENCODED_LEN (PLEXUS_SWIM_SIGNATURE_SIZE, sodium_base64_VARIANT_ORIGINAL)];

    if (!check_members (object, path, adv_members, adv_members, error))
      return FALSE;
    update->is_advertisement = TRUE;
    if (!get_peer_id (object, "peer", path, update->peer_id, error) ||
        !get_counter (object, "ver", path, &update->version, error))
      return FALSE;
    if (update->version == 0)
      return invalid (error, "%s.ver is 0; versions start at 1", path);
    caps = get_string (object, "caps", path, error);
    if (caps == NULL)
      return FALSE;
    if (strlen (caps) > PLEXUS_SWIM_MAX_CAPABILITIES_SIZE)
      return invalid (error, "%s.caps is longer than %d bytes", path, PLEXUS_SWIM_MAX_CAPABILITIES_SIZE);
    sig = get_string (object, "sig", path, error);
    if (sig == NULL)
      return FALSE;
    /* One spelling per signature, so that re-encoding gives the same text. */
    if (sodium_base642bin (update->signature, sizeof update->signature, sig, strlen (sig),
                           NULL, &sig_length, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sig_length != PLEXUS_SWIM_SIGNATURE_SIZE || *end != '\0')
      return invalid (error, "%s.sig is not a base64 Ed25519 signature", path);
    sodium_bin2base64 (again, sizeof again, update->signature, sizeof update->signature,
                       sodium_base64_VARIANT_ORIGINAL);
    if (strcmp (again, sig) != 0)
      return invalid (error, "%s.sig is not in canonical base64", path);
    update->capabilities = g_strdup (caps);
    return TRUE;
  }

  update->is_advertisement = FALSE;
  for (update->state = 0; update->state < G_N_ELEMENTS (state_names); update->state++) {
    if (strcmp (type, state_names[update->state]) == 0)
      break;
  }
  if (update->state >= G_N_ELEMENTS (state_names)) {
    g_autofree gchar *quoted = plexus_json_quote (type);
    return invalid (error, "%s.type %s is not an update type", path, quoted);
  }
  if (!check_members (object, path, state_members, state_required, error) ||
      !get_peer_id (object, "peer", path, update->peer_id, error) ||
      !get_counter (object, "inc", path, &update->incarnation, error))
    return FALSE;
  if (json_object_has_member (object, "by")) {
    if (update->state != PLEXUS_SWIM_STATE_SUSPECT)
      return invalid (error, "%s.by is only for suspect updates", path);
    if (!get_peer_id (object, "by", path, update->by, error))
      return FALSE;
  }
  if (json_object_has_member (object, "ver")) {
    if (!get_counter (object, "ver", path, &update->version, error))
      return FALSE;
    if (update->version == 0)
      return invalid (error, "%s.ver is 0; leave it out instead", path);
  }
  return TRUE;
}

/**
 * plexus_swim_message_new_from_json:
 * @type: the kind of message, from the envelope type
 * @body: the envelope's body
 * @error: return location for a #GError
 *
 * Reads a SWIM message from an envelope body, strictly.
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 */
PlexusSwimMessage *
plexus_swim_message_new_from_json (PlexusSwimMessageType   type,
                                   JsonObject             *body,
                                   GError                **error)
{
  static const gchar * const probe_members[] = { "seq", "updates", NULL };
  static const gchar * const probe_required[] = { "seq", NULL };
  static const gchar * const ping_req_members[] = { "seq", "target", "updates", NULL };
  static const gchar * const ping_req_required[] = { "seq", "target", NULL };
  static const gchar * const nack_members[] = { "seq", NULL };
  static const gchar * const gossip_members[] = { "updates", NULL };
  static const gchar * const sync_members[] = { "updates", "want", NULL };
  static const gchar * const none[] = { NULL };
  g_autoptr(PlexusSwimMessage) message = NULL;
  const gchar * const *allowed, * const *required;
  JsonNode *node;

  g_return_val_if_fail ((guint) type < PLEXUS_SWIM_MESSAGE_N_TYPES, NULL);
  g_return_val_if_fail (body != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  switch (type) {
  case PLEXUS_SWIM_MESSAGE_PING:
  case PLEXUS_SWIM_MESSAGE_ACK:
    allowed = probe_members;
    required = probe_required;
    break;
  case PLEXUS_SWIM_MESSAGE_PING_REQ:
    allowed = ping_req_members;
    required = ping_req_required;
    break;
  case PLEXUS_SWIM_MESSAGE_NACK:
    allowed = nack_members;
    required = nack_members;
    break;
  case PLEXUS_SWIM_MESSAGE_GOSSIP:
    allowed = gossip_members;
    required = gossip_members;
    break;
  case PLEXUS_SWIM_MESSAGE_SYNC:
  case PLEXUS_SWIM_MESSAGE_SYNC_REPLY:
  default:
    allowed = sync_members;
    required = none;
    break;
  }
  if (!check_members (body, type_names[type], allowed, required, error))
    return NULL;

  message = plexus_swim_message_new (type);
  if (json_object_has_member (body, "seq") &&
      !get_counter (body, "seq", "body", &message->seq, error))
    return NULL;
  if (json_object_has_member (body, "target") &&
      !get_peer_id (body, "target", "body", message->target, error))
    return NULL;

  node = json_object_get_member (body, "updates");
  if (node != NULL) {
    JsonArray *array;
    guint n;

    if (!JSON_NODE_HOLDS_ARRAY (node)) {
      invalid (error, "updates is not an array");
      return NULL;
    }
    array = json_node_get_array (node);
    n = json_array_get_length (array);
    /* An empty list is written only by gossip, which always has one. */
    if (n == 0 && type != PLEXUS_SWIM_MESSAGE_GOSSIP) {
      invalid (error, "updates is empty; leave it out instead");
      return NULL;
    }
    if (n > PLEXUS_SWIM_MESSAGE_MAX_UPDATES) {
      invalid (error, "more than %d updates", PLEXUS_SWIM_MESSAGE_MAX_UPDATES);
      return NULL;
    }
    for (guint i = 0; i < n; i++) {
      if (!update_from_json (json_array_get_element (array, i), i,
                             plexus_swim_message_add_update (message), error))
        return NULL;
    }
  }

  node = json_object_get_member (body, "want");
  if (node != NULL) {
    JsonArray *array;
    guint n;

    if (!JSON_NODE_HOLDS_ARRAY (node)) {
      invalid (error, "want is not an array");
      return NULL;
    }
    array = json_node_get_array (node);
    n = json_array_get_length (array);
    if (n == 0) {
      invalid (error, "want is empty; leave it out instead");
      return NULL;
    }
    if (n > PLEXUS_SWIM_MESSAGE_MAX_UPDATES) {
      invalid (error, "more than %d wanted peers", PLEXUS_SWIM_MESSAGE_MAX_UPDATES);
      return NULL;
    }
    for (guint i = 0; i < n; i++) {
      JsonNode *element = json_array_get_element (array, i);
      const gchar *peer_id = json_node_get_value_type (element) == G_TYPE_STRING ?
                             json_node_get_string (element) : NULL;

      if (!plexus_peer_id_is_valid (peer_id)) {
        invalid (error, "want[%u] is not a peer ID", i);
        return NULL;
      }
      g_ptr_array_add (message->want, g_strdup (peer_id));
    }
  }
  return g_steal_pointer (&message);
}

/**
 * plexus_swim_message_decode:
 * @type: the kind of message, from the envelope type
 * @data: (array length=length): the encoded body
 * @length: the length of @data
 * @error: return location for a #GError
 *
 * Reads a SWIM message from its encoded body with the strict JSON reader
 * envelopes use.
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 */
PlexusSwimMessage *
plexus_swim_message_decode (PlexusSwimMessageType   type,
                            const guint8           *data,
                            gsize                   length,
                            GError                **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail ((guint) type < PLEXUS_SWIM_MESSAGE_N_TYPES, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (length > PLEXUS_SWIM_MESSAGE_MAX_SIZE) {
    invalid (error, "%" G_GSIZE_FORMAT " bytes, more than the %d allowed",
             length, PLEXUS_SWIM_MESSAGE_MAX_SIZE);
    return NULL;
  }
  if (length > 0 && memchr (data, '\0', length) != NULL) {
    invalid (error, "the body holds a NUL byte");
    return NULL;
  }
  root = plexus_json_parse_strict ((const gchar *) data, length, MAX_DEPTH, NULL, &local_error);
  if (root == NULL) {
    invalid (error, "%s", local_error->message);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    invalid (error, "the body is not a JSON object");
    return NULL;
  }
  return plexus_swim_message_new_from_json (type, json_node_get_object (root), error);
}
