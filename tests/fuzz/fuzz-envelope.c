/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "fuzz-common.h"

/* Every decrypted frame of a node link is an envelope from a peer that may
 * be hostile: plexus_envelope_decode_with() must turn any bytes into
 * either a valid envelope or a PLEXUS_ERROR_INVALID_DATA error with one of
 * the decoding error codes and a message fit to send back, and what it
 * accepts must be passed on unchanged, in either wire form: encoding it
 * gives bytes that decode to the same envelope and encode to the same
 * bytes.
 *
 * Unlike fuzz-capabilities, nothing is filtered out: the decoder refuses
 * several top-level values before json-glib reads them, so json-glib's
 * leak on them cannot happen here. */

/* Written again, text grows at most 6 times: a raw DEL (1 byte) becomes
 * "\u007f" (6), "1e-7," (5) becomes "9.9999999999999995e-08," (23). So
 * below this size whatever decodes can be encoded within
 * PLEXUS_ENVELOPE_MAX_SIZE; above, encoding may fail for size alone. */
#define ALWAYS_ENCODABLE_SIZE (PLEXUS_ENVELOPE_MAX_SIZE / 6)

static const gchar * const decode_codes[] = {
  "bad-json", "bad-envelope", "too-large", "unsupported-version", NULL
};

static void
check_valid (PlexusEnvelope *envelope)
{
  const gchar *type = plexus_envelope_get_message_type (envelope);
  const gchar *to = plexus_envelope_get_to (envelope);
  const gchar *re = plexus_envelope_get_re (envelope);

  FUZZ_CHECK (plexus_envelope_type_is_valid (type), "accepted an invalid type");
  FUZZ_CHECK (plexus_envelope_id_is_valid (plexus_envelope_get_id (envelope)), "accepted an invalid ID");
  FUZZ_CHECK (plexus_peer_id_is_valid (plexus_envelope_get_from (envelope)), "accepted an invalid sender");
  FUZZ_CHECK (*to == '\0' || plexus_peer_id_is_valid (to), "accepted an invalid addressee");
  FUZZ_CHECK (plexus_envelope_get_ttl (envelope) <= PLEXUS_ENVELOPE_MAX_TTL, "ttl out of range");
  FUZZ_CHECK (plexus_envelope_get_ts (envelope) >= 0, "ts out of range");
  FUZZ_CHECK (re == NULL || plexus_envelope_id_is_valid (re), "accepted an invalid re");
  /* An error may lack re: it answers a frame whose ID was unreadable. */
  FUZZ_CHECK (re != NULL || strcmp (type, "reply") != 0, "accepted a reply without re");
  FUZZ_CHECK (plexus_envelope_get_body (envelope) != NULL, "no body");
}

static void
check_same (PlexusEnvelope *a, PlexusEnvelope *b, const gchar *text)
{
  FUZZ_CHECK (g_strcmp0 (plexus_envelope_get_message_type (a), plexus_envelope_get_message_type (b)) == 0, text);
  FUZZ_CHECK (g_strcmp0 (plexus_envelope_get_id (a), plexus_envelope_get_id (b)) == 0, text);
  FUZZ_CHECK (g_strcmp0 (plexus_envelope_get_from (a), plexus_envelope_get_from (b)) == 0, text);
  FUZZ_CHECK (g_strcmp0 (plexus_envelope_get_to (a), plexus_envelope_get_to (b)) == 0, text);
  FUZZ_CHECK (plexus_envelope_get_ttl (a) == plexus_envelope_get_ttl (b), text);
  FUZZ_CHECK (plexus_envelope_get_ts (a) == plexus_envelope_get_ts (b), text);
  FUZZ_CHECK (g_strcmp0 (plexus_envelope_get_re (a), plexus_envelope_get_re (b)) == 0, text);
  FUZZ_CHECK (json_object_equal (plexus_envelope_get_body (a), plexus_envelope_get_body (b)), text);
  FUZZ_CHECK ((plexus_envelope_get_attachment (a) == NULL) == (plexus_envelope_get_attachment (b) == NULL), text);
  FUZZ_CHECK (plexus_envelope_get_attachment (a) == NULL ||
              g_bytes_equal (plexus_envelope_get_attachment (a), plexus_envelope_get_attachment (b)), text);
}

