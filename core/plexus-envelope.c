/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <pthread.h>

#include <math.h>
#include <string.h>

#include <sodium.h>

#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-json.h"

/**
 * SECTION:plexus-envelope
 * @title: PlexusEnvelope
 * @short_description: the envelope of the node protocol
 *
 * Every decrypted frame of a node link carries one envelope: a JSON object
 * that says what the message is (`type`), who sent it to whom (`from`,
 * `to`), how far it may still travel (`ttl`), when it was sent (`ts`),
 * what it answers (`re`) and its content (`body`), optionally followed by
 * a NUL byte and an attachment: bytes that travel beside the JSON, never
 * scanned, escaped or copied into it (a sealed signal that a relay passes
 * on without reading). On links of version 2 the signals a relay passes
 * on travel in a compact binary form instead
 * (%PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS).
 * doc/protocol.md, section "Envelope", is the specification; this is its
 * implementation, without I/O: plexus_envelope_decode_with() turns the
 * bytes of a frame into an envelope, or into an error together with the
 * protocol error code to answer with, and plexus_envelope_encode_with()
 * does the reverse; plexus_envelope_decode() and plexus_envelope_encode()
 * are the same for links of version 1, all JSON.
 *
 * Members are always written in the order
 * `v, type, id, from, to, ttl, ts, re, body`, so an envelope has one
 * encoding, and decoding then encoding an encoding gives it back
 * unchanged.
 *
 * A receiving node decodes, then calls plexus_envelope_check_fresh() before
 * acting on the envelope and plexus_envelope_decrement_ttl() before
 * passing it on to another node.
 */

struct _PlexusEnvelope {
  GObject     parent_instance;

  gchar      *type;
  gchar      *id;
  gchar      *from;
  gchar      *to;     /* "" for the node at the other end of the link */
  guint       ttl;
  gint64      ts;     /* ms since the Unix epoch */
  gchar      *re;     /* nullable */
  JsonObject *body;
  GBytes     *attachment;  /* nullable; never empty */
};

G_DEFINE_FINAL_TYPE (PlexusEnvelope, plexus_envelope, G_TYPE_OBJECT)

static const gchar * const error_codes[] = {
  PLEXUS_ENVELOPE_CODE_BAD_JSON,
  PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
  PLEXUS_ENVELOPE_CODE_TOO_LARGE,
  PLEXUS_ENVELOPE_CODE_UNSUPPORTED_VERSION,
  PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE,
  PLEXUS_ENVELOPE_CODE_EXPIRED,
  PLEXUS_ENVELOPE_CODE_NO_ROUTE,
  PLEXUS_ENVELOPE_CODE_RATE_LIMITED,
  PLEXUS_ENVELOPE_CODE_TIMED_OUT,
  PLEXUS_ENVELOPE_CODE_INTERNAL,
  NULL
};

static void
plexus_envelope_finalize (GObject *object)
{
  PlexusEnvelope *self = PLEXUS_ENVELOPE (object);

  g_free (self->type);
  g_free (self->id);
  g_free (self->from);
  g_free (self->to);
  g_free (self->re);
  g_clear_pointer (&self->body, json_object_unref);
  g_clear_pointer (&self->attachment, g_bytes_unref);

  G_OBJECT_CLASS (plexus_envelope_parent_class)->finalize (object);
}

static void
plexus_envelope_class_init (PlexusEnvelopeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_envelope_finalize;
}

static void
plexus_envelope_init (PlexusEnvelope *self)
{
  self->ttl = PLEXUS_ENVELOPE_DEFAULT_TTL;
  self->body = json_object_new ();
}

/* Syntax checks shared by the setters and the decoder. */

/**
 * plexus_envelope_type_is_valid:
 * @type: (nullable): a message type
 *
 * A message type is 1 to %PLEXUS_ENVELOPE_MAX_TYPE_LENGTH characters: a
 * lower-case ASCII letter, then lower-case letters, digits, '.' and '-',
 * e.g. `ping` or `signaling.offer`.
 *
 * Returns: %TRUE if @type is a well-formed message type
 */
gboolean
plexus_envelope_type_is_valid (const gchar *type)
{
  gsize i;

  if (type == NULL || !g_ascii_islower (type[0]))
    return FALSE;
  for (i = 1; type[i] != '\0'; i++) {
    if (i >= PLEXUS_ENVELOPE_MAX_TYPE_LENGTH)
      return FALSE;
    if (!g_ascii_islower (type[i]) && !g_ascii_isdigit (type[i]) &&
        type[i] != '.' && type[i] != '-')
      return FALSE;
  }
  return TRUE;
}

/**
 * plexus_envelope_id_is_valid:
 * @id: (nullable): a message ID
 *
 * A message ID is 1 to %PLEXUS_ENVELOPE_MAX_ID_LENGTH characters from
 * `A-Z`, `a-z`, `0-9`, `_` and `-` (the URL-safe base64 alphabet).
 *
 * Returns: %TRUE if @id is a well-formed message ID
 */
gboolean
plexus_envelope_id_is_valid (const gchar *id)
{
  gsize i;

  if (id == NULL || id[0] == '\0')
    return FALSE;
  for (i = 0; id[i] != '\0'; i++) {
    if (i >= PLEXUS_ENVELOPE_MAX_ID_LENGTH)
      return FALSE;
    if (!g_ascii_isalnum (id[i]) && id[i] != '_' && id[i] != '-')
      return FALSE;
  }
  return TRUE;
}

static gboolean
is_valid_to (const gchar *to)
{
  return to != NULL && (to[0] == '\0' || plexus_peer_id_is_valid (to));
}

/* A `reply` always names what it answers. An `error` does too, except one
 * answering a frame so broken that its ID could not be read. */
