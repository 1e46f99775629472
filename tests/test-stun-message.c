/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

#include "plexus-stun-message.h"

/* The test vectors of RFC 5769, "Test Vectors for Session Traversal
 * Utilities for NAT (STUN)", R. Denis-Courmont, April 2010, sections 2.1
 * to 2.4 (https://www.rfc-editor.org/rfc/rfc5769), typed in from its hex
 * dumps. All share the short-term password below, except 2.4, which uses
 * long-term credentials. */

static const gchar short_term_password[] = "VOkJxbRl1RmTxUk/WvJxBt";

static const guint8 transaction_id[12] = {
  0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae
};

/* 2.1. Sample Request: SOFTWARE "STUN test client", PRIORITY, ICE-CONTROLLED,
 * USERNAME "evtj:h6vY" padded with spaces, MESSAGE-INTEGRITY, FINGERPRINT. */
static const guint8 sample_request[] = {
  0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
  0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
  0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c,
  0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
  0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
  0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
  0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
  0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
  0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* 2.2. Sample IPv4 Response: SOFTWARE "test vector", XOR-MAPPED-ADDRESS
 * 192.0.2.1:32853, MESSAGE-INTEGRITY, FINGERPRINT. */
static const guint8 sample_ipv4_response[] = {
  0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
  0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
  0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
  0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
  0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
  0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
  0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* 2.3. Sample IPv6 Response: the same with XOR-MAPPED-ADDRESS
 * [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const guint8 sample_ipv6_response[] = {
  0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01,
  0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
  0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
  0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
  0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
  0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,
  0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
  0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* 2.4. Sample Request with Long-Term Authentication: USERNAME
 * U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9, NONCE, REALM "example.org",
 * MESSAGE-INTEGRITY; no FINGERPRINT. The password "The<U+00AD>M<U+00AA>tr<U+2168>"
 * is "TheMatrIX" after SASLprep. */
static const guint8 sample_long_term_request[] = {
  0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33,
  0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12,
  0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83,
  0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00, 0x15, 0x00, 0x1c,
  0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
  0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79,
  0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d,
  0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14,
  0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02, 0xb8, 0xe0, 0x71,
  0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66,
};

static const gchar long_term_username[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

static void
assert_bytes_equal (GBytes *bytes, const guint8 *expected, gsize expected_length)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  g_assert_cmpmem (data, length, expected, expected_length);
}

static PlexusStunMessage *
decode_ok (const guint8 *data, gsize length)
{
  g_autoptr(GError) error = NULL;
  PlexusStunDecodeStatus status = PLEXUS_STUN_DECODE_MALFORMED;
  PlexusStunMessage *message = plexus_stun_message_decode (data, length, &status, &error);

  g_assert_no_error (error);
  g_assert_nonnull (message);
  g_assert_cmpint (status, ==, PLEXUS_STUN_DECODE_OK);
  return message;
}

/* A decoded message encodes, with the same key, to the very same bytes:
 * attributes in order, padding as received, MESSAGE-INTEGRITY and
 * FINGERPRINT computed again. */
static void
assert_reencodes (PlexusStunMessage *message, const guint8 *key, gsize key_length,
                  gboolean fingerprint, const guint8 *expected, gsize expected_length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  bytes = plexus_stun_message_encode (message, key, key_length, fingerprint, &error);
  g_assert_no_error (error);
  assert_bytes_equal (bytes, expected, expected_length);
}

static void
test_rfc5769_request (void)
{
  g_autoptr(PlexusStunMessage) message = decode_ok (sample_request, sizeof sample_request);
  g_autoptr(PlexusStunMessage) built = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *software = NULL;
  const guint8 *value;
  gsize length;
  static const guint8 priority[] = { 0x6e, 0x00, 0x01, 0xff };
  static const guint8 controlled[] = { 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36 };

  g_assert_cmpint (plexus_stun_message_get_class (message), ==, PLEXUS_STUN_CLASS_REQUEST);
  g_assert_cmpuint (plexus_stun_message_get_method (message), ==, PLEXUS_STUN_METHOD_BINDING);
  g_assert_cmpmem (plexus_stun_message_get_transaction_id (message), 12, transaction_id, 12);
  g_assert_cmpuint (plexus_stun_message_get_n_attributes (message), ==, 6);
  software = plexus_stun_message_dup_software (message);
  g_assert_cmpstr (software, ==, "STUN test client");
  value = plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_USERNAME, &length);
  g_assert_cmpmem (value, length, "evtj:h6vY", 9);
  value = plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_PRIORITY, &length);
  g_assert_cmpmem (value, length, priority, sizeof priority);
  g_assert_true (plexus_stun_message_has_fingerprint (message));
  g_assert_true (plexus_stun_message_check_integrity (message, (const guint8 *) short_term_password,
                                                      strlen (short_term_password)));
  g_assert_false (plexus_stun_message_check_integrity (message, (const guint8 *) "VOkJxbRl1RmTxUk/WvJxBT",
                                                       strlen (short_term_password)));
  assert_reencodes (message, (const guint8 *) short_term_password, strlen (short_term_password), TRUE,
                    sample_request, sizeof sample_request);

  /* Built from scratch the same way, it comes out the same. */
  built = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, transaction_id);
  g_assert_true (plexus_stun_message_add_software (built, "STUN test client", &error));
  g_assert_true (plexus_stun_message_add_attribute (built, PLEXUS_STUN_ATTR_PRIORITY, priority, 4, &error));
  g_assert_true (plexus_stun_message_add_attribute (built, PLEXUS_STUN_ATTR_ICE_CONTROLLED, controlled, 8, &error));
  g_assert_true (plexus_stun_message_add_attribute_with_padding (built, PLEXUS_STUN_ATTR_USERNAME,
                                                                 (const guint8 *) "evtj:h6vY", 9, ' ', &error));
  g_assert_no_error (error);
  assert_reencodes (built, (const guint8 *) short_term_password, strlen (short_term_password), TRUE,
                    sample_request, sizeof sample_request);
}

static void
check_response (const guint8 *data, gsize length, const gchar *expected_address, guint16 expected_port)
{
  g_autoptr(PlexusStunMessage) message = decode_ok (data, length);
  g_autoptr(PlexusStunMessage) built = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *software = NULL;
  g_autofree gchar *text = NULL;
  PlexusStunAddress address, expected;

  g_assert_cmpint (plexus_stun_message_get_class (message), ==, PLEXUS_STUN_CLASS_SUCCESS_RESPONSE);
  g_assert_cmpuint (plexus_stun_message_get_method (message), ==, PLEXUS_STUN_METHOD_BINDING);
  software = plexus_stun_message_dup_software (message);
  g_assert_cmpstr (software, ==, "test vector");
  g_assert_true (plexus_stun_message_get_xor_mapped_address (message, &address, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_stun_address_parse (expected_address, expected_port, &expected));
  g_assert_true (plexus_stun_address_equal (&address, &expected));
  text = plexus_stun_address_to_string (&address);
  g_assert_cmpstr (text, ==, strchr (expected_address, ':') != NULL
                               ? "[2001:db8:1234:5678:11:2233:4455:6677]:32853" : "192.0.2.1:32853");
  g_assert_true (plexus_stun_message_check_integrity (message, (const guint8 *) short_term_password,
                                                      strlen (short_term_password)));
  assert_reencodes (message, (const guint8 *) short_term_password, strlen (short_term_password), TRUE, data, length);

  built = plexus_stun_message_new (PLEXUS_STUN_CLASS_SUCCESS_RESPONSE, PLEXUS_STUN_METHOD_BINDING, transaction_id);
  g_assert_true (plexus_stun_message_add_attribute_with_padding (built, PLEXUS_STUN_ATTR_SOFTWARE,
                                                                 (const guint8 *) "test vector", 11, ' ', &error));
  g_assert_true (plexus_stun_message_add_xor_mapped_address (built, &expected, &error));
  g_assert_no_error (error);
  assert_reencodes (built, (const guint8 *) short_term_password, strlen (short_term_password), TRUE, data, length);
}

static void
test_rfc5769_ipv4_response (void)
{
  check_response (sample_ipv4_response, sizeof sample_ipv4_response, "192.0.2.1", 32853);
}

static void
test_rfc5769_ipv6_response (void)
{
  check_response (sample_ipv6_response, sizeof sample_ipv6_response,
                  "2001:db8:1234:5678:11:2233:4455:6677", 32853);
}

static void
test_rfc5769_long_term (void)
{
  g_autoptr(PlexusStunMessage) message = decode_ok (sample_long_term_request, sizeof sample_long_term_request);
  g_autoptr(PlexusStunMessage) built = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *value;
  gsize length;
  guint8 key[16];
  guint8 wrong_key[16];
  static const gchar nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
  static const guint8 id[12] = { 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e };

  value = plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_USERNAME, &length);
  g_assert_cmpmem (value, length, long_term_username, strlen (long_term_username));
  value = plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_NONCE, &length);
  g_assert_cmpmem (value, length, nonce, strlen (nonce));
  value = plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_REALM, &length);
  g_assert_cmpmem (value, length, "example.org", 11);
  g_assert_false (plexus_stun_message_has_fingerprint (message));

  plexus_stun_long_term_key (long_term_username, "example.org", "TheMatrIX", key);
  plexus_stun_long_term_key (long_term_username, "example.org", "TheMatrix", wrong_key);
  g_assert_true (plexus_stun_message_check_integrity (message, key, sizeof key));
  g_assert_false (plexus_stun_message_check_integrity (message, wrong_key, sizeof wrong_key));
  assert_reencodes (message, key, sizeof key, FALSE, sample_long_term_request, sizeof sample_long_term_request);

  built = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, id);
  g_assert_true (plexus_stun_message_add_attribute (built, PLEXUS_STUN_ATTR_USERNAME,
                                                    (const guint8 *) long_term_username,
                                                    strlen (long_term_username), &error));
  g_assert_true (plexus_stun_message_add_attribute (built, PLEXUS_STUN_ATTR_NONCE,
                                                    (const guint8 *) nonce, strlen (nonce), &error));
  g_assert_true (plexus_stun_message_add_attribute (built, PLEXUS_STUN_ATTR_REALM,
                                                    (const guint8 *) "example.org", 11, &error));
  g_assert_no_error (error);
  assert_reencodes (built, key, sizeof key, FALSE, sample_long_term_request, sizeof sample_long_term_request);
}

