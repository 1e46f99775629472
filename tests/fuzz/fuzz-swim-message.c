/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-swim.h"
#include "plexus-swim-message.h"
#include "fuzz-common.h"

/* SWIM messages come from any member of the group, which may be hostile.
 * The first input byte picks the message type (the envelope type), the
 * rest is the body. plexus_swim_message_decode() must turn any bytes into
 * either a message or a PLEXUS_ERROR_INVALID_DATA error with a bounded
 * UTF-8 message; what it accepts must encode to text that decodes to the
 * same encoding. The message is then handed to an engine that knows a
 * few members and has an advertisement of its own, which must take it
 * without a warning, whatever it says. */

#define SELF "379041925989a8200b2d1347eb4ed9430df0bda402ff15c5debe3f06ad09f394"
#define MEMBER "b0743156505b173489e76788e22ff3428f932c4e90e1169cd558c567cae8d862"

static guint8 secret_key[crypto_sign_SECRETKEYBYTES];
static gchar *self_peer_id;

static gboolean
sign (const guint8 *data, gsize length, guint8 *signature, gpointer user_data)
{
  return crypto_sign_detached (signature, NULL, data, length, secret_key) == 0;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 seed[crypto_sign_SEEDBYTES] = { 1, };

  fuzz_init (*argv);
  if (sodium_init () < 0)
    abort ();
  crypto_sign_seed_keypair (public_key, secret_key, seed);
  self_peer_id = plexus_peer_id_from_public_key (public_key);
  return 0;
}

static void
check_engine (const PlexusSwimMessage *message)
{
  PlexusSwimConfig config;
  g_autoptr(PlexusSwim) engine = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;
  PlexusSwimOutput output;
  PlexusSwimEvent event;
  const gchar *seeds[] = { MEMBER, NULL };

  plexus_swim_config_init (&config);
  config.sign = sign;
  engine = plexus_swim_new (self_peer_id, &config, 1);
  caps = plexus_capabilities_new (self_peer_id);
  FUZZ_CHECK (plexus_swim_set_capabilities (engine, 0, caps, NULL), "cannot advertise");
  plexus_swim_join (engine, 0, seeds);
  plexus_swim_add_member (engine, 0, SELF);
  plexus_swim_tick (engine, 1000);

  plexus_swim_receive_message (engine, 1500, MEMBER, message);
  plexus_swim_tick (engine, 3000);
  plexus_swim_tick (engine, 60000);

  /* Whatever it sends must decode. */
  while (plexus_swim_pop_output (engine, &output)) {
    g_autoptr(PlexusSwimMessage) sent = NULL;
    g_autoptr(GError) error = NULL;

    FUZZ_CHECK (output.length <= PLEXUS_SWIM_MESSAGE_MAX_SIZE, "sent too large a message");
    sent = plexus_swim_message_decode (output.type, (const guint8 *) output.body, output.length, &error);
    FUZZ_CHECK (sent != NULL, error->message);
    plexus_swim_output_clear (&output);
  }
  while (plexus_swim_pop_event (engine, &event)) {
    /* Only verified advertisements come out; they are capabilities. */
    if (event.type == PLEXUS_SWIM_EVENT_ADVERTISEMENT) {
      g_autoptr(PlexusCapabilities) got = plexus_capabilities_new_from_string (event.capabilities, -1, NULL);

      FUZZ_CHECK (got != NULL, "an advertisement that does not parse");
    }
    plexus_swim_event_clear (&event);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusSwimMessage) message = NULL;
  g_autoptr(PlexusSwimMessage) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *text_again = NULL;
  PlexusSwimMessageType type;
  gsize length;

  if (size < 1)
    return 0;
  type = data[0] % PLEXUS_SWIM_MESSAGE_N_TYPES;
  message = plexus_swim_message_decode (type, data + 1, size - 1, &error);
  if (message == NULL) {
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
    FUZZ_CHECK (strlen (error->message) < 512, error->message);
    return 0;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  FUZZ_CHECK (message->type == type, "wrong type");

  text = plexus_swim_message_encode (message, &length);
  FUZZ_CHECK (strlen (text) == length && g_utf8_validate (text, -1, NULL), "bad JSON written");
  again = plexus_swim_message_decode (type, (const guint8 *) text, length, &error);
  if (again == NULL) {
    /* Written again, text may grow (escapes); only then may it be too
     * large. */
    FUZZ_CHECK (length > PLEXUS_SWIM_MESSAGE_MAX_SIZE, error->message);
    return 0;
  }
  text_again = plexus_swim_message_encode (again, NULL);
  FUZZ_CHECK (strcmp (text, text_again) == 0, text);

  check_engine (message);
  return 0;
}