static gboolean
type_needs_re (const gchar *type)
{
  return g_strcmp0 (type, "reply") == 0;
}

/* Random bytes for message IDs are drawn from the system a few hundred at
 * a time: a relay names every envelope it passes on, and one getrandom()
 * per envelope was a tenth of its time. The pool is per thread, and a
 * forked child starts a new one (id_pool_forget()). */
#define ID_BYTES 16
#define ID_POOL_SIZE (32 * ID_BYTES)

static _Thread_local struct {
  guint8 bytes[ID_POOL_SIZE];
  gsize  used;
  gboolean filled;
} id_pool;

/* A child forked from a program that embeds the library must not name
 * its envelopes as its parent does next: it draws a fresh pool. */
static void
id_pool_forget (void)
{
  sodium_memzero (id_pool.bytes, sizeof id_pool.bytes);
  id_pool.filled = FALSE;
}

/* 16 random bytes, URL-safe base64 without padding: 22 characters. */
static gchar *
new_message_id (void)
{
  gchar id[sodium_base64_ENCODED_LEN (ID_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

  static gsize at_fork = 0;

  if (g_once_init_enter (&at_fork)) {
    pthread_atfork (NULL, NULL, id_pool_forget);
    g_once_init_leave (&at_fork, 1);
  }
  if (!id_pool.filled || id_pool.used + ID_BYTES > ID_POOL_SIZE) {
    /* sodium_init() is idempotent; it only fails when the system has no
     * randomness to give, where nothing here could work. */
    if (sodium_init () < 0)
      g_error ("cannot initialise libsodium");
    randombytes_buf (id_pool.bytes, sizeof id_pool.bytes);
    id_pool.used = 0;
    id_pool.filled = TRUE;
  }
  sodium_bin2base64 (id, sizeof id, id_pool.bytes + id_pool.used, ID_BYTES,
                     sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  /* Used bytes do not stay behind in memory. */
  sodium_memzero (id_pool.bytes + id_pool.used, ID_BYTES);
  id_pool.used += ID_BYTES;
  return g_strdup (id);
}

/**
 * plexus_envelope_new:
 * @type: the message type, see plexus_envelope_type_is_valid()
 * @from: the sender's peer ID
 * @to: the addressee's peer ID, or "" for the node at the other end of the
 *   link
 * @body: (nullable): the body; %NULL for an empty one
 *
 * Creates an envelope with a fresh random ID, %PLEXUS_ENVELOPE_DEFAULT_TTL
 * hops and the current wall-clock time. The envelope takes a reference on
 * @body rather than a copy, so later changes to @body show in it.
 *
 * Returns: (transfer full): a new envelope
 */
PlexusEnvelope *
plexus_envelope_new (const gchar *type,
                     const gchar *from,
                     const gchar *to,
                     JsonObject  *body)
{
  PlexusEnvelope *self;

  g_return_val_if_fail (plexus_envelope_type_is_valid (type), NULL);
  g_return_val_if_fail (plexus_peer_id_is_valid (from), NULL);
  g_return_val_if_fail (is_valid_to (to), NULL);

  self = g_object_new (PLEXUS_TYPE_ENVELOPE, NULL);
  self->type = g_strdup (type);
  self->id = new_message_id ();
  self->from = g_strdup (from);
  self->to = g_strdup (to);
  self->ts = g_get_real_time () / 1000;
  if (body != NULL)
    plexus_envelope_set_body (self, body);
  return self;
}

/**
 * plexus_envelope_new_reply:
 * @request: the envelope answered
 * @type: the message type of the answer, usually `reply` or `error`
 * @from: the peer ID of the node answering
 * @body: (nullable): the body; %NULL for an empty one
 *
 * Creates the answer to @request: addressed to its sender, with `re` set
 * to its ID, and otherwise as plexus_envelope_new() makes it.
 *
 * Returns: (transfer full): a new envelope
 */
PlexusEnvelope *
plexus_envelope_new_reply (PlexusEnvelope *request,
                           const gchar    *type,
                           const gchar    *from,
                           JsonObject     *body)
{
  PlexusEnvelope *self;

  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (request), NULL);

  self = plexus_envelope_new (type, from, request->from, body);
  if (self != NULL)
    self->re = g_strdup (request->id);
  return self;
}

/**
 * plexus_envelope_new_error:
 * @request: the envelope answered
 * @from: the peer ID of the node answering
 * @code: a protocol error code, e.g. one of plexus_envelope_error_codes()
 * @message: a human-readable explanation, UTF-8
 *
 * Creates an `error` answer to @request whose body is
 * `{"code": code, "message": message}`. @code has the syntax of a message
 * type (see plexus_envelope_type_is_valid()); receivers treat a code they
 * do not know as `internal`.
 *
 * Returns: (transfer full): a new envelope
 */
PlexusEnvelope *
plexus_envelope_new_error (PlexusEnvelope *request,
                           const gchar    *from,
                           const gchar    *code,
                           const gchar    *message)
{
  g_autoptr(JsonObject) body = NULL;

  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (request), NULL);
  g_return_val_if_fail (plexus_envelope_type_is_valid (code), NULL);
  g_return_val_if_fail (message != NULL && g_utf8_validate (message, -1, NULL), NULL);

  body = json_object_new ();
  json_object_set_string_member (body, "code", code);
  json_object_set_string_member (body, "message", message);
  return plexus_envelope_new_reply (request, "error", from, body);
}

/**
 * plexus_envelope_get_message_type:
 * @self: a #PlexusEnvelope
 *
 * Gets the message type, e.g. `ping`.
 *
 * Returns: the message type (the `type` member)
 */
const gchar *
plexus_envelope_get_message_type (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->type;
}

/**
 * plexus_envelope_set_message_type:
 * @self: a #PlexusEnvelope
 * @type: a message type, see plexus_envelope_type_is_valid()
 *
 * Sets the message type.
 */
void
plexus_envelope_set_message_type (PlexusEnvelope *self, const gchar *type)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (plexus_envelope_type_is_valid (type));

  g_free (self->type);
  self->type = g_strdup (type);
}

