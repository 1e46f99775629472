/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include <sodium.h>

#include "plexus-identity.h"
#include "plexus-swim-sim.h"

typedef struct {
  gchar  *peer_id;
  guint8  secret_key[crypto_sign_SECRETKEYBYTES];
  gdouble load;
} NodeInfo;

struct _PlexusSwimSim {
  PlexusSim              *sim;
  guint                   n_nodes;
  NodeInfo               *nodes;
  GHashTable             *index;     /* peer ID -> node number + 1 */
  PlexusSwimConfig        config;
  GHashTable             *verified;
  gboolean                advertise;
  gboolean                warm;
  PlexusSwimSimEventFunc  event_func;
  gpointer                event_data;
  guint64                 false_dead;
  guint64                 bytes_by_type[PLEXUS_SWIM_MESSAGE_N_TYPES];
};

static gboolean
sign (const guint8 *data, gsize length, guint8 *signature, gpointer user_data)
{
  NodeInfo *info = user_data;

  return crypto_sign_detached (signature, NULL, data, length, info->secret_key) == 0;
}

static void
drain (PlexusSwimSim *world, guint node, PlexusSwim *engine)
{
  PlexusSwimOutput output;
  PlexusSwimEvent event;

  while (plexus_swim_pop_output (engine, &output)) {
    guint to = GPOINTER_TO_UINT (g_hash_table_lookup (world->index, output.to));
    g_autofree guint8 *frame = NULL;

    g_assert (to > 0);
    /* One byte for the type stands for the envelope type. */
    frame = g_malloc (output.length + 1);
    frame[0] = (guint8) output.type;
    memcpy (frame + 1, output.body, output.length);
    plexus_sim_send (world->sim, node, to - 1, frame, output.length + 1);
    world->bytes_by_type[output.type] += output.length + 1;
    plexus_swim_output_clear (&output);
  }
  while (plexus_swim_pop_event (engine, &event)) {
    guint member = GPOINTER_TO_UINT (g_hash_table_lookup (world->index, event.peer_id));

    g_assert (member > 0);
    if (event.type == PLEXUS_SWIM_EVENT_DEAD && plexus_sim_node_is_up (world->sim, member - 1))
      world->false_dead++;
    if (world->event_func != NULL)
      world->event_func (world, node, member - 1, &event, world->event_data);
    plexus_swim_event_clear (&event);
  }
}

static PlexusCapabilities *
make_capabilities (PlexusSwimSim *world, guint node)
{
  PlexusCapabilities *caps = plexus_capabilities_new (world->nodes[node].peer_id);
  PlexusServiceCapability signaling = { TRUE, world->nodes[node].load, 1000, 100 };

  plexus_capabilities_set_roles (caps, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER);
  plexus_capabilities_set_service (caps, "signaling", &signaling);
  plexus_capabilities_set_uptime (caps, 0.99);
  plexus_capabilities_set_bandwidth (caps, 50, 100);
  plexus_capabilities_set_region (caps, node % 2 == 0 ? "eu-west" : "us-east");
  return caps;
}

static guint
random_live_node (PlexusSwimSim *world, guint except)
{
  GRand *rand = plexus_sim_get_rand (world->sim);

  for (guint attempt = 0; attempt < 64; attempt++) {
    guint node = g_rand_int_range (rand, 0, world->n_nodes);

    if (node != except && plexus_sim_node_is_up (world->sim, node))
      return node;
  }
  for (guint node = 0; node < world->n_nodes; node++) {
    if (node != except && plexus_sim_node_is_up (world->sim, node))
      return node;
  }
  return G_MAXUINT;
}

static gpointer
engine_start (PlexusSim *sim, guint node, gint64 now, gpointer user_data)
{
  PlexusSwimSim *world = user_data;
  PlexusSwimConfig config = world->config;
  PlexusSwim *engine;
  guint seed_node = random_live_node (world, node);
  const gchar *seeds[2] = { NULL, NULL };

  config.sign = sign;
  config.sign_data = &world->nodes[node];
  config.verified = world->verified;
  engine = plexus_swim_new (world->nodes[node].peer_id, &config, plexus_sim_node_seed (sim, node));
  if (world->advertise) {
    g_autoptr(PlexusCapabilities) caps = make_capabilities (world, node);
    g_autoptr(GError) error = NULL;

    plexus_swim_set_capabilities (engine, now, caps, &error);
    g_assert_no_error (error);
  }
  if (world->warm) {
    /* Everyone already knows everyone: a group long formed. */
    plexus_swim_join (engine, now, NULL);
    for (guint i = 0; i < world->n_nodes; i++)
      plexus_swim_add_member (engine, now, world->nodes[i].peer_id);
  } else {
    if (seed_node != G_MAXUINT)
      seeds[0] = world->nodes[seed_node].peer_id;
    plexus_swim_join (engine, now, seeds);
  }
  drain (world, node, engine);
  return engine;
}