static void
assert_refused (const guint8 *data, gsize length, PlexusStunDecodeStatus expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusStunMessage) message = NULL;
  PlexusStunDecodeStatus status = PLEXUS_STUN_DECODE_OK;

  message = plexus_stun_message_decode (data, length, &status, &error);
  g_assert_null (message);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpint (status, ==, expected);
}

/* Every prefix of a valid message is refused, none read past its end
 * (valgrind and ASan watch), and none counts as a message. */
static void
test_truncated (void)
{
  for (gsize n = 0; n < sizeof sample_request; n++) {
    g_autofree guint8 *copy = g_memdup2 (sample_request, n);

    assert_refused (copy, n, PLEXUS_STUN_DECODE_NOT_STUN);
    g_assert_false (plexus_stun_message_is_stun (copy, n));
  }
  g_assert_true (plexus_stun_message_is_stun (sample_request, sizeof sample_request));
}

static void
test_not_stun (void)
{
  guint8 copy[sizeof sample_ipv4_response];
  static const guint8 rtp[] = { 0x80, 0x00, 0x00, 0x01, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

  /* Wrong magic cookie: an RFC 3489 message or another protocol. */
  memcpy (copy, sample_ipv4_response, sizeof copy);
  copy[7] ^= 1;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_NOT_STUN);
  g_assert_cmpuint (plexus_stun_message_peek_length (copy, sizeof copy), ==, 0);
  /* First two bits set (RTP, DTLS). */
  assert_refused (rtp, sizeof rtp, PLEXUS_STUN_DECODE_NOT_STUN);
  /* A length that is not a multiple of 4. */
  memcpy (copy, sample_ipv4_response, sizeof copy);
  copy[3] = 0x3d;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_NOT_STUN);
  /* A length that says less than the datagram holds. */
  memcpy (copy, sample_ipv4_response, sizeof copy);
  copy[3] = 0x38;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_NOT_STUN);
}