/**
 * plexus_envelope_get_id:
 * @self: a #PlexusEnvelope
 *
 * Gets the message ID.
 *
 * Returns: the message ID
 */
const gchar *
plexus_envelope_get_id (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->id;
}

/**
 * plexus_envelope_set_id:
 * @self: a #PlexusEnvelope
 * @id: a message ID, see plexus_envelope_id_is_valid()
 *
 * Sets the message ID. New envelopes already have a random one.
 */
void
plexus_envelope_set_id (PlexusEnvelope *self, const gchar *id)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (plexus_envelope_id_is_valid (id));

  g_free (self->id);
  self->id = g_strdup (id);
}

/**
 * plexus_envelope_get_from:
 * @self: a #PlexusEnvelope
 *
 * Gets the sender.
 *
 * Returns: the sender's peer ID
 */
const gchar *
plexus_envelope_get_from (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->from;
}

/**
 * plexus_envelope_set_from:
 * @self: a #PlexusEnvelope
 * @from: a peer ID
 *
 * Sets the sender's peer ID.
 */
void
plexus_envelope_set_from (PlexusEnvelope *self, const gchar *from)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (plexus_peer_id_is_valid (from));

  g_free (self->from);
  self->from = g_strdup (from);
}

/**
 * plexus_envelope_get_to:
 * @self: a #PlexusEnvelope
 *
 * Gets the addressee.
 *
 * Returns: the addressee's peer ID, or "" for the node at the other end of
 *   the link
 */
const gchar *
plexus_envelope_get_to (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->to;
}

/**
 * plexus_envelope_set_to:
 * @self: a #PlexusEnvelope
 * @to: a peer ID, or "" for the node at the other end of the link
 *
 * Sets the addressee.
 */
void
plexus_envelope_set_to (PlexusEnvelope *self, const gchar *to)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (is_valid_to (to));

  g_free (self->to);
  self->to = g_strdup (to);
}

/**
 * plexus_envelope_get_ttl:
 * @self: a #PlexusEnvelope
 *
 * Gets the hops the envelope may still travel.
 *
 * Returns: how many more hops the envelope may travel
 */
guint
plexus_envelope_get_ttl (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), 0);
  return self->ttl;
}

/**
 * plexus_envelope_set_ttl:
 * @self: a #PlexusEnvelope
 * @ttl: hops left, at most %PLEXUS_ENVELOPE_MAX_TTL
 *
 * Sets how many more hops the envelope may travel.
 */
void
plexus_envelope_set_ttl (PlexusEnvelope *self, guint ttl)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (ttl <= PLEXUS_ENVELOPE_MAX_TTL);

  self->ttl = ttl;
}

/**
 * plexus_envelope_get_ts:
 * @self: a #PlexusEnvelope
 *
 * Gets when the envelope was sent.
 *
 * Returns: when the sender sent the envelope, in milliseconds since the
 *   Unix epoch by its wall clock
 */
gint64
plexus_envelope_get_ts (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), 0);
  return self->ts;
}

/**
 * plexus_envelope_set_ts:
 * @self: a #PlexusEnvelope
 * @ts: milliseconds since the Unix epoch, not negative
 *
 * Sets when the envelope was sent.
 */
void
plexus_envelope_set_ts (PlexusEnvelope *self, gint64 ts)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (ts >= 0);

  self->ts = ts;
}

/**
 * plexus_envelope_get_re:
 * @self: a #PlexusEnvelope
 *
 * Gets the ID of the message this one answers.
 *
 * Returns: (nullable): the ID of the message this one answers
 */
const gchar *
plexus_envelope_get_re (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->re;
}

/**
 * plexus_envelope_set_re:
 * @self: a #PlexusEnvelope
 * @re: (nullable): a message ID, or %NULL for none
 *
 * Sets the ID of the message this one answers. `reply` and `error`
 * envelopes must have one to be encoded.
 */
void
plexus_envelope_set_re (PlexusEnvelope *self, const gchar *re)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));
  g_return_if_fail (re == NULL || plexus_envelope_id_is_valid (re));

  g_free (self->re);
  self->re = g_strdup (re);
}

/**
 * plexus_envelope_get_body:
 * @self: a #PlexusEnvelope
 *
 * Gets the body, which the caller may change in place.
 *
 * Returns: (transfer none): the body, possibly empty
 */
JsonObject *
plexus_envelope_get_body (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->body;
}

/**
 * plexus_envelope_set_body:
 * @self: a #PlexusEnvelope
 * @body: (nullable): the body, or %NULL for an empty one
 *
 * Sets the body. The envelope takes a reference on @body rather than a
 * copy.
 */
void
plexus_envelope_set_body (PlexusEnvelope *self, JsonObject *body)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));

  g_clear_pointer (&self->body, json_object_unref);
  self->body = body != NULL ? json_object_ref (body) : json_object_new ();
}

/**
 * plexus_envelope_get_attachment:
 * @self: a #PlexusEnvelope
 *
 * Gets the attachment: bytes carried after the envelope's JSON, which no
 * JSON rule applies to.
 *
 * Returns: (transfer none) (nullable): the attachment, or %NULL for none
 */
GBytes *
plexus_envelope_get_attachment (PlexusEnvelope *self)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  return self->attachment;
}

/**
 * plexus_envelope_set_attachment:
 * @self: a #PlexusEnvelope
 * @attachment: (nullable): the attachment, or %NULL for none
 *
 * Sets the attachment. The envelope takes a reference on @attachment; an
 * empty one is the same as none (it has no encoding of its own).
 */
