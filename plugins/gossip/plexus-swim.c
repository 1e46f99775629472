/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include <sodium.h>

#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-json.h"
#include "plexus-swim.h"

/**
 * SECTION:plexus-swim
 * @title: PlexusSwim
 * @short_description: SWIM group membership with Lifeguard, sans I/O
 *
 * One member's view of the group: who is alive, suspect, dead or left,
 * and what each member advertises it can do. The engine is a pure state
 * machine: the caller hands it the current time (monotonic milliseconds)
 * and the messages that arrived, ticks it at plexus_swim_next_deadline(),
 * and sends what plexus_swim_pop_output() gives to the peer named. It
 * never reads a clock, opens a socket or draws randomness from anything
 * but its seed, so that a simulator can run thousands of them
 * reproducibly.
 *
 * The protocol is SWIM: each protocol period one member is probed in a
 * shuffled round-robin order; an unanswered ping is retried through
 * @indirect_probes others (ping-req), and a member that stays silent is
 * suspected, then declared dead once the suspicion times out unless it
 * refutes it with a higher incarnation number. Updates ride on pings,
 * acks and periodic gossip messages; a full state exchange (push-pull
 * sync) runs on join and periodically. The Lifeguard refinements make a
 * node that is itself slow back off instead of accusing others: a Local
 * Health Multiplier stretches its probe period and timeout, suspicion
 * timeouts shrink only as independent members confirm them, and
 * indirect probers answer with a nack when the target stays silent.
 *
 * Capability advertisements (a signed, versioned PlexusCapabilities
 * document per member) spread the same way; newer versions replace older
 * ones, and stale or forged ones are dropped.
 */

/* Broadcast priorities: lower goes first. */
enum {
  PRIORITY_REFUTE,
  PRIORITY_FAILURE,
  PRIORITY_ALIVE,
  PRIORITY_ADVERTISEMENT,
};

#define NEVER G_MAXINT64
#define MAX_CONFIRMATIONS 16
/* Room in a sync message for the envelope around it and for estimates. */
#define SYNC_BUDGET (PLEXUS_SWIM_MESSAGE_MAX_SIZE - 2000)
#define REAP_INTERVAL_MS 5000

