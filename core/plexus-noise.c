/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "plexus-error.h"
#include "plexus-noise.h"

/* Noise_XX_25519_ChaChaPoly_SHA256, written from the Noise Protocol
 * Framework specification, revision 34 (https://noiseprotocol.org/noise.html);
 * section numbers below are the specification's. libsodium supplies every
 * primitive: X25519, ChaCha20-Poly1305 (IETF), SHA-256 and HMAC-SHA-256.
 *
 * Three types share this file, against the one-type-per-file rule, because
 * they are one mechanism: a cipher state is what the handshake's symmetric
 * state hands over at Split(), both use the same nonce encoding and AEAD
 * calls, and a key pair is only the input to a handshake. Apart they would
 * need a private header to share those internals.
 *
 *   XX:
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se
 */

#define DHLEN   crypto_scalarmult_BYTES
#define HASHLEN crypto_hash_sha256_BYTES
#define KEYLEN  crypto_aead_chacha20poly1305_ietf_KEYBYTES
#define TAGLEN  crypto_aead_chacha20poly1305_ietf_ABYTES
#define NONCELEN crypto_aead_chacha20poly1305_ietf_NPUBBYTES
/* Section 5.1: nonce 2^64-1 is reserved for Rekey(), so it is never used
 * for a message. */
#define NONCE_RESERVED G_MAXUINT64

G_STATIC_ASSERT (DHLEN == PLEXUS_NOISE_KEY_SIZE);
G_STATIC_ASSERT (crypto_scalarmult_SCALARBYTES == PLEXUS_NOISE_KEY_SIZE);
G_STATIC_ASSERT (HASHLEN == PLEXUS_NOISE_HASH_SIZE);
G_STATIC_ASSERT (crypto_auth_hmacsha256_BYTES == HASHLEN);
G_STATIC_ASSERT (KEYLEN == 32);
G_STATIC_ASSERT (TAGLEN == PLEXUS_NOISE_TAG_SIZE);
G_STATIC_ASSERT (NONCELEN == 12);
/* With HASHLEN 32 the HKDF outputs are keys as they are (section 5.2's
 * truncation to 32 bytes is needed only for 64-byte hashes). */
G_STATIC_ASSERT (HASHLEN == KEYLEN);

static void
ensure_sodium (void)
{
  /* Idempotent and thread-safe; it fails only when no entropy source can
   * be opened, and nothing here is safe without one. */
  if (sodium_init () < 0)
    g_error ("cannot initialise libsodium");
}

/* Secret memory, guarded and locked where the system allows. Like
 * g_malloc(), running out of it is fatal. */
static gpointer
secure_alloc (gsize size)
{
  gpointer mem = sodium_malloc (size);

  if (mem == NULL)
    g_error ("cannot allocate %" G_GSIZE_FORMAT " bytes of secure memory", size);
  return mem;
}

static void
secure_free (gpointer mem, gsize size)
{
  /* sodium_free() wipes too, but do not rely on that alone. */
  if (mem != NULL) {
    sodium_memzero (mem, size);
    sodium_free (mem);
  }
}

/* Per-link secrets (handshake state, cipher keys): ordinary memory, wiped
 * when freed. Guarded pages cost an mmap, three mprotects, an mlock and an
 * munmap each, several per link, which dominated the cost of setting up
 * a link (bench/links); key pairs stay in guarded memory. */
static gpointer
wiped_alloc (gsize size)
{
  return g_malloc0 (size);
}

static void
wiped_free (gpointer mem, gsize size)
{
  if (mem != NULL) {
    sodium_memzero (mem, size);
    g_free (mem);
  }
}

/* Derives the public key; a clamped scalar never gives the all-zero point,
 * so this cannot fail. */
static void
public_key_from_private (guint8 public_key[DHLEN], const guint8 private_key[DHLEN])
{
  int res = crypto_scalarmult_base (public_key, private_key);

  g_assert (res == 0);
}

/* ChaChaPoly (section 12.3): the 96-bit nonce is 32 bits of zeros followed
 * by the little-endian 64-bit counter. */
static void
encode_nonce (guint64 n, guint8 nonce[NONCELEN])
{
  guint64 le = GUINT64_TO_LE (n);

  memset (nonce, 0, 4);
  memcpy (nonce + 4, &le, sizeof le);
}

/* ENCRYPT(k, n, ad, plaintext): writes @len + TAGLEN bytes to @out. */
static void
aead_encrypt (const guint8 *k, guint64 n, const guint8 *ad, gsize ad_len,
              const guint8 *plaintext, gsize len, guint8 *out)
{
  guint8 nonce[NONCELEN];

  encode_nonce (n, nonce);
  crypto_aead_chacha20poly1305_ietf_encrypt (out, NULL, plaintext, len, ad, ad_len,
                                             NULL, nonce, k);
}

/* DECRYPT(k, n, ad, ciphertext): @len >= TAGLEN; writes @len - TAGLEN bytes
 * to @out, only when the tag verifies. */
static gboolean
aead_decrypt (const guint8 *k, guint64 n, const guint8 *ad, gsize ad_len,
              const guint8 *ciphertext, gsize len, guint8 *out)
{
  guint8 nonce[NONCELEN];

  encode_nonce (n, nonce);
  return crypto_aead_chacha20poly1305_ietf_decrypt (out, NULL, NULL, ciphertext, len,
                                                    ad, ad_len, nonce, k) == 0;
}

