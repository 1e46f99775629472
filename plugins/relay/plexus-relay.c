/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-relay.h"

/* The relay half of signaling (doc/protocol.md, "Signaling"), shared by
 * the server-fallback plugin (the server) and the signaling-relay plugin
 * (super peers): `signal.relay` asks this node to pass a sealed signal on
 * to a recipient. It sees the recipient, the message ID and the sender's
 * path label, never the content or the sender's identity (both are inside
 * the seal).
 *
 * A recipient linked here gets `signal.deliver` over its link, naming this
 * node as the relay (its acknowledgement comes back the same way). For one
 * that is not linked, the server holds the message while the recipient is
 * reconnecting (unlinked less than PLEXUS_RELAY_RECONNECT_SECONDS ago), at
 * most PLEXUS_RELAY_QUEUE_SECONDS; a super peer hands it to the node's
 * routing. A signal passed on gets no answer: the sender learns of delivery
 * from the recipient's signed acknowledgement, and an answer per signal
 * was a quarter of the relay's work. A refusal is answered, late too (the
 * routing found no way to a recipient not linked here), and so is a
 * signal held for a reconnecting recipient (`held`), which may wait long.
 *
 * Each sender (the envelope's origin, which is the link peer for a peer
 * attached here and the original sender for what another relay passes on)
 * has a token bucket: beyond its rate the relay answers `rate-limited`
 * and the sender's other paths, or a later attempt, carry the message.
 * An answer to a signal relayed here lately (the recipient's signal back
 * to the sender under the same ID: an acknowledgement) costs no token,
 * once: a peer many others write to is not throttled for acknowledging. */

/* Relayed signals remembered for their answers: how long, how many. */
#define ANSWERABLE_SECONDS 30
#define ANSWERABLE_MAX 65536

/* The sealed form of the largest signal, with room to spare. */
#define MAX_SEALED_LENGTH 32768
#define MAX_LABEL_LENGTH 128

typedef struct {
  gdouble tokens;
  gint64  refilled;  /* monotonic µs */
  gboolean warned;   /* logged since it last had a full bucket */
} Bucket;

/* One allocation: the strings follow the struct. */
typedef struct {
  const gchar *id;
  const gchar *from;
  const gchar *to;
  gint64       expires;   /* monotonic µs */
} Answerable;

typedef struct {
  gchar  *to;
  gchar  *id;
  GBytes *sealed;
  gchar  *label;
  gint64  expires;   /* monotonic µs */
} Held;

struct _PlexusRelay {
  GObject          parent_instance;

  PlexusMessenger *messenger;
  gchar           *own_peer_id;
  PlexusRelayMiss  miss;
  gulong           linked_id;
  gulong           unlinked_id;
  GHashTable      *linked;     /* peer IDs linked here */
  GHashTable      *buckets;    /* sender peer ID → Bucket */
  guint            rate;       /* per second and sender; 0: no limit */
  guint            burst;
  GHashTable      *answerable; /* message ID → Answerable (owned by the queue) */
  GQueue           answerable_order;  /* oldest first */
  GHashTable      *recent;     /* peer ID → monotonic µs it was unlinked */
  GHashTable      *held;       /* peer ID → GQueue of Held */
  guint            n_held;
  guint            expire_id;
  gboolean         registered;  /* signal.relay is ours */
};

G_DEFINE_FINAL_TYPE (PlexusRelay, plexus_relay, G_TYPE_OBJECT)

static void
held_free (gpointer data)
{
  Held *held = data;

  g_free (held->to);
  g_free (held->id);
  g_bytes_unref (held->sealed);
  g_free (held->label);
  g_free (held);
}

static void
drop_oldest_answerable (PlexusRelay *self)
{
  Answerable *oldest = g_queue_pop_head (&self->answerable_order);

  if (g_hash_table_lookup (self->answerable, oldest->id) == oldest)
    g_hash_table_remove (self->answerable, oldest->id);
  g_free (oldest);
}

