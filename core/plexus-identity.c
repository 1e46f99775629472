/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sodium.h>

#include "plexus-error.h"
#include "plexus-identity.h"

/* The key file, STATE_DIR/identity.key, is a GKeyFile:
 *
 *   [Identity]
 *   Version=1
 *   Seed=<standard base64 of the 32-byte Ed25519 seed>
 *   PublicKey=<standard base64 of the 32-byte public key>
 *
 * The seed alone defines the key pair; PublicKey is there so that a damaged
 * seed is noticed instead of silently becoming a different identity.
 *
 * The peer ID is the public key in lower-case hex: 64 characters that are
 * safe in URLs, file names, D-Bus object paths and on a command line (it
 * never starts with '-'), and have exactly one spelling per key.
 */

#define IDENTITY_FILE_NAME "identity.key"
#define IDENTITY_GROUP "Identity"
#define IDENTITY_VERSION 1
/* A real key file is about 150 bytes; anything much larger is not one. */
#define IDENTITY_MAX_FILE_SIZE 4096
#define PEER_ID_LENGTH (PLEXUS_IDENTITY_PUBLIC_KEY_SIZE * 2)
/* How much of a bad peer ID an error message quotes. */
#define PEER_ID_QUOTE_MAX 72

G_STATIC_ASSERT (PLEXUS_IDENTITY_PUBLIC_KEY_SIZE == crypto_sign_PUBLICKEYBYTES);
G_STATIC_ASSERT (PLEXUS_IDENTITY_SIGNATURE_SIZE == crypto_sign_BYTES);
G_STATIC_ASSERT (PEER_ID_LENGTH == 64);

struct _PlexusIdentity {
  GObject  parent_instance;

  guint8  *secret_key; /* sodium_malloc'd, crypto_sign_SECRETKEYBYTES */
  guint8   public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];
  gchar   *peer_id;
  gchar   *path;
};

G_DEFINE_FINAL_TYPE (PlexusIdentity, plexus_identity, G_TYPE_OBJECT)

static void
plexus_identity_finalize (GObject *object)
{
  PlexusIdentity *self = PLEXUS_IDENTITY (object);

  /* sodium_free() also wipes, but do not rely on that alone. */
  if (self->secret_key != NULL) {
    sodium_memzero (self->secret_key, crypto_sign_SECRETKEYBYTES);
    sodium_free (self->secret_key);
  }
  g_free (self->peer_id);
  g_free (self->path);

  G_OBJECT_CLASS (plexus_identity_parent_class)->finalize (object);
}

static void
plexus_identity_class_init (PlexusIdentityClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_identity_finalize;
}

static void
plexus_identity_init (PlexusIdentity *self)
{
}

static gboolean
ensure_sodium (GError **error)
{
  /* sodium_init() is idempotent and thread-safe; 1 means already done. */
  if (sodium_init () < 0) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                         "cannot initialise libsodium");
    return FALSE;
  }
  return TRUE;
}

/* Secret memory, guarded and locked where the system allows. Like
 * g_malloc(), running out of it is fatal: it only fails when mmap() does. */
static guint8 *
secure_alloc (gsize size)
{
  guint8 *mem = sodium_malloc (size);

  if (mem == NULL)
    g_error ("cannot allocate %" G_GSIZE_FORMAT " bytes of secure memory", size);
  return mem;
}

static void
wipe_string (gchar *str)
{
  if (str != NULL) {
    sodium_memzero (str, strlen (str));
    g_free (str);
  }
}