typedef struct {
  gchar            peer_id[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  PlexusSwimState  state;
  guint64          incarnation;
  gint64           state_since;
  gint             alive_index;     /* in alive_list, or -1 */
  /* Suspicion: when it started and who confirmed it. */
  gint64           suspect_start;
  gint64           suspect_deadline;
  gint64           reconnect_at;    /* when it was last told it is dead */
  guint            n_accusers;
  /* Hashes of the accusers' peer IDs: only their number matters, and a
   * collision merely counts one confirmation less. */
  guint            accusers[MAX_CONFIRMATIONS + 1];
} Member;

typedef struct {
  gchar   peer_id[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  guint64 version;
  gchar  *capabilities;
  guint8  signature[PLEXUS_SWIM_SIGNATURE_SIZE];
  gint64  received;
} Advertisement;

typedef struct {
  PlexusSwimUpdate update;
  guint            priority;
  guint            transmits;
  gsize            size;
  guint64          order;
  gboolean         done;
} Broadcast;

typedef struct {
  gchar   origin[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  guint64 origin_seq;
  guint64 seq;
  gint64  nack_at;
  gint64  expire_at;
} Relay;

struct _PlexusSwim {
  GObject           parent_instance;

  gchar             peer_id[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  PlexusSwimConfig  config;
  GRand            *rand;

  gboolean          joined;
  gboolean          synced;   /* a member answered a sync of ours since joining */
  gboolean          left;
  guint64           incarnation;
  guint             lhm;
  guint64           next_seq;

  /* Our own advertisement. */
  guint64             version;
  gchar              *capabilities;
  guint8              signature[PLEXUS_SWIM_SIGNATURE_SIZE];
  PlexusCapabilities *advertised;
  PlexusCapabilities *pending;
  gint64              last_advertised_at;

  GHashTable       *members;        /* peer ID -> Member */
  guint             n_dead;         /* dead and left Members */
  GPtrArray        *alive_list;     /* alive and suspect Members */
  GPtrArray        *suspects;
  GPtrArray        *probe_order;
  guint             probe_index;
  GHashTable       *advertisements; /* peer ID -> Advertisement */
  GHashTable       *strangers;      /* peer ID -> when we synced with it */

  GHashTable       *membership_broadcasts;  /* peer ID -> Broadcast */
  GHashTable       *advertisement_broadcasts;
  GPtrArray        *broadcasts;
  guint64           broadcast_order;

  GArray           *relays;

  /* The current probe. */
  gboolean          probing;
  gchar             probe_target[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  guint64           probe_seq;
  gint64            probe_timeout_at;
  gboolean          probe_acked;
  gboolean          probe_indirect;
  guint             probe_nacks_expected;
  guint             probe_nacks;

  gint64            next_probe_at;
  gint64            next_gossip_at;
  gint64            next_push_pull_at;
  gint64            last_push_pull_at;
  gint64            next_reconnect_at;
  gint64            next_reap_at;

  GQueue            outputs;
  GQueue            events;
};

G_DEFINE_FINAL_TYPE (PlexusSwim, plexus_swim, G_TYPE_OBJECT)

/**
 * plexus_swim_config_init:
 * @config: (out caller-allocates): the configuration to fill
 *
 * Fills @config with the defaults: a 1 s protocol period with a 500 ms
 * probe timeout and 5 indirect probes, gossip to 3 members every 200 ms,
 * Lifeguard's alpha 4, beta 6, K 3 and LHM ceiling 8, push-pull every
 * 30 s, at most 4096 members and 16384 advertisements, no signing
 * function.
 */
void
plexus_swim_config_init (PlexusSwimConfig *config)
{
  memset (config, 0, sizeof *config);
  config->probe_interval_ms = 1000;
  config->probe_timeout_ms = 500;
  config->indirect_probes = 5;
  config->gossip_interval_ms = 200;
  config->gossip_fanout = 3;
  config->retransmit_mult = 6;
  config->suspicion_alpha = 4;
  config->suspicion_beta = 6;
  config->suspicion_k = 3;
  config->max_lhm = 8;
  config->push_pull_interval_ms = 30000;
  config->reconnect_interval_ms = 10000;
  config->dead_retention_ms = 300000;
  config->max_piggyback_bytes = 4096;
  config->max_broadcasts = 4096;
  config->max_members = 4096;
  config->max_advertisements = 16384;
  config->readvertise_load_delta = 0.1;
  config->readvertise_min_interval_ms = 5000;
}

/**
 * plexus_swim_event_clear:
 * @event: a #PlexusSwimEvent
 *
 * Frees what @event holds.
 */
void
plexus_swim_event_clear (PlexusSwimEvent *event)
{
  g_clear_pointer (&event->capabilities, g_free);
}

/**
 * plexus_swim_output_clear:
 * @output: a #PlexusSwimOutput
 *
 * Frees what @output holds.
 */
void
plexus_swim_output_clear (PlexusSwimOutput *output)
{
  g_clear_pointer (&output->body, g_free);
  output->length = 0;
}

static void
broadcast_free (Broadcast *broadcast)
{
  plexus_swim_update_clear (&broadcast->update);
  g_free (broadcast);
}

static void
advertisement_free (Advertisement *ad)
{
  g_free (ad->capabilities);
  g_free (ad);
}

static void
output_free (PlexusSwimOutput *output)
{
  plexus_swim_output_clear (output);
  g_free (output);
}

static void
event_free (PlexusSwimEvent *event)
{
  plexus_swim_event_clear (event);
  g_free (event);
}

static void
plexus_swim_finalize (GObject *object)
{
  PlexusSwim *self = PLEXUS_SWIM (object);

  g_rand_free (self->rand);
  g_free (self->capabilities);
  g_clear_object (&self->advertised);
  g_clear_object (&self->pending);
  g_ptr_array_unref (self->alive_list);
  g_ptr_array_unref (self->suspects);
  g_ptr_array_unref (self->probe_order);
  g_hash_table_unref (self->members);
  g_hash_table_unref (self->advertisements);
  g_hash_table_unref (self->strangers);
  g_hash_table_unref (self->membership_broadcasts);
  g_hash_table_unref (self->advertisement_broadcasts);
  for (guint i = 0; i < self->broadcasts->len; i++)
    broadcast_free (g_ptr_array_index (self->broadcasts, i));
  g_ptr_array_unref (self->broadcasts);
  g_array_unref (self->relays);
  g_queue_clear_full (&self->outputs, (GDestroyNotify) output_free);
  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  g_clear_pointer (&self->config.verified, g_hash_table_unref);

  G_OBJECT_CLASS (plexus_swim_parent_class)->finalize (object);
}

static void
plexus_swim_class_init (PlexusSwimClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = plexus_swim_finalize;
}

static void
plexus_swim_init (PlexusSwim *self)
{
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  self->alive_list = g_ptr_array_new ();
  self->suspects = g_ptr_array_new ();
  self->probe_order = g_ptr_array_new ();
  self->advertisements = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                (GDestroyNotify) advertisement_free);
  self->strangers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->membership_broadcasts = g_hash_table_new (g_str_hash, g_str_equal);
  self->advertisement_broadcasts = g_hash_table_new (g_str_hash, g_str_equal);
  /* No free function: compact_broadcasts() frees as it moves. */
  self->broadcasts = g_ptr_array_new ();
  self->relays = g_array_new (FALSE, TRUE, sizeof (Relay));
  g_queue_init (&self->outputs);
  g_queue_init (&self->events);
  self->next_probe_at = NEVER;
  self->next_gossip_at = NEVER;
  self->next_push_pull_at = NEVER;
  self->next_reconnect_at = NEVER;
  self->next_reap_at = NEVER;
}

/**
 * plexus_swim_new:
 * @self_peer_id: this node's peer ID
 * @config: (nullable): timers and limits; %NULL for the defaults
 * @seed: the seed of every random choice the engine makes
 *
 * Creates the engine of one member. It does nothing until
 * plexus_swim_join().
 *
 * Returns: (transfer full): a new #PlexusSwim
 */
PlexusSwim *
plexus_swim_new (const gchar *self_peer_id, const PlexusSwimConfig *config, guint64 seed)
{
  PlexusSwim *self;
  guint32 seed_array[2] = { (guint32) seed, (guint32) (seed >> 32) };

  g_return_val_if_fail (plexus_peer_id_is_valid (self_peer_id), NULL);

  self = g_object_new (PLEXUS_TYPE_SWIM, NULL);
  g_strlcpy (self->peer_id, self_peer_id, sizeof self->peer_id);
  if (config != NULL)
    self->config = *config;
  else
    plexus_swim_config_init (&self->config);
  if (self->config.verified != NULL)
    g_hash_table_ref (self->config.verified);
  self->config.probe_interval_ms = MAX (self->config.probe_interval_ms, 1);
  self->config.gossip_interval_ms = MAX (self->config.gossip_interval_ms, 1);
  self->config.suspicion_k = CLAMP (self->config.suspicion_k, 1, MAX_CONFIRMATIONS);
  self->rand = g_rand_new_with_seed_array (seed_array, G_N_ELEMENTS (seed_array));
  return self;
}

/* Helpers. */

static gboolean
is_self (PlexusSwim *self, const gchar *peer_id)
{
  return strcmp (self->peer_id, peer_id) == 0;
}

/* The group's size as this member sees it, itself included. */
static guint
group_size (PlexusSwim *self)
{
  return self->alive_list->len + 1;
}

static gint64
scaled (PlexusSwim *self, guint ms)
{
  return (gint64) ms * (self->lhm + 1);
}

static void
adjust_lhm (PlexusSwim *self, gint delta)
{
  gint lhm = (gint) self->lhm + delta;

  self->lhm = CLAMP (lhm, 0, (gint) self->config.max_lhm);
}

static void
emit (PlexusSwim *self, PlexusSwimEventType type, const gchar *peer_id,
      guint64 incarnation, guint64 version, const gchar *capabilities)
{
  PlexusSwimEvent *event = g_new0 (PlexusSwimEvent, 1);

  event->type = type;
  g_strlcpy (event->peer_id, peer_id, sizeof event->peer_id);
  event->incarnation = incarnation;
  event->version = version;
  event->capabilities = g_strdup (capabilities);
  g_queue_push_tail (&self->events, event);
}

static void
alive_list_add (PlexusSwim *self, Member *member)
{
  if (member->alive_index >= 0)
    return;
  member->alive_index = self->alive_list->len;
  g_ptr_array_add (self->alive_list, member);
  /* A newcomer goes to a random place in the rest of this round. */
  if (self->probe_index < self->probe_order->len) {
    guint at = g_rand_int_range (self->rand, self->probe_index, self->probe_order->len + 1);

    g_ptr_array_insert (self->probe_order, at, member);
  }
}

static void
alive_list_remove (PlexusSwim *self, Member *member)
{
  Member *last;

  if (member->alive_index < 0)
    return;
  last = g_ptr_array_index (self->alive_list, self->alive_list->len - 1);
  self->alive_list->pdata[member->alive_index] = last;
  last->alive_index = member->alive_index;
  g_ptr_array_set_size (self->alive_list, self->alive_list->len - 1);
  member->alive_index = -1;
}

static Member *
random_alive (PlexusSwim *self, const gchar *except)
{
  for (guint attempt = 0; attempt < 4 && self->alive_list->len > 0; attempt++) {
    Member *member = g_ptr_array_index (self->alive_list,
                                        g_rand_int_range (self->rand, 0, self->alive_list->len));

    if (except == NULL || strcmp (member->peer_id, except) != 0)
      return member;
  }
  return NULL;
}

/* Broadcasts: the bounded, prioritised buffer of updates to piggyback. */

static guint
retransmit_limit (PlexusSwim *self)
{
  return self->config.retransmit_mult * (guint) ceil (log10 (group_size (self) + 1));
}

static gsize
digits (guint64 n)
{
  gsize count = 1;

  while (n >= 10) {
    n /= 10;
    count++;
  }
  return count;
}

/* The exact length of a membership update's JSON, without encoding it:
 * {"type":"suspect","peer":"...","inc":N,"by":"...","ver":N} */
static gsize
membership_size (const PlexusSwimUpdate *update)
{
  gsize size = 28 + strlen (plexus_swim_state_to_string (update->state)) +
               PLEXUS_SWIM_PEER_ID_LENGTH + digits (update->incarnation) + 1;

  if (update->by[0] != '\0')
    size += 8 + PLEXUS_SWIM_PEER_ID_LENGTH;
  if (update->version > 0)
    size += 7 + digits (update->version);
  return size;
}

static void
drop_broadcast (PlexusSwim *self, Broadcast *broadcast)
{
  GHashTable *table = broadcast->update.is_advertisement ?
                      self->advertisement_broadcasts : self->membership_broadcasts;

  if (g_hash_table_lookup (table, broadcast->update.peer_id) == broadcast)
    g_hash_table_remove (table, broadcast->update.peer_id);
  broadcast->done = TRUE;
}

static void
compact_broadcasts (PlexusSwim *self)
{
  guint kept = 0;

  for (guint i = 0; i < self->broadcasts->len; i++) {
    Broadcast *broadcast = g_ptr_array_index (self->broadcasts, i);

    if (broadcast->done)
      broadcast_free (broadcast);
    else
      self->broadcasts->pdata[kept++] = broadcast;
  }
  g_ptr_array_set_size (self->broadcasts, kept);
}

/* A newer update about the same member replaces the queued one; when the
 * buffer is full, the least urgent, most sent update makes room. */
static void
queue_broadcast (PlexusSwim *self, const PlexusSwimUpdate *update, guint priority)
{
  GHashTable *table = update->is_advertisement ?
                      self->advertisement_broadcasts : self->membership_broadcasts;
  Broadcast *old = g_hash_table_lookup (table, update->peer_id);
  Broadcast *broadcast;

  if (old != NULL)
    drop_broadcast (self, old);
  if (self->broadcasts->len >= self->config.max_broadcasts) {
    Broadcast *victim = NULL;

    compact_broadcasts (self);
    for (guint i = 0; i < self->broadcasts->len; i++) {
      Broadcast *candidate = g_ptr_array_index (self->broadcasts, i);

      if (victim == NULL || candidate->priority > victim->priority ||
          (candidate->priority == victim->priority && candidate->transmits > victim->transmits))
        victim = candidate;
    }
    if (victim != NULL && victim->priority >= priority) {
      drop_broadcast (self, victim);
      compact_broadcasts (self);
    } else if (victim != NULL) {
      return;
    }
  }

  broadcast = g_new0 (Broadcast, 1);
  plexus_swim_update_copy (&broadcast->update, update);
  broadcast->priority = priority;
  broadcast->order = self->broadcast_order++;
  broadcast->size = update->is_advertisement ?
                    plexus_swim_update_encoded_size (update) : membership_size (update) + 1;
  g_ptr_array_add (self->broadcasts, broadcast);
  g_hash_table_insert (table, broadcast->update.peer_id, broadcast);
}

static void
queue_membership (PlexusSwim *self, PlexusSwimState state, const gchar *peer_id,
                  guint64 incarnation, const gchar *by, guint priority)
{
  PlexusSwimUpdate update = { 0, };

  update.state = state;
  g_strlcpy (update.peer_id, peer_id, sizeof update.peer_id);
  update.incarnation = incarnation;
  if (by != NULL)
    g_strlcpy (update.by, by, sizeof update.by);
  queue_broadcast (self, &update, priority);
}

static gint
compare_broadcasts (gconstpointer a, gconstpointer b)
{
  const Broadcast *x = *(const Broadcast * const *) a;
  const Broadcast *y = *(const Broadcast * const *) b;

  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  if (x->transmits != y->transmits)
    return x->transmits < y->transmits ? -1 : 1;
  /* Newest first: it is the least known. */
  return x->order > y->order ? -1 : (x->order < y->order ? 1 : 0);
}

/* Fills @message with updates up to @budget bytes. */
static void
piggyback (PlexusSwim *self, PlexusSwimMessage *message, gsize budget)
{
  guint limit = retransmit_limit (self);
  gsize used = 0;
  gboolean any_done = FALSE;

  if (self->broadcasts->len == 0)
    return;
  g_ptr_array_sort (self->broadcasts, compare_broadcasts);
  for (guint i = 0; i < self->broadcasts->len && used < budget; i++) {
    Broadcast *broadcast = g_ptr_array_index (self->broadcasts, i);

    if (broadcast->done || used + broadcast->size > budget ||
        message->updates->len >= PLEXUS_SWIM_MESSAGE_MAX_UPDATES)
      continue;
    plexus_swim_update_copy (plexus_swim_message_add_update (message), &broadcast->update);
    used += broadcast->size;
    if (++broadcast->transmits >= limit) {
      drop_broadcast (self, broadcast);
      any_done = TRUE;
    }
  }
  if (any_done)
    compact_broadcasts (self);
}

static gboolean
has_broadcasts (PlexusSwim *self)
{
  return self->broadcasts->len > 0;
}

static void
send_message (PlexusSwim *self, const gchar *to, PlexusSwimMessage *message)
{
  PlexusSwimOutput *output = g_new0 (PlexusSwimOutput, 1);

  g_strlcpy (output->to, to, sizeof output->to);
  output->type = message->type;
  output->body = plexus_swim_message_encode (message, &output->length);
  g_queue_push_tail (&self->outputs, output);
}

static void
send_probe_message (PlexusSwim *self, PlexusSwimMessageType type, const gchar *to,
                    guint64 seq, const gchar *target)
{
  g_autoptr(PlexusSwimMessage) message = plexus_swim_message_new (type);

  message->seq = seq;
  if (target != NULL)
    g_strlcpy (message->target, target, sizeof message->target);
  if (type != PLEXUS_SWIM_MESSAGE_NACK)
    piggyback (self, message, self->config.max_piggyback_bytes);
  send_message (self, to, message);
}

/* Membership. */

static gint64
suspicion_timeout (PlexusSwim *self, guint confirmations)
{
  gdouble n = group_size (self);
  gdouble min = self->config.suspicion_alpha * MAX (1.0, log10 (n)) * self->config.probe_interval_ms;
  gdouble max = self->config.suspicion_beta * min;
  gdouble k = self->config.suspicion_k;
  gdouble timeout = max - (max - min) * log (confirmations + 1.0) / log (k + 1.0);

  return (gint64) MAX (min, timeout);
}

static void
refute (PlexusSwim *self, guint64 incarnation)
{
  self->incarnation = MAX (self->incarnation, incarnation) + 1;
  queue_membership (self, PLEXUS_SWIM_STATE_ALIVE, self->peer_id, self->incarnation, NULL,
                    PRIORITY_REFUTE);
  /* Being suspected is a sign of our own slowness (Lifeguard). */
  adjust_lhm (self, 1);
}

/* Someone holds us suspect or dead at @incarnation. A current claim is
 * refuted with a higher number; a stale one means our refutation has not
 * reached everyone yet, so it is repeated, first in line. */
static void
accused (PlexusSwim *self, guint64 incarnation)
{
  if (self->left)
    return;
  if (incarnation >= self->incarnation)
    refute (self, incarnation);
  else
    queue_membership (self, PLEXUS_SWIM_STATE_ALIVE, self->peer_id, self->incarnation, NULL,
                      PRIORITY_REFUTE);
}

static void
suspects_remove (PlexusSwim *self, Member *member)
{
  g_ptr_array_remove_fast (self->suspects, member);
}

static Member *
add_member (PlexusSwim *self, const gchar *peer_id, guint64 incarnation, gint64 now)
{
  Member *member = g_new0 (Member, 1);

  g_strlcpy (member->peer_id, peer_id, sizeof member->peer_id);
  member->incarnation = incarnation;
  member->state = PLEXUS_SWIM_STATE_ALIVE;
  member->state_since = now;
  member->alive_index = -1;
  g_hash_table_insert (self->members, member->peer_id, member);
  alive_list_add (self, member);
  return member;
}

static void
apply_alive (PlexusSwim *self, gint64 now, const gchar *peer_id, guint64 incarnation)
{
  Member *member;
  PlexusSwimState old;

  if (is_self (self, peer_id)) {
    /* An older life of ours still claims a higher number. */
    if (incarnation > self->incarnation && !self->left)
      refute (self, incarnation);
    return;
  }
  member = g_hash_table_lookup (self->members, peer_id);
  if (member == NULL) {
    /* A full table takes no one new: a flood of invented members cannot
     * make the node grow without bound. */
    if (g_hash_table_size (self->members) >= self->config.max_members)
      return;
    member = add_member (self, peer_id, incarnation, now);
    emit (self, PLEXUS_SWIM_EVENT_JOINED, peer_id, incarnation, 0, NULL);
    queue_membership (self, PLEXUS_SWIM_STATE_ALIVE, peer_id, incarnation, NULL, PRIORITY_ALIVE);
    return;
  }
  if (incarnation <= member->incarnation)
    return;
  old = member->state;
  member->incarnation = incarnation;
  member->state = PLEXUS_SWIM_STATE_ALIVE;
  member->state_since = now;
  if (old == PLEXUS_SWIM_STATE_SUSPECT)
    suspects_remove (self, member);
  if (old == PLEXUS_SWIM_STATE_DEAD || old == PLEXUS_SWIM_STATE_LEFT)
    self->n_dead--;
  alive_list_add (self, member);
  if (old == PLEXUS_SWIM_STATE_SUSPECT)
    emit (self, PLEXUS_SWIM_EVENT_ALIVE, peer_id, incarnation, 0, NULL);
  else if (old == PLEXUS_SWIM_STATE_DEAD || old == PLEXUS_SWIM_STATE_LEFT)
    emit (self, PLEXUS_SWIM_EVENT_JOINED, peer_id, incarnation, 0, NULL);
  queue_membership (self, PLEXUS_SWIM_STATE_ALIVE, peer_id, incarnation, NULL,
                    old == PLEXUS_SWIM_STATE_SUSPECT ? PRIORITY_REFUTE : PRIORITY_ALIVE);
}

static gboolean
add_accuser (PlexusSwim *self, Member *member, const gchar *by)
{
  guint hash;

  if (by == NULL || by[0] == '\0')
    return FALSE;
  hash = g_str_hash (by);
  for (guint i = 0; i < member->n_accusers; i++) {
    if (member->accusers[i] == hash)
      return FALSE;
  }
  if (member->n_accusers >= self->config.suspicion_k + 1)
    return FALSE;
  member->accusers[member->n_accusers++] = hash;
  return TRUE;
}

static void
apply_suspect (PlexusSwim *self, gint64 now, const gchar *peer_id, guint64 incarnation,
               const gchar *by)
{
  Member *member;

  if (is_self (self, peer_id)) {
    accused (self, incarnation);
    return;
  }
  member = g_hash_table_lookup (self->members, peer_id);
  if (member == NULL || member->state == PLEXUS_SWIM_STATE_DEAD ||
      member->state == PLEXUS_SWIM_STATE_LEFT || incarnation < member->incarnation)
    return;

  if (member->state == PLEXUS_SWIM_STATE_SUSPECT && incarnation == member->incarnation) {
    /* An independent confirmation shortens the wait; only the first K
     * are passed on, so the group is not flooded with them. */
    if (add_accuser (self, member, by)) {
      guint confirmations = member->n_accusers - 1;

      member->suspect_deadline = member->suspect_start + suspicion_timeout (self, confirmations);
      queue_membership (self, PLEXUS_SWIM_STATE_SUSPECT, peer_id, incarnation, by, PRIORITY_FAILURE);
    }
    return;
  }

  if (member->state == PLEXUS_SWIM_STATE_ALIVE) {
    g_ptr_array_add (self->suspects, member);
    /* Probed next: the ping tells it it is suspected, so that a live
     * member refutes in its ack even if the gossip missed us. */
    if (self->probe_index <= self->probe_order->len)
      g_ptr_array_insert (self->probe_order, self->probe_index, member);
  }
  member->state = PLEXUS_SWIM_STATE_SUSPECT;
  member->incarnation = incarnation;
  member->state_since = now;
  member->suspect_start = now;
  member->n_accusers = 0;
  add_accuser (self, member, by);
  member->suspect_deadline = now + suspicion_timeout (self, 0);
  emit (self, PLEXUS_SWIM_EVENT_SUSPECT, peer_id, incarnation, 0, NULL);
  queue_membership (self, PLEXUS_SWIM_STATE_SUSPECT, peer_id, incarnation, by, PRIORITY_FAILURE);
}

static void
apply_dead (PlexusSwim *self, gint64 now, const gchar *peer_id, guint64 incarnation,
            PlexusSwimState state)
{
  Member *member;

  if (is_self (self, peer_id)) {
    accused (self, incarnation);
    return;
  }
  member = g_hash_table_lookup (self->members, peer_id);
  if (member == NULL || member->state == PLEXUS_SWIM_STATE_DEAD ||
      member->state == PLEXUS_SWIM_STATE_LEFT || incarnation < member->incarnation)
    return;
  if (member->state == PLEXUS_SWIM_STATE_SUSPECT)
    suspects_remove (self, member);
  alive_list_remove (self, member);
  self->n_dead++;
  member->state = state;
  member->incarnation = incarnation;
  member->state_since = now;
  emit (self, state == PLEXUS_SWIM_STATE_LEFT ? PLEXUS_SWIM_EVENT_LEFT : PLEXUS_SWIM_EVENT_DEAD,
        peer_id, incarnation, 0, NULL);
  queue_membership (self, state, peer_id, incarnation, NULL, PRIORITY_FAILURE);
}

static void
apply_membership (PlexusSwim *self, gint64 now, const PlexusSwimUpdate *update)
{
  switch (update->state) {
  case PLEXUS_SWIM_STATE_ALIVE:
    apply_alive (self, now, update->peer_id, update->incarnation);
    break;
  case PLEXUS_SWIM_STATE_SUSPECT:
    apply_suspect (self, now, update->peer_id, update->incarnation, update->by);
    break;
  case PLEXUS_SWIM_STATE_DEAD:
  case PLEXUS_SWIM_STATE_LEFT:
  default:
    apply_dead (self, now, update->peer_id, update->incarnation, update->state);
    break;
  }
}

/* Advertisements. */

static GBytes *
signature_key (const guint8 *data, gsize length, const guint8 *signature)
{
  crypto_generichash_state state;
  guint8 hash[32];

  crypto_generichash_init (&state, NULL, 0, sizeof hash);
  crypto_generichash_update (&state, signature, PLEXUS_SWIM_SIGNATURE_SIZE);
  crypto_generichash_update (&state, data, length);
  crypto_generichash_final (&state, hash, sizeof hash);
  return g_bytes_new (hash, sizeof hash);
}

/* Whether the advertisement is signed by the peer it is about and holds
 * that peer's valid capabilities. The same bytes always get the same
 * answer, so a good one is remembered in the (maybe shared) set. */
static gboolean
advertisement_is_valid (PlexusSwim *self, const PlexusSwimUpdate *update)
{
  guint8 public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];
  g_autofree guint8 *data = NULL;
  g_autoptr(GBytes) key = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;
  gsize length;

  data = plexus_swim_advertisement_signed_data (update->peer_id, update->version,
                                                update->capabilities, &length);
  if (self->config.verified != NULL) {
    key = signature_key (data, length, update->signature);
    if (g_hash_table_contains (self->config.verified, key))
      return TRUE;
  }
  if (!plexus_peer_id_to_public_key (update->peer_id, public_key, NULL) ||
      crypto_sign_verify_detached (update->signature, data, length, public_key) != 0)
    return FALSE;
  caps = plexus_capabilities_new_from_string (update->capabilities, -1, NULL);
  if (caps == NULL || g_strcmp0 (plexus_capabilities_get_peer_id (caps), update->peer_id) != 0)
    return FALSE;
  if (key != NULL)
    g_hash_table_add (self->config.verified, g_steal_pointer (&key));
  return TRUE;
}

static gboolean
sign_own_advertisement (PlexusSwim *self, const gchar *capabilities, guint64 version)
{
  g_autofree guint8 *data = NULL;
  g_autofree gchar *copy = g_strdup (capabilities);
  gsize length;

  data = plexus_swim_advertisement_signed_data (self->peer_id, version, capabilities, &length);
  if (self->config.sign == NULL ||
      !self->config.sign (data, length, self->signature, self->config.sign_data))
    return FALSE;
  /* @capabilities may be self->capabilities. */
  g_free (self->capabilities);
  self->capabilities = g_steal_pointer (&copy);
  self->version = version;
  return TRUE;
}

static void
queue_own_advertisement (PlexusSwim *self)
{
  PlexusSwimUpdate update = { 0, };

  update.is_advertisement = TRUE;
  g_strlcpy (update.peer_id, self->peer_id, sizeof update.peer_id);
  update.version = self->version;
  update.capabilities = self->capabilities;
  memcpy (update.signature, self->signature, sizeof update.signature);
  queue_broadcast (self, &update, PRIORITY_ADVERTISEMENT);
}

typedef enum {
  AD_TAKEN,
  AD_KNOWN,     /* this version or a newer one is held */
  AD_FORGED,    /* signature or content does not hold */
  AD_NO_ROOM,
} AdOutcome;

static AdOutcome
apply_advertisement (PlexusSwim *self, gint64 now, const PlexusSwimUpdate *update)
{
  Advertisement *ad;

  if (is_self (self, update->peer_id)) {
    /* A copy from an earlier life with a higher version, or the same
     * version with other content: go above it. */
    if (self->capabilities != NULL &&
        (update->version > self->version ||
         (update->version == self->version && strcmp (update->capabilities, self->capabilities) != 0)) &&
        advertisement_is_valid (self, update) &&
        sign_own_advertisement (self, self->capabilities, update->version + 1))
      queue_own_advertisement (self);
    return AD_KNOWN;
  }
  ad = g_hash_table_lookup (self->advertisements, update->peer_id);
  /* Stale or already known: no need to verify anything. */
  if (ad != NULL && update->version <= ad->version)
    return AD_KNOWN;
  if (ad == NULL && g_hash_table_size (self->advertisements) >= self->config.max_advertisements)
    return AD_NO_ROOM;
  if (!advertisement_is_valid (self, update))
    return AD_FORGED;
  if (ad == NULL) {
    ad = g_new0 (Advertisement, 1);
    g_strlcpy (ad->peer_id, update->peer_id, sizeof ad->peer_id);
    g_hash_table_insert (self->advertisements, ad->peer_id, ad);
  }
  ad->version = update->version;
  g_free (ad->capabilities);
  ad->capabilities = g_strdup (update->capabilities);
  memcpy (ad->signature, update->signature, sizeof ad->signature);
  ad->received = now;
  queue_broadcast (self, update, PRIORITY_ADVERTISEMENT);
  emit (self, PLEXUS_SWIM_EVENT_ADVERTISEMENT, update->peer_id, 0, update->version, update->capabilities);
  return AD_TAKEN;
}

static void
apply_update (PlexusSwim *self, gint64 now, const PlexusSwimUpdate *update)
{
  if (update->is_advertisement)
    (void) apply_advertisement (self, now, update);
  else
    apply_membership (self, now, update);
}

/* Push-pull sync. */

static guint64
held_version (PlexusSwim *self, const gchar *peer_id)
{
  Advertisement *ad;

  if (is_self (self, peer_id))
    return self->version;
  ad = g_hash_table_lookup (self->advertisements, peer_id);
  return ad != NULL ? ad->version : 0;
}

/* Sends @message to @to if it holds anything, then starts a new one. */
static void
flush_sync (PlexusSwim *self, const gchar *to, PlexusSwimMessage **message, gsize *used,
            gboolean force)
{
  PlexusSwimMessageType type = (*message)->type;

  if (force || (*message)->updates->len > 0 || (*message)->want->len > 0)
    send_message (self, to, *message);
  plexus_swim_message_free (*message);
  *message = plexus_swim_message_new (type);
  *used = 0;
}

static void
sync_add_update (PlexusSwim *self, const gchar *to, PlexusSwimMessage **message, gsize *used,
                 const PlexusSwimUpdate *update, gsize size)
{
  if (*used + size > SYNC_BUDGET ||
      (*message)->updates->len + (*message)->want->len >= PLEXUS_SWIM_MESSAGE_MAX_UPDATES)
    flush_sync (self, to, message, used, FALSE);
  plexus_swim_update_copy (plexus_swim_message_add_update (*message), update);
  *used += size;
}

static void
sync_add_advertisement (PlexusSwim *self, const gchar *to, PlexusSwimMessage **message,
                        gsize *used, const gchar *peer_id)
{
  PlexusSwimUpdate update = { 0, };
  Advertisement *ad;

  update.is_advertisement = TRUE;
  g_strlcpy (update.peer_id, peer_id, sizeof update.peer_id);
  if (is_self (self, peer_id)) {
    if (self->capabilities == NULL)
      return;
    update.version = self->version;
    update.capabilities = self->capabilities;
    memcpy (update.signature, self->signature, sizeof update.signature);
  } else {
    ad = g_hash_table_lookup (self->advertisements, peer_id);
    if (ad == NULL)
      return;
    update.version = ad->version;
    update.capabilities = ad->capabilities;
    memcpy (update.signature, ad->signature, sizeof update.signature);
  }
  sync_add_update (self, to, message, used, &update, plexus_swim_update_encoded_size (&update));
}

static void
sync_add_want (PlexusSwim *self, const gchar *to, PlexusSwimMessage **message, gsize *used,
               const gchar *peer_id)
{
  if (*used + PLEXUS_SWIM_PEER_ID_LENGTH + 3 > SYNC_BUDGET ||
      (*message)->updates->len + (*message)->want->len >= PLEXUS_SWIM_MESSAGE_MAX_UPDATES)
    flush_sync (self, to, message, used, FALSE);
  g_ptr_array_add ((*message)->want, g_strdup (peer_id));
  *used += PLEXUS_SWIM_PEER_ID_LENGTH + 3;
}

/* Our whole membership, ourselves included, each entry with the version
 * of the advertisement we hold, split into as many messages as needed. */
static void
send_sync (PlexusSwim *self, const gchar *to, PlexusSwimMessageType type,
           GPtrArray *give, GPtrArray *want)
{
  g_autoptr(PlexusSwimMessage) message = plexus_swim_message_new (type);
  PlexusSwimUpdate update = { 0, };
  GHashTableIter iter;
  gpointer value;
  gsize used = 0;

  update.state = self->left ? PLEXUS_SWIM_STATE_LEFT : PLEXUS_SWIM_STATE_ALIVE;
  g_strlcpy (update.peer_id, self->peer_id, sizeof update.peer_id);
  update.incarnation = self->incarnation;
  update.version = self->version;
  sync_add_update (self, to, &message, &used, &update, membership_size (&update) + 1);

  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Member *member = value;

    update.state = member->state;
    g_strlcpy (update.peer_id, member->peer_id, sizeof update.peer_id);
    update.incarnation = member->incarnation;
    update.version = held_version (self, member->peer_id);
    sync_add_update (self, to, &message, &used, &update, membership_size (&update) + 1);
  }
  for (guint i = 0; give != NULL && i < give->len; i++)
    sync_add_advertisement (self, to, &message, &used, g_ptr_array_index (give, i));
  for (guint i = 0; want != NULL && i < want->len; i++)
    sync_add_want (self, to, &message, &used, g_ptr_array_index (want, i));
  flush_sync (self, to, &message, &used, FALSE);
}

/* To a member we hold dead, only what it needs to hear: who we are and
 * that we hold it dead. If it is alive (a partition healed) it refutes,
 * and its reply brings its side's state; if not, little was spent. */
static void
send_reconnect (PlexusSwim *self, Member *member)
{
  g_autoptr(PlexusSwimMessage) message = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_SYNC);
  PlexusSwimUpdate *update;

  update = plexus_swim_message_add_update (message);
  update->state = PLEXUS_SWIM_STATE_ALIVE;
  g_strlcpy (update->peer_id, self->peer_id, sizeof update->peer_id);
  update->incarnation = self->incarnation;
  update->version = self->version;
  update = plexus_swim_message_add_update (message);
  update->state = member->state;
  g_strlcpy (update->peer_id, member->peer_id, sizeof update->peer_id);
  update->incarnation = member->incarnation;
  update->version = held_version (self, member->peer_id);
  send_message (self, member->peer_id, message);
}

static void
receive_sync (PlexusSwim *self, gint64 now, const gchar *from, const PlexusSwimMessage *message)
{
  g_autoptr(GPtrArray) give = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func (g_free);
  gboolean has_members = FALSE;

  for (guint i = 0; i < message->updates->len; i++) {
    const PlexusSwimUpdate *update = &g_array_index (message->updates, PlexusSwimUpdate, i);
    guint64 held;

    apply_update (self, now, update);
    if (update->is_advertisement)
      continue;
    has_members = TRUE;
    /* The entry says which advertisement the sender holds: ask for a
     * newer one, offer ours when it is newer. */
    held = held_version (self, update->peer_id);
    if (update->version > held && !is_self (self, update->peer_id))
      g_ptr_array_add (want, g_strdup (update->peer_id));
    else if (update->version < held)
      g_ptr_array_add (give, g_strdup (update->peer_id));
  }
  for (guint i = 0; i < message->want->len; i++)
    g_ptr_array_add (give, g_strdup (g_ptr_array_index (message->want, i)));
  /* The answer to a sync of ours (the join's, or push-pull) lists the
   * sender's whole membership. A sync sent to us need not: a joiner's
   * lists only itself, a reconnect two entries. */
  if (has_members && message->type == PLEXUS_SWIM_MESSAGE_SYNC_REPLY)
    self->synced = TRUE;

  if (message->type == PLEXUS_SWIM_MESSAGE_SYNC) {
    send_sync (self, from, PLEXUS_SWIM_MESSAGE_SYNC_REPLY, give, want);
  } else {
    /* Answering a reply: advertisements only, and wants only when the
     * reply listed members, so that the exchange ends. */
    g_autoptr(PlexusSwimMessage) answer = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_SYNC_REPLY);
    gsize used = 0;

    for (guint i = 0; i < give->len; i++)
      sync_add_advertisement (self, from, &answer, &used, g_ptr_array_index (give, i));
    for (guint i = 0; has_members && i < want->len; i++)
      sync_add_want (self, from, &answer, &used, g_ptr_array_index (want, i));
    flush_sync (self, from, &answer, &used, FALSE);
  }
}