void
plexus_envelope_set_attachment (PlexusEnvelope *self, GBytes *attachment)
{
  g_return_if_fail (PLEXUS_IS_ENVELOPE (self));

  g_clear_pointer (&self->attachment, g_bytes_unref);
  if (attachment != NULL && g_bytes_get_size (attachment) > 0)
    self->attachment = g_bytes_ref (attachment);
}

/* Encoding */

/* What json-glib 1.6 cannot write as JSON, checked before it tries:
 * numbers that are not finite and strings that are not UTF-8. Nesting is
 * bounded as the decoder bounds it, so that what is sent can be read.
 * Errors name the place from the leaf up, with g_prefix_error(), so that
 * a body that can be sent costs no allocation to check. */
static gboolean
check_node_encodable (JsonNode *node, guint depth, GError **error)
{
  switch (json_node_get_node_type (node)) {
  case JSON_NODE_OBJECT: {
    JsonObjectIter iter;
    const gchar *name;
    JsonNode *member;

    if (depth + 1 > PLEXUS_ENVELOPE_MAX_DEPTH) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   ": nested more than %d levels deep", PLEXUS_ENVELOPE_MAX_DEPTH);
      return FALSE;
    }
    json_object_iter_init_ordered (&iter, json_node_get_object (node));
    while (json_object_iter_next_ordered (&iter, &name, &member)) {
      if (!g_utf8_validate (name, -1, NULL)) {
        g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             ": a member name is not valid UTF-8");
        return FALSE;
      }
      if (!check_node_encodable (member, depth + 1, error)) {
        g_prefix_error (error, ".%s", name);
        return FALSE;
      }
    }
    return TRUE;
  }
  case JSON_NODE_ARRAY: {
    JsonArray *array = json_node_get_array (node);

    if (depth + 1 > PLEXUS_ENVELOPE_MAX_DEPTH) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   ": nested more than %d levels deep", PLEXUS_ENVELOPE_MAX_DEPTH);
      return FALSE;
    }
    for (guint i = 0; i < json_array_get_length (array); i++) {
      if (!check_node_encodable (json_array_get_element (array, i), depth + 1, error)) {
        g_prefix_error (error, "[%u]", i);
        return FALSE;
      }
    }
    return TRUE;
  }
  case JSON_NODE_NULL:
    return TRUE;
  case JSON_NODE_VALUE:
    switch (json_node_get_value_type (node)) {
    case G_TYPE_INT64:
    case G_TYPE_BOOLEAN:
      return TRUE;
    case G_TYPE_DOUBLE:
      if (!isfinite (json_node_get_double (node))) {
        g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             ": a number that is not finite cannot be sent");
        return FALSE;
      }
      return TRUE;
    case G_TYPE_STRING:
      if (!g_utf8_validate (json_node_get_string (node), -1, NULL)) {
        g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             ": the string is not valid UTF-8");
        return FALSE;
      }
      return TRUE;
    default:
      break;
    }
    break;
  default:
    break;
  }
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
               ": a JSON value of type %s cannot be sent", json_node_type_name (node));
  return FALSE;
}

/**
 * plexus_envelope_encode:
 * @self: a #PlexusEnvelope
 * @error: return location for a #GError
 *
 * Writes the envelope in its wire form: compact UTF-8 JSON with the members
 * in a fixed order, so that equal envelopes give equal bytes, then, if
 * there is an attachment, a NUL byte and the attachment.
 *
 * It fails with %PLEXUS_ERROR_INVALID_ARGUMENT when the envelope could not
 * be read back: when the encoding would be larger than
 * %PLEXUS_ENVELOPE_MAX_SIZE, when a `reply` envelope has no `re`, or
 * when the body holds a string that is not UTF-8, a number that
 * is not finite or containers nested too deeply.
 *
 * Returns: (transfer full): the encoded envelope, or %NULL with @error set
 */
GBytes *
plexus_envelope_encode (PlexusEnvelope *self, GError **error)
{
  return plexus_envelope_encode_with (self, PLEXUS_ENVELOPE_ENCODING_JSON, error);
}

static gboolean
set_too_large_error (gsize length, GError **error)
{
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
               "the envelope would be %" G_GSIZE_FORMAT " bytes, more than the %d allowed",
               length, PLEXUS_ENVELOPE_MAX_SIZE);
  return FALSE;
}

/* The compact form of signals (doc/protocol.md, "Compact signals"): a
 * form byte, the ttl, the ts, then seven strings, each a length byte and
 * its bytes (id, from, to, re, and the body's three members' values in a
 * fixed order), then the attachment. A relay's work on a signal was
 * mostly reading and writing JSON: json-glib spends about 0.35 µs per
 * member it reads, and a signal's envelope has eleven. */
#define COMPACT_HEADER_SIZE 10
#define COMPACT_N_STRINGS 7
#define COMPACT_MAX_STRING 255

typedef struct {
  guint8       form;
  const gchar *type;
  const gchar *members[3];  /* the body's, in the order they are written */
} CompactShape;

static const CompactShape compact_shapes[] = {
  { PLEXUS_ENVELOPE_COMPACT_RELAY, "signal.relay", { "to", "id", "path" } },
  { PLEXUS_ENVELOPE_COMPACT_DELIVER, "signal.deliver", { "id", "path", "relay" } },
};

/* The shape @self has a compact form in, with the body's values in
 * @values; %NULL when it has none: another type, no attachment, or a
 * body with other members, in another order, or other values than short
 * UTF-8 strings. Such an envelope travels as JSON. */
