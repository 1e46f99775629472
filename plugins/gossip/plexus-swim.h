/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

#include "plexus-capabilities.h"
#include "plexus-swim-message.h"

G_BEGIN_DECLS

/**
 * PlexusSwimSignFunc:
 * @data: (array length=length): the bytes to sign
 * @length: the length of @data
 * @signature: (out caller-allocates): where to write the 64-byte Ed25519
 *   signature
 * @user_data: the data given with the function
 *
 * Signs with the node's identity key (plexus_identity_sign() in the glue).
 *
 * Returns: %TRUE on success
 */
typedef gboolean (*PlexusSwimSignFunc) (const guint8 *data,
                                        gsize         length,
                                        guint8       *signature,
                                        gpointer      user_data);

/**
 * PlexusSwimConfig:
 * @probe_interval_ms: protocol period: one member is probed per period
 * @probe_timeout_ms: how long to wait for a direct ack before asking
 *   others to probe
 * @indirect_probes: how many members are asked to probe (k)
 * @gossip_interval_ms: how often updates are pushed to random members
 * @gossip_fanout: to how many members per gossip round
 * @retransmit_mult: each update is sent retransmit_mult * ceil(log10(N+1))
 *   times
 * @suspicion_alpha: minimum suspicion timeout = alpha * max(1, log10(N)) *
 *   probe interval
 * @suspicion_beta: maximum suspicion timeout = beta * minimum
 * @suspicion_k: independent confirmations that bring the timeout down to
 *   the minimum
 * @max_lhm: the Local Health Multiplier's ceiling; probe interval and
 *   timeout are multiplied by LHM + 1
 * @push_pull_interval_ms: anti-entropy with one random member, scaled up
 *   for groups above 32 members
 * @reconnect_interval_ms: how often a random dead member is offered a
 *   sync, so that partitions heal
 * @dead_retention_ms: how long dead and left members are remembered
 * @max_piggyback_bytes: room for updates in each ping, ack and gossip
 * @max_broadcasts: the most updates waiting to be piggybacked
 * @readvertise_load_delta: a change of a service's load this large is
 *   material and re-advertised
 * @readvertise_min_interval_ms: minor changes are advertised at most this
 *   often
 * @max_members: members known at most (alive, suspect, dead or left); a
 *   full table takes no one new
 * @max_advertisements: advertisements held at most, members' and others'
 * @sign: signs advertisements; without it the node advertises nothing
 * @sign_data: data for @sign
 * @verified: (nullable): a set (keys: #GBytes hashes) of signatures known
 *   good, which several engines of one process may share
 *
 * The engine's timers and limits; plexus_swim_config_init() gives the
 * defaults, for links across the Internet.
 */
typedef struct {
  guint              probe_interval_ms;
  guint              probe_timeout_ms;
  guint              indirect_probes;
  guint              gossip_interval_ms;
  guint              gossip_fanout;
  guint              retransmit_mult;
  gdouble            suspicion_alpha;
  gdouble            suspicion_beta;
  guint              suspicion_k;
  guint              max_lhm;
  guint              push_pull_interval_ms;
  guint              reconnect_interval_ms;
  guint              dead_retention_ms;
  guint              max_piggyback_bytes;
  guint              max_broadcasts;
  gdouble            readvertise_load_delta;
  guint              readvertise_min_interval_ms;
  guint              max_members;
  guint              max_advertisements;
  PlexusSwimSignFunc sign;
  gpointer           sign_data;
  GHashTable        *verified;
} PlexusSwimConfig;

/**
 * PlexusSwimEventType:
 * @PLEXUS_SWIM_EVENT_JOINED: a member is new, or back after death
 * @PLEXUS_SWIM_EVENT_ALIVE: a suspect member refuted the suspicion
 * @PLEXUS_SWIM_EVENT_SUSPECT: a member is suspected
 * @PLEXUS_SWIM_EVENT_DEAD: a member is declared dead
 * @PLEXUS_SWIM_EVENT_LEFT: a member left
 * @PLEXUS_SWIM_EVENT_ADVERTISEMENT: a member, or a node a member
 *   advertises, advertised new capabilities
 * @PLEXUS_SWIM_EVENT_FORGOTTEN: a dead or left member, or the
 *   advertisement of a node that is not a member, was kept long enough
 *   and is forgotten
 */