/* @id went from @from to @to through here: its answer may come back. */
static void
remember_answerable (PlexusRelay *self, const gchar *id, const gchar *from, const gchar *to, gint64 now)
{
  gsize id_size = strlen (id) + 1, from_size = strlen (from) + 1, to_size = strlen (to) + 1;
  Answerable *answerable;
  gchar *strings;

  if (g_queue_get_length (&self->answerable_order) >= ANSWERABLE_MAX)
    drop_oldest_answerable (self);
  answerable = g_malloc (sizeof (Answerable) + id_size + from_size + to_size);
  strings = (gchar *) (answerable + 1);
  answerable->id = memcpy (strings, id, id_size);
  answerable->from = memcpy (strings + id_size, from, from_size);
  answerable->to = memcpy (strings + id_size + from_size, to, to_size);
  answerable->expires = now + (gint64) ANSWERABLE_SECONDS * G_USEC_PER_SEC;
  g_queue_push_tail (&self->answerable_order, answerable);
  g_hash_table_replace (self->answerable, (gpointer) answerable->id, answerable);
}

/* Whether @id from @from to @to answers a signal relayed here; each
 * answers once. */
static gboolean
take_answer (PlexusRelay *self, const gchar *id, const gchar *from, const gchar *to)
{
  Answerable *answerable = g_hash_table_lookup (self->answerable, id);

  if (answerable == NULL || g_strcmp0 (answerable->from, to) != 0 || g_strcmp0 (answerable->to, from) != 0)
    return FALSE;
  /* The queue still owns it; it goes when it reaches the head. */
  g_hash_table_remove (self->answerable, id);
  return TRUE;
}

static void
held_queue_free (gpointer data)
{
  g_queue_free_full (data, held_free);
}

typedef struct {
  PlexusRelay    *self;     /* strong */
  PlexusEnvelope *request;  /* the signal.relay handed to the node's routing */
} Forward;

static void
on_forward_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Forward *forward = user_data;
  PlexusRelay *self = forward->self;
  g_autoptr(GError) error = NULL;

  /* Taken on in silence, then lost: the sender hears of it while it still
   * waits (a route search takes less than its 3 s), and does not hold the
   * recipient's absence against this relay. */
  if (!plexus_messenger_send_finish (PLEXUS_MESSENGER (source), result, &error) && self->messenger != NULL &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_autofree gchar *why = g_strdup_printf ("the recipient could not be reached from this relay: %s",
                                             error->message);
    g_autoptr(PlexusEnvelope) refusal = plexus_envelope_new_error (forward->request, self->own_peer_id,
                                                                   PLEXUS_ENVELOPE_CODE_NO_ROUTE, why);

    plexus_messenger_send_async (self->messenger, refusal, NULL, NULL, NULL);
  }
  g_object_unref (forward->request);
  g_object_unref (forward->self);
  g_free (forward);
}

/* The sealed signal goes on as it came, shared: never read, never copied
 * into JSON. @request (nullable) is the signal.relay it came in,
 * for a recipient not linked here: refused late if the routing fails. */
static void
deliver (PlexusRelay *self, const gchar *to, const gchar *id, GBytes *sealed, const gchar *label,
         PlexusEnvelope *request)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) envelope = NULL;
  Forward *forward;

  json_object_set_string_member (body, "id", id);
  json_object_set_string_member (body, "path", label);
  json_object_set_string_member (body, "relay", self->own_peer_id);
  envelope = plexus_envelope_new ("signal.deliver", self->own_peer_id, to, body);
  plexus_envelope_set_attachment (envelope, sealed);
  if (request == NULL) {
    plexus_messenger_send_async (self->messenger, envelope, NULL, NULL, NULL);
    return;
  }
  forward = g_new0 (Forward, 1);
  forward->self = g_object_ref (self);
  forward->request = g_object_ref (request);
  plexus_messenger_send_async (self->messenger, envelope, NULL, on_forward_sent, forward);
}