/* Builds the identity from a seed; the seed stays the caller's. */
static PlexusIdentity *
identity_new_from_seed (const guint8 *seed, const gchar *path)
{
  PlexusIdentity *self = g_object_new (PLEXUS_TYPE_IDENTITY, NULL);

  self->secret_key = secure_alloc (crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair (self->public_key, self->secret_key, seed);
  self->peer_id = plexus_peer_id_from_public_key (self->public_key);
  self->path = g_strdup (path);
  return self;
}

/* The advice added to every "damaged" message. */
#define DAMAGED_ADVICE \
  "restore it from a backup, or move it away to create a new identity (the peer ID will change)"

/* Decodes standard base64 strictly (GLib's decoder skips bad characters) into
 * exactly @size bytes. */
static gboolean
decode_key_field (const gchar *text, guint8 *out, gsize size)
{
  gsize text_len = strlen (text);
  gsize out_len = 0;
  const gchar *end = NULL;

  if (sodium_base642bin (out, size, text, text_len, NULL, &out_len, &end,
                         sodium_base64_VARIANT_ORIGINAL) != 0)
    return FALSE;
  return out_len == size && end == text + text_len;
}

/* Describes why a key could not be read from the key file. GKeyFile's own
 * messages are not used: a parse error quotes the offending line, which could
 * hold secret key material that must not reach a log. */
static void
set_field_error (const gchar *path, const gchar *key, const GError *local_error, GError **error)
{
  const gchar *reason;

  if (g_error_matches (local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND))
    reason = "no [" IDENTITY_GROUP "] group";
  else if (g_error_matches (local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND))
    reason = "missing";
  else
    reason = "not a valid value";
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
               "identity key %s is damaged (%s: %s); " DAMAGED_ADVICE,
               path, key, reason);
}

/* Parses the key file's text, which the caller wipes. */
static PlexusIdentity *
identity_parse (const gchar *path, const gchar *data, gsize length, GError **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  gchar *seed_text = NULL;
  g_autofree gchar *public_text = NULL;
  guint8 *seed = NULL;
  guint8 stored_public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];
  PlexusIdentity *self = NULL;
  gint version;

  if (!g_key_file_load_from_data (key_file, data, length, G_KEY_FILE_NONE, NULL)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is damaged (not in key file format); " DAMAGED_ADVICE,
                 path);
    return NULL;
  }

  version = g_key_file_get_integer (key_file, IDENTITY_GROUP, "Version", &local_error);
  if (local_error != NULL) {
    set_field_error (path, "Version", local_error, error);
    return NULL;
  }
  if (version != IDENTITY_VERSION) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s has version %d, but this Plexus reads only version %d; "
                 "use a newer Plexus, or restore a key file from a backup",
                 path, version, IDENTITY_VERSION);
    return NULL;
  }

  /* GLib 2.74 returns a value *and* sets the error when it cannot unescape
   * it (PublicKey=...\ with a trailing backslash comes back without it):
   * the error, not the value, says whether the field could be read. */
  public_text = g_key_file_get_string (key_file, IDENTITY_GROUP, "PublicKey", &local_error);
  if (local_error != NULL) {
    set_field_error (path, "PublicKey", local_error, error);
    return NULL;
  }
  if (!decode_key_field (public_text, stored_public_key, sizeof stored_public_key)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is damaged (PublicKey is not %d bytes of base64); " DAMAGED_ADVICE,
                 path, PLEXUS_IDENTITY_PUBLIC_KEY_SIZE);
    return NULL;
  }

  seed_text = g_key_file_get_string (key_file, IDENTITY_GROUP, "Seed", &local_error);
  if (local_error != NULL) {
    set_field_error (path, "Seed", local_error, error);
    goto out;
  }
  seed = secure_alloc (crypto_sign_SEEDBYTES);
  if (!decode_key_field (seed_text, seed, crypto_sign_SEEDBYTES)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is damaged (Seed is not %d bytes of base64); " DAMAGED_ADVICE,
                 path, crypto_sign_SEEDBYTES);
    goto out;
  }

  self = identity_new_from_seed (seed, path);
  if (memcmp (self->public_key, stored_public_key, sizeof stored_public_key) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is damaged (PublicKey does not match Seed); " DAMAGED_ADVICE,
                 path);
    g_clear_object (&self);
  }

out:
  wipe_string (seed_text);
  sodium_free (seed);  /* NULL is fine */
  return self;
}

/* Opens the key file without following a symbolic link. When @missing is
 * given and the file does not exist, sets it and returns -1 without error. */
static int
identity_open (const gchar *path, gboolean *missing, GError **error)
{
  /* O_NONBLOCK so that a FIFO in the key's place cannot hang us. */
  int fd = g_open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0);
  int saved_errno;

  if (fd >= 0)
    return fd;

  saved_errno = errno;
  if (saved_errno == ENOENT && missing != NULL) {
    *missing = TRUE;
    return -1;
  }
  if (saved_errno == ENOENT)
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s does not exist", path);
  else if (saved_errno == ELOOP)
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is a symbolic link; replace it with the file it points to",
                 path);
  else if (saved_errno == EACCES)
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s cannot be read (%s); run chmod 600 %s",
                 path, g_strerror (saved_errno), path);
  else
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s cannot be opened: %s", path, g_strerror (saved_errno));
  return -1;
}