/* Probing. */

static Member *
next_probe_target (PlexusSwim *self)
{
  for (guint pass = 0; pass < 2; pass++) {
    while (self->probe_index < self->probe_order->len) {
      Member *member = g_ptr_array_index (self->probe_order, self->probe_index++);

      if (member->alive_index >= 0)
        return member;
    }
    /* A new round, in a new random order. */
    g_ptr_array_set_size (self->probe_order, 0);
    for (guint i = 0; i < self->alive_list->len; i++) {
      guint j = g_rand_int_range (self->rand, 0, i + 1);

      g_ptr_array_add (self->probe_order, NULL);
      self->probe_order->pdata[i] = self->probe_order->pdata[j];
      self->probe_order->pdata[j] = self->alive_list->pdata[i];
    }
    self->probe_index = 0;
  }
  return NULL;
}

static void
finish_probe (PlexusSwim *self, gint64 now)
{
  Member *member;

  if (!self->probing)
    return;
  self->probing = FALSE;
  if (self->probe_acked)
    return;
  /* Lifeguard: a failed probe, and each silent indirect prober, count
   * against our own health first. */
  adjust_lhm (self, 1);
  if (self->probe_nacks < self->probe_nacks_expected)
    adjust_lhm (self, 1);
  /* Suspect it, or confirm a suspicion others raised. */
  member = g_hash_table_lookup (self->members, self->probe_target);
  if (member != NULL && member->alive_index >= 0)
    apply_suspect (self, now, member->peer_id, member->incarnation, self->peer_id);
}

