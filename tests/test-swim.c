/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-swim.h"
#include "plexus-swim-message.h"
#include "plexus-sim.h"
#include "plexus-swim-sim.h"

/* The SWIM membership engine: its wire format, then its properties in the
 * simulator over several seeds each (PLEXUS_SIM_SEED=n runs one). The
 * timers are those of a LAN: a 200 ms protocol period. */

#define N_SEEDS 4
#define GROUP 24

/* A LAN: 200 ms protocol period, 80 ms probe timeout, links of 2 to
 * 20 ms. */
static void
lan_config (PlexusSwimConfig *config)
{
  plexus_swim_config_init (config);
  config->probe_interval_ms = 200;
  config->probe_timeout_ms = 80;
}

static void
lan_network (PlexusSimNetwork *network)
{
  plexus_sim_network_init (network);
  network->latency_min_ms = 2;
  network->latency_max_ms = 20;
  network->jitter_ms = 2;
}

static GArray *
seeds (guint64 first)
{
  return plexus_sim_test_seeds (first, N_SEEDS);
}

static gboolean
is_converged (PlexusSim *sim, gpointer user_data)
{
  return plexus_swim_sim_converged (user_data, FALSE);
}

/* GROUP members on a LAN, started within 2 s, run until every one knows
 * every other; @func (nullable) hears their events from the start. */
static PlexusSwimSim *
converged_group_new (guint64 seed, PlexusSwimSimEventFunc func, gpointer user_data)
{
  PlexusSwimConfig config;
  PlexusSimNetwork network;
  PlexusSwimSim *world;
  PlexusSim *sim;

  lan_config (&config);
  lan_network (&network);
  world = plexus_swim_sim_new (GROUP, seed, &network, &config);
  sim = plexus_swim_sim_get_sim (world);
  if (func != NULL)
    plexus_swim_sim_set_event_func (world, func, user_data);
  plexus_swim_sim_start_all (world, 2000);
  plexus_sim_run_until (sim, 2000);
  PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, 20000, 100, is_converged, world));
  return world;
}

/* Every live node holds every live node's current advertisement. */
static gboolean
ads_everywhere (PlexusSim *sim, gpointer user_data)
{
  PlexusSwimSim *world = user_data;
  guint live = 0;

  for (guint i = 0; i < plexus_sim_get_n_nodes (sim); i++)
    live += plexus_sim_node_is_up (sim, i);
  for (guint i = 0; i < plexus_sim_get_n_nodes (sim); i++) {
    PlexusSwim *engine = plexus_swim_sim_get_engine (world, i);

    if (engine == NULL)
      continue;
    if (plexus_swim_sim_count_advertisement (world, i, plexus_swim_get_advertised_version (engine)) < live)
      return FALSE;
  }
  return TRUE;
}

/* Wire format. */

#define PEER_A "379041925989a8200b2d1347eb4ed9430df0bda402ff15c5debe3f06ad09f394"
#define PEER_B "b0743156505b173489e76788e22ff3428f932c4e90e1169cd558c567cae8d862"

static PlexusSwimMessage *
round_trip (const PlexusSwimMessage *message)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *again = NULL;
  PlexusSwimMessage *decoded;
  gsize length;

  text = plexus_swim_message_encode (message, &length);
  g_test_message ("%s: %s", plexus_swim_message_type_to_string (message->type), text);
  decoded = plexus_swim_message_decode (message->type, (const guint8 *) text, length, &error);
  g_assert_no_error (error);
  g_assert_nonnull (decoded);
  again = plexus_swim_message_encode (decoded, NULL);
  g_assert_cmpstr (again, ==, text);
  return decoded;
}