static const CompactShape *
find_compact_shape (PlexusEnvelope *self, const gchar **values)
{
  const CompactShape *shape = NULL;
  JsonObjectIter iter;
  const gchar *name;
  JsonNode *member;
  guint n = 0;

  if (self->attachment == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (compact_shapes); i++) {
    if (strcmp (self->type, compact_shapes[i].type) == 0)
      shape = &compact_shapes[i];
  }
  if (shape == NULL || json_object_get_size (self->body) != G_N_ELEMENTS (shape->members))
    return NULL;
  json_object_iter_init_ordered (&iter, self->body);
  while (json_object_iter_next_ordered (&iter, &name, &member)) {
    if (strcmp (name, shape->members[n]) != 0 || !JSON_NODE_HOLDS_VALUE (member) ||
        json_node_get_value_type (member) != G_TYPE_STRING)
      return NULL;
    values[n] = json_node_get_string (member);
    if (strlen (values[n]) > COMPACT_MAX_STRING || !g_utf8_validate (values[n], -1, NULL))
      return NULL;
    n++;
  }
  return shape;
}

static GBytes *
encode_compact (PlexusEnvelope *self, const CompactShape *shape, const gchar **values, GError **error)
{
  const gchar *strings[COMPACT_N_STRINGS] = {
    self->id, self->from, self->to, self->re != NULL ? self->re : "", values[0], values[1], values[2]
  };
  gsize lengths[COMPACT_N_STRINGS];
  gsize attachment_length;
  const guint8 *attachment = g_bytes_get_data (self->attachment, &attachment_length);
  gsize length = COMPACT_HEADER_SIZE + attachment_length;
  guint8 *out;
  guint8 *at;

  for (guint i = 0; i < COMPACT_N_STRINGS; i++) {
    lengths[i] = strlen (strings[i]);
    length += 1 + lengths[i];
  }
  if (length > PLEXUS_ENVELOPE_MAX_SIZE) {
    set_too_large_error (length, error);
    return NULL;
  }
  out = g_malloc (length);
  out[0] = shape->form;
  out[1] = (guint8) self->ttl;
  for (guint i = 0; i < 8; i++)
    out[2 + i] = (guint8) ((guint64) self->ts >> (56 - 8 * i));
  at = out + COMPACT_HEADER_SIZE;
  for (guint i = 0; i < COMPACT_N_STRINGS; i++) {
    *at++ = (guint8) lengths[i];
    memcpy (at, strings[i], lengths[i]);
    at += lengths[i];
  }
  memcpy (at, attachment, attachment_length);
  return g_bytes_new_take (out, length);
}

/**
 * plexus_envelope_encode_with:
 * @self: a #PlexusEnvelope
 * @encoding: the wire forms the link allows
 * @error: return location for a #GError
 *
 * Writes the envelope as plexus_envelope_encode() does, except that with
 * %PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS a signal that has a compact
 * form is written in it: a `signal.relay` or `signal.deliver` with an
 * attachment and the body the protocol gives it, its members in order, each
 * a string of at most 255 bytes. Everything else is JSON.
 *
 * Returns: (transfer full): the encoded envelope, or %NULL with @error set
 */
GBytes *
plexus_envelope_encode_with (PlexusEnvelope *self, PlexusEnvelopeEncoding encoding, GError **error)
{
  g_autoptr(JsonNode) body = NULL;
  g_autofree gchar *body_text = NULL;
  gsize body_length;
  GString *out;
  gchar *text;
  gsize length;

  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (encoding == PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS) {
    const gchar *values[3];
    const CompactShape *shape = find_compact_shape (self, values);

    if (shape != NULL)
      return encode_compact (self, shape, values, error);
  }
  if (self->re == NULL && type_needs_re (self->type)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "a '%s' envelope needs the ID of the message it answers (re)",
                 self->type);
    return NULL;
  }
  body = json_node_init_object (json_node_alloc (), self->body);
  /* The body is at depth 2: its container is the envelope. */
  if (!check_node_encodable (body, 1, error)) {
    g_prefix_error (error, "body");
    return NULL;
  }

  /* The header's strings hold only what their setters and the decoder
   * let in (letters, digits, '.', '-', '_'): nothing to escape. */
  out = g_string_sized_new (256);
  g_string_append_printf (out, "{\"v\":%d,\"type\":\"%s\",\"id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
                          "\"ttl\":%u,\"ts\":%" G_GINT64_FORMAT,
                          PLEXUS_ENVELOPE_VERSION, self->type, self->id, self->from, self->to, self->ttl, self->ts);
  if (self->re != NULL)
    g_string_append_printf (out, ",\"re\":\"%s\"", self->re);
  g_string_append (out, ",\"body\":");
  body_text = plexus_json_to_string (body, &body_length);
  g_string_append_len (out, body_text, (gssize) body_length);
  g_string_append_c (out, '}');
  if (self->attachment != NULL) {
    gsize attachment_length;
    gconstpointer attachment = g_bytes_get_data (self->attachment, &attachment_length);

    g_string_append_c (out, '\0');
    g_string_append_len (out, attachment, (gssize) attachment_length);
  }
  length = out->len;
  text = g_string_free (out, FALSE);
  if (length > PLEXUS_ENVELOPE_MAX_SIZE) {
    set_too_large_error (length, error);
    g_free (text);
    return NULL;
  }
  return g_bytes_new_take (text, length);
}

/* Decoding */

static const gchar *
describe_json_type (JsonNode *node)
{
  switch (json_node_get_node_type (node)) {
  case JSON_NODE_OBJECT:
    return "an object";
  case JSON_NODE_ARRAY:
    return "an array";
  case JSON_NODE_NULL:
    return "null";
  case JSON_NODE_VALUE:
    switch (json_node_get_value_type (node)) {
    case G_TYPE_BOOLEAN:
      return "a boolean";
    case G_TYPE_INT64:
      return "an integer";
    case G_TYPE_DOUBLE:
      return "a number with a fraction or exponent";
    case G_TYPE_STRING:
      return "a string";
    default:
      return "a value";
    }
  default:
    return "something else";
  }
}