static void
hmac_sha256 (const guint8 *key, gsize key_len,
             const guint8 *data, gsize data_len,
             const guint8 *more, gsize more_len,
             guint8 out[HASHLEN])
{
  crypto_auth_hmacsha256_state state;

  /* libsodium's HMAC takes keys of any length, as HKDF needs. */
  crypto_auth_hmacsha256_init (&state, key, key_len);
  crypto_auth_hmacsha256_update (&state, data, data_len);
  if (more_len > 0)
    crypto_auth_hmacsha256_update (&state, more, more_len);
  crypto_auth_hmacsha256_final (&state, out);
  sodium_memzero (&state, sizeof state);
}

/* HKDF(chaining_key, input_key_material, 2) of section 4.3. XX without PSKs
 * never asks for a third output. @out1 and @out2 must not overlap @ck. */
static void
hkdf2 (const guint8 ck[HASHLEN], const guint8 *ikm, gsize ikm_len,
       guint8 out1[HASHLEN], guint8 out2[HASHLEN])
{
  static const guint8 one = 0x01;
  static const guint8 two = 0x02;
  guint8 temp_key[HASHLEN];

  hmac_sha256 (ck, HASHLEN, ikm, ikm_len, NULL, 0, temp_key);
  hmac_sha256 (temp_key, HASHLEN, &one, 1, NULL, 0, out1);
  hmac_sha256 (temp_key, HASHLEN, out1, HASHLEN, &two, 1, out2);
  sodium_memzero (temp_key, sizeof temp_key);
}

/* ------------------------------------------------------------------------
 * PlexusNoiseKeypair
 * ------------------------------------------------------------------------ */

/* Immutable once made, so copies share it: a link per peer would
 * otherwise cost a guarded allocation and a key derivation each. */
struct _PlexusNoiseKeypair {
  gint    ref_count;   /* atomic */
  guint8 *private_key; /* sodium_malloc'd, DHLEN */
  guint8  public_key[DHLEN];
};

G_DEFINE_BOXED_TYPE (PlexusNoiseKeypair, plexus_noise_keypair,
                     plexus_noise_keypair_copy, plexus_noise_keypair_free)

/**
 * plexus_noise_keypair_new_from_private_key:
 * @private_key: a 32-byte X25519 private key
 *
 * Makes the key pair of @private_key; the key is copied into locked memory.
 *
 * Returns: (transfer full): the key pair
 */
PlexusNoiseKeypair *
plexus_noise_keypair_new_from_private_key (const guint8 private_key[PLEXUS_NOISE_KEY_SIZE])
{
  PlexusNoiseKeypair *keypair;

  g_return_val_if_fail (private_key != NULL, NULL);

  ensure_sodium ();
  keypair = g_new0 (PlexusNoiseKeypair, 1);
  keypair->ref_count = 1;
  keypair->private_key = secure_alloc (DHLEN);
  memcpy (keypair->private_key, private_key, DHLEN);
  public_key_from_private (keypair->public_key, keypair->private_key);
  return keypair;
}

/**
 * plexus_noise_keypair_new:
 *
 * Generates a random X25519 key pair.
 *
 * Returns: (transfer full): the key pair
 */
PlexusNoiseKeypair *
plexus_noise_keypair_new (void)
{
  PlexusNoiseKeypair *keypair;

  ensure_sodium ();
  keypair = g_new0 (PlexusNoiseKeypair, 1);
  keypair->ref_count = 1;
  keypair->private_key = secure_alloc (DHLEN);
  randombytes_buf (keypair->private_key, DHLEN);
  public_key_from_private (keypair->public_key, keypair->private_key);
  return keypair;
}

/**
 * plexus_noise_keypair_copy:
 * @keypair: a #PlexusNoiseKeypair
 *
 * Key pairs never change once made, so a copy is @keypair itself with
 * one more reference.
 *
 * Returns: (transfer full): a copy of @keypair
 */
PlexusNoiseKeypair *
plexus_noise_keypair_copy (const PlexusNoiseKeypair *keypair)
{
  PlexusNoiseKeypair *shared = (PlexusNoiseKeypair *) keypair;

  g_return_val_if_fail (keypair != NULL, NULL);

  g_atomic_int_inc (&shared->ref_count);
  return shared;
}

/**
 * plexus_noise_keypair_free:
 * @keypair: (nullable): a #PlexusNoiseKeypair
 *
 * Drops a reference to @keypair; the last one wipes and frees it.
 */
void
plexus_noise_keypair_free (PlexusNoiseKeypair *keypair)
{
  if (keypair == NULL || !g_atomic_int_dec_and_test (&keypair->ref_count))
    return;
  secure_free (keypair->private_key, DHLEN);
  g_free (keypair);
}

/**
 * plexus_noise_keypair_get_public_key:
 * @keypair: a #PlexusNoiseKeypair
 *
 * Returns: (array fixed-size=32): the public key
 */
const guint8 *
plexus_noise_keypair_get_public_key (const PlexusNoiseKeypair *keypair)
{
  g_return_val_if_fail (keypair != NULL, NULL);

  return keypair->public_key;
}

/**
 * plexus_noise_keypair_get_private_key:
 * @keypair: a #PlexusNoiseKeypair
 *
 * Returns: (array fixed-size=32): the private key, valid as long as @keypair
 */
const guint8 *
plexus_noise_keypair_get_private_key (const PlexusNoiseKeypair *keypair)
{
  g_return_val_if_fail (keypair != NULL, NULL);

  return keypair->private_key;
}