static void
test_message_round_trip (void)
{
  g_autoptr(PlexusSwimMessage) ping = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_PING_REQ);
  g_autoptr(PlexusSwimMessage) decoded = NULL;
  g_autoptr(PlexusSwimMessage) sync = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_SYNC);
  g_autoptr(PlexusSwimMessage) sync_decoded = NULL;
  PlexusSwimUpdate *update;
  const PlexusSwimUpdate *got;

  ping->seq = PLEXUS_SWIM_MAX_COUNTER;
  g_strlcpy (ping->target, PEER_B, sizeof ping->target);
  update = plexus_swim_message_add_update (ping);
  update->state = PLEXUS_SWIM_STATE_SUSPECT;
  g_strlcpy (update->peer_id, PEER_A, sizeof update->peer_id);
  g_strlcpy (update->by, PEER_B, sizeof update->by);
  update->incarnation = 7;
  update = plexus_swim_message_add_update (ping);
  update->is_advertisement = TRUE;
  g_strlcpy (update->peer_id, PEER_B, sizeof update->peer_id);
  update->version = 3;
  update->capabilities = g_strdup ("{\"peer_id\":\"x\",\"quote\":\"\\\"\"}");
  memset (update->signature, 0xa5, sizeof update->signature);

  decoded = round_trip (ping);
  g_assert_cmpuint (decoded->seq, ==, PLEXUS_SWIM_MAX_COUNTER);
  g_assert_cmpstr (decoded->target, ==, PEER_B);
  g_assert_cmpuint (decoded->updates->len, ==, 2);
  got = &g_array_index (decoded->updates, PlexusSwimUpdate, 0);
  g_assert_false (got->is_advertisement);
  g_assert_cmpint (got->state, ==, PLEXUS_SWIM_STATE_SUSPECT);
  g_assert_cmpstr (got->peer_id, ==, PEER_A);
  g_assert_cmpstr (got->by, ==, PEER_B);
  g_assert_cmpuint (got->incarnation, ==, 7);
  got = &g_array_index (decoded->updates, PlexusSwimUpdate, 1);
  g_assert_true (got->is_advertisement);
  g_assert_cmpuint (got->version, ==, 3);
  g_assert_cmpstr (got->capabilities, ==, "{\"peer_id\":\"x\",\"quote\":\"\\\"\"}");
  g_assert_cmpmem (got->signature, sizeof got->signature, update->signature, sizeof update->signature);

  update = plexus_swim_message_add_update (sync);
  update->state = PLEXUS_SWIM_STATE_DEAD;
  g_strlcpy (update->peer_id, PEER_A, sizeof update->peer_id);
  update->version = 12;
  g_ptr_array_add (sync->want, g_strdup (PEER_B));
  sync_decoded = round_trip (sync);
  g_assert_cmpuint (g_array_index (sync_decoded->updates, PlexusSwimUpdate, 0).version, ==, 12);
  g_assert_cmpstr (g_ptr_array_index (sync_decoded->want, 0), ==, PEER_B);

  for (guint type = 0; type < PLEXUS_SWIM_MESSAGE_N_TYPES; type++) {
    g_autoptr(PlexusSwimMessage) empty = plexus_swim_message_new (type);
    g_autoptr(PlexusSwimMessage) back = NULL;
    PlexusSwimMessageType parsed;

    if (type == PLEXUS_SWIM_MESSAGE_PING_REQ)
      g_strlcpy (empty->target, PEER_A, sizeof empty->target);
    back = round_trip (empty);
    g_assert_true (plexus_swim_message_type_from_string (plexus_swim_message_type_to_string (type), &parsed));
    g_assert_cmpint (parsed, ==, type);
  }
}

