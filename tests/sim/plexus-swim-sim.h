/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "plexus-sim.h"
#include "plexus-swim.h"

G_BEGIN_DECLS

/* The SWIM engine in the simulator: one PlexusSwim per node, each with
 * its own Ed25519 identity drawn from the run's seed (a node keeps its
 * identity across restarts), messages carried as one type byte and the
 * encoded body, and a verified-signature set shared by all engines. */

typedef struct _PlexusSwimSim PlexusSwimSim;

typedef void (*PlexusSwimSimEventFunc) (PlexusSwimSim         *world,
                                        guint                  observer,
                                        guint                  member,
                                        const PlexusSwimEvent *event,
                                        gpointer               user_data);

PlexusSwimSim *plexus_swim_sim_new (guint                   n_nodes,
                                    guint64                 seed,
                                    const PlexusSimNetwork *network,
                                    const PlexusSwimConfig *config);
void           plexus_swim_sim_free (PlexusSwimSim *world);

PlexusSim     *plexus_swim_sim_get_sim (PlexusSwimSim *world);
PlexusSwim    *plexus_swim_sim_get_engine (PlexusSwimSim *world, guint node);
const gchar   *plexus_swim_sim_get_peer_id (PlexusSwimSim *world, guint node);
void           plexus_swim_sim_set_event_func (PlexusSwimSim          *world,
                                               PlexusSwimSimEventFunc  func,
                                               gpointer                user_data);
/* Whether nodes advertise capabilities when they start (default TRUE). */
void           plexus_swim_sim_set_advertise (PlexusSwimSim *world,
                                              gboolean       advertise);

/* Starts node 0 now and the others at random times within @spread_ms,
 * each joining through a random node already started. */
void           plexus_swim_sim_start_all (PlexusSwimSim *world,
                                          gint64         spread_ms);
/* Starts every node now, each knowing every other as alive, as in a
 * group formed long ago (plexus_swim_add_member()); no join traffic. */
void           plexus_swim_sim_start_all_warm (PlexusSwimSim *world);
/* Restarts a crashed node: a fresh engine joins through a random live
 * node. */
void           plexus_swim_sim_restart (PlexusSwimSim *world,
                                        guint          node);
/* Makes @node leave the group; its engine stays, silent. */
void           plexus_swim_sim_leave (PlexusSwimSim *world,
                                      guint          node);
/* Gives @node new capabilities, with @load on its signaling service. */
void           plexus_swim_sim_set_load (PlexusSwimSim *world,
                                         guint          node,
                                         gdouble        load);

/* Whether every live node that is not paused sees every other live node
 * as alive (or suspect when @allow_suspect) and every node not live as
 * dead, left or unknown. */
gboolean       plexus_swim_sim_converged (PlexusSwimSim *world,
                                          gboolean       allow_suspect);
/* How many live nodes hold @node's advertisement at @version or newer. */
guint          plexus_swim_sim_count_advertisement (PlexusSwimSim *world,
                                                    guint          node,
                                                    guint64        version);
/* 'dead' verdicts (events) about nodes that were up at the time. */
guint64        plexus_swim_sim_get_false_dead (PlexusSwimSim *world);
guint64        plexus_swim_sim_get_bytes_sent (PlexusSwimSim *world);
/* Bytes sent in messages of @type, by all nodes, since the start. */
guint64        plexus_swim_sim_get_bytes_by_type (PlexusSwimSim        *world,
                                                  PlexusSwimMessageType type);
guint64        plexus_swim_sim_get_verifications (PlexusSwimSim *world);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusSwimSim, plexus_swim_sim_free)

G_END_DECLS
