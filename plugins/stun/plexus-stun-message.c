/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sodium.h>
#include <zlib.h>

#include <plexus.h>

#include "plexus-stun-message.h"

/**
 * SECTION:plexus-stun-message
 * @title: PlexusStunMessage
 * @short_description: STUN messages: decoding and encoding (RFC 8489)
 *
 * A STUN message is a 20-byte header (type, length, magic cookie,
 * transaction ID) and type-length-value attributes padded to four bytes.
 * The codec does no I/O. Decoding checks every length against the bytes
 * it holds and says, through #PlexusStunDecodeStatus, whether what it
 * refused was STUN at all, so that a server knows whether an answer is
 * due. A decoded message keeps the bytes it came from, so that
 * MESSAGE-INTEGRITY can be checked over them exactly as received, and the
 * padding of each attribute, so that it encodes to the same bytes.
 */

#define FINGERPRINT_XOR 0x5354554Eu
#define INTEGRITY_SIZE 20
#define FINGERPRINT_SIZE 4
#define ATTRIBUTE_HEADER_SIZE 4
#define MAX_REASON_SIZE 763

typedef struct {
  guint16 type;
  guint16 length;
  guint32 offset;     /* of the value in PlexusStunMessage.data */
  guint8  padding[3]; /* the padding bytes as received or chosen */
} Attribute;

struct _PlexusStunMessage {
  gint             ref_count;
  PlexusStunClass  klass;
  guint16          method;
  guint8           transaction_id[PLEXUS_STUN_TRANSACTION_ID_SIZE];
  /* A decoded message's bytes as received (raw_length of them), then the
   * values of attributes added since. */
  GByteArray      *data;
  gsize            raw_length;
  GArray          *attributes;     /* (element-type Attribute) */
  gsize            integrity_at;   /* offset of MESSAGE-INTEGRITY's header; 0 none */
  gboolean         has_fingerprint;
};

G_DEFINE_BOXED_TYPE (PlexusStunMessage, plexus_stun_message,
                     plexus_stun_message_ref, plexus_stun_message_unref)

static inline guint16
read16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
read32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline void
write16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static inline void
write32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}

static inline gsize
padded (gsize length)
{
  return (length + 3) & ~(gsize) 3;
}

/* ---- addresses ---- */

/**
 * plexus_stun_address_from_socket_address:
 * @address: a #GInetSocketAddress (anything else is refused)
 * @out: (out caller-allocates): where to put it
 *
 * Returns: %TRUE if @address is an IPv4 or IPv6 socket address. An
 *   IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket
 *   reports IPv4 peers) becomes the IPv4 address it stands for.
 */
gboolean
plexus_stun_address_from_socket_address (GSocketAddress *address, PlexusStunAddress *out)
{
  GInetAddress *inet;
  const guint8 *bytes;
  gsize size;

  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return FALSE;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  bytes = g_inet_address_to_bytes (inet);
  size = g_inet_address_get_native_size (inet);
  out->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  if (size == 4) {
    out->family = G_SOCKET_FAMILY_IPV4;
    memcpy (out->bytes, bytes, 4);
    return TRUE;
  }
  if (size != 16)
    return FALSE;
  if (memcmp (bytes, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
    out->family = G_SOCKET_FAMILY_IPV4;
    memcpy (out->bytes, bytes + 12, 4);
    return TRUE;
  }
  out->family = G_SOCKET_FAMILY_IPV6;
  memcpy (out->bytes, bytes, 16);
  return TRUE;
}

/**
 * plexus_stun_address_to_socket_address:
 * @address: a #PlexusStunAddress
 *
 * Returns: (transfer full): the same as a #GInetSocketAddress
 */
GSocketAddress *
plexus_stun_address_to_socket_address (const PlexusStunAddress *address)
{
  g_autoptr(GInetAddress) inet = NULL;

  g_return_val_if_fail (address != NULL, NULL);
  g_return_val_if_fail (address->family == G_SOCKET_FAMILY_IPV4 ||
                        address->family == G_SOCKET_FAMILY_IPV6, NULL);

  inet = g_inet_address_new_from_bytes (address->bytes, address->family);
  return g_inet_socket_address_new (inet, address->port);
}

/**
 * plexus_stun_address_parse:
 * @ip: an IPv4 or IPv6 address in text form (no brackets)
 * @port: a port
 * @out: (out caller-allocates): where to put it
 *
 * Returns: %TRUE if @ip is an IP address
 */
gboolean
plexus_stun_address_parse (const gchar *ip, guint16 port, PlexusStunAddress *out)
{
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) address = NULL;

  g_return_val_if_fail (out != NULL, FALSE);

  memset (out, 0, sizeof *out);
  if (ip == NULL)
    return FALSE;
  inet = g_inet_address_new_from_string (ip);
  if (inet == NULL)
    return FALSE;
  address = g_inet_socket_address_new (inet, port);
  return plexus_stun_address_from_socket_address (address, out);
}

static gsize
address_size (const PlexusStunAddress *address)
{
  return address->family == G_SOCKET_FAMILY_IPV4 ? 4 : 16;
}

/**
 * plexus_stun_address_equal_ip:
 * @a: an address
 * @b: another address
 *
 * Returns: whether @a and @b have the same family and IP address, ports
 *   aside
 */
gboolean
plexus_stun_address_equal_ip (const PlexusStunAddress *a, const PlexusStunAddress *b)
{
  return a->family == b->family && memcmp (a->bytes, b->bytes, address_size (a)) == 0;
}

