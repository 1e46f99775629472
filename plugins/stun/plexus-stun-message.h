/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* STUN messages (RFC 8489): a sans-I/O codec. Decoding never trusts a
 * length it has not checked against the bytes it holds; encoding computes
 * MESSAGE-INTEGRITY and FINGERPRINT itself. */

/**
 * PLEXUS_STUN_MAGIC_COOKIE:
 *
 * The fixed value in bytes 4..7 of every RFC 5389/8489 STUN message.
 */
#define PLEXUS_STUN_MAGIC_COOKIE 0x2112A442u

/**
 * PLEXUS_STUN_HEADER_SIZE:
 *
 * The size of the STUN header in bytes.
 */
#define PLEXUS_STUN_HEADER_SIZE 20

/**
 * PLEXUS_STUN_TRANSACTION_ID_SIZE:
 *
 * The size of a transaction ID in bytes.
 */
#define PLEXUS_STUN_TRANSACTION_ID_SIZE 12

/**
 * PLEXUS_STUN_MAX_MESSAGE_SIZE:
 *
 * The largest message the codec decodes or encodes, header included.
 * Binding needs far less; anything larger is refused before it is read.
 */
#define PLEXUS_STUN_MAX_MESSAGE_SIZE 2048

/**
 * PLEXUS_STUN_MAX_ATTRIBUTES:
 *
 * The most attributes a decoded message may hold.
 */
#define PLEXUS_STUN_MAX_ATTRIBUTES 64

/**
 * PLEXUS_STUN_MAX_SOFTWARE_SIZE:
 *
 * The longest SOFTWARE value in bytes (RFC 8489 §14.14: fewer than 128
 * characters, at most 763 bytes); the codec keeps to 127 bytes.
 */
#define PLEXUS_STUN_MAX_SOFTWARE_SIZE 127

/**
 * PLEXUS_STUN_METHOD_BINDING:
 *
 * The Binding method, the only one the server answers.
 */
#define PLEXUS_STUN_METHOD_BINDING 0x001

/**
 * PlexusStunClass:
 * @PLEXUS_STUN_CLASS_REQUEST: a request
 * @PLEXUS_STUN_CLASS_INDICATION: an indication (no answer expected)
 * @PLEXUS_STUN_CLASS_SUCCESS_RESPONSE: a success response
 * @PLEXUS_STUN_CLASS_ERROR_RESPONSE: an error response
 *
 * The class of a STUN message, the two class bits of its type.
 */
typedef enum {
  PLEXUS_STUN_CLASS_REQUEST = 0,
  PLEXUS_STUN_CLASS_INDICATION = 1,
  PLEXUS_STUN_CLASS_SUCCESS_RESPONSE = 2,
  PLEXUS_STUN_CLASS_ERROR_RESPONSE = 3,
} PlexusStunClass;

/* Attribute types (RFC 8489 §18.3, RFC 8445 §16.1, RFC 5780 §7). Below
 * 0x8000 they are comprehension-required. */
#define PLEXUS_STUN_ATTR_MAPPED_ADDRESS           0x0001
#define PLEXUS_STUN_ATTR_CHANGE_REQUEST           0x0003
#define PLEXUS_STUN_ATTR_USERNAME                 0x0006
#define PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY        0x0008
#define PLEXUS_STUN_ATTR_ERROR_CODE               0x0009
#define PLEXUS_STUN_ATTR_UNKNOWN_ATTRIBUTES       0x000A
#define PLEXUS_STUN_ATTR_REALM                    0x0014
#define PLEXUS_STUN_ATTR_NONCE                    0x0015
#define PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 0x001C
#define PLEXUS_STUN_ATTR_PASSWORD_ALGORITHM       0x001D
#define PLEXUS_STUN_ATTR_USERHASH                 0x001E
#define PLEXUS_STUN_ATTR_XOR_MAPPED_ADDRESS       0x0020
#define PLEXUS_STUN_ATTR_PRIORITY                 0x0024
#define PLEXUS_STUN_ATTR_USE_CANDIDATE            0x0025
#define PLEXUS_STUN_ATTR_PADDING                  0x0026
#define PLEXUS_STUN_ATTR_RESPONSE_PORT            0x0027
#define PLEXUS_STUN_ATTR_PASSWORD_ALGORITHMS      0x8002
#define PLEXUS_STUN_ATTR_ALTERNATE_DOMAIN         0x8003
#define PLEXUS_STUN_ATTR_SOFTWARE                 0x8022
#define PLEXUS_STUN_ATTR_ALTERNATE_SERVER         0x8023
#define PLEXUS_STUN_ATTR_FINGERPRINT              0x8028
#define PLEXUS_STUN_ATTR_ICE_CONTROLLED           0x8029
#define PLEXUS_STUN_ATTR_ICE_CONTROLLING          0x802A
#define PLEXUS_STUN_ATTR_RESPONSE_ORIGIN          0x802B
#define PLEXUS_STUN_ATTR_OTHER_ADDRESS            0x802C

