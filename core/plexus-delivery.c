/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-delivery.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-signal.h"

/* The delivery engine: which path a message goes out on, when it is tried
 * again elsewhere, when it is given up, and which arrivals are new. It is
 * sans I/O (brief §8): the daemon feeds it the time, acknowledgements and
 * failures, and carries out the sends it asks for.
 *
 * A message has an ordered list of paths (the broker's choice: a direct
 * link first, then super peers, then the server) and a race width: that
 * many paths are tried at once (2 in hybrid mode: the best peer path and the
 * server). An attempt that fails or goes unacknowledged for
 * attempt_timeout_ms makes room for the next path in the list, wrapping
 * round to the first, until the message's deadline. The first
 * acknowledgement completes it. The other attempts still out then trail
 * until their own time is up: a later acknowledgement gives their path's
 * latency, and silence to the end shows a path that took the message on
 * and lost it (in a race, the slower path is judged too). The recipient
 * delivers each (sender, ID) once: note_received() remembers what arrived
 * for dedupe_ttl_ms, at most dedupe_capacity pairs; when full it refuses
 * new arrivals rather than forget one early. */

typedef struct {
  PlexusDeliveryPath path;
  gint64             started;
  gint64             deadline;
} Attempt;

typedef struct {
  gchar              *id;
  gchar               to[PLEXUS_DELIVERY_PEER_ID_LENGTH + 1];
  PlexusDeliveryPath *paths;
  guint               n_paths;
  guint               next_path;
  PlexusDeliveryPath  last_tried; /* kind 0 with an empty relay: none yet */
  guint               race;
  guint               attempts_made;
  GArray             *attempts;   /* of Attempt, in flight */
  gint64             *retry_at;   /* per path: not tried again before */
  gint64              submitted;
  gint64              deadline;
  gint64              planned;    /* when fill_race last ran */
} Pending;

/* Attempts still out after their message was acknowledged. */
typedef struct {
  gchar  *id;
  gchar   to[PLEXUS_DELIVERY_PEER_ID_LENGTH + 1];
  GArray *attempts;   /* of Attempt */
} Trailing;

typedef struct {
  gchar  *key;
  gint64  expires;
} Seen;

struct _PlexusDelivery {
  GObject              parent_instance;

  PlexusDeliveryConfig config;
  GHashTable          *pending;  /* id → Pending */
  GHashTable          *trailing; /* id → Trailing */
  GQueue               sends;
  GQueue               events;
  GHashTable          *seen;     /* "from\nid" → Seen (in seen_order) */
  GQueue               seen_order;
};

G_DEFINE_FINAL_TYPE (PlexusDelivery, plexus_delivery, G_TYPE_OBJECT)

/**
 * plexus_delivery_config_init:
 * @config: (out caller-allocates): the configuration to fill
 *
 * The defaults: 3 s per attempt, paths offered again every 500 ms while a
 * message lacks them, 15 s per message
 * (%PLEXUS_SIGNAL_LIFETIME_MS), 4096 messages in flight, 65536 arrivals
 * remembered for the signal's age limit plus its clock skew allowance, so
 * that a replay is either too old or remembered.
 */
void
plexus_delivery_config_init (PlexusDeliveryConfig *config)
{
  config->attempt_timeout_ms = 3000;
  config->deadline_ms = PLEXUS_SIGNAL_LIFETIME_MS;
  config->max_pending = 4096;
  config->dedupe_capacity = 65536;
  config->dedupe_ttl_ms = PLEXUS_SIGNAL_MAX_AGE_MS + PLEXUS_SIGNAL_MAX_SKEW_MS;
  config->replan_ms = 500;
}

void
plexus_delivery_send_clear (PlexusDeliverySend *send)
{
  g_clear_pointer (&send->id, g_free);
}

void
plexus_delivery_event_clear (PlexusDeliveryEvent *event)
{
  g_clear_pointer (&event->id, g_free);
  g_clear_pointer (&event->reason, g_free);
}

/**
 * plexus_delivery_path_kind_to_string:
 * @kind: a path kind
 *
 * Returns: direct, peer or server
 */
const gchar *
plexus_delivery_path_kind_to_string (PlexusDeliveryPathKind kind)
{
  switch (kind) {
  case PLEXUS_DELIVERY_PATH_DIRECT:
    return "direct";
  case PLEXUS_DELIVERY_PATH_PEER:
    return "peer";
  case PLEXUS_DELIVERY_PATH_SERVER:
  default:
    return "server";
  }
}