/**
 * plexus_stun_address_equal:
 * @a: an address
 * @b: another address
 *
 * Returns: whether @a and @b are the same transport address
 */
gboolean
plexus_stun_address_equal (const PlexusStunAddress *a, const PlexusStunAddress *b)
{
  return plexus_stun_address_equal_ip (a, b) && a->port == b->port;
}

/**
 * plexus_stun_address_to_string:
 * @address: an address
 *
 * Returns: (transfer full): `A.B.C.D:PORT` or `[V6]:PORT`
 */
gchar *
plexus_stun_address_to_string (const PlexusStunAddress *address)
{
  g_autoptr(GInetAddress) inet = NULL;
  g_autofree gchar *ip = NULL;

  g_return_val_if_fail (address != NULL, NULL);

  if (address->family != G_SOCKET_FAMILY_IPV4 && address->family != G_SOCKET_FAMILY_IPV6)
    return g_strdup ("(none)");
  inet = g_inet_address_new_from_bytes (address->bytes, address->family);
  ip = g_inet_address_to_string (inet);
  if (address->family == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", ip, address->port);
  return g_strdup_printf ("%s:%u", ip, address->port);
}

/* ---- the message ---- */

static PlexusStunMessage *
message_alloc (void)
{
  PlexusStunMessage *self = g_new0 (PlexusStunMessage, 1);

  self->ref_count = 1;
  self->data = g_byte_array_new ();
  self->attributes = g_array_new (FALSE, FALSE, sizeof (Attribute));
  return self;
}

/**
 * plexus_stun_message_new:
 * @klass: the class
 * @method: the method, 0..0xfff
 * @transaction_id: (array fixed-size=12) (nullable): the transaction ID,
 *   or %NULL for a fresh cryptographically random one
 *
 * Returns: (transfer full): an empty message to add attributes to
 */
PlexusStunMessage *
plexus_stun_message_new (PlexusStunClass klass, guint16 method, const guint8 *transaction_id)
{
  PlexusStunMessage *self;

  g_return_val_if_fail (klass <= PLEXUS_STUN_CLASS_ERROR_RESPONSE, NULL);
  g_return_val_if_fail (method <= 0xfff, NULL);

  self = message_alloc ();
  self->klass = klass;
  self->method = method;
  /* RFC 8489 §6: cryptographically random, so that an off-path attacker
   * cannot forge answers. */
  if (transaction_id != NULL) {
    memcpy (self->transaction_id, transaction_id, PLEXUS_STUN_TRANSACTION_ID_SIZE);
  } else {
    /* Idempotent; fails only where the system has no randomness. */
    if (sodium_init () < 0)
      g_error ("cannot initialise libsodium");
    randombytes_buf (self->transaction_id, PLEXUS_STUN_TRANSACTION_ID_SIZE);
  }
  return self;
}

/**
 * plexus_stun_message_ref:
 * @self: a message
 *
 * Returns: (transfer full): @self
 */
PlexusStunMessage *
plexus_stun_message_ref (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_int_inc (&self->ref_count);
  return self;
}

/**
 * plexus_stun_message_unref:
 * @self: (transfer full): a message
 */
void
plexus_stun_message_unref (PlexusStunMessage *self)
{
  g_return_if_fail (self != NULL);
  if (!g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_byte_array_unref (self->data);
  g_array_unref (self->attributes);
  g_free (self);
}

/* The first checks of RFC 8489 §6.3 and §7.3: what fails them is some
 * other protocol sharing the port. */
static gboolean
header_is_stun (const guint8 *data, gsize length)
{
  return length >= PLEXUS_STUN_HEADER_SIZE &&
         (data[0] & 0xc0) == 0 &&
         read32 (data + 4) == PLEXUS_STUN_MAGIC_COOKIE &&
         (read16 (data + 2) & 3) == 0;
}

/**
 * plexus_stun_message_peek_length:
 * @data: (array length=length): the start of a byte stream
 * @length: how many bytes are there
 *
 * For STUN over a stream (TCP), where messages follow each other: the
 * size of the message @data starts with, from its header.
 *
 * Returns: the message's size in bytes, header included; 0 when fewer
 *   than %PLEXUS_STUN_HEADER_SIZE bytes are there or they are no STUN
 *   header (the stream is then not STUN and must be closed)
 */
gsize
plexus_stun_message_peek_length (const guint8 *data, gsize length)
{
  if (data == NULL || !header_is_stun (data, length))
    return 0;
  return PLEXUS_STUN_HEADER_SIZE + read16 (data + 2);
}

/**
 * plexus_stun_message_is_stun:
 * @data: (array length=length): a datagram
 * @length: its size
 *
 * The quick test of RFC 8489 §7.3 for telling STUN from other protocols on
 * the same port: the first two bits, the magic cookie and a length that
 * matches the datagram. FINGERPRINT is checked by decoding.
 *
 * Returns: whether @data may be a STUN message
 */
gboolean
plexus_stun_message_is_stun (const guint8 *data, gsize length)
{
  return data != NULL && header_is_stun (data, length) &&
         PLEXUS_STUN_HEADER_SIZE + (gsize) read16 (data + 2) == length;
}

static guint32
compute_fingerprint (const guint8 *data, gsize length)
{
  return (guint32) crc32 (crc32 (0L, Z_NULL, 0), data, (uInt) length) ^ FINGERPRINT_XOR;
}

static gboolean
decode_fail (PlexusStunDecodeStatus  *status,
             PlexusStunDecodeStatus   value,
             GError                 **error,
             const gchar             *format,
             ...) G_GNUC_PRINTF (4, 5);

static gboolean
decode_fail (PlexusStunDecodeStatus  *status,
             PlexusStunDecodeStatus   value,
             GError                 **error,
             const gchar             *format,
             ...)
{
  va_list args;
  g_autofree gchar *message = NULL;

  if (status != NULL)
    *status = value;
  /* A server that only counts the status skips the formatting. */
  if (error == NULL)
    return FALSE;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, message);
  return FALSE;
}

/* Whether the message ends in what looks like a FINGERPRINT that does not
 * match. When the attributes do not parse, this tells another protocol
 * that happens to pass the header checks (to be dropped) from a broken
 * STUN request (to be answered 400). */
static gboolean
tail_is_bad_fingerprint (const guint8 *data, gsize length)
{
  const gsize tail = ATTRIBUTE_HEADER_SIZE + FINGERPRINT_SIZE;
  const guint8 *attr;

  if (length < PLEXUS_STUN_HEADER_SIZE + tail)
    return FALSE;
  attr = data + length - tail;
  return read16 (attr) == PLEXUS_STUN_ATTR_FINGERPRINT &&
         read16 (attr + 2) == FINGERPRINT_SIZE &&
         read32 (attr + ATTRIBUTE_HEADER_SIZE) != compute_fingerprint (data, length - tail);
}

static gboolean
decode_malformed (const guint8            *data,
                  gsize                    length,
                  PlexusStunDecodeStatus  *status,
                  GError                 **error,
                  const gchar             *format,
                  ...) G_GNUC_PRINTF (5, 6);

static gboolean
decode_malformed (const guint8            *data,
                  gsize                    length,
                  PlexusStunDecodeStatus  *status,
                  GError                 **error,
                  const gchar             *format,
                  ...)
{
  va_list args;
  g_autofree gchar *message = NULL;

  if (tail_is_bad_fingerprint (data, length))
    return decode_fail (status, PLEXUS_STUN_DECODE_BAD_FINGERPRINT, error,
                        "the message ends in a FINGERPRINT that does not match");
  if (error == NULL)
    return decode_fail (status, PLEXUS_STUN_DECODE_MALFORMED, NULL, "%s", "");
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return decode_fail (status, PLEXUS_STUN_DECODE_MALFORMED, error, "%s", message);
}

/**
 * plexus_stun_message_decode:
 * @data: (array length=length): one whole message, e.g. a datagram
 * @length: its size
 * @status: (out) (optional): why it was refused, or
 *   %PLEXUS_STUN_DECODE_OK
 * @error: return location for a #GError
 *
 * Decodes a message. Refused are: what is not STUN (first two bits, magic
 * cookie, a length that is not a multiple of four or does not match
 * @length), messages larger than %PLEXUS_STUN_MAX_MESSAGE_SIZE, a
 * FINGERPRINT that is wrong or not last, and attributes that run past the
 * message, have the wrong size for their type, or are more than
 * %PLEXUS_STUN_MAX_ATTRIBUTES. Attributes after MESSAGE-INTEGRITY other
 * than FINGERPRINT and MESSAGE-INTEGRITY-SHA256 are ignored, as RFC 8489
 * §14.5 says. Attribute values are not checked here beyond their size;
 * the getters check them.
 *
 * Returns: (transfer full): the message, or %NULL with a
 *   %PLEXUS_ERROR_INVALID_DATA error and @status saying why
 */
PlexusStunMessage *
plexus_stun_message_decode (const guint8            *data,
                            gsize                    length,
                            PlexusStunDecodeStatus  *status,
                            GError                 **error)
{
  g_autoptr(PlexusStunMessage) self = NULL;
  gboolean after_integrity = FALSE;
  guint16 type;
  gsize pos;

  g_return_val_if_fail (data != NULL || length == 0, NULL);

  if (status != NULL)
    *status = PLEXUS_STUN_DECODE_OK;
  if (length > PLEXUS_STUN_MAX_MESSAGE_SIZE) {
    decode_fail (status, PLEXUS_STUN_DECODE_TOO_LARGE, error,
                 "the message has %" G_GSIZE_FORMAT " bytes; at most %u are allowed",
                 length, PLEXUS_STUN_MAX_MESSAGE_SIZE);
    return NULL;
  }
  if (length < PLEXUS_STUN_HEADER_SIZE) {
    decode_fail (status, PLEXUS_STUN_DECODE_NOT_STUN, error,
                 "%" G_GSIZE_FORMAT " bytes are too short for a STUN header", length);
    return NULL;
  }
  if ((data[0] & 0xc0) != 0 || read32 (data + 4) != PLEXUS_STUN_MAGIC_COOKIE) {
    decode_fail (status, PLEXUS_STUN_DECODE_NOT_STUN, error,
                 "no STUN header: the first two bits or the magic cookie are wrong");
    return NULL;
  }
  if ((read16 (data + 2) & 3) != 0 || PLEXUS_STUN_HEADER_SIZE + (gsize) read16 (data + 2) != length) {
    decode_fail (status, PLEXUS_STUN_DECODE_NOT_STUN, error,
                 "the header says %u bytes of attributes, the message holds %" G_GSIZE_FORMAT
                 "; the length must match and be a multiple of 4",
                 read16 (data + 2), length - PLEXUS_STUN_HEADER_SIZE);
    return NULL;
  }
  self = message_alloc ();
  type = read16 (data);
  self->method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  self->klass = ((type >> 4) & 1) | ((type >> 7) & 2);
  memcpy (self->transaction_id, data + 8, PLEXUS_STUN_TRANSACTION_ID_SIZE);
  g_byte_array_append (self->data, data, length);
  self->raw_length = length;

  pos = PLEXUS_STUN_HEADER_SIZE;
  while (pos < length) {
    Attribute attr = { 0, };
    gsize value_end;

    /* The length is a multiple of 4, so a header always fits. */
    attr.type = read16 (data + pos);
    attr.length = read16 (data + pos + 2);
    attr.offset = pos + ATTRIBUTE_HEADER_SIZE;
    value_end = attr.offset + attr.length;
    if (padded (value_end) > length) {
      decode_malformed (data, length, status, error,
                        "attribute 0x%04x at byte %" G_GSIZE_FORMAT " has %u bytes; only %" G_GSIZE_FORMAT
                        " are left", attr.type, pos, attr.length, length - attr.offset);
      return NULL;
    }
    memcpy (attr.padding, data + value_end, padded (value_end) - value_end);

    if (attr.type == PLEXUS_STUN_ATTR_FINGERPRINT) {
      guint32 expected = compute_fingerprint (data, pos);

      if (attr.length != FINGERPRINT_SIZE || padded (value_end) != length) {
        decode_fail (status, PLEXUS_STUN_DECODE_BAD_FINGERPRINT, error,
                     "FINGERPRINT at byte %" G_GSIZE_FORMAT " has %u bytes or is not the last attribute",
                     pos, attr.length);
        return NULL;
      }
      if (read32 (data + attr.offset) != expected) {
        decode_fail (status, PLEXUS_STUN_DECODE_BAD_FINGERPRINT, error,
                     "FINGERPRINT is 0x%08x; the message's is 0x%08x",
                     read32 (data + attr.offset), expected);
        return NULL;
      }
      self->has_fingerprint = TRUE;
    } else if (after_integrity && attr.type != PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
      pos = padded (value_end);
      continue;
    }
    if (attr.type == PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY && !after_integrity) {
      if (attr.length != INTEGRITY_SIZE) {
        decode_malformed (data, length, status, error,
                          "MESSAGE-INTEGRITY has %u bytes; expected %u", attr.length, INTEGRITY_SIZE);
        return NULL;
      }
      after_integrity = TRUE;
      self->integrity_at = pos;
    }
    if (self->attributes->len >= PLEXUS_STUN_MAX_ATTRIBUTES) {
      decode_malformed (data, length, status, error,
                        "more than %u attributes", PLEXUS_STUN_MAX_ATTRIBUTES);
      return NULL;
    }
    g_array_append_val (self->attributes, attr);
    pos = padded (value_end);
  }
  return g_steal_pointer (&self);
}

static gboolean
is_computed_type (guint16 type)
{
  return type == PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY ||
         type == PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
         type == PLEXUS_STUN_ATTR_FINGERPRINT;
}

/* Everything encode() writes before MESSAGE-INTEGRITY. */
static gsize
attributes_size (PlexusStunMessage *self)
{
  gsize size = 0;

  for (guint i = 0; i < self->attributes->len; i++) {
    const Attribute *attr = &g_array_index (self->attributes, Attribute, i);

    if (!is_computed_type (attr->type))
      size += ATTRIBUTE_HEADER_SIZE + padded (attr->length);
  }
  return size;
}

/**
 * plexus_stun_message_encode:
 * @self: a message
 * @integrity_key: (array length=integrity_key_length) (nullable): the key
 *   for MESSAGE-INTEGRITY (HMAC-SHA1): the password for short-term
 *   credentials, plexus_stun_long_term_key() for long-term ones; %NULL for
 *   none
 * @integrity_key_length: its size
 * @fingerprint: whether to end with FINGERPRINT
 * @error: return location for a #GError
 *
 * Writes the header and every attribute in the order they were added or
 * decoded, each with its padding, then MESSAGE-INTEGRITY and FINGERPRINT
 * when asked. Those two and MESSAGE-INTEGRITY-SHA256 in @self are not
 * written as they are: they are computed here or left out.
 *
 * Returns: (transfer full): the bytes, or %NULL with a
 *   %PLEXUS_ERROR_INVALID_ARGUMENT error when the message would be larger
 *   than %PLEXUS_STUN_MAX_MESSAGE_SIZE
 */
GBytes *
plexus_stun_message_encode (PlexusStunMessage *self,
                            const guint8      *integrity_key,
                            gsize              integrity_key_length,
                            gboolean           fingerprint,
                            GError           **error)
{
  gsize size;
  guint8 *out;
  gsize pos;
  guint16 type;

  g_return_val_if_fail (self != NULL, NULL);

  size = PLEXUS_STUN_HEADER_SIZE + attributes_size (self);
  if (integrity_key != NULL)
    size += ATTRIBUTE_HEADER_SIZE + INTEGRITY_SIZE;
  if (fingerprint)
    size += ATTRIBUTE_HEADER_SIZE + FINGERPRINT_SIZE;
  if (size > PLEXUS_STUN_MAX_MESSAGE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "the STUN message would have %" G_GSIZE_FORMAT " bytes; at most %u are allowed",
                 size, PLEXUS_STUN_MAX_MESSAGE_SIZE);
    return NULL;
  }

  out = g_malloc0 (size);
  type = (self->method & 0x000f) | ((self->method & 0x0070) << 1) | ((self->method & 0x0f80) << 2) |
         ((self->klass & 1) << 4) | ((self->klass & 2) << 7);
  write16 (out, type);
  write32 (out + 4, PLEXUS_STUN_MAGIC_COOKIE);
  memcpy (out + 8, self->transaction_id, PLEXUS_STUN_TRANSACTION_ID_SIZE);

  pos = PLEXUS_STUN_HEADER_SIZE;
  for (guint i = 0; i < self->attributes->len; i++) {
    const Attribute *attr = &g_array_index (self->attributes, Attribute, i);

    if (is_computed_type (attr->type))
      continue;
    write16 (out + pos, attr->type);
    write16 (out + pos + 2, attr->length);
    memcpy (out + pos + ATTRIBUTE_HEADER_SIZE, self->data->data + attr->offset, attr->length);
    pos += ATTRIBUTE_HEADER_SIZE + attr->length;
    memcpy (out + pos, attr->padding, padded (attr->length) - attr->length);
    pos = PLEXUS_STUN_HEADER_SIZE + (padded (pos - PLEXUS_STUN_HEADER_SIZE));
  }

  if (integrity_key != NULL) {
    g_autoptr(GHmac) hmac = g_hmac_new (G_CHECKSUM_SHA1, integrity_key, integrity_key_length);
    gsize digest_size = INTEGRITY_SIZE;

    /* The length covers MESSAGE-INTEGRITY but not what follows it. */
    write16 (out + 2, pos + ATTRIBUTE_HEADER_SIZE + INTEGRITY_SIZE - PLEXUS_STUN_HEADER_SIZE);
    g_hmac_update (hmac, out, pos);
    write16 (out + pos, PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY);
    write16 (out + pos + 2, INTEGRITY_SIZE);
    g_hmac_get_digest (hmac, out + pos + ATTRIBUTE_HEADER_SIZE, &digest_size);
    pos += ATTRIBUTE_HEADER_SIZE + INTEGRITY_SIZE;
  }
  if (fingerprint) {
    write16 (out + 2, pos + ATTRIBUTE_HEADER_SIZE + FINGERPRINT_SIZE - PLEXUS_STUN_HEADER_SIZE);
    write16 (out + pos, PLEXUS_STUN_ATTR_FINGERPRINT);
    write16 (out + pos + 2, FINGERPRINT_SIZE);
    write32 (out + pos + ATTRIBUTE_HEADER_SIZE, compute_fingerprint (out, pos));
    pos += ATTRIBUTE_HEADER_SIZE + FINGERPRINT_SIZE;
  }
  write16 (out + 2, pos - PLEXUS_STUN_HEADER_SIZE);
  g_assert (pos == size);
  return g_bytes_new_take (out, size);
}