static void
test_bad_fingerprint (void)
{
  guint8 copy[sizeof sample_request];

  /* A flipped bit anywhere before FINGERPRINT, e.g. in PRIORITY. */
  memcpy (copy, sample_request, sizeof copy);
  copy[45] ^= 0x10;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_BAD_FINGERPRINT);
  /* The CRC itself. */
  memcpy (copy, sample_request, sizeof copy);
  copy[sizeof copy - 1] ^= 0x01;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_BAD_FINGERPRINT);
}

static void
test_fingerprint_not_last (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusStunMessage) message = NULL;
  g_autoptr(GBytes) bytes = NULL;
  guint8 copy[64];
  gsize length;
  const guint8 *data;
  static const guint8 fingerprint[] = { 0x80, 0x28, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00 };

  /* A FINGERPRINT in the middle, followed by SOFTWARE. */
  message = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, transaction_id);
  g_assert_true (plexus_stun_message_add_software (message, "abcd", &error));
  bytes = plexus_stun_message_encode (message, NULL, 0, FALSE, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (bytes, &length);
  g_assert_cmpuint (length, ==, 28);
  memcpy (copy, data, 20);
  memcpy (copy + 20, fingerprint, 8);
  memcpy (copy + 28, data + 20, 8);
  copy[3] = 16;
  assert_refused (copy, 36, PLEXUS_STUN_DECODE_BAD_FINGERPRINT);
}