static gboolean
is_linked (PlexusRelay *self, const gchar *peer_id)
{
  return g_hash_table_contains (self->linked, peer_id);
}

/* Takes a token from @sender's bucket; FALSE when it has none left. */
static gboolean
take_token (PlexusRelay *self, const gchar *sender, gint64 now)
{
  Bucket *bucket;

  if (self->rate == 0)
    return TRUE;
  bucket = g_hash_table_lookup (self->buckets, sender);
  if (bucket == NULL) {
    if (g_hash_table_size (self->buckets) >= PLEXUS_RELAY_MAX_SENDERS)
      return FALSE;
    bucket = g_new0 (Bucket, 1);
    bucket->tokens = self->burst;
    bucket->refilled = now;
    g_hash_table_insert (self->buckets, g_strdup (sender), bucket);
  }
  bucket->tokens = MIN ((gdouble) self->burst,
                        bucket->tokens + (gdouble) (now - bucket->refilled) * self->rate / G_USEC_PER_SEC);
  bucket->refilled = now;
  if (bucket->tokens < 1.0) {
    if (!bucket->warned)
      g_message ("%s sends signals faster than %u/s; refusing the excess", sender, self->rate);
    bucket->warned = TRUE;
    return FALSE;
  }
  bucket->tokens -= 1.0;
  return TRUE;
}

static gboolean
is_reconnecting (PlexusRelay *self, const gchar *peer_id)
{
  gint64 *since = g_hash_table_lookup (self->recent, peer_id);

  return since != NULL && g_get_monotonic_time () - *since < (gint64) PLEXUS_RELAY_RECONNECT_SECONDS * G_USEC_PER_SEC;
}

static PlexusEnvelope *
on_relay (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusRelay *self = user_data;
  JsonObject *body = plexus_envelope_get_body (envelope);
  const gchar *to = json_object_get_string_member_with_default (body, "to", NULL);
  const gchar *id = json_object_get_string_member_with_default (body, "id", NULL);
  GBytes *sealed = plexus_envelope_get_attachment (envelope);
  g_autoptr(JsonObject) answer = NULL;
  const gchar *label = json_object_get_string_member_with_default (body, "path", NULL);
  gint64 now = g_get_monotonic_time ();
  gboolean linked;
  GQueue *queue;
  Held *held;

  if (!plexus_peer_id_is_valid (to) || !plexus_envelope_id_is_valid (id) || sealed == NULL || label == NULL ||
      g_bytes_get_size (sealed) > MAX_SEALED_LENGTH || strlen (label) > MAX_LABEL_LENGTH)
    return plexus_envelope_new_error (envelope, self->own_peer_id, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "signal.relay needs 'to' (a peer ID), 'id', 'path' (at most 128 "
                                      "characters) and the sealed signal attached (at most 32768 bytes)");
  if (strcmp (to, self->own_peer_id) == 0)
    return plexus_envelope_new_error (envelope, self->own_peer_id, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "a signal for the relay itself is sent with signal.deliver");
  if (!take_answer (self, id, plexus_envelope_get_from (envelope), to) &&
      !take_token (self, plexus_envelope_get_from (envelope), now)) {
    g_autofree gchar *why = g_strdup_printf ("the sender exceeds this relay's limit of %u signals per second",
                                             self->rate);

    return plexus_envelope_new_error (envelope, self->own_peer_id, PLEXUS_ENVELOPE_CODE_RATE_LIMITED, why);
  }
  remember_answerable (self, id, plexus_envelope_get_from (envelope), to, now);
  linked = is_linked (self, to);
  if (linked || self->miss == PLEXUS_RELAY_MISS_FORWARD) {
    deliver (self, to, id, sealed, label, linked ? NULL : envelope);
    return NULL;
  }
  if (!is_reconnecting (self, to))
    return plexus_envelope_new_error (envelope, self->own_peer_id, PLEXUS_ENVELOPE_CODE_NO_ROUTE,
                                      "the recipient is not connected to this relay");
  queue = g_hash_table_lookup (self->held, to);
  if (self->n_held >= PLEXUS_RELAY_QUEUE_TOTAL || (queue != NULL && queue->length >= PLEXUS_RELAY_QUEUE_PER_PEER))
    return plexus_envelope_new_error (envelope, self->own_peer_id, PLEXUS_ENVELOPE_CODE_RATE_LIMITED,
                                      "too many signals are held for recipients that are reconnecting");
  if (queue == NULL) {
    queue = g_queue_new ();
    g_hash_table_insert (self->held, g_strdup (to), queue);
  }
  held = g_new0 (Held, 1);
  held->to = g_strdup (to);
  held->id = g_strdup (id);
  held->sealed = g_bytes_ref (sealed);
  held->label = g_strdup (label);
  held->expires = g_get_monotonic_time () + (gint64) PLEXUS_RELAY_QUEUE_SECONDS * G_USEC_PER_SEC;
  g_queue_push_tail (queue, held);
  self->n_held++;
  /* Rare, and it may take the recipient's whole reconnection: said, so
   * that the sender does not take the wait for a fault of this relay. */
  answer = json_object_new ();
  json_object_set_string_member (answer, "status", "held");
  return plexus_envelope_new_reply (envelope, "signal.relay", self->own_peer_id, answer);
}