/* Checks what the opened file is, then reads and parses it. fstat() on the
 * descriptor we read from means the checks apply to the very file read. */
static PlexusIdentity *
identity_load_fd (const gchar *path, int fd, GError **error)
{
  struct stat st;
  guint8 *buffer = NULL;
  gsize length = 0;
  PlexusIdentity *self = NULL;

  if (fstat (fd, &st) != 0) {
    int saved_errno = errno;
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "cannot inspect identity key %s: %s", path, g_strerror (saved_errno));
    return NULL;
  }
  if (!S_ISREG (st.st_mode)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is not a regular file; move it away so that a key can be created",
                 path);
    return NULL;
  }
  if (st.st_uid != geteuid ()) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s belongs to user ID %u, not to the current user (%u); "
                 "run chown %u %s if it is yours",
                 path, (guint) st.st_uid, (guint) geteuid (), (guint) geteuid (), path);
    return NULL;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is accessible by others (mode %04o); run chmod 600 %s",
                 path, (guint) (st.st_mode & 07777), path);
    return NULL;
  }
  if (st.st_size > IDENTITY_MAX_FILE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is damaged (%" G_GINT64_FORMAT " bytes is too large for a key file); "
                 DAMAGED_ADVICE,
                 path, (gint64) st.st_size);
    return NULL;
  }

  /* One byte more than allowed, to notice a file that grew since fstat(). */
  buffer = secure_alloc (IDENTITY_MAX_FILE_SIZE + 1);
  while (length < IDENTITY_MAX_FILE_SIZE + 1) {
    gssize n = read (fd, buffer + length, IDENTITY_MAX_FILE_SIZE + 1 - length);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved_errno = errno;
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                   "cannot read identity key %s: %s", path, g_strerror (saved_errno));
      goto out;
    }
    if (n == 0)
      break;
    length += (gsize) n;
  }
  if (length > IDENTITY_MAX_FILE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_IDENTITY,
                 "identity key %s is damaged (too large for a key file); " DAMAGED_ADVICE,
                 path);
    goto out;
  }

  self = identity_parse (path, (const gchar *) buffer, length, error);

out:
  sodium_free (buffer);
  return self;
}

static PlexusIdentity *
identity_load_path (const gchar *path, gboolean *missing, GError **error)
{
  PlexusIdentity *self;
  int fd;

  if (!ensure_sodium (error))
    return NULL;

  fd = identity_open (path, missing, error);
  if (fd < 0)
    return NULL;
  self = identity_load_fd (path, fd, error);
  close (fd);
  return self;
}

static gboolean
identity_save (PlexusIdentity *self, GError **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *public_text = NULL;
  gchar *seed_text = NULL;
  gchar *data = NULL;
  gsize length = 0;
  gboolean ret;

  /* libsodium's secret key is the seed followed by the public key. */
  seed_text = g_base64_encode (self->secret_key, crypto_sign_SEEDBYTES);
  public_text = g_base64_encode (self->public_key, sizeof self->public_key);

  g_key_file_set_integer (key_file, IDENTITY_GROUP, "Version", IDENTITY_VERSION);
  g_key_file_set_string (key_file, IDENTITY_GROUP, "Seed", seed_text);
  g_key_file_set_string (key_file, IDENTITY_GROUP, "PublicKey", public_text);
  g_key_file_set_comment (key_file, NULL, NULL,
                          " Plexus identity of this node. Keep it secret; back it up to keep the peer ID.",
                          NULL);
  wipe_string (seed_text);

  data = g_key_file_to_data (key_file, &length, NULL);
  /* Atomic: a crash leaves either no key file or a complete one. */
  ret = g_file_set_contents_full (self->path, data, (gssize) length,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600, &local_error);
  sodium_memzero (data, length);
  g_free (data);

  if (!ret) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot write identity key %s: %s", self->path, local_error->message);
    return FALSE;
  }
  return TRUE;
}

