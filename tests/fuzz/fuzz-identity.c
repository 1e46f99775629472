/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-error.h"
#include "plexus-identity.h"
#include "fuzz-common.h"

/* Two decoders of untrusted bytes: plexus_identity_load() reads the key
 * file (which may be damaged or planted), and peer IDs arrive from the
 * network, where they are decoded by plexus_peer_id_to_public_key() and
 * used to check signatures by plexus_identity_verify(). The input is tried
 * as a key file (mode 0600, as the loader requires), then as a peer ID,
 * then split into peer ID, signature and signed data. */

static const gchar *path;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init (*argv);
  path = fuzz_tmp_file ("identity.key");
  return 0;
}

static void
fuzz_key_file (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusIdentity) identity = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) signature = NULL;
  guint8 public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];
  const gchar *peer_id;

  fuzz_tmp_write (data, size);
  identity = plexus_identity_load (path, &error);
  if (identity == NULL) {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY, TRUE);
    return;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  FUZZ_CHECK (g_str_equal (plexus_identity_get_path (identity), path), "path");

  peer_id = plexus_identity_get_peer_id (identity);
  FUZZ_CHECK (plexus_peer_id_to_public_key (peer_id, public_key, NULL), peer_id);
  FUZZ_CHECK (memcmp (public_key, plexus_identity_get_public_key (identity),
                      sizeof public_key) == 0, peer_id);

  /* A key that loads must sign what its peer ID verifies. */
  signature = plexus_identity_sign (identity, data, size);
  FUZZ_CHECK (plexus_identity_verify (peer_id, data, size,
                                      g_bytes_get_data (signature, NULL),
                                      g_bytes_get_size (signature), NULL),
              peer_id);
}

static void
fuzz_peer_id (const uint8_t *data, size_t size)
{
  g_autofree gchar *text = g_strndup ((const gchar *) data, size);
  g_autoptr(GError) error = NULL;
  guint8 public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];

  if (plexus_peer_id_to_public_key (text, public_key, &error)) {
    g_autofree gchar *again = plexus_peer_id_from_public_key (public_key);

    /* One spelling per key: IDs compare as strings. */
    FUZZ_CHECK (g_str_equal (again, text), text);
    FUZZ_CHECK (plexus_peer_id_is_valid (text), text);
  } else {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT, TRUE);
    FUZZ_CHECK (!plexus_peer_id_is_valid (text), text);
  }
}

/* What a signed message from the network gives: a peer ID, a signature,
 * the data. */
static void
fuzz_verify (const uint8_t *data, size_t size)
{
  gsize id_length = MIN (size, 64);
  gsize signature_length = MIN (size - id_length, PLEXUS_IDENTITY_SIGNATURE_SIZE);
  g_autofree gchar *peer_id = g_strndup ((const gchar *) data, id_length);
  const guint8 *signature = data + id_length;
  const guint8 *signed_data = signature + signature_length;
  gsize signed_length = size - id_length - signature_length;
  g_autoptr(GError) error = NULL;

  /* Short inputs give short signatures. */
  if (!plexus_identity_verify (peer_id, signed_data, signed_length,
                               signature, signature_length, &error)) {
    FUZZ_CHECK (error != NULL, "failure without an error");
    FUZZ_CHECK (error->domain == PLEXUS_ERROR &&
                (error->code == PLEXUS_ERROR_INVALID_ARGUMENT ||
                 error->code == PLEXUS_ERROR_INVALID_DATA), error->message);
    FUZZ_CHECK (g_utf8_validate (error->message, -1, NULL), "error message is not UTF-8");
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!fuzz_key_file_makes_glib_warn (data, size, G_KEY_FILE_NONE))
    fuzz_key_file (data, size);
  fuzz_peer_id (data, size);
  fuzz_verify (data, size);
  return 0;
}
