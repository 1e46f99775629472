/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>
#include <sodium.h>

#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-json.h"
#include "plexus-signal.h"
#include "fuzz-common.h"

/* Sealed signals reach a node through relays, from anyone who knows its
 * peer ID. plexus_signal_open() must turn any text into either a signal
 * whose fields hold (valid peer IDs, addressed to the recipient, a valid
 * ID, a bounded payload exactly on messages, made inside the time window)
 * or a PLEXUS_ERROR_INVALID_DATA error with a bounded UTF-8 message.
 *
 * Random bytes never open a sealed box, so the first input byte picks
 * what the rest is:
 *
 *   MODE_SEALED: the sealed text itself, as a relay would pass it on;
 *   MODE_INNER:  the inner document, which the harness seals to the
 *                recipient, so that the JSON, member and signature checks
 *                see it;
 *   MODE_SIGNED: the same, but an object is first signed by the sender
 *                (its `from` and `sig` replaced), so that what lies past
 *                the signature (payload, time window) is reached too.
 *
 * A signal from the sender, once accepted, must seal again and open to the
 * same fields. Keys come from fixed seeds and the clock is fixed, so that
 * an input always takes the same path. */

enum {
  MODE_SEALED,
  MODE_INNER,
  MODE_SIGNED,
  N_MODES
};

/* 2026-01-01T00:00:00Z; the seed corpus is made at this time. */
#define NOW_MS G_GINT64_CONSTANT (1767225600000)
#define MAX_ERROR_LENGTH 512

static PlexusIdentity *recipient;
static PlexusIdentity *sender;

/* Writes a key file for the key pair of @seed_byte and loads it: the only
 * way to a PlexusIdentity with a chosen key. */
static PlexusIdentity *
load_identity (guint8 seed_byte)
{
  guint8 seed[crypto_sign_SEEDBYTES] = { seed_byte, };
  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 secret_key[crypto_sign_SECRETKEYBYTES];
  g_autofree gchar *seed_text = g_base64_encode (seed, sizeof seed);
  g_autofree gchar *public_text = NULL;
  g_autofree gchar *key_file = NULL;
  g_autoptr(GError) error = NULL;
  PlexusIdentity *identity;

  crypto_sign_seed_keypair (public_key, secret_key, seed);
  public_text = g_base64_encode (public_key, sizeof public_key);
  key_file = g_strdup_printf ("[Identity]\nVersion=1\nSeed=%s\nPublicKey=%s\n", seed_text, public_text);
  fuzz_tmp_write ((const uint8_t *) key_file, strlen (key_file));
  identity = plexus_identity_load (fuzz_tmp_path, &error);
  if (identity == NULL) {
    fprintf (stderr, "cannot load the identity: %s\n", error->message);
    abort ();
  }
  return identity;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init (*argv);
  if (sodium_init () < 0)
    abort ();
  fuzz_tmp_file ("identity.key");
  recipient = load_identity (1);
  sender = load_identity (2);
  return 0;
}

static gboolean
same_payload (GBytes *a, GBytes *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_bytes_equal (a, b);
}

static void
check_valid (const PlexusSignal *signal)
{
  FUZZ_CHECK (signal->kind == PLEXUS_SIGNAL_KIND_MESSAGE || signal->kind == PLEXUS_SIGNAL_KIND_ACK, "bad kind");
  FUZZ_CHECK (plexus_peer_id_is_valid (signal->from), "accepted an invalid sender");
  FUZZ_CHECK (g_strcmp0 (signal->to, plexus_identity_get_peer_id (recipient)) == 0, "accepted a signal for another node");
  FUZZ_CHECK (plexus_envelope_id_is_valid (signal->id), "accepted an invalid ID");
  FUZZ_CHECK (signal->timestamp_ms >= NOW_MS - PLEXUS_SIGNAL_MAX_AGE_MS &&
              signal->timestamp_ms <= NOW_MS + PLEXUS_SIGNAL_MAX_SKEW_MS, "accepted a signal outside the time window");
  FUZZ_CHECK ((signal->kind == PLEXUS_SIGNAL_KIND_MESSAGE) == (signal->payload != NULL),
              "a message without payload, or an ack with one");
  FUZZ_CHECK (signal->payload == NULL || g_bytes_get_size (signal->payload) <= PLEXUS_SIGNAL_MAX_PAYLOAD,
              "accepted too large a payload");
}