static void
test_message_invalid (void)
{
  static const struct {
    PlexusSwimMessageType type;
    const gchar *body;
    const gchar *says;
  } cases[] = {
    { PLEXUS_SWIM_MESSAGE_PING, "", "" },
    { PLEXUS_SWIM_MESSAGE_PING, "[]", "not a JSON object" },
    { PLEXUS_SWIM_MESSAGE_PING, "{}", "lacks the member 'seq'" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":1,\"extra\":2}", "unknown member 'extra'" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":-1}", "out of range" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":9007199254740993}", "out of range" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":1.5}", "not an integer" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":1,\"updates\":[]}", "empty" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":1,\"updates\":[1]}", "not an object" },
    { PLEXUS_SWIM_MESSAGE_PING, "{\"seq\":1,\"updates\":[{\"type\":\"zombie\",\"peer\":\"" PEER_A "\",\"inc\":1}]}", "not an update type" },
    { PLEXUS_SWIM_MESSAGE_ACK, "{\"seq\":1,\"updates\":[{\"type\":\"alive\",\"peer\":\"ABC\",\"inc\":1}]}", "not a peer ID" },
    { PLEXUS_SWIM_MESSAGE_ACK, "{\"seq\":1,\"updates\":[{\"type\":\"alive\",\"peer\":\"" PEER_A "\"}]}", "lacks the member 'inc'" },
    { PLEXUS_SWIM_MESSAGE_ACK, "{\"seq\":1,\"updates\":[{\"type\":\"alive\",\"peer\":\"" PEER_A "\",\"inc\":1,\"by\":\"" PEER_B "\"}]}", "only for suspect" },
    { PLEXUS_SWIM_MESSAGE_GOSSIP, "{\"updates\":[{\"type\":\"adv\",\"peer\":\"" PEER_A "\",\"ver\":1,\"caps\":\"{}\",\"sig\":\"AAAA\"}]}", "base64 Ed25519 signature" },
    { PLEXUS_SWIM_MESSAGE_GOSSIP, "{\"updates\":[{\"type\":\"adv\",\"peer\":\"" PEER_A "\",\"ver\":0,\"caps\":\"{}\",\"sig\":\"AAAA\"}]}", "versions start at 1" },
    { PLEXUS_SWIM_MESSAGE_GOSSIP, "{}", "lacks the member 'updates'" },
    { PLEXUS_SWIM_MESSAGE_PING_REQ, "{\"seq\":1}", "lacks the member 'target'" },
    { PLEXUS_SWIM_MESSAGE_NACK, "{\"seq\":1,\"updates\":[]}", "unknown member 'updates'" },
    { PLEXUS_SWIM_MESSAGE_SYNC, "{\"want\":[\"" PEER_A "\",7]}", "want[1] is not a peer ID" },
    { PLEXUS_SWIM_MESSAGE_SYNC, "{\"seq\":1}", "unknown member 'seq'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(PlexusSwimMessage) message = NULL;

    message = plexus_swim_message_decode (cases[i].type, (const guint8 *) cases[i].body,
                                          strlen (cases[i].body), &error);
    g_assert_null (message);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_test_message ("%s -> %s", cases[i].body, error->message);
    g_assert_nonnull (strstr (error->message, cases[i].says));
  }
}

/* Advertisements: one engine, fed by hand. */

typedef struct {
  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 secret_key[crypto_sign_SECRETKEYBYTES];
  gchar *peer_id;
} Key;

static void
key_init (Key *key)
{
  crypto_sign_keypair (key->public_key, key->secret_key);
  key->peer_id = plexus_peer_id_from_public_key (key->public_key);
}

static gboolean
sign_with_key (const guint8 *data, gsize length, guint8 *signature, gpointer user_data)
{
  Key *key = user_data;

  return crypto_sign_detached (signature, NULL, data, length, key->secret_key) == 0;
}

static PlexusSwimMessage *
advertisement (Key *key, const gchar *about, guint64 version, gdouble load)
{
  PlexusSwimMessage *message = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
  PlexusSwimUpdate *update = plexus_swim_message_add_update (message);
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (about);
  PlexusServiceCapability signaling = { TRUE, load, 10, 10 };
  g_autofree guint8 *data = NULL;
  gsize length;

  plexus_capabilities_set_service (caps, "signaling", &signaling);
  update->is_advertisement = TRUE;
  g_strlcpy (update->peer_id, about, sizeof update->peer_id);
  update->version = version;
  update->capabilities = plexus_capabilities_to_string (caps);
  data = plexus_swim_advertisement_signed_data (about, version, update->capabilities, &length);
  crypto_sign_detached (update->signature, NULL, data, length, key->secret_key);
  return message;
}

static guint
count_events (PlexusSwim *engine, PlexusSwimEventType type)
{
  PlexusSwimEvent event;
  guint count = 0;

  while (plexus_swim_pop_event (engine, &event)) {
    count += event.type == type;
    plexus_swim_event_clear (&event);
  }
  return count;
}

static void
test_advertisement_checks (void)
{
  Key self_key, a, b;
  PlexusSwimConfig config;
  g_autoptr(PlexusSwim) engine = NULL;
  g_autoptr(PlexusSwimMessage) good = NULL;
  g_autoptr(PlexusSwimMessage) forged = NULL;
  g_autoptr(PlexusSwimMessage) stale = NULL;
  g_autoptr(PlexusSwimMessage) newer = NULL;
  g_autoptr(PlexusSwimMessage) tampered = NULL;
  g_autoptr(PlexusSwimMessage) other_peer = NULL;
  guint64 version = 0;

  key_init (&self_key);
  key_init (&a);
  key_init (&b);
  lan_config (&config);
  engine = plexus_swim_new (self_key.peer_id, &config, 1);
  plexus_swim_join (engine, 0, NULL);
  plexus_swim_add_member (engine, 0, a.peer_id);
  plexus_swim_add_member (engine, 0, b.peer_id);
  count_events (engine, PLEXUS_SWIM_EVENT_JOINED);

  good = advertisement (&a, a.peer_id, 5, 0.2);
  plexus_swim_receive_message (engine, 10, b.peer_id, good);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 1);
  g_assert_nonnull (plexus_swim_get_advertisement (engine, a.peer_id, &version));
  g_assert_cmpuint (version, ==, 5);

  /* Signed by b, claiming to be a's. */
  forged = advertisement (&b, a.peer_id, 9, 0.9);
  plexus_swim_receive_message (engine, 20, b.peer_id, forged);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 0);
  plexus_swim_get_advertisement (engine, a.peer_id, &version);
  g_assert_cmpuint (version, ==, 5);

  /* Signed right, then changed on the way. */
  tampered = advertisement (&a, a.peer_id, 9, 0.9);
  g_array_index (tampered->updates, PlexusSwimUpdate, 0).version = 10;
  plexus_swim_receive_message (engine, 25, b.peer_id, tampered);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 0);

  /* a signing a document about b. */
  other_peer = advertisement (&a, a.peer_id, 11, 0.9);
  {
    PlexusSwimUpdate *update = &g_array_index (other_peer->updates, PlexusSwimUpdate, 0);
    g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (b.peer_id);
    g_autofree guint8 *data = NULL;
    gsize length;

    g_free (update->capabilities);
    update->capabilities = plexus_capabilities_to_string (caps);
    data = plexus_swim_advertisement_signed_data (a.peer_id, 11, update->capabilities, &length);
    crypto_sign_detached (update->signature, NULL, data, length, a.secret_key);
  }
  plexus_swim_receive_message (engine, 27, b.peer_id, other_peer);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 0);

  stale = advertisement (&a, a.peer_id, 4, 0.7);
  plexus_swim_receive_message (engine, 30, b.peer_id, stale);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 0);
  plexus_swim_get_advertisement (engine, a.peer_id, &version);
  g_assert_cmpuint (version, ==, 5);

  newer = advertisement (&a, a.peer_id, 6, 0.7);
  plexus_swim_receive_message (engine, 40, b.peer_id, newer);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 1);
  plexus_swim_get_advertisement (engine, a.peer_id, &version);
  g_assert_cmpuint (version, ==, 6);

  /* The same again is no news. */
  plexus_swim_receive_message (engine, 50, b.peer_id, newer);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 0);

  g_free (self_key.peer_id);
  g_free (a.peer_id);
  g_free (b.peer_id);
}

