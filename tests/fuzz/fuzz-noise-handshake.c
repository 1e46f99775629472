/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "plexus-error.h"
#include "plexus-noise.h"
#include "fuzz-common.h"

/* Noise handshake and transport messages arrive from any peer before it
 * is authenticated. The first input byte picks what the rest is fed to:
 *
 *   0: a responder's plexus_noise_handshake_read_message(), as message 1
 *   1: an initiator that sent message 1, as message 2
 *   2: a responder that answered a genuine message 1, as message 3
 *   3: the initiator's receiving cipher after a genuine handshake, as a
 *      transport message
 *
 * Keys, ephemeral keys, prologue and payloads are those of the first
 * vector in tests/noise-vectors.json (cacophony's), so the vector's
 * messages, behind their mode byte, are the seed corpus and the fuzzer
 * starts from inputs that pass.
 *
 * Every input must either be accepted, with a payload of the length the
 * pattern implies, or refused with PLEXUS_ERROR_INVALID_DATA and a UTF-8
 * message, leaving the payload array alone and the handshake unusable. */

static const gchar init_static_hex[] = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const gchar init_ephemeral_hex[] = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const gchar resp_static_hex[] = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const gchar resp_ephemeral_hex[] = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
static const gchar prologue[] = "John Galt";
static const gchar *payloads[] = { "Ludwig von Mises", "Murray Rothbard", "F. A. Hayek" };

/* Bytes a handshake message has besides its payload: e; e, s, tags; s, tags. */
static const gsize overheads[] = { 32, 32 + 48 + 16, 48 + 16 };

static guint8 init_static[PLEXUS_NOISE_KEY_SIZE];
static guint8 init_ephemeral[PLEXUS_NOISE_KEY_SIZE];
static guint8 resp_static[PLEXUS_NOISE_KEY_SIZE];
static guint8 resp_ephemeral[PLEXUS_NOISE_KEY_SIZE];
static GByteArray *message1;
static PlexusNoiseCipher *transport_recv;

static void
decode_key (const gchar *hex, guint8 key[PLEXUS_NOISE_KEY_SIZE])
{
  size_t len = 0;

  FUZZ_CHECK (sodium_hex2bin (key, PLEXUS_NOISE_KEY_SIZE, hex, strlen (hex),
                              NULL, &len, NULL) == 0 && len == PLEXUS_NOISE_KEY_SIZE, hex);
}

static PlexusNoiseHandshake *
handshake_new (gboolean initiator)
{
  PlexusNoiseHandshake *handshake;

  handshake = plexus_noise_handshake_new (initiator, initiator ? init_static : resp_static,
                                          (const guint8 *) prologue, strlen (prologue));
  plexus_noise_handshake_set_ephemeral_private (handshake,
                                                initiator ? init_ephemeral : resp_ephemeral);
  return handshake;
}

static void
write_message (PlexusNoiseHandshake *handshake, guint index, GByteArray *out)
{
  g_autoptr(GError) error = NULL;

  FUZZ_CHECK (plexus_noise_handshake_write_message (handshake, (const guint8 *) payloads[index],
                                                    strlen (payloads[index]), out, &error),
              error != NULL ? error->message : "write failed without an error");
}

static void
read_genuine (PlexusNoiseHandshake *handshake, GByteArray *message)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  FUZZ_CHECK (plexus_noise_handshake_read_message (handshake, message->data, message->len,
                                                   payload, &error),
              error != NULL ? error->message : "read failed without an error");
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr(PlexusNoiseHandshake) initiator = NULL;
  g_autoptr(PlexusNoiseHandshake) responder = NULL;
  g_autoptr(PlexusNoiseCipher) init_send = NULL;
  g_autoptr(GByteArray) message2 = g_byte_array_new ();
  g_autoptr(GByteArray) message3 = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  fuzz_init (*argv);
  decode_key (init_static_hex, init_static);
  decode_key (init_ephemeral_hex, init_ephemeral);
  decode_key (resp_static_hex, resp_static);
  decode_key (resp_ephemeral_hex, resp_ephemeral);

  /* One genuine handshake: message 1 for mode 2, a cipher for mode 3. */
  initiator = handshake_new (TRUE);
  responder = handshake_new (FALSE);
  message1 = g_byte_array_new ();
  write_message (initiator, 0, message1);
  read_genuine (responder, message1);
  write_message (responder, 1, message2);
  read_genuine (initiator, message2);
  write_message (initiator, 2, message3);
  read_genuine (responder, message3);
  FUZZ_CHECK (plexus_noise_handshake_split (initiator, &init_send, &transport_recv, &error),
              "split");
  return 0;
}