static void
start_probe (PlexusSwim *self, gint64 now)
{
  Member *target;

  finish_probe (self, now);
  self->next_probe_at = now + scaled (self, self->config.probe_interval_ms);
  target = next_probe_target (self);
  if (target == NULL)
    return;
  self->probing = TRUE;
  g_strlcpy (self->probe_target, target->peer_id, sizeof self->probe_target);
  self->probe_seq = ++self->next_seq;
  self->probe_timeout_at = now + scaled (self, self->config.probe_timeout_ms);
  self->probe_acked = FALSE;
  self->probe_indirect = FALSE;
  self->probe_nacks_expected = 0;
  self->probe_nacks = 0;
  if (target->state == PLEXUS_SWIM_STATE_SUSPECT) {
    g_autoptr(PlexusSwimMessage) message = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_PING);
    PlexusSwimUpdate *update = plexus_swim_message_add_update (message);

    update->state = PLEXUS_SWIM_STATE_SUSPECT;
    g_strlcpy (update->peer_id, target->peer_id, sizeof update->peer_id);
    update->incarnation = target->incarnation;
    message->seq = self->probe_seq;
    piggyback (self, message, self->config.max_piggyback_bytes);
    send_message (self, target->peer_id, message);
  } else {
    send_probe_message (self, PLEXUS_SWIM_MESSAGE_PING, target->peer_id, self->probe_seq, NULL);
  }
}