static gboolean
set_type_error (JsonNode *node, const gchar *member, const gchar *expected,
                const gchar **error_code, GError **error)
{
  return plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                           "%s: expected %s, got %s", member, expected, describe_json_type (node));
}

static JsonNode *
get_required (JsonObject *object, const gchar *member, const gchar **error_code, GError **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL)
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                      "the member '%s' is missing", member);
  return node;
}

static const gchar *
get_string (JsonObject *object, const gchar *member, const gchar **error_code, GError **error)
{
  JsonNode *node = get_required (object, member, error_code, error);

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    set_type_error (node, member, "a string", error_code, error);
    return NULL;
  }
  return json_node_get_string (node);
}

static gboolean
get_integer (JsonObject *object, const gchar *member, gint64 *value,
             const gchar **error_code, GError **error)
{
  JsonNode *node = get_required (object, member, error_code, error);

  if (node == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return set_type_error (node, member, "an integer", error_code, error);
  *value = json_node_get_int (node);
  return TRUE;
}

static gboolean
set_syntax_error (const gchar *member, const gchar *value, const gchar *what,
                  const gchar **error_code, GError **error)
{
  g_autofree gchar *quoted = plexus_json_quote (value);

  return plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                           "%s: %s is not %s", member, quoted, what);
}

static PlexusEnvelope *
envelope_from_json (JsonNode *root, const gchar **error_code, GError **error)
{
  static const gchar * const members[] = {
    "v", "type", "id", "from", "to", "ttl", "ts", "re", "body", NULL
  };
  g_autoptr(PlexusEnvelope) self = NULL;
  g_autoptr(GList) names = NULL;
  JsonObject *object;
  JsonNode *node;
  const gchar *str;
  gint64 value;

  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                      "expected an object, got %s", describe_json_type (root));
    return NULL;
  }
  object = json_node_get_object (root);

  /* The version first: another version may have other members. */
  if (!get_integer (object, "v", &value, error_code, error))
    return NULL;
  if (value != PLEXUS_ENVELOPE_VERSION) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_UNSUPPORTED_VERSION, error,
                      "protocol version %" G_GINT64_FORMAT " is not supported, only %d is",
                      value, PLEXUS_ENVELOPE_VERSION);
    return NULL;
  }

  names = json_object_get_members (object);
  for (GList *l = names; l != NULL; l = l->next) {
    if (!g_strv_contains (members, l->data)) {
      g_autofree gchar *quoted = plexus_json_quote (l->data);
      plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                        "unknown member %s", quoted);
      return NULL;
    }
  }

  self = g_object_new (PLEXUS_TYPE_ENVELOPE, NULL);

  str = get_string (object, "type", error_code, error);
  if (str == NULL)
    return NULL;
  if (!plexus_envelope_type_is_valid (str)) {
    set_syntax_error ("type", str, "a valid message type", error_code, error);
    return NULL;
  }
  self->type = g_strdup (str);

  str = get_string (object, "id", error_code, error);
  if (str == NULL)
    return NULL;
  if (!plexus_envelope_id_is_valid (str)) {
    set_syntax_error ("id", str, "a valid message ID", error_code, error);
    return NULL;
  }
  self->id = g_strdup (str);

  str = get_string (object, "from", error_code, error);
  if (str == NULL)
    return NULL;
  if (!plexus_peer_id_is_valid (str)) {
    set_syntax_error ("from", str, "a valid peer ID", error_code, error);
    return NULL;
  }
  self->from = g_strdup (str);

  str = get_string (object, "to", error_code, error);
  if (str == NULL)
    return NULL;
  if (!is_valid_to (str)) {
    set_syntax_error ("to", str, "a valid peer ID or \"\"", error_code, error);
    return NULL;
  }
  self->to = g_strdup (str);

  if (!get_integer (object, "ttl", &value, error_code, error))
    return NULL;
  if (value < 0 || value > PLEXUS_ENVELOPE_MAX_TTL) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                      "ttl: %" G_GINT64_FORMAT " is out of range 0..%d",
                      value, PLEXUS_ENVELOPE_MAX_TTL);
    return NULL;
  }
  self->ttl = (guint) value;

  if (!get_integer (object, "ts", &value, error_code, error))
    return NULL;
  if (value < 0) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                      "ts: %" G_GINT64_FORMAT " is before the Unix epoch", value);
    return NULL;
  }
  self->ts = value;

  if (json_object_has_member (object, "re")) {
    str = get_string (object, "re", error_code, error);
    if (str == NULL)
      return NULL;
    if (!plexus_envelope_id_is_valid (str)) {
      set_syntax_error ("re", str, "a valid message ID", error_code, error);
      return NULL;
    }
    self->re = g_strdup (str);
  } else if (type_needs_re (self->type)) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                      "the member 're' is missing; '%s' envelopes need it", self->type);
    return NULL;
  }

  node = get_required (object, "body", error_code, error);
  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    set_type_error (node, "body", "an object", error_code, error);
    return NULL;
  }
  plexus_envelope_set_body (self, json_node_get_object (node));

  return g_steal_pointer (&self);
}