static void
pending_free (gpointer data)
{
  Pending *pending = data;

  g_free (pending->id);
  g_free (pending->paths);
  g_free (pending->retry_at);
  g_array_unref (pending->attempts);
  g_free (pending);
}

static void
trailing_free (gpointer data)
{
  Trailing *trailing = data;

  g_free (trailing->id);
  g_array_unref (trailing->attempts);
  g_free (trailing);
}

static void
seen_free (gpointer data)
{
  Seen *seen = data;

  g_free (seen->key);
  g_free (seen);
}

static void
plexus_delivery_finalize (GObject *object)
{
  PlexusDelivery *self = PLEXUS_DELIVERY (object);
  PlexusDeliverySend *send;
  PlexusDeliveryEvent *event;

  g_hash_table_unref (self->pending);
  g_hash_table_unref (self->trailing);
  while ((send = g_queue_pop_head (&self->sends)) != NULL) {
    plexus_delivery_send_clear (send);
    g_free (send);
  }
  while ((event = g_queue_pop_head (&self->events)) != NULL) {
    plexus_delivery_event_clear (event);
    g_free (event);
  }
  g_hash_table_unref (self->seen);
  g_queue_clear_full (&self->seen_order, seen_free);
  G_OBJECT_CLASS (plexus_delivery_parent_class)->finalize (object);
}

static void
plexus_delivery_class_init (PlexusDeliveryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = plexus_delivery_finalize;
}

static void
plexus_delivery_init (PlexusDelivery *self)
{
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, pending_free);
  self->trailing = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, trailing_free);
  /* Values are owned by seen_order. */
  self->seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&self->sends);
  g_queue_init (&self->events);
  g_queue_init (&self->seen_order);
}

/**
 * plexus_delivery_new:
 * @config: (nullable): timers and bounds, or %NULL for the defaults
 *
 * Returns: (transfer full): a new engine
 */
PlexusDelivery *
plexus_delivery_new (const PlexusDeliveryConfig *config)
{
  PlexusDelivery *self = g_object_new (PLEXUS_TYPE_DELIVERY, NULL);

  if (config != NULL)
    self->config = *config;
  else
    plexus_delivery_config_init (&self->config);
  return self;
}

static gboolean
path_equal (const PlexusDeliveryPath *a, const PlexusDeliveryPath *b)
{
  return a->kind == b->kind && strcmp (a->relay, b->relay) == 0;
}

static void
emit_for (PlexusDelivery *self, PlexusDeliveryEventType type, const gchar *id, const gchar *to,
          const PlexusDeliveryPath *path, gint64 latency_ms, const gchar *reason)
{
  PlexusDeliveryEvent *event = g_new0 (PlexusDeliveryEvent, 1);

  event->type = type;
  event->id = g_strdup (id);
  g_strlcpy (event->to, to, sizeof event->to);
  if (path != NULL)
    event->path = *path;
  event->latency_ms = latency_ms;
  event->reason = g_strdup (reason);
  g_queue_push_tail (&self->events, event);
}

static void
emit (PlexusDelivery *self, PlexusDeliveryEventType type, Pending *pending, const PlexusDeliveryPath *path,
      gint64 latency_ms, const gchar *reason)
{
  emit_for (self, type, pending->id, pending->to, path, latency_ms, reason);
}

/* Starts attempts until @pending has its race width in flight, on paths
 * neither in flight already nor resting after a failure. */
static void
fill_race (PlexusDelivery *self, Pending *pending, gint64 now)
{
  guint tried = 0;

  pending->planned = now;
  while (pending->attempts->len < pending->race && tried < pending->n_paths) {
    guint index = pending->next_path;
    const PlexusDeliveryPath *path = &pending->paths[index];
    gboolean busy = pending->retry_at[index] > now;

    pending->next_path = (pending->next_path + 1) % pending->n_paths;
    pending->last_tried = *path;
    tried++;
    for (guint i = 0; i < pending->attempts->len && !busy; i++)
      busy = path_equal (&g_array_index (pending->attempts, Attempt, i).path, path);
    if (!busy) {
      Attempt attempt = { *path, now, MIN (now + self->config.attempt_timeout_ms, pending->deadline) };
      PlexusDeliverySend *send = g_new0 (PlexusDeliverySend, 1);

      pending->retry_at[index] = 0;
      g_array_append_val (pending->attempts, attempt);
      send->id = g_strdup (pending->id);
      memcpy (send->to, pending->to, sizeof send->to);
      send->path = *path;
      send->attempt = ++pending->attempts_made;
      g_queue_push_tail (&self->sends, send);
    }
  }
}