/* Hands every message @from wrote for @to over to @to; TRUE if one was a
 * message of @type. */
static gboolean
pass_on (PlexusSwim *from, const gchar *from_id, PlexusSwim *to, const gchar *to_id, gint64 now,
         PlexusSwimMessageType type)
{
  PlexusSwimOutput output;
  gboolean seen = FALSE;

  while (plexus_swim_pop_output (from, &output)) {
    if (g_strcmp0 (output.to, to_id) == 0) {
      g_autoptr(JsonNode) root = json_from_string (output.body, NULL);
      g_autoptr(PlexusSwimMessage) message = NULL;

      g_assert_nonnull (root);
      message = plexus_swim_message_new_from_json (output.type, json_node_get_object (root), NULL);
      g_assert_nonnull (message);
      seen |= output.type == type;
      plexus_swim_receive_message (to, now, from_id, message);
    }
    plexus_swim_output_clear (&output);
  }
  return seen;
}

/* An engine is synced once a member answered its sync, not when it
 * merely joined, nor when a sync came to it (a joiner's lists only the
 * joiner). */
static void
test_synced (void)
{
  Key a_key, b_key;
  PlexusSwimConfig config;
  g_autoptr(PlexusSwim) a = NULL;
  g_autoptr(PlexusSwim) b = NULL;
  const gchar *seeds[2] = { NULL, NULL };

  key_init (&a_key);
  key_init (&b_key);
  lan_config (&config);
  a = plexus_swim_new (a_key.peer_id, &config, 1);
  b = plexus_swim_new (b_key.peer_id, &config, 2);
  g_assert_false (plexus_swim_is_synced (a));
  plexus_swim_join (a, 0, NULL);
  seeds[0] = a_key.peer_id;
  plexus_swim_join (b, 0, seeds);
  g_assert_false (plexus_swim_is_synced (a));
  g_assert_false (plexus_swim_is_synced (b));
  g_assert_true (pass_on (b, b_key.peer_id, a, a_key.peer_id, 10, PLEXUS_SWIM_MESSAGE_SYNC));
  g_assert_false (plexus_swim_is_synced (a));
  g_assert_false (plexus_swim_is_synced (b));
  g_assert_true (pass_on (a, a_key.peer_id, b, b_key.peer_id, 20, PLEXUS_SWIM_MESSAGE_SYNC_REPLY));
  g_assert_true (plexus_swim_is_synced (b));
  g_assert_false (plexus_swim_is_synced (a));
  /* A, which started the group, is by its own push-pull with B. */
  for (gint64 now = 100; now <= 4 * (gint64) config.push_pull_interval_ms && !plexus_swim_is_synced (a); now += 100) {
    plexus_swim_tick (a, now);
    plexus_swim_tick (b, now);
    pass_on (a, a_key.peer_id, b, b_key.peer_id, now, PLEXUS_SWIM_MESSAGE_SYNC);
    pass_on (b, b_key.peer_id, a, a_key.peer_id, now, PLEXUS_SWIM_MESSAGE_SYNC_REPLY);
  }
  g_assert_true (plexus_swim_is_synced (a));

  g_free (a_key.peer_id);
  g_free (b_key.peer_id);
}

/* A super peer gossips the advertisement of a standard peer attached to it
 * (not a member): checked like gossip, forgotten unless renewed, and both
 * tables are bounded. */