/**
 * plexus_stun_message_get_class:
 * @self: a message
 *
 * Returns: its class
 */
PlexusStunClass
plexus_stun_message_get_class (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, PLEXUS_STUN_CLASS_REQUEST);
  return self->klass;
}

/**
 * plexus_stun_message_get_method:
 * @self: a message
 *
 * Returns: its method, e.g. %PLEXUS_STUN_METHOD_BINDING
 */
guint16
plexus_stun_message_get_method (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->method;
}

/**
 * plexus_stun_message_get_transaction_id:
 * @self: a message
 *
 * Returns: (array fixed-size=12) (transfer none): its transaction ID
 */
const guint8 *
plexus_stun_message_get_transaction_id (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->transaction_id;
}

/**
 * plexus_stun_message_get_n_attributes:
 * @self: a message
 *
 * Returns: how many attributes it holds, MESSAGE-INTEGRITY and
 *   FINGERPRINT of a decoded message included
 */
guint
plexus_stun_message_get_n_attributes (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->attributes->len;
}

/**
 * plexus_stun_message_get_attribute_at:
 * @self: a message
 * @index: 0 .. plexus_stun_message_get_n_attributes() - 1
 * @type: (out) (optional): the attribute's type
 * @length: (out) (optional): the size of its value
 *
 * Returns: (transfer none) (array length=length): its value, valid while
 *   @self lives and gets no attribute added
 */