/* A refused message: the right error, nothing written, and the handshake
 * over. */
static void
check_refused (PlexusNoiseHandshake *handshake, const GError *error,
               GByteArray *payload, const uint8_t *data, size_t size)
{
  g_autoptr(GError) again = NULL;

  fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
  FUZZ_CHECK (payload->len == 0, "payload written on failure");
  FUZZ_CHECK (!plexus_noise_handshake_is_finished (handshake), "finished after a failure");
  FUZZ_CHECK (plexus_noise_handshake_get_handshake_hash (handshake) == NULL, "hash after a failure");
  FUZZ_CHECK (plexus_noise_handshake_get_remote_static (handshake) == NULL, "peer key after a failure");
  FUZZ_CHECK (!plexus_noise_handshake_read_message (handshake, data, size, payload, &again),
              "read after a failure");
  fuzz_check_error (again, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, TRUE);
}

/* Feeds @data to @handshake as handshake message @index + 1. */
static void
fuzz_read (PlexusNoiseHandshake *handshake, guint index, const uint8_t *data, size_t size)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  if (!plexus_noise_handshake_read_message (handshake, data, size, payload, &error)) {
    check_refused (handshake, error, payload, data, size);
    return;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  FUZZ_CHECK (size >= overheads[index] && payload->len == size - overheads[index],
              "payload length");
  switch (index) {
  case 0:
    /* Message 1 proves nothing yet; the responder can answer it. */
    FUZZ_CHECK (plexus_noise_handshake_get_remote_static (handshake) == NULL, "peer key too early");
    {
      g_autoptr(GByteArray) message2 = g_byte_array_new ();

      write_message (handshake, 1, message2);
      FUZZ_CHECK (message2->len == overheads[1] + strlen (payloads[1]), "message 2 length");
    }
    break;
  case 1:
    FUZZ_CHECK (plexus_noise_handshake_get_remote_static (handshake) != NULL, "no peer key");
    FUZZ_CHECK (!plexus_noise_handshake_is_finished (handshake), "finished after message 2");
    break;
  case 2:
  default:
    FUZZ_CHECK (plexus_noise_handshake_is_finished (handshake), "not finished after message 3");
    FUZZ_CHECK (plexus_noise_handshake_get_remote_static (handshake) != NULL, "no peer key");
    FUZZ_CHECK (plexus_noise_handshake_get_handshake_hash (handshake) != NULL, "no hash");
    break;
  }
}

static void
fuzz_transport (const uint8_t *data, size_t size)
{
  g_autoptr(GByteArray) plaintext = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  plexus_noise_cipher_set_nonce (transport_recv, 0);
  if (plexus_noise_cipher_decrypt (transport_recv, NULL, 0, data, size, plaintext, &error)) {
    FUZZ_CHECK (plaintext->len + PLEXUS_NOISE_TAG_SIZE == size, "plaintext length");
    FUZZ_CHECK (plexus_noise_cipher_get_nonce (transport_recv) == 1, "nonce not counted");
  } else {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
    FUZZ_CHECK (plaintext->len == 0, "plaintext written on failure");
    FUZZ_CHECK (plexus_noise_cipher_get_nonce (transport_recv) == 0, "failure counted");
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;

  switch (data[0] % 4) {
  case 0:
    {
      g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE);

      fuzz_read (responder, 0, data + 1, size - 1);
    }
    break;
  case 1:
    {
      g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE);
      g_autoptr(GByteArray) sent = g_byte_array_new ();

      write_message (initiator, 0, sent);
      fuzz_read (initiator, 1, data + 1, size - 1);
    }
    break;
  case 2:
    {
      g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE);
      g_autoptr(GByteArray) sent = g_byte_array_new ();

      read_genuine (responder, message1);
      write_message (responder, 1, sent);
      fuzz_read (responder, 2, data + 1, size - 1);
    }
    break;
  case 3:
  default:
    fuzz_transport (data + 1, size - 1);
    break;
  }
  return 0;
}