/**
 * plexus_identity_load_or_create:
 * @state_dir: the daemon's state directory
 * @error: return location for a #GError
 *
 * Loads the identity from `identity.key` in @state_dir. When that file does
 * not exist, creates @state_dir (mode 0700) if needed, generates a new
 * Ed25519 key pair and writes it there with mode 0600.
 *
 * An existing key file that is unsafe (readable by others, not a regular
 * file, owned by someone else) or damaged is an error
 * (%PLEXUS_ERROR_INVALID_IDENTITY) whose message names the file and the fix;
 * the file is never replaced, since that would change the peer ID.
 *
 * Returns: (transfer full): the identity, or %NULL with @error set
 */
PlexusIdentity *
plexus_identity_load_or_create (const gchar *state_dir, GError **error)
{
  g_autofree gchar *path = NULL;
  g_autoptr(PlexusIdentity) self = NULL;
  gboolean missing = FALSE;
  guint8 *seed;

  g_return_val_if_fail (state_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_mkdir_with_parents (state_dir, 0700) != 0) {
    int saved_errno = errno;
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot create state directory %s: %s", state_dir, g_strerror (saved_errno));
    return NULL;
  }

  path = g_build_filename (state_dir, IDENTITY_FILE_NAME, NULL);
  self = identity_load_path (path, &missing, error);
  if (self != NULL)
    return g_steal_pointer (&self);
  if (!missing)
    return NULL;

  seed = secure_alloc (crypto_sign_SEEDBYTES);
  randombytes_buf (seed, crypto_sign_SEEDBYTES);
  self = identity_new_from_seed (seed, path);
  sodium_free (seed);

  if (!identity_save (self, error))
    return NULL;
  g_debug ("created identity %s in %s", self->peer_id, path);
  return g_steal_pointer (&self);
}

/**
 * plexus_identity_load:
 * @path: the key file
 * @error: return location for a #GError
 *
 * Loads an identity from an existing key file; see
 * plexus_identity_load_or_create() for what is refused.
 *
 * Returns: (transfer full): the identity, or %NULL with @error set
 */
PlexusIdentity *
plexus_identity_load (const gchar *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return identity_load_path (path, NULL, error);
}

/**
 * plexus_identity_new_ephemeral:
 *
 * Creates a fresh key pair that is held only in memory, for tests and
 * simulated nodes. Its path is %NULL.
 *
 * Returns: (transfer full): a new identity
 */
PlexusIdentity *
plexus_identity_new_ephemeral (void)
{
  PlexusIdentity *self;
  guint8 *seed;
  g_autoptr(GError) error = NULL;

  if (!ensure_sodium (&error))
    g_error ("%s", error->message);

  seed = secure_alloc (crypto_sign_SEEDBYTES);
  randombytes_buf (seed, crypto_sign_SEEDBYTES);
  self = identity_new_from_seed (seed, NULL);
  sodium_free (seed);
  return self;
}

/**
 * plexus_identity_get_peer_id:
 * @self: a #PlexusIdentity
 *
 * Returns: the printable peer ID derived from the public key
 */
const gchar *
plexus_identity_get_peer_id (PlexusIdentity *self)
{
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (self), NULL);
  return self->peer_id;
}

/**
 * plexus_identity_get_public_key:
 * @self: a #PlexusIdentity
 *
 * Returns: (array fixed-size=32): the Ed25519 public key
 */
const guint8 *
plexus_identity_get_public_key (PlexusIdentity *self)
{
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (self), NULL);
  return self->public_key;
}

/**
 * plexus_identity_get_path:
 * @self: a #PlexusIdentity
 *
 * Returns: (nullable): the key file, or %NULL for an ephemeral identity
 */
const gchar *
plexus_identity_get_path (PlexusIdentity *self)
{
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (self), NULL);
  return self->path;
}

/**
 * plexus_identity_sign:
 * @self: a #PlexusIdentity
 * @data: (array length=length) (nullable): the data to sign
 * @length: the length of @data
 *
 * Signs @data with the identity's secret key.
 *
 * Returns: (transfer full): a %PLEXUS_IDENTITY_SIGNATURE_SIZE-byte detached
 *   Ed25519 signature
 */
GBytes *
plexus_identity_sign (PlexusIdentity *self, const guint8 *data, gsize length)
{
  guint8 signature[PLEXUS_IDENTITY_SIGNATURE_SIZE];

  g_return_val_if_fail (PLEXUS_IS_IDENTITY (self), NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);

  crypto_sign_detached (signature, NULL, data, length, self->secret_key);
  return g_bytes_new (signature, sizeof signature);
}

