/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plexus-sim.h"

typedef enum {
  EVENT_DELIVER,
  EVENT_TIMER,
  EVENT_CALL,
} EventKind;

typedef struct {
  gint64        time;
  guint64       seq;      /* ties in time run in the order scheduled */
  EventKind     kind;
  guint         node;
  guint         from;
  guint64       generation;
  GBytes       *data;
  PlexusSimFunc func;
  gpointer      func_data;
} Event;

typedef struct {
  gpointer engine;          /* NULL: down (never started, or crashed) */
  gint64   paused_until;
  guint    extra_delay_ms;
  guint    group;
  guint    restarts;
  gint64   timer_at;
  guint64  timer_generation;
  guint64  bytes_sent;
  guint64  messages_sent;
} Node;

struct _PlexusSim {
  guint                  n_nodes;
  Node                  *nodes;
  guint64                seed;
  GRand                 *rand;
  PlexusSimNetwork       network;
  PlexusSimEngineClass   klass;
  gpointer               user_data;
  gint64                 now;
  guint64                next_seq;
  GArray                *heap;
  guint64                processed;
  gboolean               in_callback;
};

/* splitmix64: a good mix of a 64-bit value, for per-link and per-node
 * numbers that must not depend on the order things happen in. */
static guint64
mix (guint64 x)
{
  x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return x ^ (x >> 31);
}

/* The binary heap of events, earliest first. */