static void
probe_indirectly (PlexusSwim *self, gint64 now)
{
  guint wanted = MIN (self->config.indirect_probes, self->alive_list->len - 1);
  g_autoptr(GPtrArray) chosen = g_ptr_array_new ();

  self->probe_indirect = TRUE;
  for (guint attempt = 0; chosen->len < wanted && attempt < wanted * 4; attempt++) {
    Member *member = random_alive (self, self->probe_target);

    if (member != NULL && member->state == PLEXUS_SWIM_STATE_ALIVE &&
        !g_ptr_array_find (chosen, member, NULL))
      g_ptr_array_add (chosen, member);
  }
  for (guint i = 0; i < chosen->len; i++) {
    Member *member = g_ptr_array_index (chosen, i);

    send_probe_message (self, PLEXUS_SWIM_MESSAGE_PING_REQ, member->peer_id,
                        self->probe_seq, self->probe_target);
  }
  self->probe_nacks_expected = chosen->len;
  /* The relayed probe gets the time a direct one had, plus the two extra
   * hops: the verdict (and the next probe) waits for it if the period is
   * too short, so that a target slow for everyone is not suspected for
   * the indirect path's length alone. */
  if (chosen->len > 0)
    self->next_probe_at = MAX (self->next_probe_at, now + 2 * scaled (self, self->config.probe_timeout_ms));
}

static void
receive_ack (PlexusSwim *self, gint64 now, const gchar *from, guint64 seq)
{
  if (self->probing && !self->probe_acked && seq == self->probe_seq) {
    self->probe_acked = TRUE;
    adjust_lhm (self, -1);
    return;
  }
  /* An ack for a probe made on someone else's behalf: pass it on. */
  for (guint i = 0; i < self->relays->len; i++) {
    Relay *relay = &g_array_index (self->relays, Relay, i);

    if (relay->seq == seq) {
      gchar origin[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
      guint64 origin_seq = relay->origin_seq;

      g_strlcpy (origin, relay->origin, sizeof origin);
      g_array_remove_index_fast (self->relays, i);
      send_probe_message (self, PLEXUS_SWIM_MESSAGE_ACK, origin, origin_seq, NULL);
      return;
    }
  }
}

static void
receive_ping_req (PlexusSwim *self, gint64 now, const gchar *from, const PlexusSwimMessage *message)
{
  Relay relay = { { 0, }, };

  if (is_self (self, message->target)) {
    send_probe_message (self, PLEXUS_SWIM_MESSAGE_ACK, from, message->seq, NULL);
    return;
  }
  /* Bounded: a relay lives one probe period at most. */
  if (self->relays->len >= 64)
    return;
  g_strlcpy (relay.origin, from, sizeof relay.origin);
  relay.origin_seq = message->seq;
  relay.seq = ++self->next_seq;
  relay.nack_at = now + self->config.probe_timeout_ms * 8 / 10;
  relay.expire_at = now + self->config.probe_interval_ms;
  g_array_append_val (self->relays, relay);
  send_probe_message (self, PLEXUS_SWIM_MESSAGE_PING, message->target, relay.seq, NULL);
}

/* A message from a peer we do not know, or hold dead, shows that our
 * views differ: the gossip that would have told us may have run out
 * while the group was small. Offer a sync, at most once a protocol
 * period per peer. */
static void
check_sender (PlexusSwim *self, gint64 now, const gchar *from)
{
  Member *member = g_hash_table_lookup (self->members, from);
  gint64 period = self->config.probe_interval_ms;

  if (member == NULL) {
    gint64 *last = g_hash_table_lookup (self->strangers, from);

    if (last != NULL && now - *last < period)
      return;
    /* Bounded: strangers are forgotten wholesale. */
    if (g_hash_table_size (self->strangers) >= 1024)
      g_hash_table_remove_all (self->strangers);
    g_hash_table_insert (self->strangers, g_strdup (from), g_memdup2 (&now, sizeof now));
    send_sync (self, from, PLEXUS_SWIM_MESSAGE_SYNC, NULL, NULL);
  } else if (member->state == PLEXUS_SWIM_STATE_DEAD && now - member->reconnect_at >= period) {
    member->reconnect_at = now;
    send_reconnect (self, member);
  }
}

/**
 * plexus_swim_receive_message:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 * @from_peer_id: who sent @message (authenticated by the node link)
 * @message: a decoded message
 *
 * Handles a message that arrived; the glue, which has the envelope body
 * as JSON already, decodes it with plexus_swim_message_new_from_json().
 */
void
plexus_swim_receive_message (PlexusSwim              *self,
                             gint64                   now_ms,
                             const gchar             *from_peer_id,
                             const PlexusSwimMessage *message)
{
  g_return_if_fail (PLEXUS_IS_SWIM (self));
  g_return_if_fail (from_peer_id != NULL && message != NULL);

  if (!self->joined || self->left || is_self (self, from_peer_id))
    return;
  if (message->type == PLEXUS_SWIM_MESSAGE_SYNC || message->type == PLEXUS_SWIM_MESSAGE_SYNC_REPLY) {
    receive_sync (self, now_ms, from_peer_id, message);
    return;
  }
  check_sender (self, now_ms, from_peer_id);
  for (guint i = 0; i < message->updates->len; i++)
    apply_update (self, now_ms, &g_array_index (message->updates, PlexusSwimUpdate, i));

  switch (message->type) {
  case PLEXUS_SWIM_MESSAGE_PING:
    send_probe_message (self, PLEXUS_SWIM_MESSAGE_ACK, from_peer_id, message->seq, NULL);
    break;
  case PLEXUS_SWIM_MESSAGE_ACK:
    receive_ack (self, now_ms, from_peer_id, message->seq);
    break;
  case PLEXUS_SWIM_MESSAGE_PING_REQ:
    receive_ping_req (self, now_ms, from_peer_id, message);
    break;
  case PLEXUS_SWIM_MESSAGE_NACK:
    if (self->probing && message->seq == self->probe_seq)
      self->probe_nacks++;
    break;
  case PLEXUS_SWIM_MESSAGE_GOSSIP:
  case PLEXUS_SWIM_MESSAGE_SYNC:
  case PLEXUS_SWIM_MESSAGE_SYNC_REPLY:
  default:
    break;
  }
}

/**
 * plexus_swim_receive:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 * @from_peer_id: who sent the message (authenticated by the node link)
 * @type: the envelope type, e.g. `swim.ping`
 * @data: (array length=length): the encoded body
 * @length: the length of @data
 * @error: return location for a #GError
 *
 * Decodes and handles a message that arrived.
 *
 * Returns: %TRUE if the message was well-formed, else %FALSE with @error
 *   set (%PLEXUS_ERROR_INVALID_DATA)
 */
gboolean
plexus_swim_receive (PlexusSwim   *self,
                     gint64        now_ms,
                     const gchar  *from_peer_id,
                     const gchar  *type,
                     const guint8 *data,
                     gsize         length,
                     GError      **error)
{
  g_autoptr(PlexusSwimMessage) message = NULL;
  PlexusSwimMessageType message_type;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!plexus_swim_message_type_from_string (type, &message_type)) {
    g_autofree gchar *quoted = plexus_json_quote (type != NULL ? type : "");

    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s is not a SWIM message type", quoted);
    return FALSE;
  }
  message = plexus_swim_message_decode (message_type, data, length, error);
  if (message == NULL)
    return FALSE;
  plexus_swim_receive_message (self, now_ms, from_peer_id, message);
  return TRUE;
}