/**
 * plexus_delivery_submit:
 * @self: a #PlexusDelivery
 * @now_ms: the current time, monotonic milliseconds
 * @id: the message ID, unique among messages in flight
 * @to: the recipient's peer ID
 * @paths: (array length=n_paths): the paths to try, best first
 * @n_paths: how many, at least one
 * @race: how many to try at once, at least one
 * @error: return location for a #GError
 *
 * Starts delivering a message: the first @race paths get an attempt each.
 *
 * Returns: %TRUE if it is under way; %FALSE with %PLEXUS_ERROR_EXISTS if
 *   @id is in flight already, %PLEXUS_ERROR_FAILED if too many messages are
 *   in flight, %PLEXUS_ERROR_INVALID_ARGUMENT without a path
 */
gboolean
plexus_delivery_submit (PlexusDelivery *self, gint64 now_ms, const gchar *id, const gchar *to,
                        const PlexusDeliveryPath *paths, guint n_paths, guint race, GError **error)
{
  Pending *pending;

  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), FALSE);
  g_return_val_if_fail (id != NULL && to != NULL, FALSE);

  if ((n_paths > 0 && paths == NULL) || race == 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT, "a message needs a race width of 1 or more");
    return FALSE;
  }
  if (g_hash_table_contains (self->pending, id)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS, "message %s is already on its way", id);
    return FALSE;
  }
  if (g_hash_table_size (self->pending) >= self->config.max_pending) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "%u messages are on their way already; try again later", self->config.max_pending);
    return FALSE;
  }
  pending = g_new0 (Pending, 1);
  pending->id = g_strdup (id);
  g_strlcpy (pending->to, to, sizeof pending->to);
  pending->paths = g_memdup2 (paths, n_paths * sizeof *paths);
  pending->retry_at = g_new0 (gint64, MAX (n_paths, 1));
  pending->n_paths = n_paths;
  pending->race = race;
  pending->attempts = g_array_new (FALSE, FALSE, sizeof (Attempt));
  pending->submitted = now_ms;
  pending->deadline = now_ms + self->config.deadline_ms;
  g_hash_table_insert (self->pending, pending->id, pending);
  fill_race (self, pending, now_ms);
  return TRUE;
}

/**
 * plexus_delivery_set_paths:
 * @self: a #PlexusDelivery
 * @id: a message in flight
 * @paths: (array length=n_paths): the paths to try now, best first
 * @n_paths: how many (0: none for now)
 *
 * Replaces a message's paths as the caller's view of the network changes
 * (a relay came or went). Attempts in flight go on; a path that rests
 * keeps resting.
 */
void
plexus_delivery_set_paths (PlexusDelivery *self, const gchar *id, const PlexusDeliveryPath *paths, guint n_paths)
{
  Pending *pending;
  gint64 *retry_at;

  g_return_if_fail (PLEXUS_IS_DELIVERY (self));
  g_return_if_fail (n_paths == 0 || paths != NULL);

  pending = id != NULL ? g_hash_table_lookup (self->pending, id) : NULL;
  if (pending == NULL)
    return;
  retry_at = g_new0 (gint64, MAX (n_paths, 1));
  for (guint i = 0; i < n_paths; i++) {
    for (guint j = 0; j < pending->n_paths; j++) {
      if (path_equal (&paths[i], &pending->paths[j]))
        retry_at[i] = pending->retry_at[j];
    }
  }
  g_free (pending->paths);
  g_free (pending->retry_at);
  pending->paths = g_memdup2 (paths, n_paths * sizeof *paths);
  pending->retry_at = retry_at;
  pending->n_paths = n_paths;
  /* One path at a time, the turn goes on from the path tried last: a path
   * that swallowed an attempt without a word is not tried first again
   * when the paths are offered anew (every tick while messages are in
   * flight). A race starts from the head, which pairs the best peer path
   * with the server. */
  pending->next_path = 0;
  for (guint i = 0; pending->race == 1 && i < n_paths; i++) {
    if (path_equal (&paths[i], &pending->last_tried))
      pending->next_path = (i + 1) % n_paths;
  }
}