/* ------------------------------------------------------------------------
 * PlexusNoiseCipher: the CipherState of section 5.1 after Split()
 * ------------------------------------------------------------------------ */

struct _PlexusNoiseCipher {
  GObject  parent_instance;

  guint8  *k; /* wiped_alloc'd, KEYLEN */
  guint64  n;
};

G_DEFINE_FINAL_TYPE (PlexusNoiseCipher, plexus_noise_cipher, G_TYPE_OBJECT)

static void
plexus_noise_cipher_finalize (GObject *object)
{
  PlexusNoiseCipher *self = PLEXUS_NOISE_CIPHER (object);

  wiped_free (self->k, KEYLEN);

  G_OBJECT_CLASS (plexus_noise_cipher_parent_class)->finalize (object);
}

static void
plexus_noise_cipher_class_init (PlexusNoiseCipherClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_noise_cipher_finalize;
}

static void
plexus_noise_cipher_init (PlexusNoiseCipher *self)
{
}

static PlexusNoiseCipher *
cipher_new (const guint8 k[KEYLEN])
{
  PlexusNoiseCipher *self = g_object_new (PLEXUS_TYPE_NOISE_CIPHER, NULL);

  self->k = wiped_alloc (KEYLEN);
  memcpy (self->k, k, KEYLEN);
  return self;
}

static gboolean
cipher_check_nonce (PlexusNoiseCipher *self, GError **error)
{
  if (self->n == NONCE_RESERVED) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                         "nonce exhausted: this key has been used for 2^64-1 messages; "
                         "start a new handshake");
    return FALSE;
  }
  return TRUE;
}

/**
 * plexus_noise_cipher_encrypt:
 * @self: a #PlexusNoiseCipher
 * @ad: (array length=ad_len) (nullable): associated data, authenticated but not sent
 * @ad_len: length of @ad
 * @plaintext: (array length=plaintext_len) (nullable): the message
 * @plaintext_len: length of @plaintext, at most 65519 bytes
 * @out: where the ciphertext (@plaintext_len + 16 bytes) is appended
 * @error: return location for a #GError
 *
 * EncryptWithAd(): encrypts the next message with nonce
 * plexus_noise_cipher_get_nonce(), then counts it.
 *
 * Returns: %TRUE on success; on failure @out and the nonce are unchanged
 */
gboolean
plexus_noise_cipher_encrypt (PlexusNoiseCipher *self,
                             const guint8      *ad,
                             gsize              ad_len,
                             const guint8      *plaintext,
                             gsize              plaintext_len,
                             GByteArray        *out,
                             GError           **error)
{
  gsize start;

  g_return_val_if_fail (PLEXUS_IS_NOISE_CIPHER (self), FALSE);
  g_return_val_if_fail (ad != NULL || ad_len == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || plaintext_len == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!cipher_check_nonce (self, error))
    return FALSE;
  if (plaintext_len > PLEXUS_NOISE_MAX_MESSAGE_SIZE - TAGLEN) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "a message of %" G_GSIZE_FORMAT " bytes does not fit in a Noise "
                 "transport message, which carries at most %u bytes",
                 plaintext_len, (guint) (PLEXUS_NOISE_MAX_MESSAGE_SIZE - TAGLEN));
    return FALSE;
  }

  start = out->len;
  g_byte_array_set_size (out, start + plaintext_len + TAGLEN);
  aead_encrypt (self->k, self->n, ad, ad_len, plaintext, plaintext_len, out->data + start);
  self->n++;
  return TRUE;
}

/**
 * plexus_noise_cipher_decrypt:
 * @self: a #PlexusNoiseCipher
 * @ad: (array length=ad_len) (nullable): the associated data the sender used
 * @ad_len: length of @ad
 * @ciphertext: (array length=ciphertext_len): a transport message
 * @ciphertext_len: length of @ciphertext
 * @out: where the plaintext is appended
 * @error: return location for a #GError
 *
 * DecryptWithAd(): decrypts the next message with nonce
 * plexus_noise_cipher_get_nonce(), then counts it. A message that was
 * altered, replayed, reordered or encrypted with another key fails with
 * %PLEXUS_ERROR_INVALID_DATA and is not counted.
 *
 * Returns: %TRUE on success; on failure @out and the nonce are unchanged
 */
gboolean
plexus_noise_cipher_decrypt (PlexusNoiseCipher *self,
                             const guint8      *ad,
                             gsize              ad_len,
                             const guint8      *ciphertext,
                             gsize              ciphertext_len,
                             GByteArray        *out,
                             GError           **error)
{
  gsize start;

  g_return_val_if_fail (PLEXUS_IS_NOISE_CIPHER (self), FALSE);
  g_return_val_if_fail (ad != NULL || ad_len == 0, FALSE);
  g_return_val_if_fail (ciphertext != NULL || ciphertext_len == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!cipher_check_nonce (self, error))
    return FALSE;
  if (ciphertext_len > PLEXUS_NOISE_MAX_MESSAGE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "transport message %" G_GUINT64_FORMAT " is %" G_GSIZE_FORMAT
                 " bytes, more than the %u bytes Noise allows",
                 self->n, ciphertext_len, (guint) PLEXUS_NOISE_MAX_MESSAGE_SIZE);
    return FALSE;
  }
  if (ciphertext_len < TAGLEN) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "transport message %" G_GUINT64_FORMAT " is truncated: %" G_GSIZE_FORMAT
                 " bytes, at least %u needed",
                 self->n, ciphertext_len, (guint) TAGLEN);
    return FALSE;
  }

  start = out->len;
  g_byte_array_set_size (out, start + ciphertext_len - TAGLEN);
  if (!aead_decrypt (self->k, self->n, ad, ad_len, ciphertext, ciphertext_len,
                     ciphertext_len > TAGLEN ? out->data + start : NULL)) {
    g_byte_array_set_size (out, start);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "transport message %" G_GUINT64_FORMAT ": authentication failed "
                 "(the message was altered, replayed, reordered or not sent with this key)",
                 self->n);
    return FALSE;
  }
  self->n++;
  return TRUE;
}

