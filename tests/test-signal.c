/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sodium.h>

#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-signal.h"

/* Signals as relays carry them: sealed to the recipient, signed by the
 * sender; nothing else opens them, and nothing altered, forged, misaddressed
 * or stale gets through. */

#define NOW 1764000000000

typedef struct {
  PlexusIdentity *alice;
  PlexusIdentity *bob;
  PlexusIdentity *mallory;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->alice = plexus_identity_new_ephemeral ();
  f->bob = plexus_identity_new_ephemeral ();
  f->mallory = plexus_identity_new_ephemeral ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_object_unref (f->alice);
  g_object_unref (f->bob);
  g_object_unref (f->mallory);
}

static gchar *
seal_message (PlexusIdentity *from, PlexusIdentity *to, const gchar *id, gint64 ts, const gchar *text)
{
  g_autoptr(GBytes) payload = g_bytes_new (text, strlen (text));
  g_autoptr(PlexusSignal) signal = plexus_signal_new (PLEXUS_SIGNAL_KIND_MESSAGE, plexus_identity_get_peer_id (from),
                                                      plexus_identity_get_peer_id (to), id, ts, payload);
  g_autoptr(GError) error = NULL;
  gchar *sealed = plexus_signal_seal (signal, from, &error);

  g_assert_no_error (error);
  return sealed;
}

static void
test_round_trip (Fixture *f, gconstpointer data)
{
  g_autofree gchar *sealed = seal_message (f->alice, f->bob, "m1", NOW, "offer");
  g_autoptr(PlexusSignal) opened = NULL;
  g_autoptr(PlexusSignal) ack = NULL;
  g_autoptr(PlexusSignal) ack_opened = NULL;
  g_autofree gchar *ack_sealed = NULL;
  g_autoptr(GError) error = NULL;

  /* The relay sees base64 of a box: no peer ID, no payload in clear. */
  g_assert_null (strstr (sealed, plexus_identity_get_peer_id (f->alice)));
  opened = plexus_signal_open (f->bob, sealed, NOW + 5, &error);
  g_assert_no_error (error);
  g_assert_cmpint (opened->kind, ==, PLEXUS_SIGNAL_KIND_MESSAGE);
  g_assert_cmpstr (opened->from, ==, plexus_identity_get_peer_id (f->alice));
  g_assert_cmpstr (opened->to, ==, plexus_identity_get_peer_id (f->bob));
  g_assert_cmpstr (opened->id, ==, "m1");
  g_assert_cmpint (opened->timestamp_ms, ==, NOW);
  g_assert_cmpmem (g_bytes_get_data (opened->payload, NULL), g_bytes_get_size (opened->payload), "offer", 5);

  ack = plexus_signal_new (PLEXUS_SIGNAL_KIND_ACK, plexus_identity_get_peer_id (f->bob),
                           plexus_identity_get_peer_id (f->alice), "m1", NOW + 6, NULL);
  ack_sealed = plexus_signal_seal (ack, f->bob, &error);
  g_assert_no_error (error);
  ack_opened = plexus_signal_open (f->alice, ack_sealed, NOW + 7, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ack_opened->kind, ==, PLEXUS_SIGNAL_KIND_ACK);
  g_assert_null (ack_opened->payload);
  g_assert_cmpstr (ack_opened->id, ==, "m1");
}