static gint
find_in (GArray *attempts, const PlexusDeliveryPath *path)
{
  for (guint i = 0; i < attempts->len; i++) {
    if (path_equal (&g_array_index (attempts, Attempt, i).path, path))
      return (gint) i;
  }
  return -1;
}

static gint
find_attempt (Pending *pending, const PlexusDeliveryPath *path)
{
  return find_in (pending->attempts, path);
}

/* The acknowledgement of a message delivered already, by a path whose
 * attempt still trails. */
static void
trailing_acknowledged (PlexusDelivery *self, gint64 now_ms, const gchar *id, const gchar *from,
                       const PlexusDeliveryPath *path)
{
  Trailing *trailing = id != NULL ? g_hash_table_lookup (self->trailing, id) : NULL;
  gint index;

  if (trailing == NULL || g_strcmp0 (from, trailing->to) != 0 || (index = find_in (trailing->attempts, path)) < 0)
    return;
  emit_for (self, PLEXUS_DELIVERY_EVENT_PATH_ACKNOWLEDGED, trailing->id, trailing->to, path,
            now_ms - g_array_index (trailing->attempts, Attempt, index).started, NULL);
  g_array_remove_index_fast (trailing->attempts, (guint) index);
  if (trailing->attempts->len == 0)
    g_hash_table_remove (self->trailing, id);
}

/**
 * plexus_delivery_acknowledged:
 * @self: a #PlexusDelivery
 * @now_ms: the current time, monotonic milliseconds
 * @id: the message acknowledged
 * @from: who acknowledged it (verified by the caller); only the recipient
 *   counts
 * @path: the path the recipient says the message came by
 *
 * Completes a message: a %PLEXUS_DELIVERY_EVENT_DELIVERED event. Its other
 * attempts still out trail: an acknowledgement by one of those paths is a
 * %PLEXUS_DELIVERY_EVENT_PATH_ACKNOWLEDGED event. Any other acknowledgement
 * of a message not in flight (a second one by the same path, a late one)
 * is ignored.
 */
void
plexus_delivery_acknowledged (PlexusDelivery *self, gint64 now_ms, const gchar *id, const gchar *from,
                              const PlexusDeliveryPath *path)
{
  Pending *pending;
  gint index;
  gint64 started;

  g_return_if_fail (PLEXUS_IS_DELIVERY (self));
  g_return_if_fail (path != NULL);

  pending = id != NULL ? g_hash_table_lookup (self->pending, id) : NULL;
  if (pending == NULL) {
    trailing_acknowledged (self, now_ms, id, from, path);
    return;
  }
  if (g_strcmp0 (from, pending->to) != 0)
    return;
  index = find_attempt (pending, path);
  started = index >= 0 ? g_array_index (pending->attempts, Attempt, index).started : pending->submitted;
  emit (self, PLEXUS_DELIVERY_EVENT_DELIVERED, pending, path, now_ms - started, NULL);
  if (index >= 0)
    g_array_remove_index_fast (pending->attempts, (guint) index);
  if (pending->attempts->len > 0) {
    Trailing *trailing = g_new0 (Trailing, 1);

    trailing->id = g_strdup (pending->id);
    memcpy (trailing->to, pending->to, sizeof trailing->to);
    trailing->attempts = g_array_ref (pending->attempts);
    g_hash_table_replace (self->trailing, trailing->id, trailing);
  }
  g_hash_table_remove (self->pending, id);
}

static void
attempt_failed (PlexusDelivery *self, Pending *pending, guint index, gint64 now, const gchar *reason)
{
  Attempt attempt = g_array_index (pending->attempts, Attempt, index);
  PlexusDeliveryPath path = attempt.path;

  /* A path that refused at once rests for the rest of its attempt's time:
   * a relay that cannot help now is not asked again in a tight loop. */
  for (guint i = 0; i < pending->n_paths; i++) {
    if (path_equal (&pending->paths[i], &path))
      pending->retry_at[i] = MAX (now, attempt.started + self->config.attempt_timeout_ms);
  }
  g_array_remove_index_fast (pending->attempts, index);
  emit (self, PLEXUS_DELIVERY_EVENT_PATH_FAILED, pending, &path, 0, reason);
  fill_race (self, pending, now);
}