static void
on_peer_linked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  PlexusRelay *self = user_data;
  GQueue *queue = g_hash_table_lookup (self->held, peer_id);
  Held *held;

  g_hash_table_add (self->linked, g_strdup (peer_id));
  g_hash_table_remove (self->recent, peer_id);
  if (queue == NULL)
    return;
  /* Back: what waited for it goes, in order. */
  while ((held = g_queue_pop_head (queue)) != NULL) {
    if (held->expires > g_get_monotonic_time ())
      deliver (self, held->to, held->id, held->sealed, held->label, NULL);
    self->n_held--;
    held_free (held);
  }
  g_hash_table_remove (self->held, peer_id);
}

static void
on_peer_unlinked (PlexusMessenger *messenger, const gchar *peer_id, gpointer user_data)
{
  PlexusRelay *self = user_data;
  gint64 *since = g_new (gint64, 1);

  *since = g_get_monotonic_time ();
  g_hash_table_remove (self->linked, peer_id);
  g_hash_table_replace (self->recent, g_strdup (peer_id), since);
}

/* Drops what waited too long, and forgets peers gone long ago and
 * senders whose buckets are full again. */
static gboolean
on_expire (gpointer user_data)
{
  PlexusRelay *self = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, self->held);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    GQueue *queue = value;
    Held *held;

    while ((held = g_queue_peek_head (queue)) != NULL && held->expires <= now) {
      g_message ("dropping signal %s for %s: it did not reconnect within %d s", held->id, held->to,
                 PLEXUS_RELAY_QUEUE_SECONDS);
      held_free (g_queue_pop_head (queue));
      self->n_held--;
    }
    if (queue->length == 0)
      g_hash_table_iter_remove (&iter);
  }
  g_hash_table_iter_init (&iter, self->recent);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (now - *(gint64 *) value >= (gint64) PLEXUS_RELAY_RECONNECT_SECONDS * G_USEC_PER_SEC)
      g_hash_table_iter_remove (&iter);
  }
  while (!g_queue_is_empty (&self->answerable_order) &&
         ((Answerable *) g_queue_peek_head (&self->answerable_order))->expires <= now)
    drop_oldest_answerable (self);
  g_hash_table_iter_init (&iter, self->buckets);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    Bucket *bucket = value;

    if (self->rate == 0 ||
        bucket->tokens + (gdouble) (now - bucket->refilled) * self->rate / G_USEC_PER_SEC >= self->burst)
      g_hash_table_iter_remove (&iter);
  }
  return G_SOURCE_CONTINUE;
}