static void
test_malformed_attributes (void)
{
  guint8 copy[sizeof sample_ipv4_response];
  g_autoptr(GByteArray) many = g_byte_array_new ();
  guint8 header[20];

  /* SOFTWARE claims more bytes than the message holds; FINGERPRINT is
   * gone so that the attributes are read. */
  memcpy (copy, sample_ipv4_response, sizeof copy);
  copy[sizeof copy - 8] = 0x80;
  copy[sizeof copy - 7] = 0x99;
  copy[23] = 0xf0;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_MALFORMED);
  /* The value plus its padding runs past the end by one byte. */
  memcpy (copy, sample_ipv4_response, sizeof copy);
  copy[sizeof copy - 8] = 0x80;
  copy[sizeof copy - 7] = 0x99;
  copy[sizeof copy - 5] = 0x05;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_MALFORMED);
  /* MESSAGE-INTEGRITY of the wrong size. */
  memcpy (copy, sample_ipv4_response, sizeof copy);
  copy[sizeof copy - 8] = 0x80;
  copy[sizeof copy - 7] = 0x99;
  copy[51] = 0x10;
  assert_refused (copy, sizeof copy, PLEXUS_STUN_DECODE_MALFORMED);

  /* Too many attributes: 65 empty ones. */
  memcpy (header, sample_request, 20);
  g_byte_array_append (many, header, 20);
  for (guint i = 0; i <= PLEXUS_STUN_MAX_ATTRIBUTES; i++) {
    static const guint8 empty[] = { 0x80, 0x99, 0x00, 0x00 };

    g_byte_array_append (many, empty, 4);
  }
  many->data[2] = ((many->len - 20) >> 8) & 0xff;
  many->data[3] = (many->len - 20) & 0xff;
  assert_refused (many->data, many->len, PLEXUS_STUN_DECODE_MALFORMED);
  /* One fewer passes. */
  many->len -= 4;
  many->data[2] = ((many->len - 20) >> 8) & 0xff;
  many->data[3] = (many->len - 20) & 0xff;
  {
    g_autoptr(PlexusStunMessage) message = decode_ok (many->data, many->len);

    g_assert_cmpuint (plexus_stun_message_get_n_attributes (message), ==, PLEXUS_STUN_MAX_ATTRIBUTES);
  }
}