/* Timers. */

static gint64
push_pull_interval (PlexusSwim *self)
{
  guint n = group_size (self);

  /* A sync carries the whole membership, so above 32 members the
   * interval grows with the group: each member's share of the traffic
   * stays flat. */
  return (gint64) self->config.push_pull_interval_ms * MAX (n, 32) / 32;
}

static gint64
random_offset (PlexusSwim *self, gint64 interval)
{
  return interval > 0 ? g_rand_int_range (self->rand, 0, (gint32) MIN (interval, G_MAXINT32)) : 0;
}

static void
gossip (PlexusSwim *self)
{
  for (guint i = 0; i < self->config.gossip_fanout && has_broadcasts (self); i++) {
    Member *member = random_alive (self, NULL);
    g_autoptr(PlexusSwimMessage) message = NULL;

    if (member == NULL)
      return;
    message = plexus_swim_message_new (PLEXUS_SWIM_MESSAGE_GOSSIP);
    piggyback (self, message, self->config.max_piggyback_bytes);
    if (message->updates->len > 0)
      send_message (self, member->peer_id, message);
  }
}

static void
reap (PlexusSwim *self, gint64 now)
{
  GHashTableIter iter;
  gpointer value;
  gboolean removed = FALSE;

  /* Every member is in one list or the other: only walk the table when
   * there is something to forget. */
  if (self->n_dead == 0 && g_hash_table_size (self->advertisements) <= self->alive_list->len)
    return;
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Member *member = value;

    if ((member->state == PLEXUS_SWIM_STATE_DEAD || member->state == PLEXUS_SWIM_STATE_LEFT) &&
        now - member->state_since >= self->config.dead_retention_ms) {
      emit (self, PLEXUS_SWIM_EVENT_FORGOTTEN, member->peer_id, member->incarnation, 0, NULL);
      g_hash_table_remove (self->advertisements, member->peer_id);
      g_hash_table_iter_remove (&iter);
      self->n_dead--;
      removed = TRUE;
    }
  }
  /* The probe order may point at what was freed: start a new round. */
  if (removed) {
    g_ptr_array_set_size (self->probe_order, 0);
    self->probe_index = 0;
  }
  /* Advertisements of peers never seen as members. */
  g_hash_table_iter_init (&iter, self->advertisements);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Advertisement *ad = value;

    if (!g_hash_table_contains (self->members, ad->peer_id) &&
        now - ad->received >= self->config.dead_retention_ms) {
      emit (self, PLEXUS_SWIM_EVENT_FORGOTTEN, ad->peer_id, 0, ad->version, NULL);
      g_hash_table_iter_remove (&iter);
    }
  }
}

static Member *
random_dead (PlexusSwim *self)
{
  GHashTableIter iter;
  gpointer value;
  Member *chosen = NULL;
  guint seen = 0;

  if (self->n_dead == 0)
    return NULL;
  /* Reservoir sampling over the table. */
  g_hash_table_iter_init (&iter, self->members);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Member *member = value;

    if (member->state != PLEXUS_SWIM_STATE_DEAD)
      continue;
    if (g_rand_int_range (self->rand, 0, ++seen) == 0)
      chosen = member;
  }
  return chosen;
}

static void
advertise_pending (PlexusSwim *self, gint64 now)
{
  g_autofree gchar *text = NULL;

  if (self->pending == NULL)
    return;
  text = plexus_capabilities_to_string (self->pending);
  if (sign_own_advertisement (self, text, self->version + 1)) {
    g_set_object (&self->advertised, self->pending);
    self->last_advertised_at = now;
    if (self->joined)
      queue_own_advertisement (self);
  }
  g_clear_object (&self->pending);
}

/**
 * plexus_swim_tick:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 *
 * Runs whatever timers are due: probes, gossip, suspicion timeouts,
 * push-pull. Call it at plexus_swim_next_deadline() (earlier is
 * harmless), then drain the outputs and events.
 */
void
plexus_swim_tick (PlexusSwim *self, gint64 now_ms)
{
  g_return_if_fail (PLEXUS_IS_SWIM (self));

  if (!self->joined || self->left)
    return;

  /* Suspicions that ran out. */
  for (guint i = 0; i < self->suspects->len; ) {
    Member *member = g_ptr_array_index (self->suspects, i);

    if (member->suspect_deadline <= now_ms)
      apply_dead (self, now_ms, member->peer_id, member->incarnation, PLEXUS_SWIM_STATE_DEAD);
    else
      i++;
  }

  for (guint i = 0; i < self->relays->len; ) {
    Relay *relay = &g_array_index (self->relays, Relay, i);

    if (relay->nack_at <= now_ms) {
      send_probe_message (self, PLEXUS_SWIM_MESSAGE_NACK, relay->origin, relay->origin_seq, NULL);
      relay->nack_at = NEVER;
    }
    if (relay->expire_at <= now_ms)
      g_array_remove_index_fast (self->relays, i);
    else
      i++;
  }

  if (self->probing && !self->probe_acked && !self->probe_indirect &&
      self->probe_timeout_at <= now_ms)
    probe_indirectly (self, now_ms);
  if (self->next_probe_at <= now_ms)
    start_probe (self, now_ms);

  if (self->pending != NULL &&
      now_ms - self->last_advertised_at >= self->config.readvertise_min_interval_ms)
    advertise_pending (self, now_ms);

  if (self->next_gossip_at <= now_ms) {
    gossip (self);
    self->next_gossip_at = now_ms + self->config.gossip_interval_ms;
  }

  if (self->next_push_pull_at <= now_ms) {
    gint64 interval = push_pull_interval (self);

    /* The group may have grown since the last sync was planned. */
    if (now_ms - self->last_push_pull_at >= interval) {
      Member *member = random_alive (self, NULL);

      if (member != NULL)
        send_sync (self, member->peer_id, PLEXUS_SWIM_MESSAGE_SYNC, NULL, NULL);
      self->last_push_pull_at = now_ms;
      self->next_push_pull_at = now_ms + interval;
    } else {
      self->next_push_pull_at = self->last_push_pull_at + interval + random_offset (self, interval);
    }
  }

  if (self->next_reconnect_at <= now_ms) {
    Member *member = random_dead (self);

    if (member != NULL)
      send_reconnect (self, member);
    self->next_reconnect_at = now_ms + self->config.reconnect_interval_ms;
  }

  if (self->next_reap_at <= now_ms) {
    reap (self, now_ms);
    self->next_reap_at = now_ms + REAP_INTERVAL_MS;
  }
}

/**
 * plexus_swim_next_deadline:
 * @self: a #PlexusSwim
 *
 * Returns: when the engine wants plexus_swim_tick() next, in the
 *   caller's milliseconds; %G_MAXINT64 for never
 */
gint64
plexus_swim_next_deadline (PlexusSwim *self)
{
  gint64 deadline;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), NEVER);

  if (!self->joined || self->left)
    return NEVER;
  deadline = MIN (self->next_probe_at, self->next_push_pull_at);
  deadline = MIN (deadline, self->next_reconnect_at);
  deadline = MIN (deadline, self->next_reap_at);
  /* Gossip rounds with nothing to say are skipped, not scheduled. */
  if (has_broadcasts (self))
    deadline = MIN (deadline, self->next_gossip_at);
  if (self->probing && !self->probe_acked && !self->probe_indirect)
    deadline = MIN (deadline, self->probe_timeout_at);
  if (self->pending != NULL)
    deadline = MIN (deadline, self->last_advertised_at + self->config.readvertise_min_interval_ms);
  for (guint i = 0; i < self->suspects->len; i++)
    deadline = MIN (deadline, ((Member *) g_ptr_array_index (self->suspects, i))->suspect_deadline);
  for (guint i = 0; i < self->relays->len; i++) {
    Relay *relay = &g_array_index (self->relays, Relay, i);

    deadline = MIN (deadline, MIN (relay->nack_at, relay->expire_at));
  }
  return deadline;
}

