/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* The Noise handshake that authenticates and encrypts links between nodes:
 * Noise_XX_25519_ChaChaPoly_SHA256 (Noise Protocol Framework, revision 34).
 * Sans-I/O: the caller moves the bytes; these types only turn messages into
 * messages. Private to the daemon. */

/**
 * PLEXUS_NOISE_PROTOCOL_NAME:
 *
 * The full Noise protocol name: pattern XX, X25519, ChaCha20-Poly1305,
 * SHA-256.
 */
#define PLEXUS_NOISE_PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256"
/**
 * PLEXUS_NOISE_KEY_SIZE:
 *
 * Size in bytes of an X25519 private or public key.
 */
#define PLEXUS_NOISE_KEY_SIZE 32
/**
 * PLEXUS_NOISE_HASH_SIZE:
 *
 * Size in bytes of the handshake hash (SHA-256).
 */
#define PLEXUS_NOISE_HASH_SIZE 32
/**
 * PLEXUS_NOISE_TAG_SIZE:
 *
 * Bytes an encrypted payload grows by (the Poly1305 tag).
 */
#define PLEXUS_NOISE_TAG_SIZE 16
/**
 * PLEXUS_NOISE_MAX_MESSAGE_SIZE:
 *
 * The largest handshake or transport message Noise allows, in bytes.
 */
#define PLEXUS_NOISE_MAX_MESSAGE_SIZE 65535

/* An X25519 key pair; the private key lives in locked memory. */
typedef struct _PlexusNoiseKeypair PlexusNoiseKeypair;

#define PLEXUS_TYPE_NOISE_KEYPAIR (plexus_noise_keypair_get_type ())
GType               plexus_noise_keypair_get_type (void) G_GNUC_CONST;

PlexusNoiseKeypair *plexus_noise_keypair_new (void);
PlexusNoiseKeypair *plexus_noise_keypair_new_from_private_key (const guint8 private_key[PLEXUS_NOISE_KEY_SIZE]);
PlexusNoiseKeypair *plexus_noise_keypair_copy (const PlexusNoiseKeypair *keypair);
void                plexus_noise_keypair_free (PlexusNoiseKeypair *keypair);
const guint8       *plexus_noise_keypair_get_public_key (const PlexusNoiseKeypair *keypair);
const guint8       *plexus_noise_keypair_get_private_key (const PlexusNoiseKeypair *keypair);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusNoiseKeypair, plexus_noise_keypair_free)

/* One direction of an established link: a key and a message counter. */
#define PLEXUS_TYPE_NOISE_CIPHER (plexus_noise_cipher_get_type ())
G_DECLARE_FINAL_TYPE (PlexusNoiseCipher, plexus_noise_cipher, PLEXUS, NOISE_CIPHER, GObject)

/* Both append to @out; on failure @out is left as it was. The nonce counts
 * messages, so every message must be decrypted in the order it was sent. */
gboolean plexus_noise_cipher_encrypt   (PlexusNoiseCipher *self,
                                        const guint8      *ad,
                                        gsize              ad_len,
                                        const guint8      *plaintext,
                                        gsize              plaintext_len,
                                        GByteArray        *out,
                                        GError           **error);
gboolean plexus_noise_cipher_decrypt   (PlexusNoiseCipher *self,
                                        const guint8      *ad,
                                        gsize              ad_len,
                                        const guint8      *ciphertext,
                                        gsize              ciphertext_len,
                                        GByteArray        *out,
                                        GError           **error);
guint64  plexus_noise_cipher_get_nonce (PlexusNoiseCipher *self);
void     plexus_noise_cipher_set_nonce (PlexusNoiseCipher *self,
                                        guint64            nonce);
void     plexus_noise_cipher_rekey     (PlexusNoiseCipher *self);

/* The XX handshake state of one side. */
#define PLEXUS_TYPE_NOISE_HANDSHAKE (plexus_noise_handshake_get_type ())
G_DECLARE_FINAL_TYPE (PlexusNoiseHandshake, plexus_noise_handshake, PLEXUS, NOISE_HANDSHAKE, GObject)

PlexusNoiseHandshake *plexus_noise_handshake_new (gboolean      initiator,
                                                  const guint8  static_private[PLEXUS_NOISE_KEY_SIZE],
                                                  const guint8 *prologue,
                                                  gsize         prologue_len);
/* For published test vectors only: a live handshake makes a fresh one. */
void          plexus_noise_handshake_set_ephemeral_private (PlexusNoiseHandshake *self,
                                                            const guint8          key[PLEXUS_NOISE_KEY_SIZE]);

gboolean      plexus_noise_handshake_write_message (PlexusNoiseHandshake *self,
                                                    const guint8         *payload,
                                                    gsize                 payload_len,
                                                    GByteArray           *out,
                                                    GError              **error);
gboolean      plexus_noise_handshake_read_message  (PlexusNoiseHandshake *self,
                                                    const guint8         *message,
                                                    gsize                 message_len,
                                                    GByteArray           *payload_out,
                                                    GError              **error);

gboolean      plexus_noise_handshake_is_initiator (PlexusNoiseHandshake *self);
gboolean      plexus_noise_handshake_is_finished (PlexusNoiseHandshake *self);
const guint8 *plexus_noise_handshake_get_local_static (PlexusNoiseHandshake *self);
const guint8 *plexus_noise_handshake_get_remote_static (PlexusNoiseHandshake *self);
const guint8 *plexus_noise_handshake_get_handshake_hash (PlexusNoiseHandshake *self);
gboolean      plexus_noise_handshake_split (PlexusNoiseHandshake *self,
                                            PlexusNoiseCipher   **send,
                                            PlexusNoiseCipher   **recv,
                                            GError              **error);

G_END_DECLS