static void
test_offer_and_bounds (void)
{
  Key self_key, member, standard;
  Key strangers[4];
  PlexusSwimConfig config;
  g_autoptr(PlexusSwim) engine = NULL;
  g_autoptr(PlexusSwimMessage) good = NULL;
  g_autoptr(PlexusSwimMessage) forged = NULL;
  g_autoptr(PlexusSwimMessage) extra = NULL;
  g_autoptr(GError) error = NULL;
  PlexusSwimOutput output;
  gboolean carried = FALSE;
  guint64 version = 0;

  key_init (&self_key);
  key_init (&member);
  key_init (&standard);
  lan_config (&config);
  config.max_members = 3;
  config.max_advertisements = 2;
  config.dead_retention_ms = 60000;
  engine = plexus_swim_new (self_key.peer_id, &config, 1);
  plexus_swim_join (engine, 0, NULL);
  plexus_swim_add_member (engine, 0, member.peer_id);
  count_events (engine, PLEXUS_SWIM_EVENT_JOINED);

  good = advertisement (&standard, standard.peer_id, 7, 0.1);
  g_assert_true (plexus_swim_advertisement_verify (&g_array_index (good->updates, PlexusSwimUpdate, 0)));
  g_assert_true (plexus_swim_offer_advertisement (engine, 10, &g_array_index (good->updates, PlexusSwimUpdate, 0), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 1);
  g_assert_nonnull (plexus_swim_get_advertisement (engine, standard.peer_id, &version));
  g_assert_cmpuint (version, ==, 7);
  /* Not a member for all that. */
  g_assert_false (plexus_swim_get_member_state (engine, standard.peer_id, NULL, NULL));
  /* The group hears of it: it rides on what goes to the member. */
  plexus_swim_tick (engine, 1000);
  while (plexus_swim_pop_output (engine, &output)) {
    carried |= strstr (output.body, standard.peer_id) != NULL;
    plexus_swim_output_clear (&output);
  }
  g_assert_true (carried);
  /* Offered again: already held, no news. */
  g_assert_true (plexus_swim_offer_advertisement (engine, 1100, &g_array_index (good->updates, PlexusSwimUpdate, 0), &error));
  g_assert_cmpuint (count_events (engine, PLEXUS_SWIM_EVENT_ADVERTISEMENT), ==, 0);

  /* Signed by the member, claiming to be the standard peer's. */
  forged = advertisement (&member, standard.peer_id, 8, 0.9);
  g_assert_false (plexus_swim_advertisement_verify (&g_array_index (forged->updates, PlexusSwimUpdate, 0)));
  g_assert_false (plexus_swim_offer_advertisement (engine, 1200, &g_array_index (forged->updates, PlexusSwimUpdate, 0), &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_clear_error (&error);
  plexus_swim_get_advertisement (engine, standard.peer_id, &version);
  g_assert_cmpuint (version, ==, 7);

  /* Bounds: a third member fills the table of three (self not counted);
   * a fourth is not taken. A second advertisement fills its table. */
  for (guint i = 0; i < G_N_ELEMENTS (strangers); i++)
    key_init (&strangers[i]);
  plexus_swim_add_member (engine, 1300, strangers[0].peer_id);
  plexus_swim_add_member (engine, 1300, strangers[1].peer_id);
  plexus_swim_add_member (engine, 1300, strangers[2].peer_id);
  g_assert_cmpuint (plexus_swim_get_n_members (engine), <=, 3);
  g_assert_false (plexus_swim_get_member_state (engine, strangers[2].peer_id, NULL, NULL));
  extra = advertisement (&strangers[3], strangers[3].peer_id, 1, 0.1);
  g_assert_true (plexus_swim_offer_advertisement (engine, 1400, &g_array_index (extra->updates, PlexusSwimUpdate, 0), &error));
  g_clear_pointer (&extra, plexus_swim_message_free);
  extra = advertisement (&strangers[2], strangers[2].peer_id, 1, 0.1);
  g_assert_false (plexus_swim_offer_advertisement (engine, 1500, &g_array_index (extra->updates, PlexusSwimUpdate, 0), &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
  g_clear_error (&error);

  /* Not renewed: forgotten after the retention. */
  for (gint64 now = 2000; now <= 70000; now += 1000) {
    plexus_swim_tick (engine, now);
    while (plexus_swim_pop_output (engine, &output))
      plexus_swim_output_clear (&output);
  }
  g_assert_null (plexus_swim_get_advertisement (engine, standard.peer_id, NULL));

  g_free (self_key.peer_id);
  g_free (member.peer_id);
  g_free (standard.peer_id);
  for (guint i = 0; i < G_N_ELEMENTS (strangers); i++)
    g_free (strangers[i].peer_id);
}

static void
test_readvertise_material (void)
{
  Key key, other;
  PlexusSwimConfig config;
  g_autoptr(PlexusSwim) engine = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;
  PlexusServiceCapability signaling = { TRUE, 0.30, 100, 10 };

  key_init (&key);
  key_init (&other);
  lan_config (&config);
  engine = plexus_swim_new (key.peer_id, &config, 2);

  /* Nothing to sign with: an error, not a silent no-op. */
  caps = plexus_capabilities_new (key.peer_id);
  g_assert_false (plexus_swim_set_capabilities (engine, 0, caps, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_clear_object (&engine);

  config.sign = sign_with_key;
  config.sign_data = &key;
  engine = plexus_swim_new (key.peer_id, &config, 2);
  plexus_swim_join (engine, 0, NULL);

  g_clear_object (&caps);
  caps = plexus_capabilities_new (other.peer_id);
  g_assert_false (plexus_swim_set_capabilities (engine, 0, caps, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_clear_object (&caps);
  caps = plexus_capabilities_new (key.peer_id);
  plexus_capabilities_set_service (caps, "signaling", &signaling);
  g_assert_true (plexus_swim_set_capabilities (engine, 0, caps, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (plexus_swim_get_advertised_version (engine), ==, 1);

  /* Unchanged, then a small change: not advertised now... */
  g_assert_true (plexus_swim_set_capabilities (engine, 100, caps, NULL));
  signaling.load = 0.33;
  plexus_capabilities_set_service (caps, "signaling", &signaling);
  g_assert_true (plexus_swim_set_capabilities (engine, 200, caps, NULL));
  g_assert_cmpuint (plexus_swim_get_advertised_version (engine), ==, 1);
  /* ...but once the minimum interval has passed. */
  g_assert_cmpint (plexus_swim_next_deadline (engine), <=, config.readvertise_min_interval_ms);
  plexus_swim_tick (engine, config.readvertise_min_interval_ms);
  g_assert_cmpuint (plexus_swim_get_advertised_version (engine), ==, 2);

  /* A material change goes out at once. */
  signaling.load = 0.9;
  plexus_capabilities_set_service (caps, "signaling", &signaling);
  g_assert_true (plexus_swim_set_capabilities (engine, config.readvertise_min_interval_ms + 10, caps, NULL));
  g_assert_cmpuint (plexus_swim_get_advertised_version (engine), ==, 3);
  signaling.available = FALSE;
  plexus_capabilities_set_service (caps, "signaling", &signaling);
  g_assert_true (plexus_swim_set_capabilities (engine, config.readvertise_min_interval_ms + 20, caps, NULL));
  g_assert_cmpuint (plexus_swim_get_advertised_version (engine), ==, 4);

  g_free (key.peer_id);
  g_free (other.peer_id);
}

/* Properties in the simulator. */

static void
test_join_and_advertise (void)
{
  g_autoptr(GArray) list = seeds (100);

  for (guint s = 0; s < list->len; s++) {
    PlexusSwimConfig config;
    PlexusSimNetwork network;
    g_autoptr(PlexusSwimSim) world = NULL;
    PlexusSim *sim;

    lan_config (&config);
    lan_network (&network);
    network.duplicate = 0.02;
    network.reorder = 0.05;
    world = plexus_swim_sim_new (GROUP, g_array_index (list, guint64, s), &network, &config);
    sim = plexus_swim_sim_get_sim (world);
    plexus_swim_sim_start_all (world, 3000);
    plexus_sim_run_until (sim, 3000);

    /* Everyone joins through someone and learns of everyone. */
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, 20000, 100, is_converged, world));
    /* Every advertisement reaches every live member... */
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, 2 * config.push_pull_interval_ms + 5000, 100, ads_everywhere, world));
    /* ...and so does a new one: gossip brings it to nearly everyone
     * at once, the periodic push-pull to whoever the gossip missed. */
    plexus_swim_sim_set_load (world, 3, 0.95);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_get_advertised_version (plexus_swim_sim_get_engine (world, 3)) >= 2);
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, plexus_sim_now (sim) + 2 * config.push_pull_interval_ms + 5000,
                                                       100, ads_everywhere, world));
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_get_false_dead (world) == 0);
  }
}

static void
test_no_false_dead (void)
{
  g_autoptr(GArray) list = seeds (200);

  for (guint s = 0; s < list->len; s++) {
    PlexusSwimConfig config;
    PlexusSimNetwork network;
    g_autoptr(PlexusSwimSim) world = NULL;
    PlexusSim *sim;

    lan_config (&config);
    lan_network (&network);
    world = plexus_swim_sim_new (GROUP, g_array_index (list, guint64, s), &network, &config);
    sim = plexus_swim_sim_get_sim (world);
    plexus_swim_sim_start_all (world, 2000);
    plexus_sim_run_until (sim, 60000);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_get_false_dead (world) == 0);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_converged (world, FALSE));
  }
}

typedef struct {
  guint     target;
  gboolean *dead_seen;
  gint64    last_dead_at;
} CrashWatch;

static void
on_crash_event (PlexusSwimSim *world, guint observer, guint member,
                const PlexusSwimEvent *event, gpointer user_data)
{
  CrashWatch *watch = user_data;

  if (member == watch->target && event->type == PLEXUS_SWIM_EVENT_DEAD) {
    watch->dead_seen[observer] = TRUE;
    watch->last_dead_at = plexus_sim_now (plexus_swim_sim_get_sim (world));
  }
}

static gboolean
all_saw_dead (PlexusSim *sim, gpointer user_data)
{
  CrashWatch *watch = user_data;

  for (guint i = 0; i < plexus_sim_get_n_nodes (sim); i++) {
    if (plexus_sim_node_is_up (sim, i) && !watch->dead_seen[i])
      return FALSE;
  }
  return TRUE;
}

static void
test_crash_declared_dead (void)
{
  g_autoptr(GArray) list = seeds (300);

  for (guint s = 0; s < list->len; s++) {
    g_autoptr(PlexusSwimSim) world = NULL;
    g_autofree gboolean *dead_seen = g_new0 (gboolean, GROUP);
    CrashWatch watch = { 5, dead_seen, 0 };
    PlexusSim *sim;
    gint64 crashed_at;

    world = converged_group_new (g_array_index (list, guint64, s), on_crash_event, &watch);
    sim = plexus_swim_sim_get_sim (world);

    crashed_at = plexus_sim_now (sim);
    plexus_sim_crash (sim, watch.target);
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, crashed_at + 15000, 50, all_saw_dead, &watch));
    g_test_message ("seed %" G_GUINT64_FORMAT ": declared dead by all %" G_GINT64_FORMAT " ms after the crash",
                    plexus_sim_get_seed (sim), watch.last_dead_at - crashed_at);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_get_false_dead (world) == 0);

    /* Restarted, it refutes its death and is a member again. */
    plexus_swim_sim_restart (world, watch.target);
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, plexus_sim_now (sim) + 15000, 100, is_converged, world));
  }
}