const guint8 *
plexus_stun_message_get_attribute_at (PlexusStunMessage *self, guint index, guint16 *type, gsize *length)
{
  const Attribute *attr;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (index < self->attributes->len, NULL);

  attr = &g_array_index (self->attributes, Attribute, index);
  if (type != NULL)
    *type = attr->type;
  if (length != NULL)
    *length = attr->length;
  return self->data->data + attr->offset;
}

/**
 * plexus_stun_message_get_attribute:
 * @self: a message
 * @type: an attribute type
 * @length: (out) (optional): the size of its value
 *
 * Returns: (transfer none) (nullable): the value of the first attribute
 *   of @type, or %NULL if there is none
 */
const guint8 *
plexus_stun_message_get_attribute (PlexusStunMessage *self, guint16 type, gsize *length)
{
  g_return_val_if_fail (self != NULL, NULL);

  for (guint i = 0; i < self->attributes->len; i++) {
    const Attribute *attr = &g_array_index (self->attributes, Attribute, i);

    if (attr->type == type) {
      if (length != NULL)
        *length = attr->length;
      return self->data->data + attr->offset;
    }
  }
  if (length != NULL)
    *length = 0;
  return NULL;
}

/**
 * plexus_stun_message_has_integrity:
 * @self: a message
 *
 * Returns: whether it was decoded with a MESSAGE-INTEGRITY
 */
