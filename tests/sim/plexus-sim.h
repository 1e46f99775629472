/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A discrete-event simulator for sans-I/O engines: N nodes in one process,
 * a virtual clock in milliseconds, a network with per-link latency,
 * jitter, loss, duplication, reordering and partitions, and churn (crash,
 * restart, pause, slowness). Everything random comes from one seed, so a
 * run is reproduced by its seed; PLEXUS_SIM_ASSERT prints it on failure.
 *
 * The simulator knows engines only through PlexusSimEngineClass, so every
 * engine (membership, DHT, relay) reuses it. Nodes are numbered 0..N-1;
 * the engine's adapter maps numbers to whatever names the engine uses. */

typedef struct _PlexusSim PlexusSim;

#define PLEXUS_SIM_NEVER G_MAXINT64

/**
 * PlexusSimEngineClass:
 * @start: creates and starts the engine of @node (at the beginning, and on
 *   restart after a crash); returns it
 * @stop: destroys the engine of a node that crashed or at the end
 * @receive: hands the engine a message from node @from
 * @tick: runs the engine's timers
 * @next_deadline: when the engine wants to be ticked; %PLEXUS_SIM_NEVER
 *
 * What the simulator calls. @receive and @tick send with plexus_sim_send().
 */
typedef struct {
  gpointer (*start)         (PlexusSim *sim, guint node, gint64 now, gpointer user_data);
  void     (*stop)          (PlexusSim *sim, guint node, gpointer engine, gpointer user_data);
  void     (*receive)       (PlexusSim *sim, guint node, gpointer engine, gint64 now,
                             guint from, const guint8 *data, gsize length, gpointer user_data);
  void     (*tick)          (PlexusSim *sim, guint node, gpointer engine, gint64 now,
                             gpointer user_data);
  gint64   (*next_deadline) (PlexusSim *sim, guint node, gpointer engine, gpointer user_data);
} PlexusSimEngineClass;

/**
 * PlexusSimNetwork:
 * @latency_min_ms: each link gets a fixed one-way latency drawn uniformly
 *   from [min, max]
 * @latency_max_ms: see @latency_min_ms
 * @jitter_ms: plus, per message, an exponentially distributed delay of
 *   this mean
 * @loss: probability that a message is lost
 * @duplicate: probability that a message is delivered twice
 * @reorder: probability that a message is held back by up to
 *   @latency_max_ms more, so that later ones overtake it
 */
typedef struct {
  guint   latency_min_ms;
  guint   latency_max_ms;
  guint   jitter_ms;
  gdouble loss;
  gdouble duplicate;
  gdouble reorder;
} PlexusSimNetwork;

typedef void (*PlexusSimFunc) (PlexusSim *sim, gpointer user_data);

void       plexus_sim_network_init (PlexusSimNetwork *network);

PlexusSim *plexus_sim_new (guint                       n_nodes,
                           guint64                     seed,
                           const PlexusSimNetwork     *network,
                           const PlexusSimEngineClass *engine_class,
                           gpointer                    user_data);
void       plexus_sim_free (PlexusSim *sim);

guint64    plexus_sim_get_seed (PlexusSim *sim);
guint64    plexus_sim_node_seed (PlexusSim *sim, guint node);
gint64     plexus_sim_now (PlexusSim *sim);
guint      plexus_sim_get_n_nodes (PlexusSim *sim);
GRand     *plexus_sim_get_rand (PlexusSim *sim);
gpointer   plexus_sim_get_engine (PlexusSim *sim, guint node);
gboolean   plexus_sim_node_is_up (PlexusSim *sim, guint node);
gboolean   plexus_sim_node_is_paused (PlexusSim *sim, guint node);

/* Starting, churn and network conditions, at the current time. */
void       plexus_sim_start_node (PlexusSim *sim, guint node);
void       plexus_sim_crash (PlexusSim *sim, guint node);
void       plexus_sim_pause (PlexusSim *sim, guint node, gint64 duration_ms);
void       plexus_sim_set_slow (PlexusSim *sim, guint node, guint extra_delay_ms);
void       plexus_sim_set_partition (PlexusSim *sim, guint node, guint group);
void       plexus_sim_heal (PlexusSim *sim);
void       plexus_sim_set_loss (PlexusSim *sim, gdouble loss);

/* Called by engines' adapters. */
void       plexus_sim_send (PlexusSim    *sim,
                            guint         from,
                            guint         to,
                            const guint8 *data,
                            gsize         length);
void       plexus_sim_reschedule (PlexusSim *sim, guint node);

void       plexus_sim_schedule (PlexusSim     *sim,
                                gint64         at_ms,
                                PlexusSimFunc  func,
                                gpointer       user_data);
void       plexus_sim_run_until (PlexusSim *sim, gint64 until_ms);
gboolean   plexus_sim_run_until_true (PlexusSim     *sim,
                                      gint64         deadline_ms,
                                      gint64         step_ms,
                                      gboolean     (*condition) (PlexusSim *sim, gpointer user_data),
                                      gpointer       user_data);

/* Traffic, for figures. */
guint64    plexus_sim_get_bytes_sent (PlexusSim *sim, guint node);
guint64    plexus_sim_get_messages_sent (PlexusSim *sim, guint node);
guint64    plexus_sim_get_events_processed (PlexusSim *sim);

/* The seeds a test runs: PLEXUS_SIM_SEED when set (one run to reproduce a
 * failure), else @count seeds from @first. */
GArray    *plexus_sim_test_seeds (guint64 first, guint count);

/* Prints the seed, then fails the test like g_assert(). */
#define PLEXUS_SIM_ASSERT(sim, expr) \
  G_STMT_START { \
    if (G_UNLIKELY (!(expr))) { \
      g_printerr ("simulation failed at %" G_GINT64_FORMAT " ms; rerun with PLEXUS_SIM_SEED=%" G_GUINT64_FORMAT "\n", \
                  plexus_sim_now (sim), plexus_sim_get_seed (sim)); \
      g_assertion_message_expr (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, #expr); \
    } \
  } G_STMT_END

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusSim, plexus_sim_free)

G_END_DECLS