static void
test_partition_heals (void)
{
  g_autoptr(GArray) list = seeds (400);

  for (guint s = 0; s < list->len; s++) {
    g_autoptr(PlexusSwimSim) world = NULL;
    PlexusSim *sim;

    world = converged_group_new (g_array_index (list, guint64, s), NULL, NULL);
    sim = plexus_swim_sim_get_sim (world);

    /* A third of the group cut off long enough for the larger side to
     * declare it dead (the smaller side, missing most acks, raises its
     * Local Health Multiplier and is slower to accuse). */
    for (guint i = 0; i < GROUP / 3; i++)
      plexus_sim_set_partition (sim, i, 1);
    plexus_sim_run_until (sim, plexus_sim_now (sim) + 20000);
    {
      PlexusSwimState state;

      PLEXUS_SIM_ASSERT (sim, plexus_swim_get_member_state (plexus_swim_sim_get_engine (world, GROUP - 1),
                                                            plexus_swim_sim_get_peer_id (world, 0),
                                                            &state, NULL));
      PLEXUS_SIM_ASSERT (sim, state == PLEXUS_SWIM_STATE_DEAD);
    }

    plexus_sim_heal (sim);
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, plexus_sim_now (sim) + 40000, 100, is_converged, world));
  }
}

typedef struct {
  guint target;
  guint suspected;
  guint dead;
  guint left;
} PauseWatch;

