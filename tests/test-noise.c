/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <sodium.h>

#include "plexus-error.h"
#include "plexus-noise.h"

#define N_HANDSHAKE_MESSAGES 3

static GBytes *
hex_decode (const gchar *hex)
{
  gsize hex_len = strlen (hex);
  g_autofree guint8 *bin = g_malloc (hex_len / 2 + 1);
  size_t bin_len = 0;
  const char *end = NULL;

  g_assert_cmpint (sodium_hex2bin (bin, hex_len / 2 + 1, hex, hex_len, NULL, &bin_len, &end), ==, 0);
  g_assert_true (end == hex + hex_len);
  return g_bytes_new (bin, bin_len);
}

static gchar *
hex_encode (const guint8 *data, gsize len)
{
  gchar *hex = g_malloc (len * 2 + 1);

  sodium_bin2hex (hex, len * 2 + 1, data, len);
  return hex;
}

/* Compares as hex, so that a mismatch shows where. */
static void
assert_bytes_hex (const guint8 *data, gsize len, const gchar *expected)
{
  g_autofree gchar *hex = hex_encode (data, len);

  g_assert_cmpstr (hex, ==, expected);
}

static GBytes *
member_bytes (JsonObject *object, const gchar *name)
{
  return hex_decode (json_object_get_string_member (object, name));
}

static void
assert_key_pair_public (const guint8 *public_key, GBytes *private_key)
{
  g_autoptr(PlexusNoiseKeypair) keypair = NULL;

  g_assert_cmpuint (g_bytes_get_size (private_key), ==, PLEXUS_NOISE_KEY_SIZE);
  keypair = plexus_noise_keypair_new_from_private_key (g_bytes_get_data (private_key, NULL));
  g_assert_nonnull (public_key);
  g_assert_cmpmem (public_key, PLEXUS_NOISE_KEY_SIZE,
                   plexus_noise_keypair_get_public_key (keypair), PLEXUS_NOISE_KEY_SIZE);
}

/* Replays one published vector: both sides with the vector's keys, every
 * message compared byte for byte, the handshake hash when the vector has
 * one. Messages alternate between the sides, initiator first, also after
 * the handshake. */
typedef enum {
  HASH_ABSENT,
  HASH_FINAL,
  HASH_AFTER_MESSAGE_2,
  N_HASH_KINDS
} HashKind;

/* Noise-C's handshake_hash is the final h, as GetHandshakeHash() returns
 * it. cacophony's, for XX, is h after message 2; hashing in message 3 as
 * section 5.3 does (MixHash of the encrypted static key, then of the
 * encrypted payload) must give the final h. */
static HashKind
check_handshake_hash (JsonObject *vector, const guint8 *final_hash)
{
  g_autoptr(GBytes) published = member_bytes (vector, "handshake_hash");
  JsonArray *messages = json_object_get_array_member (vector, "messages");
  JsonObject *message3 = json_array_get_object_element (messages, 2);
  g_autoptr(GBytes) ciphertext = member_bytes (message3, "ciphertext");
  const gsize encrypted_static = PLEXUS_NOISE_KEY_SIZE + PLEXUS_NOISE_TAG_SIZE;
  const guint8 *data;
  gsize len;
  guint8 h[PLEXUS_NOISE_HASH_SIZE];
  crypto_hash_sha256_state state;

  g_assert_cmpuint (g_bytes_get_size (published), ==, PLEXUS_NOISE_HASH_SIZE);
  if (memcmp (g_bytes_get_data (published, NULL), final_hash, PLEXUS_NOISE_HASH_SIZE) == 0)
    return HASH_FINAL;

  data = g_bytes_get_data (ciphertext, &len);
  g_assert_cmpuint (len, >=, encrypted_static + PLEXUS_NOISE_TAG_SIZE);
  crypto_hash_sha256_init (&state);
  crypto_hash_sha256_update (&state, g_bytes_get_data (published, NULL), PLEXUS_NOISE_HASH_SIZE);
  crypto_hash_sha256_update (&state, data, encrypted_static);
  crypto_hash_sha256_final (&state, h);
  crypto_hash_sha256_init (&state);
  crypto_hash_sha256_update (&state, h, sizeof h);
  crypto_hash_sha256_update (&state, data + encrypted_static, len - encrypted_static);
  crypto_hash_sha256_final (&state, h);
  {
    g_autofree gchar *expected = hex_encode (h, sizeof h);

    assert_bytes_hex (final_hash, PLEXUS_NOISE_HASH_SIZE, expected);
  }
  return HASH_AFTER_MESSAGE_2;
}

