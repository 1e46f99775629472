/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "plexus-swim-sim.h"

/* bench/gossip: the SWIM membership engine in the simulator.
 *
 *   bench/gossip [SEED [N...]]      (default: seed 1, N = 10 100 1000)
 *
 * For each group size, in a group formed long ago (every member knows
 * every other; no join traffic) on a LAN (links of 2 to 20 ms, 2 ms mean
 * jitter) with the timers printed:
 *  - bytes each member sends per second, idle, over 10 s;
 *  - one member advertises new capabilities: protocol periods and
 *    simulated seconds until 99% and 100% of the members hold them,
 *    beside the reference log2(N) + ln(N) rounds of push gossip;
 *  - one member crashes: seconds until every live member declared it
 *    dead;
 *  - 60 simulated seconds at 5% packet loss with one member handling
 *    every message 100 ms late: false 'dead' verdicts per member-hour
 *    (each member's verdict about a live member counts once).
 * Prints figures; never fails on them. */

#define SLOW_MS 100
#define LOSSY_SECONDS 60

typedef struct {
  guint     target;
  gboolean *dead_seen;
  gint64    last_dead_at;
} Watch;

static void
on_event (PlexusSwimSim *world, guint observer, guint member,
          const PlexusSwimEvent *event, gpointer user_data)
{
  Watch *watch = user_data;

  if (member == watch->target && event->type == PLEXUS_SWIM_EVENT_DEAD && !watch->dead_seen[observer]) {
    watch->dead_seen[observer] = TRUE;
    watch->last_dead_at = plexus_sim_now (plexus_swim_sim_get_sim (world));
  }
}

static gboolean
all_saw_dead (PlexusSim *sim, gpointer user_data)
{
  Watch *watch = user_data;

  for (guint i = 0; i < plexus_sim_get_n_nodes (sim); i++) {
    if (plexus_sim_node_is_up (sim, i) && !watch->dead_seen[i])
      return FALSE;
  }
  return TRUE;
}

static void
lan (PlexusSwimConfig *config, PlexusSimNetwork *network)
{
  plexus_swim_config_init (config);
  config->probe_interval_ms = 200;
  config->probe_timeout_ms = 80;
  plexus_sim_network_init (network);
  network->latency_min_ms = 2;
  network->latency_max_ms = 20;
  network->jitter_ms = 2;
}

static gdouble
cpu_seconds (void)
{
  return (gdouble) clock () / CLOCKS_PER_SEC;
}

static void
run_clean (guint n, guint64 seed)
{
  PlexusSwimConfig config;
  PlexusSimNetwork network;
  g_autoptr(PlexusSwimSim) world = NULL;
  g_autofree gboolean *dead_seen = g_new0 (gboolean, n);
  Watch watch = { n - 1, dead_seen, 0 };
  PlexusSim *sim;
  guint64 bytes_before, bytes_after, version;
  gint64 t_ad, t_99 = -1, t_100 = -1, t_crash;
  guint need_99 = (guint) ceil (0.99 * n);
  gdouble cpu = cpu_seconds ();
  gdouble reference = log2 (n) + log (n);
  gdouble period = config.gossip_interval_ms;

  lan (&config, &network);
  period = config.gossip_interval_ms;
  world = plexus_swim_sim_new (n, seed, &network, &config);
  sim = plexus_swim_sim_get_sim (world);
  plexus_swim_sim_set_advertise (world, FALSE);
  plexus_swim_sim_set_event_func (world, on_event, &watch);
  plexus_swim_sim_start_all_warm (world);

  /* Idle traffic. */
  plexus_sim_run_until (sim, 5000);
  bytes_before = plexus_swim_sim_get_bytes_sent (world);
  plexus_sim_run_until (sim, 15000);
  bytes_after = plexus_swim_sim_get_bytes_sent (world);

  /* One advertisement. */
  plexus_swim_sim_set_load (world, 0, 0.5);
  version = plexus_swim_get_advertised_version (plexus_swim_sim_get_engine (world, 0));
  t_ad = plexus_sim_now (sim);
  while (plexus_sim_now (sim) < t_ad + 30000) {
    guint count = plexus_swim_sim_count_advertisement (world, 0, version);

    if (t_99 < 0 && count >= need_99)
      t_99 = plexus_sim_now (sim) - t_ad;
    if (count >= n) {
      t_100 = plexus_sim_now (sim) - t_ad;
      break;
    }
    plexus_sim_run_until (sim, plexus_sim_now (sim) + 10);
  }

  /* One crash. */
  plexus_sim_run_until (sim, plexus_sim_now (sim) + 1000);
  t_crash = plexus_sim_now (sim);
  plexus_sim_crash (sim, watch.target);
  if (!plexus_sim_run_until_true (sim, t_crash + 60000, 10, all_saw_dead, &watch))
    watch.last_dead_at = -1;

  g_print ("N=%-5u idle traffic %7.0f B/member/s | advertisement: 99%% in %5.1f periods (%5.2f s), "
           "100%% in %5.1f periods (%5.2f s), reference %4.1f | crash: dead for all after %5.2f s | cpu %.1f s\n",
           n, (bytes_after - bytes_before) / (gdouble) n / 10.0,
           t_99 / period, t_99 / 1000.0, t_100 / period, t_100 / 1000.0, reference,
           watch.last_dead_at >= 0 ? (watch.last_dead_at - t_crash) / 1000.0 : -1.0,
           cpu_seconds () - cpu);
}