typedef enum {
  PLEXUS_SWIM_EVENT_JOINED,
  PLEXUS_SWIM_EVENT_ALIVE,
  PLEXUS_SWIM_EVENT_SUSPECT,
  PLEXUS_SWIM_EVENT_DEAD,
  PLEXUS_SWIM_EVENT_LEFT,
  PLEXUS_SWIM_EVENT_ADVERTISEMENT,
  PLEXUS_SWIM_EVENT_FORGOTTEN,
} PlexusSwimEventType;

/**
 * PlexusSwimEvent:
 * @type: what happened
 * @peer_id: to whom
 * @incarnation: the member's incarnation
 * @version: advertisement: its version
 * @capabilities: advertisement: the verified capabilities document, JSON
 *   text; plexus_capabilities_new_from_string() reads it
 */
typedef struct {
  PlexusSwimEventType type;
  gchar               peer_id[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  guint64             incarnation;
  guint64             version;
  gchar              *capabilities;
} PlexusSwimEvent;

/**
 * PlexusSwimOutput:
 * @to: the peer ID to send to
 * @type: the kind of message; plexus_swim_message_type_to_string() names
 *   the envelope type
 * @body: the encoded body, JSON text
 * @length: the length of @body
 */
typedef struct {
  gchar                 to[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  PlexusSwimMessageType type;
  gchar                *body;
  gsize                 length;
} PlexusSwimOutput;

void plexus_swim_config_init (PlexusSwimConfig *config);
void plexus_swim_event_clear (PlexusSwimEvent *event);
void plexus_swim_output_clear (PlexusSwimOutput *output);

#define PLEXUS_TYPE_SWIM (plexus_swim_get_type ())
G_DECLARE_FINAL_TYPE (PlexusSwim, plexus_swim, PLEXUS, SWIM, GObject)

PlexusSwim  *plexus_swim_new (const gchar            *self_peer_id,
                              const PlexusSwimConfig *config,
                              guint64                 seed);

void         plexus_swim_join (PlexusSwim          *self,
                               gint64               now_ms,
                               const gchar * const *seeds);
void         plexus_swim_add_member (PlexusSwim  *self,
                                     gint64       now_ms,
                                     const gchar *peer_id);
gboolean     plexus_swim_offer_advertisement (PlexusSwim             *self,
                                              gint64                  now_ms,
                                              const PlexusSwimUpdate *update,
                                              GError                **error);
gboolean     plexus_swim_advertisement_verify (const PlexusSwimUpdate *update);
void         plexus_swim_leave (PlexusSwim *self,
                                gint64      now_ms);
gboolean     plexus_swim_receive (PlexusSwim   *self,
                                  gint64        now_ms,
                                  const gchar  *from_peer_id,
                                  const gchar  *type,
                                  const guint8 *data,
                                  gsize         length,
                                  GError      **error);
void         plexus_swim_receive_message (PlexusSwim              *self,
                                          gint64                   now_ms,
                                          const gchar             *from_peer_id,
                                          const PlexusSwimMessage *message);
void         plexus_swim_tick (PlexusSwim *self,
                               gint64      now_ms);
gint64       plexus_swim_next_deadline (PlexusSwim *self);
gboolean     plexus_swim_pop_output (PlexusSwim       *self,
                                     PlexusSwimOutput *output);
gboolean     plexus_swim_pop_event (PlexusSwim      *self,
                                    PlexusSwimEvent *event);

gboolean     plexus_swim_set_capabilities (PlexusSwim         *self,
                                           gint64              now_ms,
                                           PlexusCapabilities *capabilities,
                                           GError            **error);

const gchar *plexus_swim_get_peer_id (PlexusSwim *self);
gboolean     plexus_swim_is_synced (PlexusSwim *self);
guint64      plexus_swim_get_incarnation (PlexusSwim *self);
guint64      plexus_swim_get_advertised_version (PlexusSwim *self);
guint        plexus_swim_get_local_health (PlexusSwim *self);
guint        plexus_swim_get_n_members (PlexusSwim *self);
gchar      **plexus_swim_get_members (PlexusSwim *self);
gchar      **plexus_swim_list_members (PlexusSwim *self);
gboolean     plexus_swim_get_member_state (PlexusSwim      *self,
                                           const gchar     *peer_id,
                                           PlexusSwimState *state,
                                           guint64         *incarnation);
const gchar *plexus_swim_get_advertisement (PlexusSwim  *self,
                                            const gchar *peer_id,
                                            guint64     *version);
gchar      **plexus_swim_list_advertised (PlexusSwim *self);
const gchar *plexus_swim_get_advertisement_full (PlexusSwim  *self,
                                                 const gchar *peer_id,
                                                 guint64     *version,
                                                 guint8      *signature);

G_END_DECLS