/**
 * plexus_swim_join:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 * @seeds: (nullable) (array zero-terminated=1): peer IDs of members to
 *   join through; %NULL or empty to start a group
 *
 * Starts the engine: it announces itself, exchanges its state with each
 * seed (push-pull) and begins probing.
 */
void
plexus_swim_join (PlexusSwim *self, gint64 now_ms, const gchar * const *seeds)
{
  gboolean through_seeds = FALSE;

  g_return_if_fail (PLEXUS_IS_SWIM (self));

  if (self->joined)
    return;
  self->joined = TRUE;
  queue_membership (self, PLEXUS_SWIM_STATE_ALIVE, self->peer_id, self->incarnation, NULL,
                    PRIORITY_REFUTE);
  if (self->capabilities != NULL)
    queue_own_advertisement (self);
  for (guint i = 0; seeds != NULL && seeds[i] != NULL; i++) {
    if (plexus_peer_id_is_valid (seeds[i]) && !is_self (self, seeds[i])) {
      send_sync (self, seeds[i], PLEXUS_SWIM_MESSAGE_SYNC, NULL, NULL);
      through_seeds = TRUE;
    }
  }
  /* Spread out, so that members started together do not act in step. */
  self->next_probe_at = now_ms + random_offset (self, self->config.probe_interval_ms);
  self->next_gossip_at = now_ms + random_offset (self, self->config.gossip_interval_ms);
  if (through_seeds) {
    /* One early sync with a random member: what the seeds did not know
     * yet when we joined (advertisements whose gossip ended while the
     * group was small) comes from someone else. */
    self->last_push_pull_at = G_MININT64 / 2;
    self->next_push_pull_at = now_ms + 5 * (gint64) self->config.probe_interval_ms +
                              random_offset (self, 5 * (gint64) self->config.probe_interval_ms);
  } else {
    self->last_push_pull_at = now_ms;
    self->next_push_pull_at = now_ms + self->config.push_pull_interval_ms +
                              random_offset (self, self->config.push_pull_interval_ms);
  }
  self->next_reconnect_at = now_ms + self->config.reconnect_interval_ms +
                            random_offset (self, self->config.reconnect_interval_ms);
  self->next_reap_at = now_ms + REAP_INTERVAL_MS;
}

/**
 * plexus_swim_add_member:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 * @peer_id: a peer ID
 *
 * Adds a member known from outside the protocol (a node link that just
 * opened, a bootstrap list) as alive, without telling the group: it is
 * probed like any other, and the group learns of it from its own join.
 * Nothing happens if @peer_id is already known.
 */
void
plexus_swim_add_member (PlexusSwim *self, gint64 now_ms, const gchar *peer_id)
{
  g_return_if_fail (PLEXUS_IS_SWIM (self));
  g_return_if_fail (plexus_peer_id_is_valid (peer_id));

  if (is_self (self, peer_id) || g_hash_table_contains (self->members, peer_id) ||
      g_hash_table_size (self->members) >= self->config.max_members)
    return;
  add_member (self, peer_id, 0, now_ms);
  emit (self, PLEXUS_SWIM_EVENT_JOINED, peer_id, 0, 0, NULL);
}

/**
 * plexus_swim_offer_advertisement:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 * @update: an advertisement (@update->is_advertisement set) signed by the
 *   peer it is about, which need not be a member
 * @error: return location for a #GError
 *
 * Gossips another node's advertisement to the group: how a super peer
 * advertises the standard peers attached to it. It is checked as one that
 * arrived by gossip would be. An advertisement of a node that is not a
 * member is forgotten after @dead_retention_ms unless a newer version
 * comes, so its node re-advertises before then.
 *
 * Returns: %TRUE if it is taken or this version is already held; %FALSE
 *   with %PLEXUS_ERROR_INVALID_DATA if it is forged or malformed, or
 *   %PLEXUS_ERROR_FAILED if the table of advertisements is full
 */
gboolean
plexus_swim_offer_advertisement (PlexusSwim             *self,
                                 gint64                  now_ms,
                                 const PlexusSwimUpdate *update,
                                 GError                **error)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);
  g_return_val_if_fail (update != NULL && update->is_advertisement, FALSE);

  if (!plexus_peer_id_is_valid (update->peer_id) || update->capabilities == NULL ||
      update->version == 0 || update->version > PLEXUS_SWIM_MAX_COUNTER) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                         "an advertisement needs a peer ID, capabilities and a version of 1 or more");
    return FALSE;
  }
  switch (apply_advertisement (self, now_ms, update)) {
  case AD_FORGED:
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "the advertisement of %s is not signed by it or does not hold its capabilities",
                 update->peer_id);
    return FALSE;
  case AD_NO_ROOM:
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "no room for the advertisement of %s: %u are held", update->peer_id,
                 self->config.max_advertisements);
    return FALSE;
  case AD_TAKEN:
  case AD_KNOWN:
  default:
    return TRUE;
  }
}

/**
 * plexus_swim_advertisement_verify:
 * @update: an advertisement
 *
 * Checks an advertisement that did not come through an engine (a view a
 * super peer passes on to a standard peer) as the engine checks gossip.
 *
 * Returns: %TRUE if it is signed by the peer it is about and holds that
 *   peer's valid capabilities
 */
gboolean
plexus_swim_advertisement_verify (const PlexusSwimUpdate *update)
{
  guint8 public_key[PLEXUS_IDENTITY_PUBLIC_KEY_SIZE];
  g_autofree guint8 *data = NULL;
  g_autoptr(PlexusCapabilities) caps = NULL;
  gsize length;

  g_return_val_if_fail (update != NULL, FALSE);

  if (!update->is_advertisement || update->capabilities == NULL ||
      !plexus_peer_id_to_public_key (update->peer_id, public_key, NULL))
    return FALSE;
  data = plexus_swim_advertisement_signed_data (update->peer_id, update->version,
                                                update->capabilities, &length);
  if (crypto_sign_verify_detached (update->signature, data, length, public_key) != 0)
    return FALSE;
  caps = plexus_capabilities_new_from_string (update->capabilities, -1, NULL);
  return caps != NULL && g_strcmp0 (plexus_capabilities_get_peer_id (caps), update->peer_id) == 0;
}

/**
 * plexus_swim_leave:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 *
 * Leaves the group: tells a few members at once, then falls silent.
 * Send the outputs before closing the links.
 */
void
plexus_swim_leave (PlexusSwim *self, gint64 now_ms)
{
  g_return_if_fail (PLEXUS_IS_SWIM (self));

  if (!self->joined || self->left)
    return;
  self->incarnation++;
  queue_membership (self, PLEXUS_SWIM_STATE_LEFT, self->peer_id, self->incarnation, NULL,
                    PRIORITY_REFUTE);
  gossip (self);
  gossip (self);
  self->left = TRUE;
}

/**
 * plexus_swim_pop_output:
 * @self: a #PlexusSwim
 * @output: (out caller-allocates): where to store the message
 *
 * Takes the oldest message waiting to be sent. Clear @output with
 * plexus_swim_output_clear() once sent.
 *
 * Returns: %TRUE if there was one
 */
gboolean
plexus_swim_pop_output (PlexusSwim *self, PlexusSwimOutput *output)
{
  PlexusSwimOutput *head;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);

  head = g_queue_pop_head (&self->outputs);
  if (head == NULL)
    return FALSE;
  *output = *head;
  g_free (head);
  return TRUE;
}

/**
 * plexus_swim_pop_event:
 * @self: a #PlexusSwim
 * @event: (out caller-allocates): where to store the event
 *
 * Takes the oldest membership or advertisement event. Clear @event with
 * plexus_swim_event_clear().
 *
 * Returns: %TRUE if there was one
 */
gboolean
plexus_swim_pop_event (PlexusSwim *self, PlexusSwimEvent *event)
{
  PlexusSwimEvent *head;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);

  head = g_queue_pop_head (&self->events);
  if (head == NULL)
    return FALSE;
  *event = *head;
  g_free (head);
  return TRUE;
}

/* Capabilities. */

static gboolean
differs (gdouble a, gdouble b, gdouble delta)
{
  return fabs (a - b) >= delta;
}

/* Whether a change is worth telling the group about at once: anything
 * but small moves of load, bandwidth and uptime (the network part, how to
 * reach the node, always is). */
static gboolean
changed_materially (PlexusSwim *self, PlexusCapabilities *old, PlexusCapabilities *caps)
{
  g_auto(GStrv) old_services = NULL;
  g_auto(GStrv) services = NULL;
  gdouble old_up, old_down, up, down;

  if (old == NULL)
    return TRUE;
  if (plexus_capabilities_get_roles (old) != plexus_capabilities_get_roles (caps) ||
      g_strcmp0 (plexus_capabilities_get_region (old), plexus_capabilities_get_region (caps)) != 0 ||
      g_strcmp0 (plexus_capabilities_get_timezone (old), plexus_capabilities_get_timezone (caps)) != 0 ||
      plexus_capabilities_get_storage_mb (old) != plexus_capabilities_get_storage_mb (caps) ||
      g_strcmp0 (plexus_capabilities_get_nat (old), plexus_capabilities_get_nat (caps)) != 0 ||
      g_strcmp0 (plexus_capabilities_get_address (old), plexus_capabilities_get_address (caps)) != 0 ||
      !g_strv_equal (plexus_capabilities_get_attached (old), plexus_capabilities_get_attached (caps)) ||
      differs (plexus_capabilities_get_uptime (old), plexus_capabilities_get_uptime (caps), 0.05))
    return TRUE;
  plexus_capabilities_get_bandwidth (old, &old_up, &old_down);
  plexus_capabilities_get_bandwidth (caps, &up, &down);
  if (differs (old_up, up, MAX (fabs (old_up) * 0.2, 1)) ||
      differs (old_down, down, MAX (fabs (old_down) * 0.2, 1)))
    return TRUE;

  old_services = plexus_capabilities_list_services (old);
  services = plexus_capabilities_list_services (caps);
  if (!g_strv_equal ((const gchar * const *) old_services, (const gchar * const *) services))
    return TRUE;
  for (guint i = 0; services[i] != NULL; i++) {
    PlexusServiceCapability a, b;

    plexus_capabilities_get_service (old, services[i], &a);
    plexus_capabilities_get_service (caps, services[i], &b);
    if (a.available != b.available || a.capacity != b.capacity ||
        differs (a.load, b.load, self->config.readvertise_load_delta) ||
        differs (a.bandwidth_mbps, b.bandwidth_mbps, MAX (fabs (a.bandwidth_mbps) * 0.2, 1)))
      return TRUE;
  }
  return FALSE;
}