static gboolean
event_before (const Event *a, const Event *b)
{
  return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void
heap_push (PlexusSim *sim, Event *event)
{
  Event *items;
  guint i;

  event->seq = sim->next_seq++;
  g_array_append_val (sim->heap, *event);
  items = (Event *) sim->heap->data;
  for (i = sim->heap->len - 1; i > 0; ) {
    guint parent = (i - 1) / 2;
    Event tmp;

    if (!event_before (&items[i], &items[parent]))
      break;
    tmp = items[i];
    items[i] = items[parent];
    items[parent] = tmp;
    i = parent;
  }
}

static void
heap_pop (PlexusSim *sim, Event *out)
{
  Event *items = (Event *) sim->heap->data;
  guint n = sim->heap->len - 1;
  guint i = 0;

  *out = items[0];
  items[0] = items[n];
  g_array_set_size (sim->heap, n);
  for (;;) {
    guint left = 2 * i + 1, right = left + 1, smallest = i;
    Event tmp;

    if (left < n && event_before (&items[left], &items[smallest]))
      smallest = left;
    if (right < n && event_before (&items[right], &items[smallest]))
      smallest = right;
    if (smallest == i)
      break;
    tmp = items[i];
    items[i] = items[smallest];
    items[smallest] = tmp;
    i = smallest;
  }
}

/**
 * plexus_sim_network_init:
 * @network: (out caller-allocates): the network to fill
 *
 * A clean network: 5 to 40 ms per link, 5 ms mean jitter, no loss,
 * duplication or reordering.
 */
void
plexus_sim_network_init (PlexusSimNetwork *network)
{
  memset (network, 0, sizeof *network);
  network->latency_min_ms = 5;
  network->latency_max_ms = 40;
  network->jitter_ms = 5;
}

/**
 * plexus_sim_new:
 * @n_nodes: how many nodes
 * @seed: the seed of the whole run
 * @network: (nullable): the network; %NULL for plexus_sim_network_init()'s
 * @engine_class: the engine's adapter
 * @user_data: passed to every function of @engine_class
 *
 * Creates a simulation at time 0 with every node down; start them with
 * plexus_sim_start_node().
 *
 * Returns: (transfer full): a new simulation
 */
PlexusSim *
plexus_sim_new (guint                       n_nodes,
                guint64                     seed,
                const PlexusSimNetwork     *network,
                const PlexusSimEngineClass *engine_class,
                gpointer                    user_data)
{
  PlexusSim *sim = g_new0 (PlexusSim, 1);
  guint32 seed_array[2] = { (guint32) seed, (guint32) (seed >> 32) };

  sim->n_nodes = n_nodes;
  sim->nodes = g_new0 (Node, n_nodes);
  for (guint i = 0; i < n_nodes; i++)
    sim->nodes[i].timer_at = PLEXUS_SIM_NEVER;
  sim->seed = seed;
  sim->rand = g_rand_new_with_seed_array (seed_array, G_N_ELEMENTS (seed_array));
  if (network != NULL)
    sim->network = *network;
  else
    plexus_sim_network_init (&sim->network);
  sim->klass = *engine_class;
  sim->user_data = user_data;
  sim->heap = g_array_new (FALSE, FALSE, sizeof (Event));
  return sim;
}

/**
 * plexus_sim_free:
 * @sim: a simulation
 *
 * Stops every engine still up and frees the simulation.
 */
void
plexus_sim_free (PlexusSim *sim)
{
  if (sim == NULL)
    return;
  for (guint i = 0; i < sim->n_nodes; i++) {
    if (sim->nodes[i].engine != NULL)
      sim->klass.stop (sim, i, sim->nodes[i].engine, sim->user_data);
  }
  for (guint i = 0; i < sim->heap->len; i++)
    g_clear_pointer (&g_array_index (sim->heap, Event, i).data, g_bytes_unref);
  g_array_unref (sim->heap);
  g_rand_free (sim->rand);
  g_free (sim->nodes);
  g_free (sim);
}

guint64
plexus_sim_get_seed (PlexusSim *sim)
{
  return sim->seed;
}

/* A node's engine seed: different per node and per restart, and the same
 * whatever else happened in the run before. */
guint64
plexus_sim_node_seed (PlexusSim *sim, guint node)
{
  return mix (sim->seed ^ mix (((guint64) node << 20) + sim->nodes[node].restarts));
}

gint64
plexus_sim_now (PlexusSim *sim)
{
  return sim->now;
}

guint
plexus_sim_get_n_nodes (PlexusSim *sim)
{
  return sim->n_nodes;
}

GRand *
plexus_sim_get_rand (PlexusSim *sim)
{
  return sim->rand;
}

gpointer
plexus_sim_get_engine (PlexusSim *sim, guint node)
{
  g_return_val_if_fail (node < sim->n_nodes, NULL);
  return sim->nodes[node].engine;
}

gboolean
plexus_sim_node_is_up (PlexusSim *sim, guint node)
{
  g_return_val_if_fail (node < sim->n_nodes, FALSE);
  return sim->nodes[node].engine != NULL;
}

gboolean
plexus_sim_node_is_paused (PlexusSim *sim, guint node)
{
  g_return_val_if_fail (node < sim->n_nodes, FALSE);
  return sim->nodes[node].paused_until > sim->now;
}

/**
 * plexus_sim_reschedule:
 * @sim: a simulation
 * @node: a node
 *
 * Asks the node's engine for its next deadline and sets its timer; the
 * simulator does it after every call into the engine, adapters only when
 * they poke an engine from outside (e.g. a test changing its state).
 */
void
plexus_sim_reschedule (PlexusSim *sim, guint node)
{
  Node *n = &sim->nodes[node];
  Event event = { 0, };
  gint64 deadline;

  if (n->engine == NULL)
    return;
  deadline = sim->klass.next_deadline (sim, node, n->engine, sim->user_data);
  if (deadline == n->timer_at)
    return;
  n->timer_at = deadline;
  n->timer_generation++;
  if (deadline == PLEXUS_SIM_NEVER)
    return;
  event.time = MAX (deadline, sim->now);
  event.kind = EVENT_TIMER;
  event.node = node;
  event.generation = n->timer_generation;
  heap_push (sim, &event);
}

void
plexus_sim_start_node (PlexusSim *sim, guint node)
{
  Node *n;

  g_return_if_fail (node < sim->n_nodes);
  n = &sim->nodes[node];
  if (n->engine != NULL)
    return;
  n->paused_until = 0;
  n->timer_at = PLEXUS_SIM_NEVER;
  n->timer_generation++;
  n->engine = sim->klass.start (sim, node, sim->now, sim->user_data);
  plexus_sim_reschedule (sim, node);
}

/**
 * plexus_sim_crash:
 * @sim: a simulation
 * @node: a node
 *
 * Stops the node's engine at once: messages to it are lost until
 * plexus_sim_start_node() starts a fresh engine with a new seed.
 */
void
plexus_sim_crash (PlexusSim *sim, guint node)
{
  Node *n;

  g_return_if_fail (node < sim->n_nodes);
  n = &sim->nodes[node];
  if (n->engine == NULL)
    return;
  sim->klass.stop (sim, node, n->engine, sim->user_data);
  n->engine = NULL;
  n->restarts++;
  n->timer_at = PLEXUS_SIM_NEVER;
  n->timer_generation++;
}

/**
 * plexus_sim_pause:
 * @sim: a simulation
 * @node: a node
 * @duration_ms: how long
 *
 * Freezes the node as a stopped process is frozen: its timers and the
 * messages that reach it wait, and all run when it resumes.
 */
void
plexus_sim_pause (PlexusSim *sim, guint node, gint64 duration_ms)
{
  g_return_if_fail (node < sim->n_nodes);
  sim->nodes[node].paused_until = sim->now + duration_ms;
}

/**
 * plexus_sim_set_slow:
 * @sim: a simulation
 * @node: a node
 * @extra_delay_ms: how late it handles each message; 0 for normal
 *
 * Makes a node slow, as an overloaded machine is: every message it
 * receives is handled @extra_delay_ms late.
 */
void
plexus_sim_set_slow (PlexusSim *sim, guint node, guint extra_delay_ms)
{
  g_return_if_fail (node < sim->n_nodes);
  sim->nodes[node].extra_delay_ms = extra_delay_ms;
}

/**
 * plexus_sim_set_partition:
 * @sim: a simulation
 * @node: a node
 * @group: a partition number
 *
 * Nodes in different groups cannot reach each other; messages in flight
 * between them are lost too. All nodes start in group 0.
 */
void
plexus_sim_set_partition (PlexusSim *sim, guint node, guint group)
{
  g_return_if_fail (node < sim->n_nodes);
  sim->nodes[node].group = group;
}

void
plexus_sim_heal (PlexusSim *sim)
{
  for (guint i = 0; i < sim->n_nodes; i++)
    sim->nodes[i].group = 0;
}

void
plexus_sim_set_loss (PlexusSim *sim, gdouble loss)
{
  sim->network.loss = loss;
}

static gint64
link_latency (PlexusSim *sim, guint a, guint b)
{
  guint64 key = ((guint64) MIN (a, b) << 32) | MAX (a, b);
  guint span = sim->network.latency_max_ms - MIN (sim->network.latency_min_ms, sim->network.latency_max_ms);

  return sim->network.latency_min_ms + (gint64) (mix (sim->seed ^ mix (key)) % (span + 1));
}

static gint64
message_delay (PlexusSim *sim, guint from, guint to)
{
  gint64 delay = link_latency (sim, from, to);

  if (sim->network.jitter_ms > 0)
    delay += (gint64) (-log (1.0 - g_rand_double (sim->rand)) * sim->network.jitter_ms);
  if (sim->network.reorder > 0 && g_rand_double (sim->rand) < sim->network.reorder)
    delay += g_rand_int_range (sim->rand, 0, (gint32) sim->network.latency_max_ms + 1);
  return delay;
}

/**
 * plexus_sim_send:
 * @sim: a simulation
 * @from: the sending node
 * @to: the receiving node
 * @data: (array length=length): the message
 * @length: its length
 *
 * Puts a message on the network, which delivers it (or not) later.
 */
void
plexus_sim_send (PlexusSim *sim, guint from, guint to, const guint8 *data, gsize length)
{
  g_autoptr(GBytes) bytes = NULL;
  guint copies = 1;

  g_return_if_fail (from < sim->n_nodes && to < sim->n_nodes);

  sim->nodes[from].bytes_sent += length;
  sim->nodes[from].messages_sent++;
  if (sim->nodes[from].group != sim->nodes[to].group)
    return;
  if (sim->network.loss > 0 && g_rand_double (sim->rand) < sim->network.loss)
    return;
  if (sim->network.duplicate > 0 && g_rand_double (sim->rand) < sim->network.duplicate)
    copies = 2;
  bytes = g_bytes_new (data, length);
  for (guint i = 0; i < copies; i++) {
    Event event = { 0, };

    event.time = sim->now + message_delay (sim, from, to);
    event.kind = EVENT_DELIVER;
    event.node = to;
    event.from = from;
    event.data = g_bytes_ref (bytes);
    heap_push (sim, &event);
  }
}

/**
 * plexus_sim_schedule:
 * @sim: a simulation
 * @at_ms: when
 * @func: what to call
 * @user_data: for @func
 *
 * Calls @func at virtual time @at_ms (a crash, a partition, a check).
 */
void
plexus_sim_schedule (PlexusSim *sim, gint64 at_ms, PlexusSimFunc func, gpointer user_data)
{
  Event event = { 0, };

  event.time = MAX (at_ms, sim->now);
  event.kind = EVENT_CALL;
  event.func = func;
  event.func_data = user_data;
  heap_push (sim, &event);
}

static void
dispatch (PlexusSim *sim, Event *event)
{
  Node *n = &sim->nodes[event->node];

  switch (event->kind) {
  case EVENT_CALL:
    event->func (sim, event->func_data);
    return;

  case EVENT_TIMER:
    if (n->engine == NULL || event->generation != n->timer_generation)
      return;
    if (n->paused_until > sim->now) {
      event->time = n->paused_until;
      heap_push (sim, event);
      return;
    }
    n->timer_at = PLEXUS_SIM_NEVER;
    sim->klass.tick (sim, event->node, n->engine, sim->now, sim->user_data);
    plexus_sim_reschedule (sim, event->node);
    return;

  case EVENT_DELIVER:
  default:
    if (n->engine == NULL || sim->nodes[event->from].group != n->group) {
      g_bytes_unref (event->data);
      return;
    }
    if (n->paused_until > sim->now) {
      event->time = n->paused_until;
      heap_push (sim, event);
      return;
    }
    /* A slow node handles each message late; the delay is added once. */
    if (n->extra_delay_ms > 0 && event->generation == 0) {
      event->time = sim->now + n->extra_delay_ms;
      event->generation = 1;
      heap_push (sim, event);
      return;
    }
    {
      gsize length;
      const guint8 *data = g_bytes_get_data (event->data, &length);

      sim->klass.receive (sim, event->node, n->engine, sim->now, event->from, data, length,
                          sim->user_data);
    }
    g_bytes_unref (event->data);
    plexus_sim_reschedule (sim, event->node);
    return;
  }
}

/**
 * plexus_sim_run_until:
 * @sim: a simulation
 * @until_ms: virtual time to stop at
 *
 * Runs every event up to and including @until_ms, then sets the clock
 * to @until_ms.
 */
void
plexus_sim_run_until (PlexusSim *sim, gint64 until_ms)
{
  while (sim->heap->len > 0 && g_array_index (sim->heap, Event, 0).time <= until_ms) {
    Event event;

    heap_pop (sim, &event);
    sim->now = event.time;
    sim->processed++;
    dispatch (sim, &event);
  }
  sim->now = MAX (sim->now, until_ms);
}

/**
 * plexus_sim_run_until_true:
 * @sim: a simulation
 * @deadline_ms: virtual time to give up at
 * @step_ms: how often to check
 * @condition: the condition
 * @user_data: for @condition
 *
 * Runs until @condition holds, checking every @step_ms.
 *
 * Returns: %TRUE if it held before @deadline_ms
 */
gboolean
plexus_sim_run_until_true (PlexusSim  *sim,
                           gint64      deadline_ms,
                           gint64      step_ms,
                           gboolean  (*condition) (PlexusSim *sim, gpointer user_data),
                           gpointer    user_data)
{
  while (!condition (sim, user_data)) {
    if (sim->now >= deadline_ms)
      return FALSE;
    plexus_sim_run_until (sim, MIN (sim->now + step_ms, deadline_ms));
  }
  return TRUE;
}

guint64
plexus_sim_get_bytes_sent (PlexusSim *sim, guint node)
{
  g_return_val_if_fail (node < sim->n_nodes, 0);
  return sim->nodes[node].bytes_sent;
}

guint64
plexus_sim_get_messages_sent (PlexusSim *sim, guint node)
{
  g_return_val_if_fail (node < sim->n_nodes, 0);
  return sim->nodes[node].messages_sent;
}

guint64
plexus_sim_get_events_processed (PlexusSim *sim)
{
  return sim->processed;
}

/**
 * plexus_sim_test_seeds:
 * @first: the first seed
 * @count: how many
 *
 * Returns: (transfer full) (element-type guint64): the seeds to run:
 *   PLEXUS_SIM_SEED alone when it is set, else @first .. @first + @count - 1
 */
GArray *
plexus_sim_test_seeds (guint64 first, guint count)
{
  GArray *seeds = g_array_new (FALSE, FALSE, sizeof (guint64));
  const gchar *env = g_getenv ("PLEXUS_SIM_SEED");

  if (env != NULL && env[0] != '\0') {
    guint64 seed = g_ascii_strtoull (env, NULL, 0);

    g_array_append_val (seeds, seed);
    return seeds;
  }
  for (guint i = 0; i < count; i++) {
    guint64 seed = first + i;

    g_array_append_val (seeds, seed);
  }
  return seeds;
}