/**
 * plexus_identity_seal:
 * @peer_id: the recipient's peer ID
 * @data: (array length=length) (nullable): the data to seal
 * @length: the length of @data
 * @error: return location for a #GError
 *
 * Encrypts @data so that only the holder of @peer_id's identity can read
 * it: an anonymous libsodium sealed box to the X25519 form of its Ed25519
 * key. It adds %PLEXUS_IDENTITY_SEAL_OVERHEAD bytes. It does not say who
 * sealed: sign inside the box for that.
 *
 * Returns: (transfer full): the sealed bytes, or %NULL with @error set
 *   (%PLEXUS_ERROR_INVALID_ARGUMENT for a malformed peer ID or a key that
 *   has no X25519 form)
 */
G_STATIC_ASSERT (PLEXUS_IDENTITY_SEAL_OVERHEAD == crypto_box_SEALBYTES);

GBytes *
plexus_identity_seal (const gchar *peer_id, const guint8 *data, gsize length, GError **error)
{
  guint8 public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];
  guint8 box_key[crypto_box_PUBLICKEYBYTES];
  guint8 *sealed;

  g_return_val_if_fail (peer_id != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!ensure_sodium (error) || !plexus_peer_id_to_public_key (peer_id, public_key, error))
    return NULL;
  if (crypto_sign_ed25519_pk_to_curve25519 (box_key, public_key) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "the key of peer %s has no X25519 form to seal to", peer_id);
    return NULL;
  }
  sealed = g_malloc (length + crypto_box_SEALBYTES);
  crypto_box_seal (sealed, data, length, box_key);
  return g_bytes_new_take (sealed, length + crypto_box_SEALBYTES);
}

/**
 * plexus_identity_open_sealed:
 * @self: a #PlexusIdentity
 * @sealed: (array length=length): bytes from plexus_identity_seal()
 * @length: the length of @sealed
 * @error: return location for a #GError
 *
 * Opens a box sealed to this identity.
 *
 * Returns: (transfer full): the data, or %NULL with
 *   %PLEXUS_ERROR_INVALID_DATA if the box is not for this identity, is
 *   truncated or was altered
 */
GBytes *
plexus_identity_open_sealed (PlexusIdentity *self, const guint8 *sealed, gsize length, GError **error)
{
  guint8 box_public[crypto_box_PUBLICKEYBYTES];
  guint8 *box_secret;
  guint8 *data;
  gboolean opened;

  g_return_val_if_fail (PLEXUS_IS_IDENTITY (self), NULL);
  g_return_val_if_fail (sealed != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (length < crypto_box_SEALBYTES) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "a sealed box of %" G_GSIZE_FORMAT " bytes is shorter than its %u-byte overhead",
                 length, (guint) crypto_box_SEALBYTES);
    return NULL;
  }
  if (crypto_sign_ed25519_pk_to_curve25519 (box_public, self->public_key) != 0) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "this identity's key has no X25519 form");
    return NULL;
  }
  box_secret = secure_alloc (crypto_box_SECRETKEYBYTES);
  crypto_sign_ed25519_sk_to_curve25519 (box_secret, self->secret_key);
  /* One spare byte, so that an empty message still has a buffer. */
  data = g_malloc (length - crypto_box_SEALBYTES + 1);
  opened = crypto_box_seal_open (data, sealed, length, box_public, box_secret) == 0;
  sodium_memzero (box_secret, crypto_box_SECRETKEYBYTES);
  sodium_free (box_secret);
  if (!opened) {
    g_free (data);
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                         "the sealed box is not for this node, or was altered on the way");
    return NULL;
  }
  return g_bytes_new_take (data, length - crypto_box_SEALBYTES);
}

/**
 * plexus_identity_verify:
 * @peer_id: the peer ID of the claimed signer
 * @data: (array length=length) (nullable): the signed data
 * @length: the length of @data
 * @signature: (array length=signature_length): the detached signature
 * @signature_length: the length of @signature
 * @error: return location for a #GError
 *
 * Checks that @signature is a signature of @data by the key behind @peer_id.
 * A malformed peer ID is %PLEXUS_ERROR_INVALID_ARGUMENT; a signature that
 * does not verify is %PLEXUS_ERROR_INVALID_DATA.
 *
 * Returns: %TRUE if the signature is valid
 */