gboolean
plexus_stun_message_has_integrity (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->integrity_at != 0;
}

/**
 * plexus_stun_message_has_fingerprint:
 * @self: a message
 *
 * Returns: whether it was decoded with a (correct) FINGERPRINT
 */
gboolean
plexus_stun_message_has_fingerprint (PlexusStunMessage *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->has_fingerprint;
}

/**
 * plexus_stun_message_add_attribute_with_padding:
 * @self: a message
 * @type: the attribute type; not MESSAGE-INTEGRITY(-SHA256) or
 *   FINGERPRINT, which plexus_stun_message_encode() computes
 * @value: (array length=length) (nullable): its value
 * @length: its size
 * @padding: the byte to pad the value to four bytes with (RFC 8489 says
 *   any value; the RFC 5769 vectors use spaces)
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with a %PLEXUS_ERROR_INVALID_ARGUMENT error
 *   when the type is one of those computed or the message would grow past
 *   %PLEXUS_STUN_MAX_MESSAGE_SIZE
 */
gboolean
plexus_stun_message_add_attribute_with_padding (PlexusStunMessage *self,
                                                guint16            type,
                                                const guint8      *value,
                                                gsize              length,
                                                guint8             padding,
                                                GError           **error)
{
  Attribute attr = { 0, };

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (value != NULL || length == 0, FALSE);

  if (is_computed_type (type)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "attribute 0x%04x is computed when the message is encoded", type);
    return FALSE;
  }
  if (length > PLEXUS_STUN_MAX_MESSAGE_SIZE ||
      PLEXUS_STUN_HEADER_SIZE + attributes_size (self) + ATTRIBUTE_HEADER_SIZE + padded (length) >
      PLEXUS_STUN_MAX_MESSAGE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "attribute 0x%04x of %" G_GSIZE_FORMAT " bytes makes the message larger than %u bytes",
                 type, length, PLEXUS_STUN_MAX_MESSAGE_SIZE);
    return FALSE;
  }
  attr.type = type;
  attr.length = length;
  attr.offset = self->data->len;
  memset (attr.padding, padding, sizeof attr.padding);
  if (length > 0)
    g_byte_array_append (self->data, value, length);
  g_array_append_val (self->attributes, attr);
  return TRUE;
}