/**
 * plexus_noise_cipher_get_nonce:
 * @self: a #PlexusNoiseCipher
 *
 * Returns: the nonce of the next message, which is the number of messages
 *   handled so far (unless plexus_noise_cipher_set_nonce() was used)
 */
guint64
plexus_noise_cipher_get_nonce (PlexusNoiseCipher *self)
{
  g_return_val_if_fail (PLEXUS_IS_NOISE_CIPHER (self), 0);

  return self->n;
}

/**
 * plexus_noise_cipher_set_nonce:
 * @self: a #PlexusNoiseCipher
 * @nonce: the nonce of the next message
 *
 * SetNonce() of section 5.1, for transports that carry the nonce
 * explicitly. Never reuse a nonce to encrypt: that breaks the cipher.
 */
void
plexus_noise_cipher_set_nonce (PlexusNoiseCipher *self, guint64 nonce)
{
  g_return_if_fail (PLEXUS_IS_NOISE_CIPHER (self));

  self->n = nonce;
}

/**
 * plexus_noise_cipher_rekey:
 * @self: a #PlexusNoiseCipher
 *
 * Rekey() of section 4.2: replaces the key with the first 32 bytes of
 * ENCRYPT(k, 2^64-1, empty, 32 zero bytes). The nonce is kept. Both ends
 * must rekey at the same message.
 */
void
plexus_noise_cipher_rekey (PlexusNoiseCipher *self)
{
  static const guint8 zeros[KEYLEN] = { 0 };
  guint8 block[KEYLEN + TAGLEN];

  g_return_if_fail (PLEXUS_IS_NOISE_CIPHER (self));

  aead_encrypt (self->k, NONCE_RESERVED, NULL, 0, zeros, KEYLEN, block);
  memcpy (self->k, block, KEYLEN);
  sodium_memzero (block, sizeof block);
}

/* ------------------------------------------------------------------------
 * PlexusNoiseHandshake: the HandshakeState and SymmetricState of sections
 * 5.2 and 5.3, for pattern XX only
 * ------------------------------------------------------------------------ */

typedef enum {
  TOKEN_E,
  TOKEN_S,
  TOKEN_EE,
  TOKEN_ES,
  TOKEN_SE,
} Token;

typedef struct {
  const Token *tokens;
  guint        n_tokens;
} MessagePattern;

static const Token xx_message_1[] = { TOKEN_E };
static const Token xx_message_2[] = { TOKEN_E, TOKEN_EE, TOKEN_S, TOKEN_ES };
static const Token xx_message_3[] = { TOKEN_S, TOKEN_SE };

static const MessagePattern xx_pattern[] = {
  { xx_message_1, G_N_ELEMENTS (xx_message_1) },
  { xx_message_2, G_N_ELEMENTS (xx_message_2) },
  { xx_message_3, G_N_ELEMENTS (xx_message_3) },
};

#define N_MESSAGES G_N_ELEMENTS (xx_pattern)

typedef struct {
  guint8 s[DHLEN];    /* local static private key */
  guint8 e[DHLEN];    /* local ephemeral private key */
  guint8 ck[HASHLEN]; /* chaining key */
  guint8 k[KEYLEN];   /* handshake cipher key, when has_k */
} HandshakeSecrets;

struct _PlexusNoiseHandshake {
  GObject           parent_instance;

  HandshakeSecrets *secret;       /* wiped_alloc'd; NULL after Split() */
  gboolean          initiator;
  guint             next_message; /* index into xx_pattern; N_MESSAGES when done */
  gboolean          failed;

  /* The symmetric state's cipher state, key in secret->k. */
  gboolean          has_k;
  guint64           n;
  guint8            h[HASHLEN];

  guint8            s_pub[DHLEN];
  guint8            e_pub[DHLEN];
  gboolean          has_e;
  guint8            re[DHLEN];
  gboolean          has_re;
  guint8            rs[DHLEN];
  gboolean          has_rs;
};

G_DEFINE_FINAL_TYPE (PlexusNoiseHandshake, plexus_noise_handshake, G_TYPE_OBJECT)

static void
plexus_noise_handshake_finalize (GObject *object)
{
  PlexusNoiseHandshake *self = PLEXUS_NOISE_HANDSHAKE (object);

  wiped_free (self->secret, sizeof (HandshakeSecrets));
  sodium_memzero (self->h, sizeof self->h);

  G_OBJECT_CLASS (plexus_noise_handshake_parent_class)->finalize (object);
}

static void
plexus_noise_handshake_class_init (PlexusNoiseHandshakeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_noise_handshake_finalize;
}

static void
plexus_noise_handshake_init (PlexusNoiseHandshake *self)
{
}