/**
 * plexus_delivery_path_failed:
 * @self: a #PlexusDelivery
 * @now_ms: the current time, monotonic milliseconds
 * @id: the message
 * @path: the path its attempt was on
 * @reason: why it failed (the relay refused it, the link went...)
 *
 * Ends an attempt early; the next path is tried at once. After the
 * message was delivered, a trailing attempt just ends: the path said
 * something, so it is not silent.
 */
void
plexus_delivery_path_failed (PlexusDelivery *self, gint64 now_ms, const gchar *id,
                             const PlexusDeliveryPath *path, const gchar *reason)
{
  Pending *pending;
  gint index;

  g_return_if_fail (PLEXUS_IS_DELIVERY (self));
  g_return_if_fail (path != NULL);

  pending = id != NULL ? g_hash_table_lookup (self->pending, id) : NULL;
  if (pending == NULL) {
    Trailing *trailing = id != NULL ? g_hash_table_lookup (self->trailing, id) : NULL;

    if (trailing != NULL && (index = find_in (trailing->attempts, path)) >= 0) {
      g_array_remove_index_fast (trailing->attempts, (guint) index);
      if (trailing->attempts->len == 0)
        g_hash_table_remove (self->trailing, id);
    }
    return;
  }
  if ((index = find_attempt (pending, path)) < 0)
    return;
  attempt_failed (self, pending, (guint) index, now_ms, reason);
}

/**
 * plexus_delivery_tick:
 * @self: a #PlexusDelivery
 * @now_ms: the current time, monotonic milliseconds
 *
 * Fails the attempts and the messages whose time is up, and ends the
 * trailing attempts whose time is up (%PLEXUS_DELIVERY_EVENT_PATH_SILENT).
 */
void
plexus_delivery_tick (PlexusDelivery *self, gint64 now_ms)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr(GPtrArray) expired = g_ptr_array_new ();

  g_return_if_fail (PLEXUS_IS_DELIVERY (self));

  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Pending *pending = value;

    if (pending->deadline <= now_ms) {
      g_ptr_array_add (expired, pending);
      continue;
    }
    for (guint i = pending->attempts->len; i > 0; i--) {
      Attempt *attempt = &g_array_index (pending->attempts, Attempt, i - 1);

      if (attempt->deadline <= now_ms)
        attempt_failed (self, pending, i - 1, now_ms, "no acknowledgement in time");
    }
    /* Paths back from their rest. */
    fill_race (self, pending, now_ms);
  }
  for (guint i = 0; i < expired->len; i++) {
    Pending *pending = g_ptr_array_index (expired, i);
    g_autofree gchar *reason = g_strdup_printf ("not acknowledged within %u ms over %u attempts",
                                                self->config.deadline_ms, pending->attempts_made);

    emit (self, PLEXUS_DELIVERY_EVENT_FAILED, pending, NULL, 0, reason);
    g_hash_table_remove (self->pending, pending->id);
  }
  g_hash_table_iter_init (&iter, self->trailing);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Trailing *trailing = value;

    for (guint i = trailing->attempts->len; i > 0; i--) {
      Attempt *attempt = &g_array_index (trailing->attempts, Attempt, i - 1);

      if (attempt->deadline > now_ms)
        continue;
      emit_for (self, PLEXUS_DELIVERY_EVENT_PATH_SILENT, trailing->id, trailing->to, &attempt->path, 0,
                "no acknowledgement in time, while another path delivered the message");
      g_array_remove_index_fast (trailing->attempts, i - 1);
    }
    if (trailing->attempts->len == 0)
      g_hash_table_iter_remove (&iter);
  }
}

/**
 * plexus_delivery_next_deadline:
 * @self: a #PlexusDelivery
 *
 * Returns: when plexus_delivery_tick() has something to do, or -1 if
 *   nothing is in flight or trailing
 */