/**
 * plexus_stun_message_add_attribute:
 * @self: a message
 * @type: the attribute type
 * @value: (array length=length) (nullable): its value
 * @length: its size
 * @error: return location for a #GError
 *
 * plexus_stun_message_add_attribute_with_padding() with zero bytes as
 * padding.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_stun_message_add_attribute (PlexusStunMessage *self,
                                   guint16            type,
                                   const guint8      *value,
                                   gsize              length,
                                   GError           **error)
{
  return plexus_stun_message_add_attribute_with_padding (self, type, value, length, 0, error);
}

static gboolean
add_address (PlexusStunMessage *self, guint16 type, const PlexusStunAddress *address,
             gboolean xor, GError **error)
{
  guint8 value[20] = { 0, };
  gsize size;
  guint16 port = address->port;

  if (address->family != G_SOCKET_FAMILY_IPV4 && address->family != G_SOCKET_FAMILY_IPV6) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                         "a STUN address must be IPv4 or IPv6");
    return FALSE;
  }
  size = address_size (address);
  value[1] = address->family == G_SOCKET_FAMILY_IPV4 ? 0x01 : 0x02;
  memcpy (value + 4, address->bytes, size);
  if (xor) {
    guint8 mask[16];

    write32 (mask, PLEXUS_STUN_MAGIC_COOKIE);
    memcpy (mask + 4, self->transaction_id, PLEXUS_STUN_TRANSACTION_ID_SIZE);
    port ^= PLEXUS_STUN_MAGIC_COOKIE >> 16;
    for (gsize i = 0; i < size; i++)
      value[4 + i] ^= mask[i];
  }
  write16 (value + 2, port);
  return plexus_stun_message_add_attribute (self, type, value, 4 + size, error);
}

/**
 * plexus_stun_message_add_xor_mapped_address:
 * @self: a message
 * @address: the address
 * @error: return location for a #GError
 *
 * Adds XOR-MAPPED-ADDRESS, obfuscated with the magic cookie and, for
 * IPv6, the transaction ID.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_stun_message_add_xor_mapped_address (PlexusStunMessage       *self,
                                            const PlexusStunAddress *address,
                                            GError                 **error)
{
  g_return_val_if_fail (self != NULL && address != NULL, FALSE);
  return add_address (self, PLEXUS_STUN_ATTR_XOR_MAPPED_ADDRESS, address, TRUE, error);
}

/**
 * plexus_stun_message_add_mapped_address:
 * @self: a message
 * @address: the address
 * @error: return location for a #GError
 *
 * Adds MAPPED-ADDRESS, for RFC 3489 clients.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_stun_message_add_mapped_address (PlexusStunMessage       *self,
                                        const PlexusStunAddress *address,
                                        GError                 **error)
{
  g_return_val_if_fail (self != NULL && address != NULL, FALSE);
  return add_address (self, PLEXUS_STUN_ATTR_MAPPED_ADDRESS, address, FALSE, error);
}

/**
 * plexus_stun_message_add_software:
 * @self: a message
 * @software: UTF-8, at most %PLEXUS_STUN_MAX_SOFTWARE_SIZE bytes
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_stun_message_add_software (PlexusStunMessage *self, const gchar *software, GError **error)
{
  gsize length;

  g_return_val_if_fail (self != NULL && software != NULL, FALSE);

  length = strlen (software);
  if (length > PLEXUS_STUN_MAX_SOFTWARE_SIZE || !g_utf8_validate (software, length, NULL)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "SOFTWARE must be UTF-8 of at most %u bytes", PLEXUS_STUN_MAX_SOFTWARE_SIZE);
    return FALSE;
  }
  return plexus_stun_message_add_attribute (self, PLEXUS_STUN_ATTR_SOFTWARE,
                                            (const guint8 *) software, length, error);
}

/**
 * plexus_stun_message_add_error_code:
 * @self: a message
 * @code: 300..699
 * @reason: a short UTF-8 reason phrase
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_stun_message_add_error_code (PlexusStunMessage *self, guint code, const gchar *reason, GError **error)
{
  guint8 value[4 + MAX_REASON_SIZE];
  gsize length;

  g_return_val_if_fail (self != NULL && reason != NULL, FALSE);

  length = strlen (reason);
  if (code < 300 || code > 699 || length > MAX_REASON_SIZE || !g_utf8_validate (reason, length, NULL)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "ERROR-CODE needs a code of 300..699 and a UTF-8 reason of at most %u bytes",
                 MAX_REASON_SIZE);
    return FALSE;
  }
  value[0] = 0;
  value[1] = 0;
  value[2] = code / 100;
  value[3] = code % 100;
  memcpy (value + 4, reason, length);
  return plexus_stun_message_add_attribute (self, PLEXUS_STUN_ATTR_ERROR_CODE, value, 4 + length, error);
}

/**
 * plexus_stun_message_add_unknown_attributes:
 * @self: a message
 * @types: (array length=n_types): the attribute types not understood
 * @n_types: how many
 * @error: return location for a #GError
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_stun_message_add_unknown_attributes (PlexusStunMessage *self,
                                            const guint16     *types,
                                            guint              n_types,
                                            GError           **error)
{
  g_autofree guint8 *value = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (types != NULL || n_types == 0, FALSE);

  if (n_types > PLEXUS_STUN_MAX_MESSAGE_SIZE / 2) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "%u unknown attributes do not fit in a message", n_types);
    return FALSE;
  }
  value = g_malloc (MAX (n_types, 1) * 2);
  for (guint i = 0; i < n_types; i++)
    write16 (value + 2 * i, types[i]);
  return plexus_stun_message_add_attribute (self, PLEXUS_STUN_ATTR_UNKNOWN_ATTRIBUTES,
                                            value, 2 * (gsize) n_types, error);
}

static gboolean
get_address (PlexusStunMessage *self, guint16 type, const gchar *name, gboolean xor,
             PlexusStunAddress *address, GError **error)
{
  gsize length = 0;
  const guint8 *value = plexus_stun_message_get_attribute (self, type, &length);
  gsize size;

  memset (address, 0, sizeof *address);
  if (value == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND, "the message has no %s", name);
    return FALSE;
  }
  if (length == 8 && value[1] == 0x01) {
    address->family = G_SOCKET_FAMILY_IPV4;
  } else if (length == 20 && value[1] == 0x02) {
    address->family = G_SOCKET_FAMILY_IPV6;
  } else {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s has family 0x%02x and %" G_GSIZE_FORMAT " bytes; expected 0x01 with 8 "
                 "(IPv4) or 0x02 with 20 (IPv6)", name, length >= 2 ? value[1] : 0, length);
    return FALSE;
  }
  size = address_size (address);
  address->port = read16 (value + 2);
  memcpy (address->bytes, value + 4, size);
  if (xor) {
    guint8 mask[16];

    write32 (mask, PLEXUS_STUN_MAGIC_COOKIE);
    memcpy (mask + 4, self->transaction_id, PLEXUS_STUN_TRANSACTION_ID_SIZE);
    address->port ^= PLEXUS_STUN_MAGIC_COOKIE >> 16;
    for (gsize i = 0; i < size; i++)
      address->bytes[i] ^= mask[i];
  }
  return TRUE;
}

/**
 * plexus_stun_message_get_xor_mapped_address:
 * @self: a message
 * @address: (out caller-allocates): the address
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with %PLEXUS_ERROR_NOT_FOUND when there is no
 *   XOR-MAPPED-ADDRESS, %PLEXUS_ERROR_INVALID_DATA when it does not parse
 */