/* InitializeSymmetric(protocol_name) of section 5.2. */
static void
initialize_symmetric (PlexusNoiseHandshake *self, const gchar *protocol_name)
{
  gsize len = strlen (protocol_name);

  /* A name of at most HASHLEN bytes is used as h, zero-padded; a longer
   * one is hashed. Ours is exactly 32 bytes. */
  if (len <= HASHLEN) {
    memset (self->h, 0, HASHLEN);
    memcpy (self->h, protocol_name, len);
  } else {
    crypto_hash_sha256 (self->h, (const guint8 *) protocol_name, len);
  }
  memcpy (self->secret->ck, self->h, HASHLEN);
  self->has_k = FALSE;
  self->n = 0;
}

static void
mix_hash (PlexusNoiseHandshake *self, const guint8 *data, gsize len)
{
  crypto_hash_sha256_state state;

  crypto_hash_sha256_init (&state);
  crypto_hash_sha256_update (&state, self->h, HASHLEN);
  crypto_hash_sha256_update (&state, data, len);
  crypto_hash_sha256_final (&state, self->h);
}

static void
mix_key (PlexusNoiseHandshake *self, const guint8 *ikm, gsize len)
{
  guint8 ck[HASHLEN];
  guint8 temp_k[HASHLEN];

  hkdf2 (self->secret->ck, ikm, len, ck, temp_k);
  memcpy (self->secret->ck, ck, HASHLEN);
  memcpy (self->secret->k, temp_k, KEYLEN);
  self->has_k = TRUE;
  self->n = 0;
  sodium_memzero (ck, sizeof ck);
  sodium_memzero (temp_k, sizeof temp_k);
}

/* EncryptAndHash(): appends the ciphertext to @out. A handshake sends at
 * most three encrypted fields per key, so the nonce cannot run out. */
static void
encrypt_and_hash (PlexusNoiseHandshake *self, const guint8 *plaintext, gsize len, GByteArray *out)
{
  gsize start = out->len;

  if (self->has_k) {
    g_byte_array_set_size (out, start + len + TAGLEN);
    aead_encrypt (self->secret->k, self->n, self->h, HASHLEN, plaintext, len, out->data + start);
    self->n++;
    mix_hash (self, out->data + start, len + TAGLEN);
  } else {
    /* Without a key the "ciphertext" is the plaintext. */
    if (len > 0)
      g_byte_array_append (out, plaintext, len);
    mix_hash (self, plaintext, len);
  }
}

/* DecryptAndHash(): @len includes the tag when there is a key; writes the
 * plaintext to @out only when it authenticates. */
static gboolean
decrypt_and_hash (PlexusNoiseHandshake *self, const guint8 *ciphertext, gsize len, guint8 *out)
{
  if (self->has_k) {
    if (!aead_decrypt (self->secret->k, self->n, self->h, HASHLEN, ciphertext, len, out))
      return FALSE;
    self->n++;
  } else if (len > 0) {
    memcpy (out, ciphertext, len);
  }
  mix_hash (self, ciphertext, len);
  return TRUE;
}

/* The smallest message the pattern allows: keys, tags, empty payload. */
static gsize
message_overhead (PlexusNoiseHandshake *self, const MessagePattern *pattern)
{
  gboolean has_k = self->has_k;
  gsize size = 0;

  for (guint i = 0; i < pattern->n_tokens; i++) {
    switch (pattern->tokens[i]) {
    case TOKEN_E:
      size += DHLEN;
      break;
    case TOKEN_S:
      size += DHLEN + (has_k ? TAGLEN : 0);
      break;
    case TOKEN_EE:
    case TOKEN_ES:
    case TOKEN_SE:
    default:
      has_k = TRUE;
      break;
    }
  }
  return size + (has_k ? TAGLEN : 0);
}

/* Ends the handshake after bad input: a failed handshake is not retried
 * (section 5.3), so its secrets go at once. */
static void
handshake_fail (PlexusNoiseHandshake *self)
{
  self->failed = TRUE;
  self->has_k = FALSE;
  if (self->secret != NULL)
    sodium_memzero (self->secret, sizeof (HandshakeSecrets));
}

/* What is left after the last message is the chaining key for Split(). */
static void
handshake_advance (PlexusNoiseHandshake *self)
{
  self->next_message++;
  if (self->next_message == N_MESSAGES) {
    sodium_memzero (self->secret->e, DHLEN);
    sodium_memzero (self->secret->s, DHLEN);
    sodium_memzero (self->secret->k, KEYLEN);
    self->has_k = FALSE;
  }
}

static gboolean
check_turn (PlexusNoiseHandshake *self, gboolean writing, GError **error)
{
  guint number = self->next_message + 1;
  gboolean ours;

  if (self->failed) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                         "the handshake has failed; start a new one");
    return FALSE;
  }
  if (self->next_message >= N_MESSAGES) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                         "the handshake is already finished");
    return FALSE;
  }
  /* The initiator sends messages 1 and 3, the responder message 2. */
  ours = ((self->next_message % 2) == 0) == self->initiator;
  if (writing && !ours) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot write handshake message %u: the %s sends it",
                 number, self->initiator ? "responder" : "initiator");
    return FALSE;
  }
  if (!writing && ours) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot read handshake message %u: the %s sends it",
                 number, self->initiator ? "initiator" : "responder");
    return FALSE;
  }
  return TRUE;
}

static void
set_invalid_key_error (GError **error, guint number, gboolean ephemeral)
{
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
               "handshake message %u: the peer's %s key is invalid (a low-order point)",
               number, ephemeral ? "ephemeral" : "static");
}

