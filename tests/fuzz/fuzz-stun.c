/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-error.h"
#include "plexus-stun-message.h"
#include "fuzz-common.h"

/* Every datagram and every message on a TCP connection to the STUN port
 * comes from anyone on the network: plexus_stun_message_decode() must turn
 * any bytes into either a message or a PLEXUS_ERROR_INVALID_DATA error
 * with a status saying why, reading nothing past the input. What it
 * accepts must encode again (MESSAGE-INTEGRITY and FINGERPRINT aside,
 * which the encoder computes) to bytes that decode to the same message,
 * and every getter must cope with whatever values the attributes hold. */

static void
check_same (PlexusStunMessage *a, PlexusStunMessage *b)
{
  guint j = 0;

  FUZZ_CHECK (plexus_stun_message_get_class (a) == plexus_stun_message_get_class (b), "class changed");
  FUZZ_CHECK (plexus_stun_message_get_method (a) == plexus_stun_message_get_method (b), "method changed");
  FUZZ_CHECK (memcmp (plexus_stun_message_get_transaction_id (a),
                      plexus_stun_message_get_transaction_id (b), PLEXUS_STUN_TRANSACTION_ID_SIZE) == 0,
              "transaction ID changed");
  /* b holds a's attributes in order, without the computed ones. */
  for (guint i = 0; i < plexus_stun_message_get_n_attributes (a); i++) {
    guint16 type_a, type_b;
    gsize length_a, length_b;
    const guint8 *value_a = plexus_stun_message_get_attribute_at (a, i, &type_a, &length_a);
    const guint8 *value_b;

    if (type_a == PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY || type_a == PLEXUS_STUN_ATTR_FINGERPRINT ||
        type_a == PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
      continue;
    FUZZ_CHECK (j < plexus_stun_message_get_n_attributes (b), "attribute lost");
    value_b = plexus_stun_message_get_attribute_at (b, j++, &type_b, &length_b);
    FUZZ_CHECK (type_a == type_b && length_a == length_b, "attribute changed");
    FUZZ_CHECK (length_a == 0 || memcmp (value_a, value_b, length_a) == 0, "attribute value changed");
  }
}

static void
exercise_getters (PlexusStunMessage *message)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *software = NULL;
  g_autofree gchar *reason = NULL;
  PlexusStunAddress address;
  guint code = 0;

  if (plexus_stun_message_get_xor_mapped_address (message, &address, &error)) {
    g_autofree gchar *text = plexus_stun_address_to_string (&address);

    FUZZ_CHECK (address.family == G_SOCKET_FAMILY_IPV4 || address.family == G_SOCKET_FAMILY_IPV6, text);
  } else {
    FUZZ_CHECK (error != NULL && error->domain == PLEXUS_ERROR, "failure without an error");
  }
  g_clear_error (&error);
  if (!plexus_stun_message_get_mapped_address (message, &address, &error))
    FUZZ_CHECK (error != NULL && error->domain == PLEXUS_ERROR, "failure without an error");
  g_clear_error (&error);
  if (plexus_stun_message_get_error_code (message, &code, &reason, &error)) {
    FUZZ_CHECK (code >= 300 && code <= 699, "error code out of range");
    FUZZ_CHECK (g_utf8_validate (reason, -1, NULL), "reason not UTF-8");
  } else {
    FUZZ_CHECK (error != NULL && error->domain == PLEXUS_ERROR, "failure without an error");
  }
  software = plexus_stun_message_dup_software (message);
  FUZZ_CHECK (software == NULL || g_utf8_validate (software, -1, NULL), "software not UTF-8");
  plexus_stun_message_check_integrity (message, (const guint8 *) "key", 3);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init (*argv);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusStunMessage) message = NULL;
  g_autoptr(PlexusStunMessage) again = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) bytes_again = NULL;
  g_autoptr(GError) error = NULL;
  PlexusStunDecodeStatus status = PLEXUS_STUN_DECODE_OK;
  gboolean fingerprint;

  /* Through a copy of its exact size, so ASan sees any read past it. */
  g_autofree guint8 *copy = g_memdup2 (data, size);

  message = plexus_stun_message_decode (copy, size, &status, &error);
  if (message == NULL) {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
    FUZZ_CHECK (status != PLEXUS_STUN_DECODE_OK, error->message);
    FUZZ_CHECK (status != PLEXUS_STUN_DECODE_NOT_STUN || !plexus_stun_message_is_stun (copy, size) ||
                size > PLEXUS_STUN_MAX_MESSAGE_SIZE, "is_stun() accepts what decode() calls not STUN");
    return 0;
  }
  FUZZ_CHECK (error == NULL && status == PLEXUS_STUN_DECODE_OK, "success with an error");
  FUZZ_CHECK (plexus_stun_message_is_stun (copy, size), "decoded what is_stun() refuses");
  FUZZ_CHECK (plexus_stun_message_peek_length (copy, size) == size, "peek_length() disagrees");
  exercise_getters (message);

  /* What decodes encodes again, no larger, and means the same. */
  fingerprint = plexus_stun_message_has_fingerprint (message);
  bytes = plexus_stun_message_encode (message, NULL, 0, fingerprint, &error);
  FUZZ_CHECK (bytes != NULL, error != NULL ? error->message : "no error");
  FUZZ_CHECK (g_bytes_get_size (bytes) <= size, "encoded larger than decoded");
  again = plexus_stun_message_decode (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &status, &error);
  FUZZ_CHECK (again != NULL, error != NULL ? error->message : "no error");
  FUZZ_CHECK (plexus_stun_message_has_fingerprint (again) == fingerprint, "fingerprint lost");
  check_same (message, again);
  bytes_again = plexus_stun_message_encode (again, NULL, 0, fingerprint, &error);
  FUZZ_CHECK (bytes_again != NULL && g_bytes_equal (bytes, bytes_again), "encoding is not stable");
  return 0;
}