/**
 * PLEXUS_STUN_ATTR_IS_COMPREHENSION_REQUIRED:
 * @type: an attribute type
 *
 * Whether an agent that does not know @type must refuse the message.
 */
#define PLEXUS_STUN_ATTR_IS_COMPREHENSION_REQUIRED(type) (((type) & 0x8000) == 0)

/**
 * PlexusStunDecodeStatus:
 * @PLEXUS_STUN_DECODE_OK: a valid STUN message
 * @PLEXUS_STUN_DECODE_NOT_STUN: not a STUN message at all (first bits,
 *   magic cookie, length); never answered
 * @PLEXUS_STUN_DECODE_TOO_LARGE: larger than %PLEXUS_STUN_MAX_MESSAGE_SIZE
 * @PLEXUS_STUN_DECODE_BAD_FINGERPRINT: a FINGERPRINT that does not match
 *   or is not last; the message is not for us, never answered
 * @PLEXUS_STUN_DECODE_MALFORMED: a STUN header with attributes that do
 *   not parse (lengths, padding, too many); a request may be answered 400
 *
 * Why plexus_stun_message_decode() refused bytes, so that a server can
 * count it and decide whether an answer is due.
 */
typedef enum {
  PLEXUS_STUN_DECODE_OK,
  PLEXUS_STUN_DECODE_NOT_STUN,
  PLEXUS_STUN_DECODE_TOO_LARGE,
  PLEXUS_STUN_DECODE_BAD_FINGERPRINT,
  PLEXUS_STUN_DECODE_MALFORMED,
} PlexusStunDecodeStatus;

/**
 * PlexusStunAddress:
 * @family: %G_SOCKET_FAMILY_IPV4 or %G_SOCKET_FAMILY_IPV6
 * @port: the port, host byte order
 * @bytes: the address in network byte order: 4 bytes for IPv4, 16 for IPv6
 *
 * A transport address as STUN carries it: a plain value, cheap to copy
 * and compare, so the engines need no GObject per packet.
 */
typedef struct {
  GSocketFamily family;
  guint16       port;
  guint8        bytes[16];
} PlexusStunAddress;

gboolean  plexus_stun_address_from_socket_address (GSocketAddress    *address,
                                                   PlexusStunAddress *out);
GSocketAddress *plexus_stun_address_to_socket_address (const PlexusStunAddress *address);
gboolean  plexus_stun_address_parse (const gchar       *ip,
                                     guint16            port,
                                     PlexusStunAddress *out);
gboolean  plexus_stun_address_equal (const PlexusStunAddress *a,
                                     const PlexusStunAddress *b);
gboolean  plexus_stun_address_equal_ip (const PlexusStunAddress *a,
                                        const PlexusStunAddress *b);
gchar    *plexus_stun_address_to_string (const PlexusStunAddress *address);

typedef struct _PlexusStunMessage PlexusStunMessage;

#define PLEXUS_TYPE_STUN_MESSAGE (plexus_stun_message_get_type ())
GType               plexus_stun_message_get_type (void) G_GNUC_CONST;