/* The DH tokens (section 7.1): MixKey(DH(local, remote)). Clears the
 * matching *_unchecked flag: a remote key that gave a valid DH is valid. */
static gboolean
mix_dh (PlexusNoiseHandshake *self, Token token, guint number,
        gboolean *re_unchecked, gboolean *rs_unchecked, GError **error)
{
  gboolean local_ephemeral;
  gboolean remote_ephemeral;
  guint8 shared[DHLEN];

  switch (token) {
  case TOKEN_EE:
    local_ephemeral = TRUE;
    remote_ephemeral = TRUE;
    break;
  case TOKEN_ES:
    /* The initiator's ephemeral with the responder's static. */
    local_ephemeral = self->initiator;
    remote_ephemeral = !self->initiator;
    break;
  case TOKEN_SE:
    /* The initiator's static with the responder's ephemeral. */
    local_ephemeral = !self->initiator;
    remote_ephemeral = self->initiator;
    break;
  case TOKEN_E:
  case TOKEN_S:
  default:
    g_assert_not_reached ();
  }

  g_assert (local_ephemeral ? self->has_e : TRUE);
  g_assert (remote_ephemeral ? self->has_re : self->has_rs);

  /* libsodium refuses (-1) when the result is all zeros: the peer sent a
   * low-order point, which would make the shared secret public. */
  if (crypto_scalarmult (shared,
                         local_ephemeral ? self->secret->e : self->secret->s,
                         remote_ephemeral ? self->re : self->rs) != 0) {
    set_invalid_key_error (error, number, remote_ephemeral);
    return FALSE;
  }
  mix_key (self, shared, DHLEN);
  sodium_memzero (shared, sizeof shared);

  if (remote_ephemeral && re_unchecked != NULL)
    *re_unchecked = FALSE;
  if (!remote_ephemeral && rs_unchecked != NULL)
    *rs_unchecked = FALSE;
  return TRUE;
}

/* A remote key no DH of its own message used (the responder's view of the
 * initiator's e in message 1) is checked against the local static key, so
 * that a bad key fails where it arrived, not in the next write. */
static gboolean
remote_key_is_valid (PlexusNoiseHandshake *self, const guint8 key[DHLEN])
{
  guint8 shared[DHLEN];
  gboolean valid = crypto_scalarmult (shared, self->secret->s, key) == 0;

  sodium_memzero (shared, sizeof shared);
  return valid;
}

static void
generate_ephemeral (PlexusNoiseHandshake *self)
{
  randombytes_buf (self->secret->e, DHLEN);
  public_key_from_private (self->e_pub, self->secret->e);
  self->has_e = TRUE;
}

/**
 * plexus_noise_handshake_new:
 * @initiator: %TRUE for the side that sends the first message
 * @static_private: the 32-byte X25519 static private key of this side
 * @prologue: (array length=prologue_len) (nullable): data both sides must
 *   agree on, authenticated by the handshake but not sent
 * @prologue_len: length of @prologue
 *
 * Starts one side of a Noise_XX_25519_ChaChaPoly_SHA256 handshake. The
 * private key is copied into locked memory and wiped when the handshake
 * finishes.
 *
 * Returns: (transfer full): the handshake state
 */
PlexusNoiseHandshake *
plexus_noise_handshake_new (gboolean      initiator,
                            const guint8  static_private[PLEXUS_NOISE_KEY_SIZE],
                            const guint8 *prologue,
                            gsize         prologue_len)
{
  PlexusNoiseHandshake *self;

  g_return_val_if_fail (static_private != NULL, NULL);
  g_return_val_if_fail (prologue != NULL || prologue_len == 0, NULL);

  ensure_sodium ();
  self = g_object_new (PLEXUS_TYPE_NOISE_HANDSHAKE, NULL);
  self->initiator = initiator;
  self->secret = wiped_alloc (sizeof (HandshakeSecrets));
  sodium_memzero (self->secret, sizeof (HandshakeSecrets));
  memcpy (self->secret->s, static_private, DHLEN);
  public_key_from_private (self->s_pub, self->secret->s);

  /* Initialize() of section 5.3; XX has no pre-messages. */
  initialize_symmetric (self, PLEXUS_NOISE_PROTOCOL_NAME);
  mix_hash (self, prologue != NULL ? prologue : (const guint8 *) "", prologue_len);
  return self;
}

/**
 * plexus_noise_handshake_set_ephemeral_private:
 * @self: a #PlexusNoiseHandshake
 * @key: a 32-byte X25519 private key
 *
 * Makes this side use @key as its ephemeral key instead of a fresh random
 * one. This exists only to reproduce published test vectors: a reused
 * ephemeral key destroys the forward secrecy of every link that uses it.
 * Call it before this side writes its first message.
 */
void
plexus_noise_handshake_set_ephemeral_private (PlexusNoiseHandshake *self,
                                              const guint8          key[PLEXUS_NOISE_KEY_SIZE])
{
  g_return_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self));
  g_return_if_fail (key != NULL);
  g_return_if_fail (!self->has_e && !self->failed && self->next_message < N_MESSAGES);

  memcpy (self->secret->e, key, DHLEN);
  public_key_from_private (self->e_pub, self->secret->e);
  self->has_e = TRUE;
}