gint64
plexus_delivery_next_deadline (PlexusDelivery *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 next = -1;

  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), -1);

  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Pending *pending = value;

    if (next < 0 || pending->deadline < next)
      next = pending->deadline;
    for (guint i = 0; i < pending->attempts->len; i++) {
      gint64 deadline = g_array_index (pending->attempts, Attempt, i).deadline;

      if (deadline < next)
        next = deadline;
    }
    /* Short of its race width: when a resting path may go again, and
     * when the caller should offer paths again. */
    for (guint i = 0; pending->attempts->len < pending->race && i < pending->n_paths; i++) {
      if (pending->retry_at[i] > 0 && pending->retry_at[i] < next)
        next = pending->retry_at[i];
    }
    if (pending->attempts->len < MIN (pending->race, MAX (pending->n_paths, 1)) &&
        pending->planned + self->config.replan_ms < next)
      next = pending->planned + self->config.replan_ms;
  }
  g_hash_table_iter_init (&iter, self->trailing);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    GArray *attempts = ((Trailing *) value)->attempts;

    for (guint i = 0; i < attempts->len; i++) {
      gint64 deadline = g_array_index (attempts, Attempt, i).deadline;

      if (next < 0 || deadline < next)
        next = deadline;
    }
  }
  return next;
}

gboolean
plexus_delivery_pop_send (PlexusDelivery *self, PlexusDeliverySend *send)
{
  PlexusDeliverySend *head;

  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), FALSE);

  head = g_queue_pop_head (&self->sends);
  if (head == NULL)
    return FALSE;
  *send = *head;
  g_free (head);
  return TRUE;
}

gboolean
plexus_delivery_pop_event (PlexusDelivery *self, PlexusDeliveryEvent *event)
{
  PlexusDeliveryEvent *head;

  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), FALSE);

  head = g_queue_pop_head (&self->events);
  if (head == NULL)
    return FALSE;
  *event = *head;
  g_free (head);
  return TRUE;
}

guint
plexus_delivery_get_n_pending (PlexusDelivery *self)
{
  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), 0);
  return g_hash_table_size (self->pending);
}

/**
 * plexus_delivery_is_trailing:
 * @self: a #PlexusDelivery
 * @id: a message
 *
 * Returns: whether @id was delivered and attempts on other paths are
 *   still out (their outcome is still to come as events)
 */
gboolean
plexus_delivery_is_trailing (PlexusDelivery *self, const gchar *id)
{
  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), FALSE);
  return id != NULL && g_hash_table_contains (self->trailing, id);
}

/**
 * plexus_delivery_note_received:
 * @self: a #PlexusDelivery
 * @now_ms: the current time, monotonic milliseconds
 * @from: the sender (verified by the caller)
 * @id: the message ID
 *
 * Returns: %PLEXUS_DELIVERY_NEW the first time (@from, @id) arrives:
 *   deliver it; %PLEXUS_DELIVERY_COPY for a copy (the same message by
 *   another path, a retry, a replay); %PLEXUS_DELIVERY_FULL when the memory
 *   of arrivals is full: refuse it for now (an entry is never forgotten
 *   before its time, or a replay could slip through), the sender tries
 *   again
 */
PlexusDeliveryArrival
plexus_delivery_note_received (PlexusDelivery *self, gint64 now_ms, const gchar *from, const gchar *id)
{
  g_autofree gchar *key = NULL;
  Seen *seen;

  g_return_val_if_fail (PLEXUS_IS_DELIVERY (self), PLEXUS_DELIVERY_FULL);
  g_return_val_if_fail (from != NULL && id != NULL, PLEXUS_DELIVERY_FULL);

  while ((seen = g_queue_peek_head (&self->seen_order)) != NULL && seen->expires <= now_ms) {
    g_hash_table_remove (self->seen, seen->key);
    seen_free (g_queue_pop_head (&self->seen_order));
  }
  key = g_strconcat (from, "\n", id, NULL);
  if (g_hash_table_contains (self->seen, key))
    return PLEXUS_DELIVERY_COPY;
  if (g_queue_get_length (&self->seen_order) >= self->config.dedupe_capacity)
    return PLEXUS_DELIVERY_FULL;
  seen = g_new0 (Seen, 1);
  seen->key = g_steal_pointer (&key);
  seen->expires = now_ms + self->config.dedupe_ttl_ms;
  g_queue_push_tail (&self->seen_order, seen);
  g_hash_table_insert (self->seen, seen->key, seen);
  return PLEXUS_DELIVERY_NEW;
}