/**
 * plexus_relay_new:
 * @messenger: the node's messenger
 * @own_peer_id: this node's peer ID
 * @miss: what to do for a recipient that is not linked here
 * @error: return location for a #GError
 *
 * Returns: (transfer full): a relay handling `signal.relay`, or %NULL if
 *   that message type is taken
 */
PlexusRelay *
plexus_relay_new (PlexusMessenger *messenger, const gchar *own_peer_id, PlexusRelayMiss miss, GError **error)
{
  g_autoptr(PlexusRelay) self = g_object_new (PLEXUS_TYPE_RELAY, NULL);

  g_auto(GStrv) linked = NULL;

  self->messenger = g_object_ref (messenger);
  self->own_peer_id = g_strdup (own_peer_id);
  self->miss = miss;
  if (!plexus_messenger_register_handler (messenger, "signal.relay", on_relay, self, NULL, error))
    return NULL;
  self->registered = TRUE;
  self->linked_id = g_signal_connect (messenger, "peer-linked", G_CALLBACK (on_peer_linked), self);
  self->unlinked_id = g_signal_connect (messenger, "peer-unlinked", G_CALLBACK (on_peer_unlinked), self);
  /* Looked up per signal: a set kept by the signals, not a list per call. */
  linked = plexus_messenger_list_linked_peers (messenger);
  for (guint i = 0; linked[i] != NULL; i++)
    g_hash_table_add (self->linked, g_strdup (linked[i]));
  self->expire_id = g_timeout_add_seconds (1, on_expire, self);
  return g_steal_pointer (&self);
}

/**
 * plexus_relay_set_rate_limit:
 * @self: a #PlexusRelay
 * @per_second: signals relayed per second for each sender; 0 for no limit
 * @burst: how many a sender may send at once after a quiet spell
 *
 * Beyond the limit `signal.relay` is answered `rate-limited`.
 */
void
plexus_relay_set_rate_limit (PlexusRelay *self, guint per_second, guint burst)
{
  g_return_if_fail (PLEXUS_IS_RELAY (self));

  self->rate = per_second;
  self->burst = MAX (burst, 1);
  g_hash_table_remove_all (self->buckets);
}

/**
 * plexus_relay_shutdown:
 * @self: a #PlexusRelay
 *
 * Stops relaying; what is held is dropped.
 */
void
plexus_relay_shutdown (PlexusRelay *self)
{
  g_return_if_fail (PLEXUS_IS_RELAY (self));

  g_clear_handle_id (&self->expire_id, g_source_remove);
  if (self->messenger != NULL) {
    /* Another relay may hold the type, if this one failed to start. */
    if (self->registered)
      plexus_messenger_unregister_handler (self->messenger, "signal.relay");
    self->registered = FALSE;
    g_clear_signal_handler (&self->linked_id, self->messenger);
    g_clear_signal_handler (&self->unlinked_id, self->messenger);
  }
  g_hash_table_remove_all (self->held);
  self->n_held = 0;
  g_clear_object (&self->messenger);
}

static void
plexus_relay_finalize (GObject *object)
{
  PlexusRelay *self = PLEXUS_RELAY (object);

  if (self->messenger != NULL)
    plexus_relay_shutdown (self);
  g_free (self->own_peer_id);
  g_hash_table_unref (self->linked);
  g_hash_table_unref (self->buckets);
  while (!g_queue_is_empty (&self->answerable_order))
    drop_oldest_answerable (self);
  g_hash_table_unref (self->answerable);
  g_hash_table_unref (self->recent);
  g_hash_table_unref (self->held);
  G_OBJECT_CLASS (plexus_relay_parent_class)->finalize (object);
}

static void
plexus_relay_class_init (PlexusRelayClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = plexus_relay_finalize;
}

static void
plexus_relay_init (PlexusRelay *self)
{
  self->linked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->answerable = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&self->answerable_order);
  self->rate = PLEXUS_RELAY_DEFAULT_RATE;
  self->burst = PLEXUS_RELAY_DEFAULT_BURST;
  self->recent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, held_queue_free);
}