gboolean
plexus_identity_verify (const gchar  *peer_id,
                        const guint8 *data,
                        gsize         length,
                        const guint8 *signature,
                        gsize         signature_length,
                        GError      **error)
{
  guint8 public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];

  g_return_val_if_fail (peer_id != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (signature != NULL || signature_length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!ensure_sodium (error))
    return FALSE;
  if (!plexus_peer_id_to_public_key (peer_id, public_key, error))
    return FALSE;
  if (signature_length != PLEXUS_IDENTITY_SIGNATURE_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "signature for peer %s has %" G_GSIZE_FORMAT " bytes, expected %d",
                 peer_id, signature_length, PLEXUS_IDENTITY_SIGNATURE_SIZE);
    return FALSE;
  }
  if (crypto_sign_verify_detached (signature, data, length, public_key) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "signature does not verify for peer %s", peer_id);
    return FALSE;
  }
  return TRUE;
}

/**
 * plexus_peer_id_from_public_key:
 * @public_key: (array fixed-size=32): an Ed25519 public key
 *
 * Encodes a public key as a peer ID: 64 lower-case hex characters.
 *
 * Returns: (transfer full): the peer ID
 */
gchar *
plexus_peer_id_from_public_key (const guint8 *public_key)
{
  gchar *peer_id;

  g_return_val_if_fail (public_key != NULL, NULL);

  peer_id = g_malloc (PEER_ID_LENGTH + 1);
  sodium_bin2hex (peer_id, PEER_ID_LENGTH + 1, public_key, PLEXUS_IDENTITY_PUBLIC_KEY_SIZE);
  return peer_id;
}

/* Checked for every envelope a relay passes on: the characters alone,
 * which is all the decoding could refuse. */
static gboolean
peer_id_is_well_formed (const gchar *peer_id)
{
  gsize i;

  if (peer_id == NULL)
    return FALSE;
  for (i = 0; i < PEER_ID_LENGTH; i++) {
    if (!g_ascii_isdigit (peer_id[i]) && !(peer_id[i] >= 'a' && peer_id[i] <= 'f'))
      return FALSE;
  }
  return peer_id[i] == '\0';
}

/* Decodes strictly: the whole string, exactly one key, lower case only (so
 * a key has one spelling and IDs compare as strings). */
static gboolean
peer_id_decode (const gchar *peer_id, guint8 *public_key)
{
  gsize key_len = 0;
  const gchar *end = NULL;

  if (!peer_id_is_well_formed (peer_id))
    return FALSE;
  if (sodium_hex2bin (public_key, PLEXUS_IDENTITY_PUBLIC_KEY_SIZE,
                      peer_id, PEER_ID_LENGTH, NULL, &key_len, &end) != 0)
    return FALSE;
  return key_len == PLEXUS_IDENTITY_PUBLIC_KEY_SIZE && end == peer_id + PEER_ID_LENGTH;
}

/**
 * plexus_peer_id_to_public_key:
 * @peer_id: a peer ID
 * @public_key: (out caller-allocates) (array fixed-size=32): where to store the key
 * @error: return location for a #GError
 *
 * Decodes a peer ID back into the public key. Anything but exactly 64
 * lower-case hex characters is %PLEXUS_ERROR_INVALID_ARGUMENT.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_peer_id_to_public_key (const gchar *peer_id, guint8 *public_key, GError **error)
{
  guint8 decoded[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];

  g_return_val_if_fail (peer_id != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!peer_id_decode (peer_id, decoded)) {
    /* The ID may come from the network: quote a bounded, printable part. */
    gsize len = strlen (peer_id);
    g_autofree gchar *head = g_strndup (peer_id, MIN (len, PEER_ID_QUOTE_MAX));
    g_autofree gchar *quoted = g_strescape (head, NULL);

    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "'%s%s' is not a valid peer ID; expected %d lower-case hex characters",
                 quoted, len > PEER_ID_QUOTE_MAX ? "..." : "", (int) PEER_ID_LENGTH);
    return FALSE;
  }
  memcpy (public_key, decoded, sizeof decoded);
  return TRUE;
}

/**
 * plexus_peer_id_is_valid:
 * @peer_id: (nullable): a string
 *
 * Returns: %TRUE if @peer_id is a well-formed peer ID
 */
gboolean
plexus_peer_id_is_valid (const gchar *peer_id)
{
  return peer_id_is_well_formed (peer_id);
}