static void
check_vector (JsonObject *vector, guint counts[N_HASH_KINDS])
{
  g_autoptr(GBytes) init_static = member_bytes (vector, "init_static");
  g_autoptr(GBytes) init_ephemeral = member_bytes (vector, "init_ephemeral");
  g_autoptr(GBytes) init_prologue = member_bytes (vector, "init_prologue");
  g_autoptr(GBytes) resp_static = member_bytes (vector, "resp_static");
  g_autoptr(GBytes) resp_ephemeral = member_bytes (vector, "resp_ephemeral");
  g_autoptr(GBytes) resp_prologue = member_bytes (vector, "resp_prologue");
  g_autoptr(PlexusNoiseHandshake) initiator = NULL;
  g_autoptr(PlexusNoiseHandshake) responder = NULL;
  g_autoptr(PlexusNoiseCipher) init_send = NULL;
  g_autoptr(PlexusNoiseCipher) init_recv = NULL;
  g_autoptr(PlexusNoiseCipher) resp_send = NULL;
  g_autoptr(PlexusNoiseCipher) resp_recv = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *messages = json_object_get_array_member (vector, "messages");
  guint n_messages = json_array_get_length (messages);
  gsize len;
  const guint8 *data;

  g_assert_cmpuint (n_messages, >, N_HANDSHAKE_MESSAGES);

  data = g_bytes_get_data (init_prologue, &len);
  initiator = plexus_noise_handshake_new (TRUE, g_bytes_get_data (init_static, NULL), data, len);
  plexus_noise_handshake_set_ephemeral_private (initiator, g_bytes_get_data (init_ephemeral, NULL));
  data = g_bytes_get_data (resp_prologue, &len);
  responder = plexus_noise_handshake_new (FALSE, g_bytes_get_data (resp_static, NULL), data, len);
  plexus_noise_handshake_set_ephemeral_private (responder, g_bytes_get_data (resp_ephemeral, NULL));

  for (guint i = 0; i < n_messages; i++) {
    JsonObject *message = json_array_get_object_element (messages, i);
    const gchar *ciphertext_hex = json_object_get_string_member (message, "ciphertext");
    g_autoptr(GBytes) payload = member_bytes (message, "payload");
    g_autoptr(GBytes) ciphertext = hex_decode (ciphertext_hex);
    g_autoptr(GByteArray) written = g_byte_array_new ();
    g_autoptr(GByteArray) read = g_byte_array_new ();
    gboolean from_initiator = i % 2 == 0;

    if (i < N_HANDSHAKE_MESSAGES) {
      PlexusNoiseHandshake *sender = from_initiator ? initiator : responder;
      PlexusNoiseHandshake *receiver = from_initiator ? responder : initiator;

      data = g_bytes_get_data (payload, &len);
      g_assert_true (plexus_noise_handshake_write_message (sender, data, len, written, &error));
      g_assert_no_error (error);
      assert_bytes_hex (written->data, written->len, ciphertext_hex);
      data = g_bytes_get_data (ciphertext, &len);
      g_assert_true (plexus_noise_handshake_read_message (receiver, data, len, read, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (read->data, read->len,
                       g_bytes_get_data (payload, NULL), g_bytes_get_size (payload));
    } else {
      PlexusNoiseCipher *sender = from_initiator ? init_send : resp_send;
      PlexusNoiseCipher *receiver = from_initiator ? resp_recv : init_recv;

      data = g_bytes_get_data (payload, &len);
      g_assert_true (plexus_noise_cipher_encrypt (sender, NULL, 0, data, len, written, &error));
      g_assert_no_error (error);
      assert_bytes_hex (written->data, written->len, ciphertext_hex);
      data = g_bytes_get_data (ciphertext, &len);
      g_assert_true (plexus_noise_cipher_decrypt (receiver, NULL, 0, data, len, read, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (read->data, read->len,
                       g_bytes_get_data (payload, NULL), g_bytes_get_size (payload));
    }

    if (i == N_HANDSHAKE_MESSAGES - 1) {
      const guint8 *hash = plexus_noise_handshake_get_handshake_hash (initiator);

      g_assert_true (plexus_noise_handshake_is_finished (initiator));
      g_assert_true (plexus_noise_handshake_is_finished (responder));
      g_assert_nonnull (hash);
      g_assert_cmpmem (hash, PLEXUS_NOISE_HASH_SIZE,
                       plexus_noise_handshake_get_handshake_hash (responder), PLEXUS_NOISE_HASH_SIZE);
      counts[json_object_has_member (vector, "handshake_hash") ?
             check_handshake_hash (vector, hash) : HASH_ABSENT]++;
      assert_key_pair_public (plexus_noise_handshake_get_remote_static (initiator), resp_static);
      assert_key_pair_public (plexus_noise_handshake_get_remote_static (responder), init_static);

      g_assert_true (plexus_noise_handshake_split (initiator, &init_send, &init_recv, &error));
      g_assert_no_error (error);
      g_assert_true (plexus_noise_handshake_split (responder, &resp_send, &resp_recv, &error));
      g_assert_no_error (error);
    }
  }
}

static gboolean
vector_has_psks (JsonObject *vector)
{
  const gchar *members[] = { "init_psks", "resp_psks", "init_psk", "resp_psk" };

  for (guint i = 0; i < G_N_ELEMENTS (members); i++) {
    JsonNode *node = json_object_get_member (vector, members[i]);

    if (node == NULL)
      continue;
    if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) > 0)
      return TRUE;
  }
  return FALSE;
}

static void
test_vectors (void)
{
  g_autofree gchar *path = g_test_build_filename (G_TEST_DIST, "noise-vectors.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *vectors;
  guint n_checked = 0;
  guint counts[N_HASH_KINDS] = { 0 };

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  vectors = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "vectors");
  for (guint i = 0; i < json_array_get_length (vectors); i++) {
    JsonObject *vector = json_array_get_object_element (vectors, i);
    /* cacophony and snow say protocol_name, Noise-C name. */
    const gchar *name = json_object_has_member (vector, "protocol_name") ?
                          json_object_get_string_member (vector, "protocol_name") :
                          json_object_get_string_member (vector, "name");

    /* The file holds only vectors for this protocol, none with PSKs. */
    g_assert_cmpstr (name, ==, PLEXUS_NOISE_PROTOCOL_NAME);
    g_assert_false (vector_has_psks (vector));
    check_vector (vector, counts);
    n_checked++;
  }
  /* As shipped: cacophony's, Noise-C's and snow's (which has no hash). */
  g_assert_cmpuint (n_checked, ==, 3);
  g_assert_cmpuint (counts[HASH_FINAL], ==, 1);
  g_assert_cmpuint (counts[HASH_AFTER_MESSAGE_2], ==, 1);
  g_assert_cmpuint (counts[HASH_ABSENT], ==, 1);
  g_test_message ("%u published vectors reproduced", n_checked);
}

/* Called with each handshake message before it is read; returns TRUE when
 * it changed it. */
typedef gboolean (*MangleFunc) (guint index, GByteArray *message, gpointer user_data);

/* Runs the three handshake messages. Returns the number (1-3) of the
 * message whose reading failed, with @error set, or 0 when both sides
 * finished. Writing must never fail. */
static guint
run_handshake (PlexusNoiseHandshake *initiator,
               PlexusNoiseHandshake *responder,
               MangleFunc            mangle,
               gpointer              user_data,
               GError              **error)
{
  for (guint i = 0; i < N_HANDSHAKE_MESSAGES; i++) {
    PlexusNoiseHandshake *sender = i % 2 == 0 ? initiator : responder;
    PlexusNoiseHandshake *receiver = i % 2 == 0 ? responder : initiator;
    g_autofree gchar *text = g_strdup_printf ("payload of message %u", i + 1);
    g_autoptr(GByteArray) message = g_byte_array_new ();
    g_autoptr(GByteArray) payload = g_byte_array_new ();
    g_autoptr(GError) local_error = NULL;
    gboolean mangled = FALSE;

    g_assert_true (plexus_noise_handshake_write_message (sender, (const guint8 *) text,
                                                         strlen (text), message, &local_error));
    g_assert_no_error (local_error);
    if (mangle != NULL)
      mangled = mangle (i, message, user_data);
    if (!plexus_noise_handshake_read_message (receiver, message->data, message->len,
                                              payload, error)) {
      g_assert_cmpuint (payload->len, ==, 0);
      return i + 1;
    }
    /* Message 1 is not authenticated until message 2 is read. */
    if (!mangled)
      g_assert_cmpmem (payload->data, payload->len, text, strlen (text));
  }
  return 0;
}

static PlexusNoiseHandshake *
handshake_new (gboolean initiator, PlexusNoiseKeypair *keypair, const gchar *prologue)
{
  return plexus_noise_handshake_new (initiator, plexus_noise_keypair_get_private_key (keypair),
                                     (const guint8 *) prologue, strlen (prologue));
}

static void
assert_transport_works (PlexusNoiseCipher *send, PlexusNoiseCipher *recv, guint count)
{
  for (guint i = 0; i < count; i++) {
    g_autofree gchar *text = g_strdup_printf ("transport message %u", i);
    g_autoptr(GByteArray) ciphertext = g_byte_array_new ();
    g_autoptr(GByteArray) plaintext = g_byte_array_new ();
    g_autoptr(GError) error = NULL;
    guint64 nonce = plexus_noise_cipher_get_nonce (send);

    g_assert_cmpuint (plexus_noise_cipher_get_nonce (recv), ==, nonce);
    g_assert_true (plexus_noise_cipher_encrypt (send, (const guint8 *) "ad", 2,
                                                (const guint8 *) text, strlen (text),
                                                ciphertext, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (ciphertext->len, ==, strlen (text) + PLEXUS_NOISE_TAG_SIZE);
    g_assert_true (plexus_noise_cipher_decrypt (recv, (const guint8 *) "ad", 2,
                                                ciphertext->data, ciphertext->len,
                                                plaintext, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (plaintext->data, plaintext->len, text, strlen (text));
    g_assert_cmpuint (plexus_noise_cipher_get_nonce (send), ==, nonce + 1);
    g_assert_cmpuint (plexus_noise_cipher_get_nonce (recv), ==, nonce + 1);
  }
}

static void
test_keypair (void)
{
  g_autoptr(PlexusNoiseKeypair) a = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) b = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) copy = plexus_noise_keypair_copy (a);
  guint8 expected[PLEXUS_NOISE_KEY_SIZE];

  g_assert_cmpint (crypto_scalarmult_base (expected, plexus_noise_keypair_get_private_key (a)), ==, 0);
  g_assert_cmpmem (plexus_noise_keypair_get_public_key (a), PLEXUS_NOISE_KEY_SIZE,
                   expected, sizeof expected);
  g_assert_cmpint (memcmp (plexus_noise_keypair_get_private_key (a),
                           plexus_noise_keypair_get_private_key (b), PLEXUS_NOISE_KEY_SIZE), !=, 0);
  g_assert_cmpmem (plexus_noise_keypair_get_private_key (copy), PLEXUS_NOISE_KEY_SIZE,
                   plexus_noise_keypair_get_private_key (a), PLEXUS_NOISE_KEY_SIZE);
  g_assert_cmpmem (plexus_noise_keypair_get_public_key (copy), PLEXUS_NOISE_KEY_SIZE,
                   plexus_noise_keypair_get_public_key (a), PLEXUS_NOISE_KEY_SIZE);
  g_assert_true (G_TYPE_IS_BOXED (PLEXUS_TYPE_NOISE_KEYPAIR));

  /* A copy outlives the key pair it was made from. */
  {
    PlexusNoiseKeypair *original = plexus_noise_keypair_new ();
    g_autoptr(PlexusNoiseKeypair) kept = plexus_noise_keypair_copy (original);
    guint8 public_key[PLEXUS_NOISE_KEY_SIZE];

    memcpy (public_key, plexus_noise_keypair_get_public_key (original), sizeof public_key);
    plexus_noise_keypair_free (original);
    g_assert_cmpint (crypto_scalarmult_base (expected, plexus_noise_keypair_get_private_key (kept)), ==, 0);
    g_assert_cmpmem (expected, sizeof expected, public_key, sizeof public_key);
  }
}

static void
test_live (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus test");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus test");
  g_autoptr(PlexusNoiseCipher) init_send = NULL;
  g_autoptr(PlexusNoiseCipher) init_recv = NULL;
  g_autoptr(PlexusNoiseCipher) resp_send = NULL;
  g_autoptr(PlexusNoiseCipher) resp_recv = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_handshake_is_initiator (initiator));
  g_assert_false (plexus_noise_handshake_is_initiator (responder));
  g_assert_null (plexus_noise_handshake_get_remote_static (initiator));
  g_assert_null (plexus_noise_handshake_get_remote_static (responder));
  g_assert_null (plexus_noise_handshake_get_handshake_hash (initiator));
  g_assert_cmpmem (plexus_noise_handshake_get_local_static (initiator), PLEXUS_NOISE_KEY_SIZE,
                   plexus_noise_keypair_get_public_key (init_keys), PLEXUS_NOISE_KEY_SIZE);

  g_assert_cmpuint (run_handshake (initiator, responder, NULL, NULL, &error), ==, 0);
  g_assert_no_error (error);

  g_assert_true (plexus_noise_handshake_is_finished (initiator));
  g_assert_true (plexus_noise_handshake_is_finished (responder));
  g_assert_nonnull (plexus_noise_handshake_get_handshake_hash (initiator));
  g_assert_cmpmem (plexus_noise_handshake_get_handshake_hash (initiator), PLEXUS_NOISE_HASH_SIZE,
                   plexus_noise_handshake_get_handshake_hash (responder), PLEXUS_NOISE_HASH_SIZE);
  g_assert_cmpmem (plexus_noise_handshake_get_remote_static (initiator), PLEXUS_NOISE_KEY_SIZE,
                   plexus_noise_keypair_get_public_key (resp_keys), PLEXUS_NOISE_KEY_SIZE);
  g_assert_cmpmem (plexus_noise_handshake_get_remote_static (responder), PLEXUS_NOISE_KEY_SIZE,
                   plexus_noise_keypair_get_public_key (init_keys), PLEXUS_NOISE_KEY_SIZE);

  g_assert_true (plexus_noise_handshake_split (initiator, &init_send, &init_recv, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_noise_handshake_split (responder, &resp_send, &resp_recv, &error));
  g_assert_no_error (error);

  /* Both directions, interleaved; each counts its own nonces. */
  for (guint i = 0; i < 5; i++) {
    assert_transport_works (init_send, resp_recv, 2);
    assert_transport_works (resp_send, init_recv, 1);
  }
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (init_send), ==, 10);
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (resp_send), ==, 5);
}

static void
test_empty_payloads (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "");
  g_autoptr(PlexusNoiseHandshake) responder = plexus_noise_handshake_new (FALSE,
                                                                          plexus_noise_keypair_get_private_key (resp_keys),
                                                                          NULL, 0);
  g_autoptr(GError) error = NULL;
  /* The smallest message each step allows. */
  const guint sizes[] = { 32, 32 + 48 + 16, 48 + 16 };

  for (guint i = 0; i < N_HANDSHAKE_MESSAGES; i++) {
    PlexusNoiseHandshake *sender = i % 2 == 0 ? initiator : responder;
    PlexusNoiseHandshake *receiver = i % 2 == 0 ? responder : initiator;
    g_autoptr(GByteArray) message = g_byte_array_new ();
    g_autoptr(GByteArray) payload = g_byte_array_new ();

    g_assert_true (plexus_noise_handshake_write_message (sender, NULL, 0, message, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (message->len, ==, sizes[i]);
    g_assert_true (plexus_noise_handshake_read_message (receiver, message->data, message->len,
                                                        payload, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (payload->len, ==, 0);
  }
  /* An empty prologue is the same as none. */
  g_assert_true (plexus_noise_handshake_is_finished (initiator));
  g_assert_true (plexus_noise_handshake_is_finished (responder));
}

static void
test_prologue_mismatch (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus/1");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus/2");
  g_autoptr(GError) error = NULL;

  /* Message 1 is not encrypted; the first tag covers the prologue. */
  g_assert_cmpuint (run_handshake (initiator, responder, NULL, NULL, &error), ==, 2);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "handshake message 2: authentication failed"));
}

typedef struct {
  guint message;
  gsize byte;
} FlipBit;

static gboolean
flip_bit (guint index, GByteArray *message, gpointer user_data)
{
  FlipBit *flip = user_data;

  if (index != flip->message)
    return FALSE;
  g_assert_cmpuint (flip->byte, <, message->len);
  message->data[flip->byte] ^= 1u << (flip->byte % 8);
  return TRUE;
}

static gboolean
record_length (guint index, GByteArray *message, gpointer user_data)
{
  guint *lengths = user_data;

  lengths[index] = message->len;
  return FALSE;
}

/* The side that read message @failed_at is stopped. The initiator, which
 * sends the last message, cannot know that message 3 was refused: it is
 * finished, and learns of the failure when the responder drops the link. */
static void
assert_reader_failed (PlexusNoiseHandshake *initiator,
                      PlexusNoiseHandshake *responder,
                      guint                 failed_at)
{
  g_assert_false (plexus_noise_handshake_is_finished (responder));
  g_assert_null (plexus_noise_handshake_get_handshake_hash (responder));
  g_assert_null (plexus_noise_handshake_get_remote_static (responder));
  if (failed_at == 3) {
    g_assert_true (plexus_noise_handshake_is_finished (initiator));
  } else {
    g_assert_false (plexus_noise_handshake_is_finished (initiator));
    g_assert_null (plexus_noise_handshake_get_handshake_hash (initiator));
  }
}

/* Runs one clean handshake between the two key pairs and records the
 * length of each of its messages. */
static void
measure_handshake (PlexusNoiseKeypair *init_keys, PlexusNoiseKeypair *resp_keys, guint *lengths)
{
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");

  g_assert_cmpuint (run_handshake (initiator, responder, record_length, lengths, NULL), ==, 0);
}

/* One bit flipped anywhere in any handshake message stops the handshake,
 * at that message or, for the unencrypted message 1, at the next. */
static void
test_tampered (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  guint lengths[N_HANDSHAKE_MESSAGES] = { 0 };

  measure_handshake (init_keys, resp_keys, lengths);

  for (guint m = 0; m < N_HANDSHAKE_MESSAGES; m++) {
    for (gsize byte = 0; byte < lengths[m]; byte++) {
      g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
      g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
      g_autoptr(GError) error = NULL;
      FlipBit flip = { m, byte };
      guint failed_at;

      failed_at = run_handshake (initiator, responder, flip_bit, &flip, &error);
      g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
      if (m == 0)
        g_assert_cmpuint (failed_at, >=, 1);
      else
        g_assert_cmpuint (failed_at, ==, m + 1);
      g_assert_cmpuint (failed_at, <=, m + 2);
      assert_reader_failed (initiator, responder, failed_at);
    }
  }
}

typedef struct {
  guint message;
  gsize length;
} Truncate;

static gboolean
truncate_message (guint index, GByteArray *message, gpointer user_data)
{
  Truncate *truncate = user_data;

  if (index != truncate->message)
    return FALSE;
  g_assert_cmpuint (truncate->length, <, message->len);
  g_byte_array_set_size (message, truncate->length);
  return TRUE;
}

static void
test_truncated (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  guint lengths[N_HANDSHAKE_MESSAGES] = { 0 };

  measure_handshake (init_keys, resp_keys, lengths);

  for (guint m = 0; m < N_HANDSHAKE_MESSAGES; m++) {
    /* Shorter than any message can be, then one byte short. */
    const gsize cuts[] = { 0, 1, 31, lengths[m] - 1 };

    for (guint c = 0; c < G_N_ELEMENTS (cuts); c++) {
      g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
      g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
      g_autoptr(GError) error = NULL;
      Truncate truncate = { m, cuts[c] };
      guint failed_at;

      failed_at = run_handshake (initiator, responder, truncate_message, &truncate, &error);
      g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
      if (cuts[c] < 32) {
        g_assert_cmpuint (failed_at, ==, m + 1);
        g_assert_nonnull (strstr (error->message, "is truncated"));
      } else if (m == 0) {
        /* A shorter unencrypted payload shows in message 2. */
        g_assert_cmpuint (failed_at, ==, 2);
      } else {
        g_assert_cmpuint (failed_at, ==, m + 1);
      }
      assert_reader_failed (initiator, responder, failed_at);
    }
  }
}

static void
test_oversized (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
  g_autofree guint8 *big = g_malloc0 (PLEXUS_NOISE_MAX_MESSAGE_SIZE + 1);
  g_autoptr(GByteArray) message = g_byte_array_new ();
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  /* A payload that would not fit is refused and changes nothing... */
  g_assert_false (plexus_noise_handshake_write_message (initiator, big,
                                                       PLEXUS_NOISE_MAX_MESSAGE_SIZE - 31,
                                                       message, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (message->len, ==, 0);
  g_clear_error (&error);

  /* ...the largest that fits makes a 65535-byte message. */
  g_assert_true (plexus_noise_handshake_write_message (initiator, big,
                                                      PLEXUS_NOISE_MAX_MESSAGE_SIZE - 32,
                                                      message, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (message->len, ==, PLEXUS_NOISE_MAX_MESSAGE_SIZE);

  /* A message over the limit is refused unread. */
  g_byte_array_append (message, (const guint8 *) "", 1);
  g_assert_false (plexus_noise_handshake_read_message (responder, message->data, message->len,
                                                      payload, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "more than the 65535 bytes"));
  g_assert_cmpuint (payload->len, ==, 0);
  g_clear_error (&error);

  /* The responder is done for. */
  g_assert_false (plexus_noise_handshake_read_message (responder, message->data,
                                                      PLEXUS_NOISE_MAX_MESSAGE_SIZE,
                                                      payload, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
}

static void
assert_turn_refused (gboolean ok, GError **error)
{
  g_assert_false (ok);
  g_assert_error (*error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_clear_error (error);
}

static void
test_out_of_turn (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
  g_autoptr(PlexusNoiseCipher) send = NULL;
  g_autoptr(PlexusNoiseCipher) recv = NULL;
  g_autoptr(GByteArray) message = g_byte_array_new ();
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  guint8 junk[128] = { 0 };

  /* The initiator speaks first; nothing changes on a refused call. */
  assert_turn_refused (plexus_noise_handshake_read_message (initiator, junk, sizeof junk,
                                                           payload, &error), &error);
  assert_turn_refused (plexus_noise_handshake_write_message (responder, NULL, 0, message, &error),
                       &error);
  g_assert_cmpuint (message->len, ==, 0);
  assert_turn_refused (plexus_noise_handshake_split (initiator, &send, &recv, &error), &error);
  g_assert_null (send);

  g_assert_true (plexus_noise_handshake_write_message (initiator, NULL, 0, message, &error));
  g_assert_no_error (error);
  /* Message 2 is the responder's. */
  assert_turn_refused (plexus_noise_handshake_write_message (initiator, NULL, 0, message, &error),
                       &error);
  g_assert_true (plexus_noise_handshake_read_message (responder, message->data, message->len,
                                                      payload, &error));
  g_assert_no_error (error);
  assert_turn_refused (plexus_noise_handshake_read_message (responder, message->data, message->len,
                                                           payload, &error), &error);

  g_byte_array_set_size (message, 0);
  g_assert_true (plexus_noise_handshake_write_message (responder, NULL, 0, message, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_noise_handshake_read_message (initiator, message->data, message->len,
                                                      payload, &error));
  g_assert_no_error (error);
  g_byte_array_set_size (message, 0);
  g_assert_true (plexus_noise_handshake_write_message (initiator, NULL, 0, message, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_noise_handshake_read_message (responder, message->data, message->len,
                                                      payload, &error));
  g_assert_no_error (error);

  /* Finished: no more handshake messages either way. */
  g_assert_true (plexus_noise_handshake_is_finished (initiator));
  assert_turn_refused (plexus_noise_handshake_write_message (initiator, NULL, 0, message, &error),
                       &error);
  assert_turn_refused (plexus_noise_handshake_read_message (responder, message->data, message->len,
                                                           payload, &error), &error);

  /* Split once. */
  g_assert_true (plexus_noise_handshake_split (initiator, &send, &recv, &error));
  g_assert_no_error (error);
  g_clear_object (&send);
  g_clear_object (&recv);
  assert_turn_refused (plexus_noise_handshake_split (initiator, &send, &recv, &error), &error);
  g_assert_null (send);
  g_assert_true (plexus_noise_handshake_is_finished (initiator));
  g_assert_nonnull (plexus_noise_handshake_get_handshake_hash (initiator));
}

static void
test_failed_is_final (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
  g_autoptr(PlexusNoiseCipher) send = NULL;
  g_autoptr(PlexusNoiseCipher) recv = NULL;
  g_autoptr(GByteArray) message1 = g_byte_array_new ();
  g_autoptr(GByteArray) message2 = g_byte_array_new ();
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_handshake_write_message (initiator, NULL, 0, message1, &error));
  g_assert_true (plexus_noise_handshake_read_message (responder, message1->data, message1->len,
                                                      payload, &error));
  g_assert_true (plexus_noise_handshake_write_message (responder, NULL, 0, message2, &error));
  g_assert_no_error (error);

  message2->data[message2->len - 1] ^= 0x80;
  g_assert_false (plexus_noise_handshake_read_message (initiator, message2->data, message2->len,
                                                      payload, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "handshake message 2: authentication failed"));
  g_clear_error (&error);
  g_assert_null (plexus_noise_handshake_get_remote_static (initiator));

  /* The genuine message cannot be tried after a forged one. */
  message2->data[message2->len - 1] ^= 0x80;
  g_assert_false (plexus_noise_handshake_read_message (initiator, message2->data, message2->len,
                                                      payload, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "has failed"));
  g_clear_error (&error);
  assert_turn_refused (plexus_noise_handshake_split (initiator, &send, &recv, &error), &error);
  g_assert_false (plexus_noise_handshake_is_finished (initiator));
}

/* Keys of small order (RFC 7748 section 6.1 lists why they are refused):
 * zero, one, and a point of order 8. */
static const gchar *low_order_points[] = {
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
};

static void
test_low_order_keys (void)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();

  for (guint i = 0; i < G_N_ELEMENTS (low_order_points); i++) {
    g_autoptr(GBytes) point = hex_decode (low_order_points[i]);
    g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
    g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
    g_autoptr(PlexusNoiseHandshake) responder2 = handshake_new (FALSE, resp_keys, "plexus");
    g_autoptr(GByteArray) message = g_byte_array_new ();
    g_autoptr(GByteArray) payload = g_byte_array_new ();
    g_autoptr(GError) error = NULL;

    /* As the initiator's ephemeral key in message 1: refused on reading,
     * before the responder answers. */
    g_byte_array_append (message, g_bytes_get_data (point, NULL), PLEXUS_NOISE_KEY_SIZE);
    g_assert_false (plexus_noise_handshake_read_message (responder, message->data, message->len,
                                                        payload, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_assert_nonnull (strstr (error->message, "ephemeral key is invalid"));
    g_clear_error (&error);

    /* As the responder's ephemeral key in message 2. */
    g_byte_array_set_size (message, 0);
    g_assert_true (plexus_noise_handshake_write_message (initiator, NULL, 0, message, &error));
    g_assert_true (plexus_noise_handshake_read_message (responder2, message->data, message->len,
                                                        payload, &error));
    g_byte_array_set_size (message, 0);
    g_assert_true (plexus_noise_handshake_write_message (responder2, NULL, 0, message, &error));
    g_assert_no_error (error);
    memcpy (message->data, g_bytes_get_data (point, NULL), PLEXUS_NOISE_KEY_SIZE);
    g_assert_false (plexus_noise_handshake_read_message (initiator, message->data, message->len,
                                                        payload, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_assert_nonnull (strstr (error->message, "handshake message 2: the peer's ephemeral key is invalid"));
  }
}

/* A finished pair of transport cipher pairs, initiator to responder. */
static void
make_transport (PlexusNoiseCipher **init_send, PlexusNoiseCipher **init_recv,
                PlexusNoiseCipher **resp_send, PlexusNoiseCipher **resp_recv)
{
  g_autoptr(PlexusNoiseKeypair) init_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseKeypair) resp_keys = plexus_noise_keypair_new ();
  g_autoptr(PlexusNoiseHandshake) initiator = handshake_new (TRUE, init_keys, "plexus");
  g_autoptr(PlexusNoiseHandshake) responder = handshake_new (FALSE, resp_keys, "plexus");
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (run_handshake (initiator, responder, NULL, NULL, &error), ==, 0);
  g_assert_true (plexus_noise_handshake_split (initiator, init_send, init_recv, &error));
  g_assert_true (plexus_noise_handshake_split (responder, resp_send, resp_recv, &error));
  g_assert_no_error (error);
}

static GByteArray *
encrypt_text (PlexusNoiseCipher *cipher, const gchar *text)
{
  GByteArray *ciphertext = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_cipher_encrypt (cipher, NULL, 0, (const guint8 *) text, strlen (text),
                                              ciphertext, &error));
  g_assert_no_error (error);
  return ciphertext;
}

static void
assert_decrypts (PlexusNoiseCipher *cipher, GByteArray *ciphertext, const gchar *text)
{
  g_autoptr(GByteArray) plaintext = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_noise_cipher_decrypt (cipher, NULL, 0, ciphertext->data, ciphertext->len,
                                              plaintext, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (plaintext->data, plaintext->len, text, strlen (text));
}

static void
assert_decrypt_fails (PlexusNoiseCipher *cipher, const guint8 *ad, gsize ad_len,
                      const guint8 *data, gsize len, const gchar *reason)
{
  g_autoptr(GByteArray) plaintext = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  guint64 nonce = plexus_noise_cipher_get_nonce (cipher);

  g_assert_false (plexus_noise_cipher_decrypt (cipher, ad, ad_len, data, len, plaintext, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, reason));
  g_assert_cmpuint (plaintext->len, ==, 0);
  /* A refused message is not counted. */
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (cipher), ==, nonce);
}

static void
test_transport_order (void)
{
  g_autoptr(PlexusNoiseCipher) init_send = NULL;
  g_autoptr(PlexusNoiseCipher) init_recv = NULL;
  g_autoptr(PlexusNoiseCipher) resp_send = NULL;
  g_autoptr(PlexusNoiseCipher) resp_recv = NULL;
  g_autoptr(GByteArray) first = NULL;
  g_autoptr(GByteArray) second = NULL;
  g_autoptr(GByteArray) third = NULL;

  make_transport (&init_send, &init_recv, &resp_send, &resp_recv);
  first = encrypt_text (init_send, "first");
  second = encrypt_text (init_send, "second");
  third = encrypt_text (init_send, "third");
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (init_send), ==, 3);

  /* Reordered: the second message cannot be read first. */
  assert_decrypt_fails (resp_recv, NULL, 0, second->data, second->len, "authentication failed");
  assert_decrypts (resp_recv, first, "first");
  /* Replayed. */
  assert_decrypt_fails (resp_recv, NULL, 0, first->data, first->len, "authentication failed");
  assert_decrypts (resp_recv, second, "second");
  /* Altered: any flipped bit. */
  for (gsize i = 0; i < third->len; i++) {
    third->data[i] ^= 1u << (i % 8);
    assert_decrypt_fails (resp_recv, NULL, 0, third->data, third->len, "authentication failed");
    third->data[i] ^= 1u << (i % 8);
  }
  /* Other associated data, or the other direction's key. */
  assert_decrypt_fails (resp_recv, (const guint8 *) "x", 1, third->data, third->len,
                        "authentication failed");
  assert_decrypt_fails (init_recv, NULL, 0, third->data, third->len, "authentication failed");
  /* Truncated below the tag. */
  assert_decrypt_fails (resp_recv, NULL, 0, third->data, PLEXUS_NOISE_TAG_SIZE - 1, "truncated");
  assert_decrypts (resp_recv, third, "third");
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (resp_recv), ==, 3);
}

static void
test_transport_limits (void)
{
  g_autoptr(PlexusNoiseCipher) init_send = NULL;
  g_autoptr(PlexusNoiseCipher) init_recv = NULL;
  g_autoptr(PlexusNoiseCipher) resp_send = NULL;
  g_autoptr(PlexusNoiseCipher) resp_recv = NULL;
  g_autofree guint8 *big = g_malloc0 (PLEXUS_NOISE_MAX_MESSAGE_SIZE + 1);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) plaintext = g_byte_array_new ();
  g_autoptr(GByteArray) last = NULL;
  g_autoptr(GError) error = NULL;

  make_transport (&init_send, &init_recv, &resp_send, &resp_recv);

  g_assert_false (plexus_noise_cipher_encrypt (init_send, NULL, 0, big,
                                               PLEXUS_NOISE_MAX_MESSAGE_SIZE - 15, out, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (out->len, ==, 0);
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (init_send), ==, 0);
  g_clear_error (&error);
  g_assert_true (plexus_noise_cipher_encrypt (init_send, NULL, 0, big,
                                              PLEXUS_NOISE_MAX_MESSAGE_SIZE - 16, out, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, PLEXUS_NOISE_MAX_MESSAGE_SIZE);
  g_byte_array_append (out, (const guint8 *) "", 1);
  assert_decrypt_fails (resp_recv, NULL, 0, out->data, out->len, "more than the 65535 bytes");
  g_assert_true (plexus_noise_cipher_decrypt (resp_recv, NULL, 0, out->data,
                                              PLEXUS_NOISE_MAX_MESSAGE_SIZE, plaintext, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (plaintext->data, plaintext->len, big, PLEXUS_NOISE_MAX_MESSAGE_SIZE - 16);

  /* The last usable nonce is 2^64-2; 2^64-1 is reserved. */
  plexus_noise_cipher_set_nonce (init_send, G_MAXUINT64 - 1);
  plexus_noise_cipher_set_nonce (resp_recv, G_MAXUINT64 - 1);
  last = encrypt_text (init_send, "last");
  assert_decrypts (resp_recv, last, "last");
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (init_send), ==, G_MAXUINT64);
  g_byte_array_set_size (out, 0);
  g_assert_false (plexus_noise_cipher_encrypt (init_send, NULL, 0, (const guint8 *) "x", 1,
                                               out, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "nonce exhausted"));
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);
  g_assert_false (plexus_noise_cipher_decrypt (resp_recv, NULL, 0, last->data, last->len,
                                               out, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "nonce exhausted"));
}

static void
test_transport_rekey (void)
{
  g_autoptr(PlexusNoiseCipher) init_send = NULL;
  g_autoptr(PlexusNoiseCipher) init_recv = NULL;
  g_autoptr(PlexusNoiseCipher) resp_send = NULL;
  g_autoptr(PlexusNoiseCipher) resp_recv = NULL;
  g_autoptr(GByteArray) stale = NULL;

  make_transport (&init_send, &init_recv, &resp_send, &resp_recv);
  assert_transport_works (init_send, resp_recv, 2);

  /* Both ends rekey at the same message: the link goes on, nonces kept. */
  plexus_noise_cipher_rekey (init_send);
  plexus_noise_cipher_rekey (resp_recv);
  g_assert_cmpuint (plexus_noise_cipher_get_nonce (init_send), ==, 2);
  assert_transport_works (init_send, resp_recv, 2);

  /* Only one end rekeys: nothing gets through. */
  plexus_noise_cipher_rekey (init_send);
  stale = encrypt_text (init_send, "stale");
  assert_decrypt_fails (resp_recv, NULL, 0, stale->data, stale->len, "authentication failed");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/noise/vectors", test_vectors);
  g_test_add_func ("/plexus/noise/keypair", test_keypair);
  g_test_add_func ("/plexus/noise/live", test_live);
  g_test_add_func ("/plexus/noise/empty-payloads", test_empty_payloads);
  g_test_add_func ("/plexus/noise/prologue-mismatch", test_prologue_mismatch);
  g_test_add_func ("/plexus/noise/tampered", test_tampered);
  g_test_add_func ("/plexus/noise/truncated", test_truncated);
  g_test_add_func ("/plexus/noise/oversized", test_oversized);
  g_test_add_func ("/plexus/noise/out-of-turn", test_out_of_turn);
  g_test_add_func ("/plexus/noise/failed-is-final", test_failed_is_final);
  g_test_add_func ("/plexus/noise/low-order-keys", test_low_order_keys);
  g_test_add_func ("/plexus/noise/transport-order", test_transport_order);
  g_test_add_func ("/plexus/noise/transport-limits", test_transport_limits);
  g_test_add_func ("/plexus/noise/transport-rekey", test_transport_rekey);

  return g_test_run ();
}