/**
 * plexus_swim_set_capabilities:
 * @self: a #PlexusSwim
 * @now_ms: the current time, monotonic milliseconds
 * @capabilities: this node's capabilities
 * @error: return location for a #GError
 *
 * Sets what this node advertises. A material change (roles, services
 * offered, availability, region, a service's load moving by
 * @readvertise_load_delta or more, ...) is signed and advertised at once
 * with the next version; smaller changes wait and go out at most every
 * @readvertise_min_interval_ms.
 *
 * Returns: %TRUE on success; %FALSE with @error set when @capabilities
 *   name another peer or the engine has no signing function
 */
gboolean
plexus_swim_set_capabilities (PlexusSwim         *self,
                              gint64              now_ms,
                              PlexusCapabilities *capabilities,
                              GError            **error)
{
  g_autofree gchar *text = NULL;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (capabilities), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_strcmp0 (plexus_capabilities_get_peer_id (capabilities), self->peer_id) != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "the capabilities are those of peer %s, not of this node",
                 plexus_capabilities_get_peer_id (capabilities));
    return FALSE;
  }
  if (self->config.sign == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                         "cannot advertise capabilities: the engine has no signing function");
    return FALSE;
  }
  text = plexus_capabilities_to_string (capabilities);
  if (strlen (text) > PLEXUS_SWIM_MAX_CAPABILITIES_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "the capabilities take %" G_GSIZE_FORMAT " bytes, more than the %d an advertisement carries",
                 strlen (text), PLEXUS_SWIM_MAX_CAPABILITIES_SIZE);
    return FALSE;
  }

  if (self->advertised != NULL && plexus_capabilities_equal (self->advertised, capabilities)) {
    g_clear_object (&self->pending);
    return TRUE;
  }
  /* Keep a copy: the caller may go on changing its object. */
  g_clear_object (&self->pending);
  self->pending = plexus_capabilities_new_from_string (text, -1, NULL);
  g_assert (self->pending != NULL);
  if (changed_materially (self, self->advertised, capabilities)) {
    advertise_pending (self, now_ms);
    if (self->capabilities == NULL || strcmp (self->capabilities, text) != 0) {
      g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                           "cannot advertise capabilities: signing failed");
      return FALSE;
    }
  }
  return TRUE;
}

/* Queries. */

/**
 * plexus_swim_get_peer_id:
 * @self: a #PlexusSwim
 *
 * Returns: this node's peer ID
 */
const gchar *
plexus_swim_get_peer_id (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), NULL);
  return self->peer_id;
}

/**
 * plexus_swim_is_synced:
 * @self: a #PlexusSwim
 *
 * Whether a member has answered a push-pull sync of this node's (the
 * join's, or a later one) with its membership since this node joined:
 * until then, what it knows of the group may be little more than itself.
 * For a large group the answer comes in parts, and the first one counts.
 *
 * Returns: %TRUE once synced
 */
gboolean
plexus_swim_is_synced (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);
  return self->synced;
}

/**
 * plexus_swim_get_incarnation:
 * @self: a #PlexusSwim
 *
 * Returns: this node's incarnation number, raised each time it refutes a
 *   suspicion
 */
guint64
plexus_swim_get_incarnation (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), 0);
  return self->incarnation;
}

/**
 * plexus_swim_get_advertised_version:
 * @self: a #PlexusSwim
 *
 * Returns: the version of this node's advertisement, 0 for none
 */
guint64
plexus_swim_get_advertised_version (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), 0);
  return self->version;
}

/**
 * plexus_swim_get_local_health:
 * @self: a #PlexusSwim
 *
 * Returns: the Local Health Multiplier: 0 is healthy; probe interval and
 *   timeout are stretched by this plus one
 */
guint
plexus_swim_get_local_health (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), 0);
  return self->lhm;
}

/**
 * plexus_swim_get_n_members:
 * @self: a #PlexusSwim
 *
 * Returns: how many other members are alive or suspect
 */
guint
plexus_swim_get_n_members (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), 0);
  return self->alive_list->len;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* The keys of @table, peer IDs, sorted, as a new string array. */
static gchar **
sorted_keys (GHashTable *table)
{
  GPtrArray *ids = g_ptr_array_new_full (g_hash_table_size (table) + 1, g_free);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (ids, g_strdup (key));
  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return (gchar **) g_ptr_array_free (ids, FALSE);
}

/**
 * plexus_swim_get_members:
 * @self: a #PlexusSwim
 *
 * Returns: (transfer full): the peer IDs of the other members alive or
 *   suspect, sorted
 */
gchar **
plexus_swim_get_members (PlexusSwim *self)
{
  GPtrArray *ids;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), NULL);

  ids = g_ptr_array_new_full (self->alive_list->len + 1, g_free);
  for (guint i = 0; i < self->alive_list->len; i++)
    g_ptr_array_add (ids, g_strdup (((Member *) g_ptr_array_index (self->alive_list, i))->peer_id));
  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return (gchar **) g_ptr_array_free (ids, FALSE);
}

/**
 * plexus_swim_list_members:
 * @self: a #PlexusSwim
 *
 * Like plexus_swim_get_members(), with dead and left members too until
 * they are forgotten: what a node that was away needs to hear.
 *
 * Returns: (transfer full): the peer IDs of the other members this node
 *   knows, sorted
 */
gchar **
plexus_swim_list_members (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), NULL);
  return sorted_keys (self->members);
}

/**
 * plexus_swim_get_member_state:
 * @self: a #PlexusSwim
 * @peer_id: a peer ID
 * @state: (out) (optional): where to store the member's state
 * @incarnation: (out) (optional): where to store its incarnation
 *
 * Returns: %TRUE if @peer_id is a member this node knows of, dead and left
 *   ones included until they are forgotten
 */
gboolean
plexus_swim_get_member_state (PlexusSwim      *self,
                              const gchar     *peer_id,
                              PlexusSwimState *state,
                              guint64         *incarnation)
{
  Member *member;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), FALSE);

  member = peer_id != NULL ? g_hash_table_lookup (self->members, peer_id) : NULL;
  if (member == NULL)
    return FALSE;
  if (state != NULL)
    *state = member->state;
  if (incarnation != NULL)
    *incarnation = member->incarnation;
  return TRUE;
}

/**
 * plexus_swim_get_advertisement:
 * @self: a #PlexusSwim
 * @peer_id: a peer ID, this node's included
 * @version: (out) (optional): where to store the version
 *
 * Returns: (nullable): the verified capabilities document @peer_id
 *   advertises, JSON text, or %NULL if none is known
 */
const gchar *
plexus_swim_get_advertisement (PlexusSwim *self, const gchar *peer_id, guint64 *version)
{
  return plexus_swim_get_advertisement_full (self, peer_id, version, NULL);
}

/**
 * plexus_swim_list_advertised:
 * @self: a #PlexusSwim
 *
 * Returns: (transfer full): the peer IDs of every node whose advertisement
 *   is held, members or not, this node's excluded, sorted
 */
gchar **
plexus_swim_list_advertised (PlexusSwim *self)
{
  g_return_val_if_fail (PLEXUS_IS_SWIM (self), NULL);
  return sorted_keys (self->advertisements);
}

/**
 * plexus_swim_get_advertisement_full:
 * @self: a #PlexusSwim
 * @peer_id: a peer ID, this node's included
 * @version: (out) (optional): where to store the version
 * @signature: (out caller-allocates) (optional): where to copy the
 *   %PLEXUS_SWIM_SIGNATURE_SIZE bytes of its signature
 *
 * Like plexus_swim_get_advertisement(), with what it takes to pass the
 * advertisement on to a node that checks it.
 *
 * Returns: (nullable): the capabilities document, or %NULL if none is known
 */
const gchar *
plexus_swim_get_advertisement_full (PlexusSwim *self, const gchar *peer_id, guint64 *version,
                                    guint8 *signature)
{
  Advertisement *ad;

  g_return_val_if_fail (PLEXUS_IS_SWIM (self), NULL);

  if (peer_id != NULL && is_self (self, peer_id)) {
    if (version != NULL)
      *version = self->version;
    if (signature != NULL && self->capabilities != NULL)
      memcpy (signature, self->signature, PLEXUS_SWIM_SIGNATURE_SIZE);
    return self->capabilities;
  }
  ad = peer_id != NULL ? g_hash_table_lookup (self->advertisements, peer_id) : NULL;
  if (version != NULL)
    *version = ad != NULL ? ad->version : 0;
  if (signature != NULL && ad != NULL)
    memcpy (signature, ad->signature, PLEXUS_SWIM_SIGNATURE_SIZE);
  return ad != NULL ? ad->capabilities : NULL;
}