/* Written in @encoding, @envelope reads back the same and writes the same
 * bytes again. */
static void
check_written (PlexusEnvelope *envelope, size_t size, PlexusEnvelopeEncoding encoding)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) bytes_again = NULL;
  g_autoptr(PlexusEnvelope) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;
  const gchar *code = NULL;
  gsize length, json_length;
  const guint8 *data;
  const guint8 *nul;

  bytes = plexus_envelope_encode_with (envelope, encoding, &error);
  if (bytes == NULL) {
    FUZZ_CHECK (size > ALWAYS_ENCODABLE_SIZE, error->message);
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT, TRUE);
    return;
  }
  data = g_bytes_get_data (bytes, &length);
  FUZZ_CHECK (length <= PLEXUS_ENVELOPE_MAX_SIZE, "encoded too large");
  if (data[0] == PLEXUS_ENVELOPE_COMPACT_RELAY || data[0] == PLEXUS_ENVELOPE_COMPACT_DELIVER) {
    FUZZ_CHECK (encoding == PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, "compact form on a JSON link");
    FUZZ_CHECK (plexus_envelope_get_attachment (envelope) != NULL, "compact form without an attachment");
    text = g_strdup ("(compact)");
  } else {
    /* JSON, then a NUL byte and the attachment if there is one. */
    nul = memchr (data, '\0', length);
    json_length = nul != NULL ? (gsize) (nul - data) : length;
    FUZZ_CHECK ((nul != NULL) == (plexus_envelope_get_attachment (envelope) != NULL), "attachment lost or made up");
    FUZZ_CHECK (nul == NULL || length - json_length - 1 == g_bytes_get_size (plexus_envelope_get_attachment (envelope)),
                "attachment written wrong");
    text = g_strndup ((const gchar *) data, json_length);
    FUZZ_CHECK (g_utf8_validate (text, -1, NULL), "bad JSON written");
  }

  again = plexus_envelope_decode_with (data, length, encoding, &code, &error);
  if (again == NULL) {
    fprintf (stderr, "written: %s\n", text);
    FUZZ_CHECK (again != NULL, error->message);
  }
  FUZZ_CHECK (code == NULL, "success with an error code");
  check_same (envelope, again, text);
  bytes_again = plexus_envelope_encode_with (again, encoding, &error);
  FUZZ_CHECK (bytes_again != NULL && g_bytes_equal (bytes, bytes_again), text);
}

static void
check_accepted (PlexusEnvelope *envelope, size_t size)
{
  check_valid (envelope);

  /* What a node accepts it must be able to pass on, to nodes of either
   * version. */
  check_written (envelope, size, PLEXUS_ENVELOPE_ENCODING_JSON);
  check_written (envelope, size, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS);

  /* The node's checks on what it received: whatever the values, they
   * decide without trouble. */
  plexus_envelope_check_fresh (envelope, 1764064000000, 30000, NULL);
  if (plexus_envelope_get_ttl (envelope) > 0)
    FUZZ_CHECK (plexus_envelope_decrement_ttl (envelope, NULL), "could not decrement the ttl");
  else
    FUZZ_CHECK (!plexus_envelope_decrement_ttl (envelope, NULL), "decremented a ttl of 0");
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
  g_autoptr(PlexusEnvelope) envelope = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *code = "unset";

  /* As a link of version 2 reads: JSON, or a signal in the compact form. */
  envelope = plexus_envelope_decode_with (data, size, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, &code, &error);
  if (envelope == NULL) {
    /* The message may go back to the peer in an error answer. */
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
    FUZZ_CHECK (strlen (error->message) < 512, error->message);
    FUZZ_CHECK (code != NULL && g_strv_contains (decode_codes, code), error->message);
    return 0;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  FUZZ_CHECK (code == NULL, "success with an error code");
  check_accepted (envelope, size);
  return 0;
}