gboolean
plexus_stun_message_get_xor_mapped_address (PlexusStunMessage *self, PlexusStunAddress *address, GError **error)
{
  g_return_val_if_fail (self != NULL && address != NULL, FALSE);
  return get_address (self, PLEXUS_STUN_ATTR_XOR_MAPPED_ADDRESS, "XOR-MAPPED-ADDRESS", TRUE, address, error);
}

/**
 * plexus_stun_message_get_mapped_address:
 * @self: a message
 * @address: (out caller-allocates): the address
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with an error as for
 *   plexus_stun_message_get_xor_mapped_address()
 */
gboolean
plexus_stun_message_get_mapped_address (PlexusStunMessage *self, PlexusStunAddress *address, GError **error)
{
  g_return_val_if_fail (self != NULL && address != NULL, FALSE);
  return get_address (self, PLEXUS_STUN_ATTR_MAPPED_ADDRESS, "MAPPED-ADDRESS", FALSE, address, error);
}

/**
 * plexus_stun_message_get_error_code:
 * @self: a message
 * @code: (out) (optional): the code, 300..699
 * @reason: (out) (optional) (transfer full): the reason phrase, made
 *   valid UTF-8
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with %PLEXUS_ERROR_NOT_FOUND when there is no
 *   ERROR-CODE, %PLEXUS_ERROR_INVALID_DATA when it does not parse
 */