/* Only the recipient opens it; a flipped bit anywhere is refused. */
static void
test_sealed (Fixture *f, gconstpointer data)
{
  g_autofree gchar *sealed = seal_message (f->alice, f->bob, "m2", NOW, "answer");
  g_autofree gchar *altered = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;
  g_autofree guint8 *raw = g_base64_decode (sealed, &length);

  g_assert_null (plexus_signal_open (f->mallory, sealed, NOW, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_null (plexus_signal_open (f->alice, sealed, NOW, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);

  for (gsize i = 0; i < length; i += 13) {
    raw[i] ^= 0x80;
    altered = g_base64_encode (raw, length);
    g_assert_null (plexus_signal_open (f->bob, altered, NOW, &error));
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_clear_error (&error);
    g_clear_pointer (&altered, g_free);
    raw[i] ^= 0x80;
  }
  /* Not base64, or not canonical base64. */
  g_assert_null (plexus_signal_open (f->bob, "!!!!", NOW, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_null (plexus_signal_open (f->bob, "", NOW, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
}

/* Mallory seals to Bob a document claiming to come from Alice: she can
 * seal to anyone, but cannot sign as Alice. */
static void
test_forged_sender (Fixture *f, gconstpointer data)
{
  g_autofree gchar *text = NULL;
  g_autoptr(GBytes) box = NULL;
  g_autofree gchar *sealed = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autofree gchar *signed_text = NULL;
  g_autofree gchar *sig = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *alice = plexus_identity_get_peer_id (f->alice);
  const gchar *bob = plexus_identity_get_peer_id (f->bob);

  signed_text = g_strdup_printf ("plexus-signal-v1\nmessage\n%s\n%s\nm3\n%" G_GINT64_FORMAT "\naGk=", alice, bob,
                                 (gint64) NOW);
  signature = plexus_identity_sign (f->mallory, (const guint8 *) signed_text, strlen (signed_text));
  sig = g_base64_encode (g_bytes_get_data (signature, NULL), g_bytes_get_size (signature));
  text = g_strdup_printf ("{\"v\":1,\"kind\":\"message\",\"from\":\"%s\",\"to\":\"%s\",\"id\":\"m3\","
                          "\"ts\":%" G_GINT64_FORMAT ",\"payload\":\"aGk=\",\"sig\":\"%s\"}", alice, bob, (gint64) NOW, sig);
  box = plexus_identity_seal (bob, (const guint8 *) text, strlen (text), &error);
  g_assert_no_error (error);
  sealed = g_base64_encode (g_bytes_get_data (box, NULL), g_bytes_get_size (box));
  g_assert_null (plexus_signal_open (f->bob, sealed, NOW, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "not signed by"));
}

/* Bob cannot pass Alice's message on to Mallory as if sent to her: the
 * recipient is inside the signature and the box. */
static void
test_misaddressed (Fixture *f, gconstpointer data)
{
  g_autofree gchar *sealed = seal_message (f->alice, f->bob, "m4", NOW, "x");
  g_autoptr(PlexusSignal) opened = plexus_signal_open (f->bob, sealed, NOW, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *resealed = NULL;

  g_assert_nonnull (opened);
  /* Bob cannot seal it as Alice: sealing checks the sender's identity. */
  g_free (opened->to);
  opened->to = g_strdup (plexus_identity_get_peer_id (f->mallory));
  g_assert_null (plexus_signal_seal (opened, f->bob, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* Sealed by Bob to Mallory with Alice's name: her signature does not
   * cover Mallory. */
  g_free (opened->from);
  opened->from = g_strdup (plexus_identity_get_peer_id (f->bob));
  resealed = plexus_signal_seal (opened, f->bob, &error);
  g_assert_no_error (error);
  {
    g_autoptr(PlexusSignal) at_mallory = plexus_signal_open (f->mallory, resealed, NOW, &error);

    g_assert_no_error (error);
    /* It arrives, but as Bob's, not Alice's. */
    g_assert_cmpstr (at_mallory->from, ==, plexus_identity_get_peer_id (f->bob));
  }
}

static void
test_time_window (Fixture *f, gconstpointer data)
{
  g_autofree gchar *sealed = seal_message (f->alice, f->bob, "m5", NOW, "late");
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusSignal) edge = NULL;

  g_assert_null (plexus_signal_open (f->bob, sealed, NOW + PLEXUS_SIGNAL_MAX_AGE_MS + 1, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_null (plexus_signal_open (f->bob, sealed, NOW - PLEXUS_SIGNAL_MAX_SKEW_MS - 1, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);
  edge = plexus_signal_open (f->bob, sealed, NOW + PLEXUS_SIGNAL_MAX_AGE_MS, &error);
  g_assert_no_error (error);
}

static void
test_limits (Fixture *f, gconstpointer data)
{
  g_autofree guint8 *big = g_malloc0 (PLEXUS_SIGNAL_MAX_PAYLOAD + 1);
  g_autoptr(GBytes) too_big = g_bytes_new (big, PLEXUS_SIGNAL_MAX_PAYLOAD + 1);
  g_autoptr(GBytes) largest = g_bytes_new (big, PLEXUS_SIGNAL_MAX_PAYLOAD);
  g_autoptr(PlexusSignal) refused = plexus_signal_new (PLEXUS_SIGNAL_KIND_MESSAGE, plexus_identity_get_peer_id (f->alice),
                                                       plexus_identity_get_peer_id (f->bob), "m6", NOW, too_big);
  g_autoptr(PlexusSignal) taken = plexus_signal_new (PLEXUS_SIGNAL_KIND_MESSAGE, plexus_identity_get_peer_id (f->alice),
                                                     plexus_identity_get_peer_id (f->bob), "m7", NOW, largest);
  g_autoptr(PlexusSignal) bad_id = plexus_signal_new (PLEXUS_SIGNAL_KIND_MESSAGE, plexus_identity_get_peer_id (f->alice),
                                                      plexus_identity_get_peer_id (f->bob), "no spaces", NOW, largest);
  g_autoptr(PlexusSignal) opened = NULL;
  g_autofree gchar *sealed = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_null (plexus_signal_seal (refused, f->alice, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (plexus_signal_seal (bad_id, f->alice, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  sealed = plexus_signal_seal (taken, f->alice, &error);
  g_assert_no_error (error);
  opened = plexus_signal_open (f->bob, sealed, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (opened->payload), ==, PLEXUS_SIGNAL_MAX_PAYLOAD);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) \
  g_test_add ("/plexus/signal/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("round-trip", test_round_trip);
  ADD ("sealed", test_sealed);
  ADD ("forged-sender", test_forged_sender);
  ADD ("misaddressed", test_misaddressed);
  ADD ("time-window", test_time_window);
  ADD ("limits", test_limits);
#undef ADD
  return g_test_run ();
}