/**
 * plexus_envelope_decode:
 * @data: (array length=length): the bytes of a decrypted frame
 * @length: the length of @data
 * @error_code: (out) (optional) (transfer none): where to store the
 *   protocol error code when decoding fails, %NULL on success
 * @error: return location for a #GError
 *
 * Reads an envelope from its wire form, strictly, as doc/protocol.md
 * specifies: JSON, then optionally a NUL byte and a non-empty attachment. On failure @error is %PLEXUS_ERROR_INVALID_DATA with a
 * message saying what is wrong (UTF-8, at most a few hundred bytes: it may
 * be sent back in an `error` answer) and @error_code is the protocol error
 * code to answer with: `too-large`, `bad-json`, `unsupported-version` or
 * `bad-envelope`.
 *
 * Returns: (transfer full): the envelope, or %NULL with @error set
 */
PlexusEnvelope *
plexus_envelope_decode (const guint8 *data,
                        gsize         length,
                        const gchar **error_code,
                        GError      **error)
{
  return plexus_envelope_decode_with (data, length, PLEXUS_ENVELOPE_ENCODING_JSON, error_code, error);
}

static gboolean
set_compact_error (const gchar **error_code, GError **error, const gchar *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
set_compact_error (const gchar **error_code, GError **error, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                                "compact signal: %s", message);
}

/* Copies the @length bytes at @data into @buffer (COMPACT_MAX_STRING + 1
 * bytes) as a string; %FALSE if they hold a NUL byte. */
static gboolean
compact_string (const guint8 *data, gsize length, gchar *buffer)
{
  if (length > 0 && memchr (data, '\0', length) != NULL)
    return FALSE;
  memcpy (buffer, data, length);
  buffer[length] = '\0';
  return TRUE;
}

static PlexusEnvelope *
decode_compact (const guint8 *data, gsize length, const gchar **error_code, GError **error)
{
  static const gchar * const names[COMPACT_N_STRINGS] = { "id", "from", "to", "re", NULL, NULL, NULL };
  const CompactShape *shape = &compact_shapes[data[0] == PLEXUS_ENVELOPE_COMPACT_RELAY ? 0 : 1];
  gchar strings[COMPACT_N_STRINGS][COMPACT_MAX_STRING + 1];
  g_autoptr(PlexusEnvelope) self = NULL;
  guint64 ts = 0;
  gsize at;

  if (length < COMPACT_HEADER_SIZE) {
    set_compact_error (error_code, error, "%" G_GSIZE_FORMAT " bytes, shorter than its header", length);
    return NULL;
  }
  if (data[1] > PLEXUS_ENVELOPE_MAX_TTL) {
    set_compact_error (error_code, error, "ttl: %u is out of range 0..%d", data[1], PLEXUS_ENVELOPE_MAX_TTL);
    return NULL;
  }
  for (guint i = 0; i < 8; i++)
    ts = ts << 8 | data[2 + i];
  if (ts > G_MAXINT64) {
    set_compact_error (error_code, error, "ts: %" G_GUINT64_FORMAT " is out of range", ts);
    return NULL;
  }
  at = COMPACT_HEADER_SIZE;
  for (guint i = 0; i < COMPACT_N_STRINGS; i++) {
    const gchar *name = names[i] != NULL ? names[i] : shape->members[i - 4];
    gsize string_length;

    if (at >= length || length - at - 1 < data[at]) {
      set_compact_error (error_code, error, "it ends inside %s%s", names[i] != NULL ? "" : "body.", name);
      return NULL;
    }
    string_length = data[at];
    if (!compact_string (data + at + 1, string_length, strings[i])) {
      set_compact_error (error_code, error, "%s%s holds a NUL byte", names[i] != NULL ? "" : "body.", name);
      return NULL;
    }
    if (names[i] == NULL && !g_utf8_validate_len (strings[i], string_length, NULL)) {
      set_compact_error (error_code, error, "body.%s is not valid UTF-8", name);
      return NULL;
    }
    at += 1 + string_length;
  }
  if (at == length) {
    set_compact_error (error_code, error, "it has no attachment");
    return NULL;
  }
  if (!plexus_envelope_id_is_valid (strings[0])) {
    set_syntax_error ("id", strings[0], "a valid message ID", error_code, error);
    return NULL;
  }
  if (!plexus_peer_id_is_valid (strings[1])) {
    set_syntax_error ("from", strings[1], "a valid peer ID", error_code, error);
    return NULL;
  }
  if (!is_valid_to (strings[2])) {
    set_syntax_error ("to", strings[2], "a valid peer ID or \"\"", error_code, error);
    return NULL;
  }
  if (strings[3][0] != '\0' && !plexus_envelope_id_is_valid (strings[3])) {
    set_syntax_error ("re", strings[3], "a valid message ID", error_code, error);
    return NULL;
  }

  self = g_object_new (PLEXUS_TYPE_ENVELOPE, NULL);
  self->type = g_strdup (shape->type);
  self->id = g_strdup (strings[0]);
  self->from = g_strdup (strings[1]);
  self->to = g_strdup (strings[2]);
  self->ttl = data[1];
  self->ts = (gint64) ts;
  if (strings[3][0] != '\0')
    self->re = g_strdup (strings[3]);
  for (guint i = 0; i < G_N_ELEMENTS (shape->members); i++)
    json_object_set_string_member (self->body, shape->members[i], strings[4 + i]);
  self->attachment = g_bytes_new (data + at, length - at);
  return g_steal_pointer (&self);
}

/**
 * plexus_envelope_decode_with:
 * @data: (array length=length): the bytes of a decrypted frame
 * @length: the length of @data
 * @encoding: the wire forms the link allows
 * @error_code: (out) (optional) (transfer none): where to store the
 *   protocol error code when decoding fails, %NULL on success
 * @error: return location for a #GError
 *
 * Reads an envelope as plexus_envelope_decode() does; with
 * %PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, a frame whose first byte is
 * %PLEXUS_ENVELOPE_COMPACT_RELAY or %PLEXUS_ENVELOPE_COMPACT_DELIVER is
 * read as a signal in the compact form. JSON never starts with either.
 *
 * Returns: (transfer full): the envelope, or %NULL with @error set
 */
