/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * PLEXUS_IDENTITY_PUBLIC_KEY_SIZE:
 *
 * Size in bytes of an Ed25519 public key.
 */
#define PLEXUS_IDENTITY_PUBLIC_KEY_SIZE 32
/**
 * PLEXUS_IDENTITY_SIGNATURE_SIZE:
 *
 * Size in bytes of an Ed25519 signature.
 */
#define PLEXUS_IDENTITY_SIGNATURE_SIZE 64
/**
 * PLEXUS_IDENTITY_SEAL_OVERHEAD:
 *
 * Bytes plexus_identity_seal() adds to what it seals.
 */
#define PLEXUS_IDENTITY_SEAL_OVERHEAD 48

#define PLEXUS_TYPE_IDENTITY (plexus_identity_get_type ())
G_DECLARE_FINAL_TYPE (PlexusIdentity, plexus_identity, PLEXUS, IDENTITY, GObject)

/* Loads STATE_DIR/identity.key, or creates it (mode 0600) when it does not
 * exist. A key file with loose permissions or damaged content is an error;
 * it is never replaced. */
PlexusIdentity *plexus_identity_load_or_create (const gchar *state_dir,
                                                GError     **error);
PlexusIdentity *plexus_identity_load (const gchar *path,
                                      GError     **error);
/* A fresh key pair held only in memory (tests, simulators). */
PlexusIdentity *plexus_identity_new_ephemeral (void);

const gchar    *plexus_identity_get_peer_id (PlexusIdentity *self);
const guint8   *plexus_identity_get_public_key (PlexusIdentity *self);
const gchar    *plexus_identity_get_path (PlexusIdentity *self);

/* Returns a PLEXUS_IDENTITY_SIGNATURE_SIZE-byte detached signature. */
GBytes         *plexus_identity_sign (PlexusIdentity *self,
                                      const guint8   *data,
                                      gsize           length);

/* Sealed boxes: only the holder of the recipient's identity reads them. */
GBytes         *plexus_identity_seal (const gchar  *peer_id,
                                      const guint8 *data,
                                      gsize         length,
                                      GError      **error);
GBytes         *plexus_identity_open_sealed (PlexusIdentity *self,
                                             const guint8   *sealed,
                                             gsize           length,
                                             GError        **error);

gboolean        plexus_identity_verify (const gchar  *peer_id,
                                        const guint8 *data,
                                        gsize         length,
                                        const guint8 *signature,
                                        gsize         signature_length,
                                        GError      **error);

/* The peer ID is the public key, printable: see doc/architecture.md. */
gchar          *plexus_peer_id_from_public_key (const guint8 *public_key);
gboolean        plexus_peer_id_to_public_key (const gchar *peer_id,
                                              guint8      *public_key,
                                              GError     **error);
gboolean        plexus_peer_id_is_valid (const gchar *peer_id);

G_END_DECLS