PlexusStunMessage  *plexus_stun_message_new (PlexusStunClass klass,
                                             guint16         method,
                                             const guint8   *transaction_id);
PlexusStunMessage  *plexus_stun_message_ref (PlexusStunMessage *self);
void                plexus_stun_message_unref (PlexusStunMessage *self);

gsize               plexus_stun_message_peek_length (const guint8 *data,
                                                     gsize         length);
gboolean            plexus_stun_message_is_stun (const guint8 *data,
                                                 gsize         length);
PlexusStunMessage  *plexus_stun_message_decode (const guint8            *data,
                                                gsize                    length,
                                                PlexusStunDecodeStatus  *status,
                                                GError                 **error);
GBytes             *plexus_stun_message_encode (PlexusStunMessage *self,
                                                const guint8      *integrity_key,
                                                gsize              integrity_key_length,
                                                gboolean           fingerprint,
                                                GError           **error);

PlexusStunClass     plexus_stun_message_get_class (PlexusStunMessage *self);
guint16             plexus_stun_message_get_method (PlexusStunMessage *self);
const guint8       *plexus_stun_message_get_transaction_id (PlexusStunMessage *self);

guint               plexus_stun_message_get_n_attributes (PlexusStunMessage *self);
const guint8       *plexus_stun_message_get_attribute_at (PlexusStunMessage *self,
                                                          guint              index,
                                                          guint16           *type,
                                                          gsize             *length);
const guint8       *plexus_stun_message_get_attribute (PlexusStunMessage *self,
                                                       guint16            type,
                                                       gsize             *length);
gboolean            plexus_stun_message_has_integrity (PlexusStunMessage *self);
gboolean            plexus_stun_message_has_fingerprint (PlexusStunMessage *self);

gboolean            plexus_stun_message_add_attribute (PlexusStunMessage *self,
                                                       guint16            type,
                                                       const guint8      *value,
                                                       gsize              length,
                                                       GError           **error);
gboolean            plexus_stun_message_add_attribute_with_padding (PlexusStunMessage *self,
                                                                    guint16            type,
                                                                    const guint8      *value,
                                                                    gsize              length,
                                                                    guint8             padding,
                                                                    GError           **error);
gboolean            plexus_stun_message_add_xor_mapped_address (PlexusStunMessage       *self,
                                                                const PlexusStunAddress *address,
                                                                GError                 **error);
gboolean            plexus_stun_message_add_mapped_address (PlexusStunMessage       *self,
                                                            const PlexusStunAddress *address,
                                                            GError                 **error);
gboolean            plexus_stun_message_add_software (PlexusStunMessage *self,
                                                      const gchar       *software,
                                                      GError           **error);
gboolean            plexus_stun_message_add_error_code (PlexusStunMessage *self,
                                                        guint              code,
                                                        const gchar       *reason,
                                                        GError           **error);
gboolean            plexus_stun_message_add_unknown_attributes (PlexusStunMessage *self,
                                                                const guint16     *types,
                                                                guint              n_types,
                                                                GError           **error);

gboolean            plexus_stun_message_get_xor_mapped_address (PlexusStunMessage  *self,
                                                                PlexusStunAddress  *address,
                                                                GError            **error);
gboolean            plexus_stun_message_get_mapped_address (PlexusStunMessage  *self,
                                                            PlexusStunAddress  *address,
                                                            GError            **error);
gboolean            plexus_stun_message_get_error_code (PlexusStunMessage  *self,
                                                        guint              *code,
                                                        gchar             **reason,
                                                        GError            **error);
gchar              *plexus_stun_message_dup_software (PlexusStunMessage *self);

gboolean            plexus_stun_message_check_integrity (PlexusStunMessage *self,
                                                         const guint8      *key,
                                                         gsize              key_length);
void                plexus_stun_long_term_key (const gchar *username,
                                               const gchar *realm,
                                               const gchar *password,
                                               guint8      *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusStunMessage, plexus_stun_message_unref)

G_END_DECLS