/**
 * plexus_noise_handshake_write_message:
 * @self: a #PlexusNoiseHandshake
 * @payload: (array length=payload_len) (nullable): data to send with the message
 * @payload_len: length of @payload
 * @out: where the message is appended
 * @error: return location for a #GError
 *
 * WriteMessage(): writes this side's next handshake message (1 or 3 for
 * the initiator, 2 for the responder). The payload of message 1 is sent in
 * the clear; those of messages 2 and 3 are encrypted, but message 2's is
 * sent before the responder knows who the initiator is.
 *
 * Fails with %PLEXUS_ERROR_FAILED when it is not this side's turn or the
 * handshake is over, and with %PLEXUS_ERROR_INVALID_ARGUMENT when the
 * payload would make the message larger than 65535 bytes.
 *
 * Returns: %TRUE on success; on failure @out is unchanged
 */
gboolean
plexus_noise_handshake_write_message (PlexusNoiseHandshake *self,
                                      const guint8         *payload,
                                      gsize                 payload_len,
                                      GByteArray           *out,
                                      GError              **error)
{
  const MessagePattern *pattern;
  guint number;
  gsize overhead;
  gsize start;

  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), FALSE);
  g_return_val_if_fail (payload != NULL || payload_len == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_turn (self, TRUE, error))
    return FALSE;

  number = self->next_message + 1;
  pattern = &xx_pattern[self->next_message];
  overhead = message_overhead (self, pattern);
  if (payload_len > PLEXUS_NOISE_MAX_MESSAGE_SIZE - overhead) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "a payload of %" G_GSIZE_FORMAT " bytes does not fit in handshake "
                 "message %u, which carries at most %" G_GSIZE_FORMAT " bytes",
                 payload_len, number, PLEXUS_NOISE_MAX_MESSAGE_SIZE - overhead);
    return FALSE;
  }

  start = out->len;
  for (guint i = 0; i < pattern->n_tokens; i++) {
    Token token = pattern->tokens[i];

    switch (token) {
    case TOKEN_E:
      if (!self->has_e)
        generate_ephemeral (self);
      g_byte_array_append (out, self->e_pub, DHLEN);
      mix_hash (self, self->e_pub, DHLEN);
      break;
    case TOKEN_S:
      encrypt_and_hash (self, self->s_pub, DHLEN, out);
      break;
    case TOKEN_EE:
    case TOKEN_ES:
    case TOKEN_SE:
    default:
      /* Remote keys were checked when they were read. */
      if (!mix_dh (self, token, number, NULL, NULL, error)) {
        g_byte_array_set_size (out, start);
        handshake_fail (self);
        return FALSE;
      }
      break;
    }
  }
  encrypt_and_hash (self, payload != NULL ? payload : (const guint8 *) "", payload_len, out);
  handshake_advance (self);
  return TRUE;
}

static void
set_auth_error (GError **error, guint number)
{
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
               "handshake message %u: authentication failed (a different prologue, "
               "or the message was altered)", number);
}

/**
 * plexus_noise_handshake_read_message:
 * @self: a #PlexusNoiseHandshake
 * @message: (array length=message_len): a handshake message from the peer
 * @message_len: length of @message
 * @payload_out: where the message's payload is appended
 * @error: return location for a #GError
 *
 * ReadMessage(): reads the peer's next handshake message (2 for the
 * initiator, 1 or 3 for the responder).
 *
 * Fails with %PLEXUS_ERROR_FAILED when it is not the peer's turn or the
 * handshake is over, and with %PLEXUS_ERROR_INVALID_DATA when the message
 * is truncated, too large, does not authenticate or carries an invalid
 * key. A handshake that failed on a message cannot go on: every later
 * call fails.
 *
 * Returns: %TRUE on success; on failure @payload_out is unchanged
 */
gboolean
plexus_noise_handshake_read_message (PlexusNoiseHandshake *self,
                                     const guint8         *message,
                                     gsize                 message_len,
                                     GByteArray           *payload_out,
                                     GError              **error)
{
  const MessagePattern *pattern;
  gboolean re_unchecked = FALSE;
  gboolean rs_unchecked = FALSE;
  guint number;
  gsize overhead;
  gsize start;
  gsize pos = 0;
  gsize len;
  gsize payload_len;

  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), FALSE);
  g_return_val_if_fail (message != NULL || message_len == 0, FALSE);
  g_return_val_if_fail (payload_out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_turn (self, FALSE, error))
    return FALSE;

  number = self->next_message + 1;
  pattern = &xx_pattern[self->next_message];
  overhead = message_overhead (self, pattern);
  if (message_len > PLEXUS_NOISE_MAX_MESSAGE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "handshake message %u is %" G_GSIZE_FORMAT " bytes, more than "
                 "the %u bytes Noise allows",
                 number, message_len, (guint) PLEXUS_NOISE_MAX_MESSAGE_SIZE);
    handshake_fail (self);
    return FALSE;
  }
  if (message_len < overhead) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "handshake message %u is truncated: %" G_GSIZE_FORMAT " bytes, "
                 "at least %" G_GSIZE_FORMAT " needed",
                 number, message_len, overhead);
    handshake_fail (self);
    return FALSE;
  }

  start = payload_out->len;
  for (guint i = 0; i < pattern->n_tokens; i++) {
    Token token = pattern->tokens[i];

    switch (token) {
    case TOKEN_E:
      memcpy (self->re, message + pos, DHLEN);
      self->has_re = TRUE;
      re_unchecked = TRUE;
      mix_hash (self, self->re, DHLEN);
      pos += DHLEN;
      break;
    case TOKEN_S:
      len = DHLEN + (self->has_k ? TAGLEN : 0);
      if (!decrypt_and_hash (self, message + pos, len, self->rs)) {
        set_auth_error (error, number);
        goto fail;
      }
      self->has_rs = TRUE;
      rs_unchecked = TRUE;
      pos += len;
      break;
    case TOKEN_EE:
    case TOKEN_ES:
    case TOKEN_SE:
    default:
      if (!mix_dh (self, token, number, &re_unchecked, &rs_unchecked, error))
        goto fail;
      break;
    }
  }

  len = message_len - pos;
  payload_len = len - (self->has_k ? TAGLEN : 0);
  g_byte_array_set_size (payload_out, start + payload_len);
  if (!decrypt_and_hash (self, message + pos, len,
                         payload_len > 0 ? payload_out->data + start : NULL)) {
    set_auth_error (error, number);
    goto fail;
  }
  if (re_unchecked && !remote_key_is_valid (self, self->re)) {
    set_invalid_key_error (error, number, TRUE);
    goto fail;
  }
  if (rs_unchecked && !remote_key_is_valid (self, self->rs)) {
    set_invalid_key_error (error, number, FALSE);
    goto fail;
  }

  handshake_advance (self);
  return TRUE;