static void
engine_stop (PlexusSim *sim, guint node, gpointer engine, gpointer user_data)
{
  g_object_unref (engine);
}

static void
engine_receive (PlexusSim *sim, guint node, gpointer engine, gint64 now, guint from,
                const guint8 *data, gsize length, gpointer user_data)
{
  PlexusSwimSim *world = user_data;
  g_autoptr(PlexusSwimMessage) message = NULL;
  g_autoptr(GError) error = NULL;

  g_assert (length >= 1 && data[0] < PLEXUS_SWIM_MESSAGE_N_TYPES);
  /* Engines only ever write what decodes. */
  message = plexus_swim_message_decode (data[0], data + 1, length - 1, &error);
  g_assert_no_error (error);
  plexus_swim_receive_message (engine, now, world->nodes[from].peer_id, message);
  drain (world, node, engine);
}

static void
engine_tick (PlexusSim *sim, guint node, gpointer engine, gint64 now, gpointer user_data)
{
  plexus_swim_tick (engine, now);
  drain (user_data, node, engine);
}

static gint64
engine_next_deadline (PlexusSim *sim, guint node, gpointer engine, gpointer user_data)
{
  return plexus_swim_next_deadline (engine);
}

static const PlexusSimEngineClass swim_class = {
  engine_start, engine_stop, engine_receive, engine_tick, engine_next_deadline,
};

PlexusSwimSim *
plexus_swim_sim_new (guint                   n_nodes,
                     guint64                 seed,
                     const PlexusSimNetwork *network,
                     const PlexusSwimConfig *config)
{
  PlexusSwimSim *world = g_new0 (PlexusSwimSim, 1);

  if (sodium_init () < 0)
    g_error ("cannot initialise libsodium");
  world->n_nodes = n_nodes;
  world->nodes = g_new0 (NodeInfo, n_nodes);
  world->index = g_hash_table_new (g_str_hash, g_str_equal);
  world->verified = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
                                           (GDestroyNotify) g_bytes_unref, NULL);
  world->advertise = TRUE;
  if (config != NULL)
    world->config = *config;
  else
    plexus_swim_config_init (&world->config);
  world->sim = plexus_sim_new (n_nodes, seed, network, &swim_class, world);

  /* Identities from the seed: the same run has the same peer IDs. */
  for (guint i = 0; i < n_nodes; i++) {
    guint8 key_seed[crypto_sign_SEEDBYTES] = { 0, };
    guint8 public_key[crypto_sign_PUBLICKEYBYTES];
    guint64 words[2] = { seed, i };

    crypto_generichash (key_seed, sizeof key_seed, (const guint8 *) words, sizeof words, NULL, 0);
    crypto_sign_seed_keypair (public_key, world->nodes[i].secret_key, key_seed);
    world->nodes[i].peer_id = plexus_peer_id_from_public_key (public_key);
    world->nodes[i].load = 0.1;
    g_hash_table_insert (world->index, world->nodes[i].peer_id, GUINT_TO_POINTER (i + 1));
  }
  return world;
}

void
plexus_swim_sim_free (PlexusSwimSim *world)
{
  if (world == NULL)
    return;
  plexus_sim_free (world->sim);
  for (guint i = 0; i < world->n_nodes; i++)
    g_free (world->nodes[i].peer_id);
  g_free (world->nodes);
  g_hash_table_unref (world->index);
  g_hash_table_unref (world->verified);
  g_free (world);
}

PlexusSim *
plexus_swim_sim_get_sim (PlexusSwimSim *world)
{
  return world->sim;
}

PlexusSwim *
plexus_swim_sim_get_engine (PlexusSwimSim *world, guint node)
{
  return plexus_sim_get_engine (world->sim, node);
}

const gchar *
plexus_swim_sim_get_peer_id (PlexusSwimSim *world, guint node)
{
  g_return_val_if_fail (node < world->n_nodes, NULL);
  return world->nodes[node].peer_id;
}

void
plexus_swim_sim_set_event_func (PlexusSwimSim *world, PlexusSwimSimEventFunc func, gpointer user_data)
{
  world->event_func = func;
  world->event_data = user_data;
}

void
plexus_swim_sim_set_advertise (PlexusSwimSim *world, gboolean advertise)
{
  world->advertise = advertise;
}