static void
run_lossy (guint n, guint64 seed)
{
  PlexusSwimConfig config;
  PlexusSimNetwork network;
  g_autoptr(PlexusSwimSim) world = NULL;
  PlexusSim *sim;
  guint64 false_dead, bytes_before;
  gdouble cpu = cpu_seconds ();

  lan (&config, &network);
  network.loss = 0.05;
  world = plexus_swim_sim_new (n, seed, &network, &config);
  sim = plexus_swim_sim_get_sim (world);
  plexus_swim_sim_set_advertise (world, FALSE);
  plexus_swim_sim_start_all_warm (world);
  plexus_sim_set_slow (sim, 1, SLOW_MS);
  plexus_sim_run_until (sim, 2000);
  false_dead = plexus_swim_sim_get_false_dead (world);
  bytes_before = plexus_swim_sim_get_bytes_sent (world);
  plexus_sim_run_until (sim, 2000 + LOSSY_SECONDS * 1000);
  false_dead = plexus_swim_sim_get_false_dead (world) - false_dead;

  {
    g_autoptr(GString) by_type = g_string_new (NULL);
    guint64 total = plexus_swim_sim_get_bytes_sent (world);

    for (guint t = 0; t < PLEXUS_SWIM_MESSAGE_N_TYPES; t++)
      g_string_append_printf (by_type, " %s %.0f%%", plexus_swim_message_type_to_string (t),
                              100.0 * plexus_swim_sim_get_bytes_by_type (world, t) / MAX (total, 1));
    g_print ("       bytes by message type:%s\n", by_type->str);
  }
  g_print ("N=%-5u 5%% loss + 1 slow member (%d ms), %d s: %" G_GUINT64_FORMAT " false 'dead' verdicts = %.3f per member-hour, "
           "traffic %.0f B/member/s, slow member's LHM %u | cpu %.1f s\n",
           n, SLOW_MS, LOSSY_SECONDS, false_dead, false_dead / (n * LOSSY_SECONDS / 3600.0),
           (plexus_swim_sim_get_bytes_sent (world) - bytes_before) / (gdouble) n / LOSSY_SECONDS,
           plexus_swim_get_local_health (plexus_swim_sim_get_engine (world, 1)),
           cpu_seconds () - cpu);
}

int
main (int argc, char **argv)
{
  guint64 seed = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 1;
  guint sizes[] = { 10, 100, 1000 };
  g_autoptr(GArray) list = g_array_new (FALSE, FALSE, sizeof (guint));
  PlexusSwimConfig config;
  PlexusSimNetwork network;

  for (gint i = 2; i < argc; i++) {
    guint n = (guint) g_ascii_strtoull (argv[i], NULL, 10);

    if (n >= 2)
      g_array_append_val (list, n);
  }
  if (list->len == 0)
    g_array_append_vals (list, sizes, G_N_ELEMENTS (sizes));

  lan (&config, &network);
  g_print ("gossip: SWIM + Lifeguard in the simulator, seed %" G_GUINT64_FORMAT "\n", seed);
  g_print ("timers: probe every %u ms, timeout %u ms, %u indirect probes; gossip every %u ms to %u members; "
           "each update sent %u x ceil(log10(N+1)) times, at most %u bytes of updates per message; "
           "suspicion timeout %.0f..%.0f x max(1, log10 N) x probe interval, K = %u; LHM <= %u; "
           "push-pull every %u ms x max(1, N/32)\n",
           config.probe_interval_ms, config.probe_timeout_ms, config.indirect_probes,
           config.gossip_interval_ms, config.gossip_fanout, config.retransmit_mult,
           config.max_piggyback_bytes, config.suspicion_alpha,
           config.suspicion_alpha * config.suspicion_beta, config.suspicion_k, config.max_lhm,
           config.push_pull_interval_ms);
  g_print ("network: links %u..%u ms one way, %u ms mean jitter; periods below are gossip intervals; "
           "reference = log2(N) + ln(N) rounds of push gossip\n",
           network.latency_min_ms, network.latency_max_ms, network.jitter_ms);

  for (guint i = 0; i < list->len; i++) {
    run_clean (g_array_index (list, guint, i), seed);
    run_lossy (g_array_index (list, guint, i), seed);
  }
  return 0;
}