static void
on_pause_event (PlexusSwimSim *world, guint observer, guint member,
                const PlexusSwimEvent *event, gpointer user_data)
{
  PauseWatch *watch = user_data;

  if (member != watch->target)
    return;
  watch->suspected += event->type == PLEXUS_SWIM_EVENT_SUSPECT;
  watch->dead += event->type == PLEXUS_SWIM_EVENT_DEAD;
  watch->left += event->type == PLEXUS_SWIM_EVENT_LEFT;
}

static void
test_pause_refutes (void)
{
  g_autoptr(GArray) list = seeds (500);
  guint suspected = 0;

  for (guint s = 0; s < list->len; s++) {
    g_autoptr(PlexusSwimSim) world = NULL;
    PauseWatch watch = { 7, 0, 0, 0 };
    PlexusSim *sim;

    world = converged_group_new (g_array_index (list, guint64, s), NULL, NULL);
    sim = plexus_swim_sim_get_sim (world);

    plexus_swim_sim_set_event_func (world, on_pause_event, &watch);
    plexus_sim_pause (sim, watch.target, 1000);
    plexus_sim_run_until (sim, plexus_sim_now (sim) + 15000);
    PLEXUS_SIM_ASSERT (sim, watch.dead == 0);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_get_false_dead (world) == 0);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_converged (world, FALSE));
    suspected += watch.suspected;
  }
  /* Otherwise the pauses proved nothing (one seed alone, rerun to
   * reproduce a failure, may happen to go unnoticed). */
  if (list->len > 1)
    g_assert_cmpuint (suspected, >, 0);
}