fail:
  g_byte_array_set_size (payload_out, start);
  handshake_fail (self);
  return FALSE;
}

/**
 * plexus_noise_handshake_is_initiator:
 * @self: a #PlexusNoiseHandshake
 *
 * Returns: %TRUE for the side that sends the first message
 */
gboolean
plexus_noise_handshake_is_initiator (PlexusNoiseHandshake *self)
{
  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), FALSE);

  return self->initiator;
}

/**
 * plexus_noise_handshake_is_finished:
 * @self: a #PlexusNoiseHandshake
 *
 * Returns: %TRUE once all three messages were written or read successfully
 */
gboolean
plexus_noise_handshake_is_finished (PlexusNoiseHandshake *self)
{
  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), FALSE);

  return !self->failed && self->next_message == N_MESSAGES;
}

/**
 * plexus_noise_handshake_get_local_static:
 * @self: a #PlexusNoiseHandshake
 *
 * Returns: (array fixed-size=32): this side's static public key
 */
const guint8 *
plexus_noise_handshake_get_local_static (PlexusNoiseHandshake *self)
{
  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), NULL);

  return self->s_pub;
}

/**
 * plexus_noise_handshake_get_remote_static:
 * @self: a #PlexusNoiseHandshake
 *
 * The peer's static public key arrives in message 2 (initiator) or 3
 * (responder). It is authenticated once the handshake is finished; decide
 * whether to trust it before sending anything sensitive.
 *
 * Returns: (nullable) (array fixed-size=32): the peer's static public key,
 *   or %NULL until it is known or when the handshake failed
 */
const guint8 *
plexus_noise_handshake_get_remote_static (PlexusNoiseHandshake *self)
{
  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), NULL);

  return self->has_rs && !self->failed ? self->rs : NULL;
}

/**
 * plexus_noise_handshake_get_handshake_hash:
 * @self: a #PlexusNoiseHandshake
 *
 * GetHandshakeHash(): a value both sides share and no one else can
 * influence, for channel binding (for example, signing it with the
 * identity key).
 *
 * Returns: (nullable) (array fixed-size=32): the handshake hash, or %NULL
 *   until the handshake is finished
 */
const guint8 *
plexus_noise_handshake_get_handshake_hash (PlexusNoiseHandshake *self)
{
  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), NULL);

  return plexus_noise_handshake_is_finished (self) ? self->h : NULL;
}

/**
 * plexus_noise_handshake_split:
 * @self: a finished #PlexusNoiseHandshake
 * @send: (out) (transfer full): the cipher for messages this side sends
 * @recv: (out) (transfer full): the cipher for messages it receives
 * @error: return location for a #GError
 *
 * Split(): derives the two transport keys and wipes the handshake's last
 * secret, so it can be done once.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_noise_handshake_split (PlexusNoiseHandshake *self,
                              PlexusNoiseCipher   **send,
                              PlexusNoiseCipher   **recv,
                              GError              **error)
{
  guint8 k1[HASHLEN];
  guint8 k2[HASHLEN];
  PlexusNoiseCipher *c1;
  PlexusNoiseCipher *c2;

  g_return_val_if_fail (PLEXUS_IS_NOISE_HANDSHAKE (self), FALSE);
  g_return_val_if_fail (send != NULL && recv != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->failed) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                         "the handshake has failed; start a new one");
    return FALSE;
  }
  if (self->next_message < N_MESSAGES) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "the handshake is not finished: %u of %u messages done",
                 self->next_message, (guint) N_MESSAGES);
    return FALSE;
  }
  if (self->secret == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                         "the handshake was already split into transport ciphers");
    return FALSE;
  }

  hkdf2 (self->secret->ck, (const guint8 *) "", 0, k1, k2);
  c1 = cipher_new (k1);
  c2 = cipher_new (k2);
  sodium_memzero (k1, sizeof k1);
  sodium_memzero (k2, sizeof k2);
  wiped_free (self->secret, sizeof (HandshakeSecrets));
  self->secret = NULL;

  /* The initiator sends with the first key. */
  *send = self->initiator ? c1 : c2;
  *recv = self->initiator ? c2 : c1;
  return TRUE;
}