gboolean
plexus_stun_message_get_error_code (PlexusStunMessage *self, guint *code, gchar **reason, GError **error)
{
  gsize length = 0;
  const guint8 *value;
  guint klass;
  guint number;

  g_return_val_if_fail (self != NULL, FALSE);

  value = plexus_stun_message_get_attribute (self, PLEXUS_STUN_ATTR_ERROR_CODE, &length);
  if (value == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND, "the message has no ERROR-CODE");
    return FALSE;
  }
  if (length < 4 || length > 4 + MAX_REASON_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "ERROR-CODE has %" G_GSIZE_FORMAT " bytes; expected 4 to %u", length, 4 + MAX_REASON_SIZE);
    return FALSE;
  }
  klass = value[2] & 0x07;
  number = value[3];
  if (klass < 3 || klass > 6 || number > 99) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "ERROR-CODE has class %u and number %u; expected 3..6 and 0..99", klass, number);
    return FALSE;
  }
  if (code != NULL)
    *code = klass * 100 + number;
  if (reason != NULL)
    *reason = g_utf8_make_valid ((const gchar *) value + 4, length - 4);
  return TRUE;
}

/**
 * plexus_stun_message_dup_software:
 * @self: a message
 *
 * Returns: (transfer full) (nullable): the SOFTWARE value made valid
 *   UTF-8, or %NULL if there is none
 */
gchar *
plexus_stun_message_dup_software (PlexusStunMessage *self)
{
  gsize length = 0;
  const guint8 *value;

  g_return_val_if_fail (self != NULL, NULL);

  value = plexus_stun_message_get_attribute (self, PLEXUS_STUN_ATTR_SOFTWARE, &length);
  if (value == NULL)
    return NULL;
  return g_utf8_make_valid ((const gchar *) value, length);
}

/**
 * plexus_stun_message_check_integrity:
 * @self: a decoded message
 * @key: (array length=key_length): the key, as for
 *   plexus_stun_message_encode()
 * @key_length: its size
 *
 * Checks MESSAGE-INTEGRITY over the bytes as they were received.
 *
 * Returns: whether the message has a MESSAGE-INTEGRITY and it matches
 */
gboolean
plexus_stun_message_check_integrity (PlexusStunMessage *self, const guint8 *key, gsize key_length)
{
  g_autoptr(GHmac) hmac = NULL;
  guint8 header[PLEXUS_STUN_HEADER_SIZE];
  guint8 digest[INTEGRITY_SIZE];
  gsize digest_size = sizeof digest;
  const guint8 *received;
  guint8 diff = 0;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (key != NULL || key_length == 0, FALSE);

  if (self->integrity_at == 0)
    return FALSE;
  /* The length as it was when the sender computed the HMAC: up to the end
   * of MESSAGE-INTEGRITY. */
  memcpy (header, self->data->data, PLEXUS_STUN_HEADER_SIZE);
  write16 (header + 2, self->integrity_at + ATTRIBUTE_HEADER_SIZE + INTEGRITY_SIZE - PLEXUS_STUN_HEADER_SIZE);
  hmac = g_hmac_new (G_CHECKSUM_SHA1, key, key_length);
  g_hmac_update (hmac, header, sizeof header);
  g_hmac_update (hmac, self->data->data + PLEXUS_STUN_HEADER_SIZE,
                 self->integrity_at - PLEXUS_STUN_HEADER_SIZE);
  g_hmac_get_digest (hmac, digest, &digest_size);
  received = self->data->data + self->integrity_at + ATTRIBUTE_HEADER_SIZE;
  /* Constant time, so a forger learns nothing from how long it takes. */
  for (guint i = 0; i < INTEGRITY_SIZE; i++)
    diff |= digest[i] ^ received[i];
  return diff == 0;
}

/**
 * plexus_stun_long_term_key:
 * @username: the user name
 * @realm: the realm
 * @password: the password, already processed by OpaqueString (RFC 8265)
 *   where it needs it
 * @key: (out caller-allocates) (array fixed-size=16): the key
 *
 * The MESSAGE-INTEGRITY key for long-term credentials, MD5 of
 * `username:realm:password` (RFC 8489 §9.2.2).
 */
void
plexus_stun_long_term_key (const gchar *username, const gchar *realm, const gchar *password, guint8 *key)
{
  g_autoptr(GChecksum) md5 = g_checksum_new (G_CHECKSUM_MD5);
  gsize size = 16;

  g_return_if_fail (username != NULL && realm != NULL && password != NULL && key != NULL);

  g_checksum_update (md5, (const guchar *) username, -1);
  g_checksum_update (md5, (const guchar *) ":", 1);
  g_checksum_update (md5, (const guchar *) realm, -1);
  g_checksum_update (md5, (const guchar *) ":", 1);
  g_checksum_update (md5, (const guchar *) password, -1);
  g_checksum_get_digest (md5, key, &size);
}