PlexusEnvelope *
plexus_envelope_decode_with (const guint8           *data,
                             gsize                   length,
                             PlexusEnvelopeEncoding  encoding,
                             const gchar           **error_code,
                             GError                **error)
{
  const gchar *text = (const gchar *) data;
  g_autoptr(JsonNode) root = NULL;
  const gchar *json_code = NULL;
  const gchar *nul;
  gsize attachment_length = 0;
  PlexusEnvelope *self;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (error_code != NULL)
    *error_code = NULL;

  if (length > PLEXUS_ENVELOPE_MAX_SIZE) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_TOO_LARGE, error,
                      "the envelope is %" G_GSIZE_FORMAT " bytes, more than the %d allowed",
                      length, PLEXUS_ENVELOPE_MAX_SIZE);
    return NULL;
  }
  if (encoding == PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS && length > 0 &&
      (data[0] == PLEXUS_ENVELOPE_COMPACT_RELAY || data[0] == PLEXUS_ENVELOPE_COMPACT_DELIVER))
    return decode_compact (data, length, error_code, error);
  /* JSON holds no NUL byte: the first one ends it, and the attachment
   * follows. */
  nul = length > 0 ? memchr (text, '\0', length) : NULL;
  if (nul != NULL) {
    attachment_length = length - (gsize) (nul - text) - 1;
    length = (gsize) (nul - text);
    if (attachment_length == 0) {
      plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, error,
                             "the envelope ends in a NUL byte without an attachment after it");
      return NULL;
    }
  }
  if (length > 0 && !g_utf8_validate (text, (gssize) length, NULL)) {
    plexus_json_set_error (error_code, PLEXUS_ENVELOPE_CODE_BAD_JSON, error,
                      "not JSON: the envelope is not valid UTF-8");
    return NULL;
  }
  /* The shared strict reader classifies failures with our codes. */
  root = plexus_json_parse_strict (text, length, PLEXUS_ENVELOPE_MAX_DEPTH, &json_code, error);
  if (root == NULL) {
    if (g_strcmp0 (json_code, PLEXUS_ENVELOPE_CODE_BAD_JSON) == 0)
      g_prefix_error (error, "not JSON: ");
    if (error_code != NULL)
      *error_code = json_code;
    return NULL;
  }

  self = envelope_from_json (root, error_code, error);
  g_assert (self != NULL || error_code == NULL || *error_code != NULL);
  if (self != NULL && attachment_length > 0)
    self->attachment = g_bytes_new (nul + 1, attachment_length);
  return self;
}

/**
 * plexus_envelope_check_fresh:
 * @self: a #PlexusEnvelope
 * @now_ms: the receiver's wall-clock time, in milliseconds since the Unix
 *   epoch
 * @max_skew_ms: how far apart the sender's clock and the receiver's may
 *   be, in milliseconds
 * @error: return location for a #GError
 *
 * Checks that the envelope was sent recently: its `ts` must be within
 * @max_skew_ms of @now_ms, in either direction. A message from further in
 * the future is refused too, so that no message stays valid for longer
 * than the window a receiver remembers IDs for.
 *
 * The protocol error code for a failure is `expired`.
 *
 * Returns: %TRUE if the envelope is fresh, or %FALSE with @error set to
 *   %PLEXUS_ERROR_INVALID_DATA
 */
gboolean
plexus_envelope_check_fresh (PlexusEnvelope *self,
                             gint64          now_ms,
                             gint64          max_skew_ms,
                             GError        **error)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), FALSE);
  g_return_val_if_fail (now_ms >= 0, FALSE);
  g_return_val_if_fail (max_skew_ms >= 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Both times are >= 0, so neither difference overflows. */
  if (now_ms - self->ts > max_skew_ms) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "the message was sent %" G_GINT64_FORMAT " ms ago, more than the %" G_GINT64_FORMAT " ms allowed",
                 now_ms - self->ts, max_skew_ms);
    return FALSE;
  }
  if (self->ts - now_ms > max_skew_ms) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "the message is dated %" G_GINT64_FORMAT " ms in the future, more than the %" G_GINT64_FORMAT " ms allowed",
                 self->ts - now_ms, max_skew_ms);
    return FALSE;
  }
  return TRUE;
}

/**
 * plexus_envelope_decrement_ttl:
 * @self: a #PlexusEnvelope
 * @error: return location for a #GError
 *
 * Takes one hop off the envelope's TTL, as a node does before it passes the
 * envelope on to another node. An envelope with a TTL of 0 may still be
 * delivered to the node that received it, but not passed on.
 *
 * The protocol error code for a failure is `expired`.
 *
 * Returns: %TRUE if the TTL was decremented, or %FALSE with @error set to
 *   %PLEXUS_ERROR_INVALID_DATA when it was already 0
 */
gboolean
plexus_envelope_decrement_ttl (PlexusEnvelope *self, GError **error)
{
  g_return_val_if_fail (PLEXUS_IS_ENVELOPE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->ttl == 0) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                         "the message has no hops left (ttl 0) and cannot be passed on");
    return FALSE;
  }
  self->ttl--;
  return TRUE;
}

/**
 * plexus_envelope_error_codes:
 *
 * The protocol error codes the envelope layer defines, in the order of
 * doc/protocol.md: `bad-json`, `bad-envelope`, `too-large`,
 * `unsupported-version`, `unknown-type`, `expired`, `no-route`,
 * `rate-limited`, `timed-out`, `internal`.
 *
 * Returns: (transfer none) (array zero-terminated=1): the codes
 */
const gchar * const *
plexus_envelope_error_codes (void)
{
  return error_codes;
}