typedef struct {
  PlexusSwimSim *world;
  guint          node;
} StartCall;

static void
start_call (PlexusSim *sim, gpointer user_data)
{
  StartCall *call = user_data;

  plexus_sim_start_node (sim, call->node);
  g_free (call);
}

void
plexus_swim_sim_start_all (PlexusSwimSim *world, gint64 spread_ms)
{
  GRand *rand = plexus_sim_get_rand (world->sim);
  gint64 now = plexus_sim_now (world->sim);

  plexus_sim_start_node (world->sim, 0);
  for (guint i = 1; i < world->n_nodes; i++) {
    StartCall *call = g_new0 (StartCall, 1);

    call->world = world;
    call->node = i;
    plexus_sim_schedule (world->sim, now + 1 + (spread_ms > 1 ? g_rand_int_range (rand, 0, spread_ms) : 0),
                         start_call, call);
  }
}

void
plexus_swim_sim_start_all_warm (PlexusSwimSim *world)
{
  world->warm = TRUE;
  for (guint i = 0; i < world->n_nodes; i++)
    plexus_sim_start_node (world->sim, i);
  world->warm = FALSE;
}

void
plexus_swim_sim_restart (PlexusSwimSim *world, guint node)
{
  plexus_sim_start_node (world->sim, node);
}

void
plexus_swim_sim_set_load (PlexusSwimSim *world, guint node, gdouble load)
{
  PlexusSwim *engine = plexus_swim_sim_get_engine (world, node);
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;

  world->nodes[node].load = load;
  if (engine == NULL)
    return;
  caps = make_capabilities (world, node);
  plexus_swim_set_capabilities (engine, plexus_sim_now (world->sim), caps, &error);
  g_assert_no_error (error);
  drain (world, node, engine);
  plexus_sim_reschedule (world->sim, node);
}

void
plexus_swim_sim_leave (PlexusSwimSim *world, guint node)
{
  PlexusSwim *engine = plexus_swim_sim_get_engine (world, node);

  if (engine == NULL)
    return;
  plexus_swim_leave (engine, plexus_sim_now (world->sim));
  drain (world, node, engine);
  plexus_sim_reschedule (world->sim, node);
}

gboolean
plexus_swim_sim_converged (PlexusSwimSim *world, gboolean allow_suspect)
{
  for (guint i = 0; i < world->n_nodes; i++) {
    PlexusSwim *engine = plexus_swim_sim_get_engine (world, i);

    if (engine == NULL || plexus_sim_node_is_paused (world->sim, i))
      continue;
    for (guint j = 0; j < world->n_nodes; j++) {
      PlexusSwimState state;
      gboolean known;
      gboolean up = plexus_sim_node_is_up (world->sim, j);

      if (j == i)
        continue;
      known = plexus_swim_get_member_state (engine, world->nodes[j].peer_id, &state, NULL);
      if (up && (!known || (state != PLEXUS_SWIM_STATE_ALIVE &&
                            !(allow_suspect && state == PLEXUS_SWIM_STATE_SUSPECT))))
        return FALSE;
      if (!up && known && (state == PLEXUS_SWIM_STATE_ALIVE || state == PLEXUS_SWIM_STATE_SUSPECT))
        return FALSE;
    }
  }
  return TRUE;
}

guint
plexus_swim_sim_count_advertisement (PlexusSwimSim *world, guint node, guint64 version)
{
  guint count = 0;

  for (guint i = 0; i < world->n_nodes; i++) {
    PlexusSwim *engine = plexus_swim_sim_get_engine (world, i);
    guint64 held = 0;

    if (engine == NULL)
      continue;
    plexus_swim_get_advertisement (engine, world->nodes[node].peer_id, &held);
    if (held >= version)
      count++;
  }
  return count;
}

guint64
plexus_swim_sim_get_false_dead (PlexusSwimSim *world)
{
  return world->false_dead;
}

guint64
plexus_swim_sim_get_bytes_sent (PlexusSwimSim *world)
{
  guint64 total = 0;

  for (guint i = 0; i < world->n_nodes; i++)
    total += plexus_sim_get_bytes_sent (world->sim, i);
  return total;
}

guint64
plexus_swim_sim_get_verifications (PlexusSwimSim *world)
{
  return g_hash_table_size (world->verified);
}

guint64
plexus_swim_sim_get_bytes_by_type (PlexusSwimSim *world, PlexusSwimMessageType type)
{
  g_return_val_if_fail ((guint) type < PLEXUS_SWIM_MESSAGE_N_TYPES, 0);
  return world->bytes_by_type[type];
}