/* What the sender signed, sealed again, must open to the same signal. */
static void
check_reseal (const PlexusSignal *signal)
{
  g_autoptr(PlexusSignal) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *sealed = NULL;

  sealed = plexus_signal_seal (signal, sender, &error);
  FUZZ_CHECK (sealed != NULL, error->message);
  again = plexus_signal_open (recipient, sealed, NOW_MS, &error);
  FUZZ_CHECK (again != NULL, error->message);
  FUZZ_CHECK (again->kind == signal->kind, "kind changed");
  FUZZ_CHECK (strcmp (again->from, signal->from) == 0, "from changed");
  FUZZ_CHECK (strcmp (again->to, signal->to) == 0, "to changed");
  FUZZ_CHECK (strcmp (again->id, signal->id) == 0, "id changed");
  FUZZ_CHECK (again->timestamp_ms == signal->timestamp_ms, "ts changed");
  FUZZ_CHECK (same_payload (again->payload, signal->payload), "payload changed");
}

static const gchar *
string_member (JsonObject *object, const gchar *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* Signs @data as the sender when it is a JSON object whose members have
 * the types signing needs; anything else is returned as it is. The signed
 * text follows doc/protocol.md ("Signaling"), not the decoder, so that
 * the two are checked against each other. */
static gchar *
sign_as_sender (const guint8 *data, gsize size, gsize *length)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autofree gchar *signed_text = NULL;
  g_autofree gchar *sig = NULL;
  JsonObject *object;
  JsonNode *ts;
  const gchar *kind, *to, *id, *payload;

  root = plexus_json_parse_strict ((const gchar *) data, size, 4, NULL, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    goto as_is;
  object = json_node_get_object (root);
  kind = string_member (object, "kind");
  to = string_member (object, "to");
  id = string_member (object, "id");
  payload = string_member (object, "payload");
  ts = json_object_get_member (object, "ts");
  if (kind == NULL || to == NULL || id == NULL || ts == NULL || json_node_get_value_type (ts) != G_TYPE_INT64 ||
      (json_object_has_member (object, "payload") && payload == NULL))
    goto as_is;

  signed_text = g_strdup_printf ("plexus-signal-v1\n%s\n%s\n%s\n%s\n%" G_GINT64_FORMAT "\n%s", kind,
                                 plexus_identity_get_peer_id (sender), to, id, json_node_get_int (ts),
                                 payload != NULL ? payload : "");
  signature = plexus_identity_sign (sender, (const guint8 *) signed_text, strlen (signed_text));
  sig = g_base64_encode (g_bytes_get_data (signature, NULL), g_bytes_get_size (signature));
  json_object_set_string_member (object, "from", plexus_identity_get_peer_id (sender));
  json_object_set_string_member (object, "sig", sig);
  return plexus_json_to_string (root, length);

as_is:
  *length = size;
  return g_memdup2 (data, size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusSignal) signal = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *sealed = NULL;
  guint mode;

  if (size < 1)
    return 0;
  mode = data[0] % N_MODES;
  data++;
  size--;

  if (mode == MODE_SEALED) {
    sealed = g_strndup ((const gchar *) data, size);
  } else {
    g_autofree gchar *inner = NULL;
    g_autoptr(GBytes) box = NULL;
    g_autoptr(GError) seal_error = NULL;
    gsize length = size;

    if (mode == MODE_SIGNED)
      inner = sign_as_sender (data, size, &length);
    else
      inner = g_memdup2 (data, size);
    box = plexus_identity_seal (plexus_identity_get_peer_id (recipient), (const guint8 *) inner, length, &seal_error);
    FUZZ_CHECK (box != NULL, seal_error->message);
    sealed = g_base64_encode (g_bytes_get_data (box, NULL), g_bytes_get_size (box));
  }

  signal = plexus_signal_open (recipient, sealed, NOW_MS, &error);
  if (signal == NULL) {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
    FUZZ_CHECK (strlen (error->message) <= MAX_ERROR_LENGTH, error->message);
    return 0;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  check_valid (signal);
  if (strcmp (signal->from, plexus_identity_get_peer_id (sender)) == 0)
    check_reseal (signal);
  return 0;
}