static void
test_oversized (void)
{
  g_autofree guint8 *big = g_malloc0 (PLEXUS_STUN_MAX_MESSAGE_SIZE + 4);
  g_autoptr(PlexusStunMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *value = g_malloc0 (PLEXUS_STUN_MAX_MESSAGE_SIZE);

  memcpy (big, sample_request, 20);
  big[2] = ((PLEXUS_STUN_MAX_MESSAGE_SIZE + 4 - 20) >> 8) & 0xff;
  big[3] = (PLEXUS_STUN_MAX_MESSAGE_SIZE + 4 - 20) & 0xff;
  assert_refused (big, PLEXUS_STUN_MAX_MESSAGE_SIZE + 4, PLEXUS_STUN_DECODE_TOO_LARGE);

  /* Nor does the encoder write one. */
  message = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL);
  g_assert_true (plexus_stun_message_add_attribute (message, 0x8099, value,
                                                    PLEXUS_STUN_MAX_MESSAGE_SIZE - 20 - 4, &error));
  g_assert_no_error (error);
  g_assert_false (plexus_stun_message_add_attribute (message, 0x8099, value, 1, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  {
    g_autoptr(GBytes) fits = plexus_stun_message_encode (message, NULL, 0, FALSE, &error);
    g_autoptr(GBytes) too_big = NULL;

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (fits), ==, PLEXUS_STUN_MAX_MESSAGE_SIZE);
    too_big = plexus_stun_message_encode (message, NULL, 0, TRUE, &error);
    g_assert_null (too_big);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  }
}

/* Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored
 * (RFC 8489 §14.5). */
static void
test_after_integrity_ignored (void)
{
  g_autoptr(GByteArray) array = g_byte_array_new ();
  g_autoptr(PlexusStunMessage) message = NULL;
  static const guint8 extra[] = { 0x80, 0x22, 0x00, 0x04, 'e', 'v', 'i', 'l' };
  gsize mi_end;

  /* RFC 5769 2.2 without FINGERPRINT, then another SOFTWARE. */
  mi_end = sizeof sample_ipv4_response - 8;
  g_byte_array_append (array, sample_ipv4_response, mi_end);
  g_byte_array_append (array, extra, sizeof extra);
  array->data[3] = array->len - 20;
  message = decode_ok (array->data, array->len);
  g_assert_cmpuint (plexus_stun_message_get_n_attributes (message), ==, 3);
  g_assert_true (plexus_stun_message_has_integrity (message));
  g_assert_true (plexus_stun_message_check_integrity (message, (const guint8 *) short_term_password,
                                                      strlen (short_term_password)));
}

static void
test_address_attributes (void)
{
  g_autoptr(PlexusStunMessage) message = NULL;
  g_autoptr(PlexusStunMessage) decoded = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  PlexusStunAddress v4, v6, got, mapped;
  guint code = 0;
  g_autofree gchar *reason = NULL;
  gsize length;
  const guint8 *value;
  static const guint16 unknown[] = { 0x0003, 0x0026, 0x7fff };

  g_assert_true (plexus_stun_address_parse ("203.0.113.7", 4000, &v4));
  g_assert_true (plexus_stun_address_parse ("2001:db8::1", 65535, &v6));
  g_assert_false (plexus_stun_address_parse ("not an address", 1, &got));

  message = plexus_stun_message_new (PLEXUS_STUN_CLASS_ERROR_RESPONSE, PLEXUS_STUN_METHOD_BINDING, transaction_id);
  g_assert_true (plexus_stun_message_add_xor_mapped_address (message, &v6, &error));
  g_assert_true (plexus_stun_message_add_mapped_address (message, &v4, &error));
  g_assert_true (plexus_stun_message_add_error_code (message, 420, "Unknown Attribute", &error));
  g_assert_true (plexus_stun_message_add_unknown_attributes (message, unknown, G_N_ELEMENTS (unknown), &error));
  g_assert_no_error (error);
  g_assert_false (plexus_stun_message_add_error_code (message, 700, "x", &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (plexus_stun_message_add_attribute (message, PLEXUS_STUN_ATTR_FINGERPRINT, NULL, 0, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  bytes = plexus_stun_message_encode (message, NULL, 0, TRUE, &error);
  g_assert_no_error (error);
  decoded = decode_ok (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_assert_cmpint (plexus_stun_message_get_class (decoded), ==, PLEXUS_STUN_CLASS_ERROR_RESPONSE);
  g_assert_true (plexus_stun_message_get_xor_mapped_address (decoded, &got, &error));
  g_assert_true (plexus_stun_address_equal (&got, &v6));
  g_assert_true (plexus_stun_message_get_mapped_address (decoded, &mapped, &error));
  g_assert_true (plexus_stun_address_equal (&mapped, &v4));
  g_assert_false (plexus_stun_address_equal (&mapped, &got));
  g_assert_true (plexus_stun_message_get_error_code (decoded, &code, &reason, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (code, ==, 420);
  g_assert_cmpstr (reason, ==, "Unknown Attribute");
  value = plexus_stun_message_get_attribute (decoded, PLEXUS_STUN_ATTR_UNKNOWN_ATTRIBUTES, &length);
  g_assert_cmpmem (value, length, "\x00\x03\x00\x26\x7f\xff", 6);

  /* No XOR-MAPPED-ADDRESS: not found, not invalid. */
  {
    g_autoptr(PlexusStunMessage) empty = plexus_stun_message_new (PLEXUS_STUN_CLASS_SUCCESS_RESPONSE,
                                                                  PLEXUS_STUN_METHOD_BINDING, NULL);

    g_assert_false (plexus_stun_message_get_xor_mapped_address (empty, &got, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND);
    g_clear_error (&error);
  }
  /* A bad family. */
  {
    g_autoptr(PlexusStunMessage) bad = plexus_stun_message_new (PLEXUS_STUN_CLASS_SUCCESS_RESPONSE,
                                                                PLEXUS_STUN_METHOD_BINDING, NULL);
    static const guint8 value3[] = { 0, 3, 0, 1, 1, 2, 3, 4 };

    g_assert_true (plexus_stun_message_add_attribute (bad, PLEXUS_STUN_ATTR_XOR_MAPPED_ADDRESS, value3, 8, NULL));
    g_assert_false (plexus_stun_message_get_xor_mapped_address (bad, &got, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_clear_error (&error);
  }

  /* Round trip through GSocketAddress, and v4-mapped v6 becomes v4. */
  socket_address = plexus_stun_address_to_socket_address (&v6);
  g_assert_true (plexus_stun_address_from_socket_address (socket_address, &got));
  g_assert_true (plexus_stun_address_equal (&got, &v6));
  g_clear_object (&socket_address);
  {
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string ("::ffff:203.0.113.7");

    socket_address = g_inet_socket_address_new (inet, 4000);
    g_assert_true (plexus_stun_address_from_socket_address (socket_address, &got));
    g_assert_true (plexus_stun_address_equal (&got, &v4));
  }
}

static void
test_random_transaction_ids (void)
{
  g_autoptr(PlexusStunMessage) a = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL);
  g_autoptr(PlexusStunMessage) b = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL);

  g_assert_true (memcmp (plexus_stun_message_get_transaction_id (a),
                         plexus_stun_message_get_transaction_id (b), 12) != 0);
}

static void
test_peek_length (void)
{
  g_assert_cmpuint (plexus_stun_message_peek_length (sample_request, 19), ==, 0);
  g_assert_cmpuint (plexus_stun_message_peek_length (sample_request, 20), ==, sizeof sample_request);
  g_assert_cmpuint (plexus_stun_message_peek_length ((const guint8 *) "GET / HTTP/1.1\r\nHost: x\r\n", 25), ==, 0);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/stun/message/rfc5769-request", test_rfc5769_request);
  g_test_add_func ("/plexus/stun/message/rfc5769-ipv4-response", test_rfc5769_ipv4_response);
  g_test_add_func ("/plexus/stun/message/rfc5769-ipv6-response", test_rfc5769_ipv6_response);
  g_test_add_func ("/plexus/stun/message/rfc5769-long-term", test_rfc5769_long_term);
  g_test_add_func ("/plexus/stun/message/truncated", test_truncated);
  g_test_add_func ("/plexus/stun/message/not-stun", test_not_stun);
  g_test_add_func ("/plexus/stun/message/bad-fingerprint", test_bad_fingerprint);
  g_test_add_func ("/plexus/stun/message/fingerprint-not-last", test_fingerprint_not_last);
  g_test_add_func ("/plexus/stun/message/malformed-attributes", test_malformed_attributes);
  g_test_add_func ("/plexus/stun/message/oversized", test_oversized);
  g_test_add_func ("/plexus/stun/message/after-integrity", test_after_integrity_ignored);
  g_test_add_func ("/plexus/stun/message/addresses", test_address_attributes);
  g_test_add_func ("/plexus/stun/message/transaction-ids", test_random_transaction_ids);
  g_test_add_func ("/plexus/stun/message/peek-length", test_peek_length);

  return g_test_run ();
}