static void
test_leave (void)
{
  g_autoptr(GArray) list = seeds (700);

  for (guint s = 0; s < list->len; s++) {
    g_autoptr(PlexusSwimSim) world = NULL;
    PauseWatch watch = { 4, 0, 0, 0 };
    PlexusSim *sim;

    world = converged_group_new (g_array_index (list, guint64, s), NULL, NULL);
    sim = plexus_swim_sim_get_sim (world);

    /* A member that leaves is 'left' for everyone, never 'dead'. */
    plexus_swim_sim_set_event_func (world, on_pause_event, &watch);
    plexus_swim_sim_leave (world, watch.target);
    plexus_sim_run_until (sim, plexus_sim_now (sim) + 10000);
    PLEXUS_SIM_ASSERT (sim, watch.left == GROUP - 1);
    PLEXUS_SIM_ASSERT (sim, watch.dead == 0);
    for (guint i = 0; i < GROUP; i++) {
      PlexusSwimState state;

      if (i == watch.target)
        continue;
      PLEXUS_SIM_ASSERT (sim, plexus_swim_get_member_state (plexus_swim_sim_get_engine (world, i),
                                                            plexus_swim_sim_get_peer_id (world, watch.target),
                                                            &state, NULL));
      PLEXUS_SIM_ASSERT (sim, state == PLEXUS_SWIM_STATE_LEFT);
      PLEXUS_SIM_ASSERT (sim, plexus_swim_get_n_members (plexus_swim_sim_get_engine (world, i)) == GROUP - 2);
      /* Not among the live members, still among those known. */
      {
        g_auto(GStrv) live = plexus_swim_get_members (plexus_swim_sim_get_engine (world, i));
        g_auto(GStrv) known = plexus_swim_list_members (plexus_swim_sim_get_engine (world, i));
        const gchar *gone = plexus_swim_sim_get_peer_id (world, watch.target);

        PLEXUS_SIM_ASSERT (sim, !g_strv_contains ((const gchar * const *) live, gone));
        PLEXUS_SIM_ASSERT (sim, g_strv_contains ((const gchar * const *) known, gone));
        PLEXUS_SIM_ASSERT (sim, g_strv_length (known) == GROUP - 1);
      }
    }
  }
}

static void
test_lossy_and_slow (void)
{
  g_autoptr(GArray) list = seeds (600);

  for (guint s = 0; s < list->len; s++) {
    g_autoptr(PlexusSwimSim) world = NULL;
    PlexusSim *sim;

    world = converged_group_new (g_array_index (list, guint64, s), NULL, NULL);
    sim = plexus_swim_sim_get_sim (world);

    /* 5% loss, and one member that handles every message 100 ms late. */
    plexus_sim_set_loss (sim, 0.05);
    plexus_sim_set_slow (sim, 2, 100);
    plexus_sim_run_until (sim, plexus_sim_now (sim) + 60000);
    PLEXUS_SIM_ASSERT (sim, plexus_swim_sim_get_false_dead (world) == 0);
    plexus_sim_set_loss (sim, 0);
    plexus_sim_set_slow (sim, 2, 0);
    PLEXUS_SIM_ASSERT (sim, plexus_sim_run_until_true (sim, plexus_sim_now (sim) + 10000, 100, is_converged, world));
  }
}

static void
run_once (guint64 seed, guint64 *bytes, guint64 *events)
{
  PlexusSwimConfig config;
  PlexusSimNetwork network;
  g_autoptr(PlexusSwimSim) world = NULL;
  PlexusSim *sim;

  lan_config (&config);
  lan_network (&network);
  network.loss = 0.02;
  network.duplicate = 0.02;
  network.reorder = 0.05;
  world = plexus_swim_sim_new (16, seed, &network, &config);
  sim = plexus_swim_sim_get_sim (world);
  plexus_swim_sim_start_all (world, 2000);
  plexus_sim_run_until (sim, 5000);
  plexus_sim_crash (sim, 3);
  plexus_sim_pause (sim, 4, 800);
  plexus_sim_run_until (sim, 15000);
  *bytes = plexus_swim_sim_get_bytes_sent (world);
  *events = plexus_sim_get_events_processed (sim);
}

static void
test_reproducible (void)
{
  guint64 bytes_a, events_a, bytes_b, events_b, bytes_c, events_c;

  run_once (7, &bytes_a, &events_a);
  run_once (7, &bytes_b, &events_b);
  run_once (8, &bytes_c, &events_c);
  g_assert_cmpuint (bytes_a, ==, bytes_b);
  g_assert_cmpuint (events_a, ==, events_b);
  g_assert_true (bytes_a != bytes_c || events_a != events_c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  if (sodium_init () < 0)
    g_error ("cannot initialise libsodium");

  g_test_add_func ("/plexus/swim/message/round-trip", test_message_round_trip);
  g_test_add_func ("/plexus/swim/message/invalid", test_message_invalid);
  g_test_add_func ("/plexus/swim/advertisement/checks", test_advertisement_checks);
  g_test_add_func ("/plexus/swim/advertisement/material-change", test_readvertise_material);
  g_test_add_func ("/plexus/swim/advertisement/offer-and-bounds", test_offer_and_bounds);
  g_test_add_func ("/plexus/swim/synced", test_synced);
  g_test_add_func ("/plexus/swim/sim/reproducible", test_reproducible);
  g_test_add_func ("/plexus/swim/sim/join-and-advertise", test_join_and_advertise);
  g_test_add_func ("/plexus/swim/sim/no-false-dead", test_no_false_dead);
  g_test_add_func ("/plexus/swim/sim/crash-declared-dead", test_crash_declared_dead);
  g_test_add_func ("/plexus/swim/sim/partition-heals", test_partition_heals);
  g_test_add_func ("/plexus/swim/sim/pause-refutes", test_pause_refutes);
  g_test_add_func ("/plexus/swim/sim/leave", test_leave);
  g_test_add_func ("/plexus/swim/sim/lossy-and-slow", test_lossy_and_slow);

  return g_test_run ();
}
