/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "plexus-broker.h"
#include "plexus-capabilities.h"
#include "plexus-error.h"

/**
 * SECTION:plexus-broker
 * @title: PlexusBroker
 * @short_description: registry and selection of service providers
 *
 * The broker keeps every provider of every service, local plugins, remote
 * peers and the server, and decides which one serves a service.
 *
 * It is a pure state machine: it does no I/O, sets no timers and reads the
 * time only through its clock (plexus_broker_set_clock()). Everything it
 * decides happens inside a call: adding or removing a provider, a change
 * of a provider's properties (the broker listens to #GObject::notify),
 * a reported request outcome, a change of mode, region or hysteresis, and
 * plexus_broker_select(). Health recovers with time, so a provider whose
 * exclusion ended is noticed on the next such call; the glue calls
 * plexus_broker_select() for each request, or periodically if it wants
 * the #PlexusBroker::provider-selected signal promptly.
 *
 * A service has no selection until plexus_broker_select() is first called
 * for it: the first request picks the best provider, so the order in which
 * providers were discovered does not matter. From then on the selection
 * is kept up to date on every change.
 *
 * The score, the hysteresis that avoids flapping and the health rules are
 * described in doc/architecture.md, section "The broker".
 *
 * The broker is not thread-safe; use it from one thread (the main
 * context). Signal handlers may call back into the broker.
 */

/* Score weights; they sum to 1 so the base score is in 0..1. */
#define WEIGHT_HEADROOM   0.30
#define WEIGHT_RTT        0.20
#define WEIGHT_REGION     0.10
#define WEIGHT_UPTIME     0.10
#define WEIGHT_REPUTATION 0.25
#define WEIGHT_CAPACITY   0.05

/* The round-trip time whose term is 0.5: 1 / (1 + rtt / RTT_HALF_MS). */
#define RTT_HALF_MS       50.0
/* The capacity whose term is 0.5: capacity / (capacity + CAPACITY_HALF). */
#define CAPACITY_HALF     100.0
/* Term of a metric nobody measured: neither rewarded nor punished. */
#define NEUTRAL           0.5

/* EWMA weights of a new sample. */
#define RTT_ALPHA         0.3
#define REPUTATION_ALPHA  0.2

/* How much a mode likes a kind of provider; 0 excludes it. */
#define PREFERENCE_SERVER_HYBRID 0.5

typedef enum {
  HEALTH_HEALTHY,
  HEALTH_PROBATION,
  HEALTH_UNHEALTHY,
} Health;

typedef enum {
  USABLE,
  UNUSABLE_MODE,
  UNUSABLE_UNAVAILABLE,
  UNUSABLE_UNHEALTHY,
} Usability;

typedef struct _ServiceEntry ServiceEntry;

typedef struct {
  PlexusBroker   *broker;       /* not a reference: the broker owns us */
  ServiceEntry   *service;
  PlexusProvider *provider;
  gulong          notify_id;

  /* Health, from real request outcomes. "tripped" means it reached the
   * failure threshold: excluded until retry_at, on probation after. */
  guint           consecutive_failures;
  gboolean        tripped;
  gint64          retry_at;
  gint64          backoff_usec;
  gchar          *last_failure;
} ProviderEntry;

struct _ServiceEntry {
  gchar         *name;
  GHashTable    *providers;     /* peer ID → ProviderEntry (owned) */
  ProviderEntry *selected;
  gboolean       active;        /* plexus_broker_select() was called */
  gboolean       ever_selected;
};

struct _PlexusBroker
{
  GObject                parent_instance;

  PlexusBrokerClockFunc  clock_func;
  gpointer               clock_data;
  PlexusMode             mode;
  gchar                 *local_region;
  gdouble                hysteresis;
  guint                  failure_threshold;

  /* Service name → ServiceEntry (owned). Entries are only made for known
   * service names and live as long as the broker, so a pointer to one
   * stays valid across signal emissions. */
  GHashTable            *services;
};

G_DEFINE_TYPE (PlexusBroker, plexus_broker, G_TYPE_OBJECT)

enum {
  SIGNAL_PROVIDER_ADDED,
  SIGNAL_PROVIDER_REMOVED,
  SIGNAL_PROVIDER_SELECTED,
  SIGNAL_FAILOVER,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct {
  ProviderEntry *entry;
  gdouble        score;
} Ranked;

static gint64
broker_now (PlexusBroker *self)
{
  if (self->clock_func != NULL)
    return self->clock_func (self->clock_data);
  return g_get_monotonic_time ();
}

static void
provider_entry_free (ProviderEntry *entry)
{
  if (entry->notify_id != 0)
    g_signal_handler_disconnect (entry->provider, entry->notify_id);
  g_object_unref (entry->provider);
  g_free (entry->last_failure);
  g_free (entry);
}

static void
service_entry_free (ServiceEntry *svc)
{
  svc->selected = NULL;
  g_hash_table_unref (svc->providers);
  g_free (svc->name);
  g_free (svc);
}

static ServiceEntry *
broker_ensure_service (PlexusBroker *self,
                       const gchar  *name)
{
  ServiceEntry *svc = g_hash_table_lookup (self->services, name);

  if (svc != NULL)
    return svc;
  svc = g_new0 (ServiceEntry, 1);
  svc->name = g_strdup (name);
  svc->providers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) provider_entry_free);
  g_hash_table_insert (self->services, svc->name, svc);
  return svc;
}

/* The entry of this very provider object, or NULL if it is not (or no
 * longer) registered. */
static ProviderEntry *
broker_find_entry (PlexusBroker   *self,
                   PlexusProvider *provider)
{
  ServiceEntry *svc = g_hash_table_lookup (self->services,
                                           plexus_provider_get_service (provider));
  ProviderEntry *entry;

  if (svc == NULL)
    return NULL;
  entry = g_hash_table_lookup (svc->providers, plexus_provider_get_peer_id (provider));
  if (entry == NULL || entry->provider != provider)
    return NULL;
  return entry;
}

static Health
entry_health (ProviderEntry *entry,
              gint64         now)
{
  if (!entry->tripped)
    return HEALTH_HEALTHY;
  return now < entry->retry_at ? HEALTH_UNHEALTHY : HEALTH_PROBATION;
}

static gdouble
kind_preference (PlexusMode         mode,
                 PlexusProviderKind kind)
{
  switch (kind) {
  case PLEXUS_PROVIDER_KIND_LOCAL:
    /* A local provider is this node itself: every mode may use it. */
    return 1.0;
  case PLEXUS_PROVIDER_KIND_PEER:
    return mode == PLEXUS_MODE_TRADITIONAL ? 0.0 : 1.0;
  case PLEXUS_PROVIDER_KIND_SERVER:
    if (mode == PLEXUS_MODE_PEER)
      return 0.0;
    /* In hybrid mode the server is the fallback: it wins only when the
     * peers are clearly worse. */
    return mode == PLEXUS_MODE_HYBRID ? PREFERENCE_SERVER_HYBRID : 1.0;
  default:
    return 0.0;
  }
}

static gdouble
provider_base_score (PlexusBroker   *self,
                     PlexusProvider *provider)
{
  gdouble load = plexus_provider_get_load (provider);
  gdouble rtt = plexus_provider_get_rtt_ms (provider);
  const gchar *region = plexus_provider_get_region (provider);
  gdouble uptime = plexus_provider_get_uptime (provider);
  gdouble reputation = plexus_provider_get_reputation (provider);
  gint64 capacity = plexus_provider_get_capacity (provider);
  gdouble headroom_term, rtt_term, region_term, uptime_term, capacity_term;

  headroom_term = 1.0 - load;
  rtt_term = rtt < 0.0 ? NEUTRAL : 1.0 / (1.0 + rtt / RTT_HALF_MS);
  if (region == NULL || self->local_region == NULL)
    region_term = NEUTRAL;
  else
    region_term = g_ascii_strcasecmp (region, self->local_region) == 0 ? 1.0 : 0.0;
  uptime_term = uptime < 0.0 ? NEUTRAL : uptime;
  capacity_term = capacity < 0 ? NEUTRAL : (gdouble) capacity / ((gdouble) capacity + CAPACITY_HALF);

  return WEIGHT_HEADROOM * headroom_term +
         WEIGHT_RTT * rtt_term +
         WEIGHT_REGION * region_term +
         WEIGHT_UPTIME * uptime_term +
         WEIGHT_REPUTATION * reputation +
         WEIGHT_CAPACITY * capacity_term;
}

/* Why a provider cannot be used, in order of precedence: the mode is
 * policy, availability is the provider's own word, health is our
 * experience with it. @entry is NULL for a provider not registered. */
static Usability
provider_usability (PlexusBroker   *self,
                    PlexusProvider *provider,
                    ProviderEntry  *entry,
                    gint64          now)
{
  if (kind_preference (self->mode, plexus_provider_get_kind (provider)) <= 0.0)
    return UNUSABLE_MODE;
  if (!plexus_provider_get_available (provider))
    return UNUSABLE_UNAVAILABLE;
  if (entry != NULL && entry_health (entry, now) == HEALTH_UNHEALTHY)
    return UNUSABLE_UNHEALTHY;
  return USABLE;
}

static gdouble
provider_score (PlexusBroker   *self,
                PlexusProvider *provider,
                ProviderEntry  *entry,
                gint64          now)
{
  if (provider_usability (self, provider, entry, now) != USABLE)
    return PLEXUS_BROKER_SCORE_UNUSABLE;
  return provider_base_score (self, provider) *
         kind_preference (self->mode, plexus_provider_get_kind (provider));
}

static gchar *
entry_unusable_reason (PlexusBroker  *self,
                       ProviderEntry *entry,
                       Usability      usability)
{
  switch (usability) {
  case UNUSABLE_MODE:
    return g_strdup_printf ("excluded by mode '%s'", plexus_mode_to_string (self->mode));
  case UNUSABLE_UNAVAILABLE:
    return g_strdup ("provider unavailable");
  case UNUSABLE_UNHEALTHY:
    return g_strdup_printf ("%u consecutive failures: %s",
                            entry->consecutive_failures,
                            entry->last_failure != NULL ? entry->last_failure : "request failed");
  case USABLE:
  default:
    return g_strdup ("provider usable");
  }
}

static gint
ranked_compare (gconstpointer a,
                gconstpointer b)
{
  const Ranked *ra = a;
  const Ranked *rb = b;

  if (ra->score > rb->score)
    return -1;
  if (ra->score < rb->score)
    return 1;
  /* Equal scores: the peer ID decides, so runs are reproducible. */
  return strcmp (plexus_provider_get_peer_id (ra->entry->provider),
                 plexus_provider_get_peer_id (rb->entry->provider));
}

/* Every provider of @svc with its score, best first, unusable ones last. */
static GArray *
service_rank (PlexusBroker *self,
              ServiceEntry *svc,
              gint64        now)
{
  GArray *ranked = g_array_sized_new (FALSE, FALSE, sizeof (Ranked),
                                      g_hash_table_size (svc->providers));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, svc->providers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Ranked r;
    r.entry = value;
    r.score = provider_score (self, r.entry->provider, r.entry, now);
    g_array_append_val (ranked, r);
  }
  g_array_sort (ranked, ranked_compare);
  return ranked;
}

/* Makes @to the selection of @svc and tells the listeners. With @from set,
 * the previous selection became unusable: failover first, then
 * provider-selected for the new one. Handlers may call back into the
 * broker, so nothing here touches a ProviderEntry after emitting. */
static void
service_commit (PlexusBroker   *self,
                ServiceEntry   *svc,
                ProviderEntry  *to,
                PlexusProvider *from,
                const gchar    *reason)
{
  g_autoptr(PlexusProvider) to_provider = NULL;
  g_autoptr(PlexusProvider) from_provider = NULL;

  svc->selected = to;
  if (to != NULL) {
    svc->ever_selected = TRUE;
    to_provider = g_object_ref (to->provider);
  }
  if (from != NULL)
    from_provider = g_object_ref (from);

  g_object_ref (self);
  if (from_provider != NULL) {
    g_debug ("%s: failover from %s to %s: %s", svc->name,
             plexus_provider_get_peer_id (from_provider),
             to_provider != NULL ? plexus_provider_get_peer_id (to_provider) : "nothing",
             reason);
    g_signal_emit (self, signals[SIGNAL_FAILOVER], 0,
                   svc->name, from_provider, to_provider, reason);
    /* Skip the announcement if a handler already moved the selection on;
     * that move was announced by itself. */
    if (to_provider != NULL && svc->selected != NULL &&
        svc->selected->provider == to_provider) {
      g_autofree gchar *selected_reason =
        g_strdup_printf ("failover from '%s': %s",
                         plexus_provider_get_peer_id (from_provider), reason);
      g_signal_emit (self, signals[SIGNAL_PROVIDER_SELECTED], 0,
                     svc->name, to_provider, selected_reason);
    }
  } else if (to_provider != NULL) {
    g_debug ("%s: selected %s: %s", svc->name,
             plexus_provider_get_peer_id (to_provider), reason);
    g_signal_emit (self, signals[SIGNAL_PROVIDER_SELECTED], 0,
                   svc->name, to_provider, reason);
  }
  g_object_unref (self);
}

/* The heart of the broker: brings the selection of @svc up to date. It is
 * idempotent, so calling it more often than needed is harmless. */
static void
service_evaluate (PlexusBroker *self,
                  ServiceEntry *svc,
                  gint64        now)
{
  ProviderEntry *current = svc->selected;
  ProviderEntry *best = NULL;
  gdouble best_score = PLEXUS_BROKER_SCORE_UNUSABLE;
  g_autoptr(GArray) ranked = NULL;
  g_autofree gchar *reason = NULL;

  if (!svc->active)
    return;

  ranked = service_rank (self, svc, now);
  if (ranked->len > 0 && g_array_index (ranked, Ranked, 0).score >= 0.0) {
    best = g_array_index (ranked, Ranked, 0).entry;
    best_score = g_array_index (ranked, Ranked, 0).score;
  }

  if (current != NULL) {
    Usability usability = provider_usability (self, current->provider, current, now);
    gdouble current_score;

    if (usability != USABLE) {
      reason = entry_unusable_reason (self, current, usability);
      service_commit (self, svc, best, current->provider, reason);
      return;
    }
    if (best == current)
      return;
    /* Hysteresis: a usable selection is only replaced by a clearly better
     * provider. The margin is measured against the current score, so a
     * round trip back needs the scores to swing by twice the margin. */
    current_score = provider_score (self, current->provider, current, now);
    if (!(best_score > current_score + self->hysteresis))
      return;
    reason = g_strdup_printf ("score %.2f beats current %.2f by more than %.2f",
                              best_score, current_score, self->hysteresis);
  } else {
    if (best == NULL)
      return;
    if (svc->ever_selected)
      reason = g_strdup_printf ("usable again after none was (score %.2f)", best_score);
    else
      reason = g_strdup_printf ("first provider (score %.2f)", best_score);
  }
  service_commit (self, svc, best, NULL, reason);
}

static gint
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* Sorted snapshot of the service names: handlers may register services
 * while we emit. The names are owned by service entries, which live as
 * long as the broker. */
static GPtrArray *
broker_service_names (PlexusBroker *self)
{
  GPtrArray *names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->services);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* Re-evaluates every service in name order, so signals come out in the
 * same order on every run. */
static void
broker_evaluate_all (PlexusBroker *self)
{
  g_autoptr(GPtrArray) names = broker_service_names (self);
  gint64 now = broker_now (self);

  for (guint i = 0; i < names->len; i++) {
    ServiceEntry *svc = g_hash_table_lookup (self->services, g_ptr_array_index (names, i));
    service_evaluate (self, svc, now);
  }
}

static void
on_provider_notify (PlexusProvider *provider,
                    GParamSpec     *pspec,
                    gpointer        user_data)
{
  ProviderEntry *entry = user_data;

  service_evaluate (entry->broker, entry->service, broker_now (entry->broker));
}

static void
plexus_broker_dispose (GObject *object)
{
  PlexusBroker *self = PLEXUS_BROKER (object);

  /* Disconnects from every provider. */
  if (self->services != NULL)
    g_hash_table_remove_all (self->services);

  G_OBJECT_CLASS (plexus_broker_parent_class)->dispose (object);
}

static void
plexus_broker_finalize (GObject *object)
{
  PlexusBroker *self = PLEXUS_BROKER (object);

  g_clear_pointer (&self->services, g_hash_table_unref);
  g_free (self->local_region);

  G_OBJECT_CLASS (plexus_broker_parent_class)->finalize (object);
}

static void
plexus_broker_class_init (PlexusBrokerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_broker_dispose;
  object_class->finalize = plexus_broker_finalize;

  /**
   * PlexusBroker::provider-added:
   * @broker: the #PlexusBroker
   * @provider: the #PlexusProvider now registered
   *
   * Emitted after a provider was added with plexus_broker_add_provider().
   */
  signals[SIGNAL_PROVIDER_ADDED] =
    g_signal_new ("provider-added",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL,
                  g_cclosure_marshal_VOID__OBJECT,
                  G_TYPE_NONE, 1,
                  PLEXUS_TYPE_PROVIDER);
  g_signal_set_va_marshaller (signals[SIGNAL_PROVIDER_ADDED],
                              G_TYPE_FROM_CLASS (klass),
                              g_cclosure_marshal_VOID__OBJECTv);

  /**
   * PlexusBroker::provider-removed:
   * @broker: the #PlexusBroker
   * @provider: the #PlexusProvider no longer registered
   *
   * Emitted after a provider was removed with
   * plexus_broker_remove_provider(). If it was the selected provider of
   * its service, #PlexusBroker::failover follows with the reason
   * `provider removed`.
   */
  signals[SIGNAL_PROVIDER_REMOVED] =
    g_signal_new ("provider-removed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL,
                  g_cclosure_marshal_VOID__OBJECT,
                  G_TYPE_NONE, 1,
                  PLEXUS_TYPE_PROVIDER);
  g_signal_set_va_marshaller (signals[SIGNAL_PROVIDER_REMOVED],
                              G_TYPE_FROM_CLASS (klass),
                              g_cclosure_marshal_VOID__OBJECTv);

  /**
   * PlexusBroker::provider-selected:
   * @broker: the #PlexusBroker
   * @service: the service name
   * @provider: the #PlexusProvider now selected
   * @reason: why, in words, e.g. `first provider (score 0.82)` or
   *   `score 0.82 beats current 0.61 by more than 0.15`
   *
   * Emitted whenever the selection of a service changes to a provider:
   * the first selection, a clearly better provider (beyond the
   * hysteresis margin), or right after #PlexusBroker::failover, with the
   * reason `failover from 'PEER': REASON`.
   */
  signals[SIGNAL_PROVIDER_SELECTED] =
    g_signal_new ("provider-selected",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3,
                  G_TYPE_STRING,
                  PLEXUS_TYPE_PROVIDER,
                  G_TYPE_STRING);

  /**
   * PlexusBroker::failover:
   * @broker: the #PlexusBroker
   * @service: the service name
   * @from: the #PlexusProvider that was selected and became unusable
   * @to: (nullable): the #PlexusProvider selected instead, or %NULL when
   *   no usable provider is left
   * @reason: why @from had to go, e.g. `provider unavailable`,
   *   `provider removed`, `excluded by mode 'peer'` or
   *   `3 consecutive failures: timed out`
   *
   * Emitted when the selected provider of a service is removed or
   * becomes unusable. When @to is not %NULL,
   * #PlexusBroker::provider-selected follows.
   */
  signals[SIGNAL_FAILOVER] =
    g_signal_new ("failover",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4,
                  G_TYPE_STRING,
                  PLEXUS_TYPE_PROVIDER,
                  PLEXUS_TYPE_PROVIDER,
                  G_TYPE_STRING);
}

static void
plexus_broker_init (PlexusBroker *self)
{
  self->mode = PLEXUS_MODE_HYBRID;
  self->hysteresis = PLEXUS_BROKER_DEFAULT_HYSTERESIS;
  self->failure_threshold = PLEXUS_BROKER_DEFAULT_FAILURE_THRESHOLD;
  self->services = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify) service_entry_free);
}

/**
 * plexus_broker_new:
 *
 * Creates an empty broker in hybrid mode, with no local region, the
 * default hysteresis (%PLEXUS_BROKER_DEFAULT_HYSTERESIS) and failure
 * threshold (%PLEXUS_BROKER_DEFAULT_FAILURE_THRESHOLD), reading time from
 * g_get_monotonic_time().
 *
 * Returns: (transfer full): a new #PlexusBroker
 */
PlexusBroker *
plexus_broker_new (void)
{
  return g_object_new (PLEXUS_TYPE_BROKER, NULL);
}

/**
 * plexus_broker_set_clock:
 * @self: a #PlexusBroker
 * @func: (nullable) (scope forever): the clock, or %NULL for
 *   g_get_monotonic_time()
 * @user_data: data for @func
 *
 * Sets where the broker reads the time, in microseconds on a monotonic
 * clock. A simulator or a test passes a virtual clock. @user_data must
 * outlive the broker or the next call to this function.
 */
void
plexus_broker_set_clock (PlexusBroker          *self,
                         PlexusBrokerClockFunc  func,
                         gpointer               user_data)
{
  g_return_if_fail (PLEXUS_IS_BROKER (self));

  self->clock_func = func;
  self->clock_data = func != NULL ? user_data : NULL;
}

/**
 * plexus_broker_set_mode:
 * @self: a #PlexusBroker
 * @mode: the network mode
 *
 * Sets the network mode: `peer` excludes server providers, `traditional`
 * excludes peer providers, `hybrid` uses both with the server as the
 * fallback. Local providers are usable in every mode. Every service is
 * re-evaluated: a selection the new mode excludes fails over.
 */
void
plexus_broker_set_mode (PlexusBroker *self,
                        PlexusMode    mode)
{
  g_return_if_fail (PLEXUS_IS_BROKER (self));
  g_return_if_fail (plexus_mode_to_string (mode) != NULL);

  if (self->mode == mode)
    return;
  self->mode = mode;
  broker_evaluate_all (self);
}

/**
 * plexus_broker_get_mode:
 * @self: a #PlexusBroker
 *
 * Returns: the network mode
 */
PlexusMode
plexus_broker_get_mode (PlexusBroker *self)
{
  g_return_val_if_fail (PLEXUS_IS_BROKER (self), PLEXUS_MODE_HYBRID);
  return self->mode;
}

/**
 * plexus_broker_set_local_region:
 * @self: a #PlexusBroker
 * @region: (nullable): the region of this node, or %NULL if unknown
 *
 * Sets the region providers are compared with (ASCII case-insensitively).
 * Every service is re-evaluated, with hysteresis.
 */
void
plexus_broker_set_local_region (PlexusBroker *self,
                                const gchar  *region)
{
  g_return_if_fail (PLEXUS_IS_BROKER (self));

  if (region != NULL && *region == '\0')
    region = NULL;
  if (g_strcmp0 (self->local_region, region) == 0)
    return;
  g_free (self->local_region);
  self->local_region = g_strdup (region);
  broker_evaluate_all (self);
}

/**
 * plexus_broker_get_local_region:
 * @self: a #PlexusBroker
 *
 * Returns: (nullable): the region of this node, or %NULL if unknown
 */
const gchar *
plexus_broker_get_local_region (PlexusBroker *self)
{
  g_return_val_if_fail (PLEXUS_IS_BROKER (self), NULL);
  return self->local_region;
}

/**
 * plexus_broker_set_hysteresis:
 * @self: a #PlexusBroker
 * @margin: score margin, 0.0..1.0
 *
 * Sets how much better (in score) another usable provider must be to
 * replace the current selection; the default is
 * %PLEXUS_BROKER_DEFAULT_HYSTERESIS. 0 switches to any better provider.
 * Failover from an unusable selection never waits for the margin. Every
 * service is re-evaluated.
 */
void
plexus_broker_set_hysteresis (PlexusBroker *self,
                              gdouble       margin)
{
  g_return_if_fail (PLEXUS_IS_BROKER (self));
  g_return_if_fail (margin >= 0.0 && margin <= 1.0);

  if (self->hysteresis == margin)
    return;
  self->hysteresis = margin;
  broker_evaluate_all (self);
}

/**
 * plexus_broker_get_hysteresis:
 * @self: a #PlexusBroker
 *
 * Returns: the score margin, see plexus_broker_set_hysteresis()
 */
gdouble
plexus_broker_get_hysteresis (PlexusBroker *self)
{
  g_return_val_if_fail (PLEXUS_IS_BROKER (self), PLEXUS_BROKER_DEFAULT_HYSTERESIS);
  return self->hysteresis;
}

/**
 * plexus_broker_set_failure_threshold:
 * @self: a #PlexusBroker
 * @failures: consecutive failures that make a provider unhealthy, at
 *   least 1
 *
 * Sets after how many consecutive failed requests a healthy provider is
 * excluded; the default is %PLEXUS_BROKER_DEFAULT_FAILURE_THRESHOLD. It
 * applies from the next reported failure.
 */
void
plexus_broker_set_failure_threshold (PlexusBroker *self,
                                     guint         failures)
{
  g_return_if_fail (PLEXUS_IS_BROKER (self));
  g_return_if_fail (failures >= 1);

  self->failure_threshold = failures;
}

/**
 * plexus_broker_get_failure_threshold:
 * @self: a #PlexusBroker
 *
 * Returns: consecutive failures that make a provider unhealthy
 */
guint
plexus_broker_get_failure_threshold (PlexusBroker *self)
{
  g_return_val_if_fail (PLEXUS_IS_BROKER (self), PLEXUS_BROKER_DEFAULT_FAILURE_THRESHOLD);
  return self->failure_threshold;
}

/**
 * plexus_broker_add_provider:
 * @self: a #PlexusBroker
 * @provider: the provider to register
 * @error: return location for a #GError
 *
 * Registers @provider under (service, peer ID) and emits
 * #PlexusBroker::provider-added. The broker keeps a reference and follows
 * the provider's property changes. If its service already has a
 * selection, the newcomer may take over (beyond the hysteresis margin),
 * or becomes the selection if there was none.
 *
 * Returns: %TRUE on success; %FALSE with %PLEXUS_ERROR_UNKNOWN_SERVICE if
 *   the service is not one Plexus knows, or %PLEXUS_ERROR_EXISTS if a
 *   provider of that service by that peer is already registered
 */
gboolean
plexus_broker_add_provider (PlexusBroker   *self,
                            PlexusProvider *provider,
                            GError        **error)
{
  const gchar *service;
  const gchar *peer_id;
  ServiceEntry *svc;
  ProviderEntry *entry;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), FALSE);
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (provider), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  service = plexus_provider_get_service (provider);
  peer_id = plexus_provider_get_peer_id (provider);
  if (!plexus_service_name_is_known (service)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE,
                 "cannot add provider '%s': '%s' is not a service Plexus knows",
                 peer_id, service);
    return FALSE;
  }
  svc = broker_ensure_service (self, service);
  if (g_hash_table_contains (svc->providers, peer_id)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS,
                 "a provider of '%s' from peer '%s' is already registered",
                 service, peer_id);
    return FALSE;
  }

  entry = g_new0 (ProviderEntry, 1);
  entry->broker = self;
  entry->service = svc;
  entry->provider = g_object_ref (provider);
  entry->notify_id = g_signal_connect (provider, "notify",
                                       G_CALLBACK (on_provider_notify), entry);
  /* The key is the provider's own construct-only string. */
  g_hash_table_insert (svc->providers, (gpointer) peer_id, entry);

  g_debug ("%s: added %s provider %s", service,
           plexus_provider_kind_to_string (plexus_provider_get_kind (provider)), peer_id);
  g_signal_emit (self, signals[SIGNAL_PROVIDER_ADDED], 0, provider);

  service_evaluate (self, svc, broker_now (self));
  return TRUE;
}

/**
 * plexus_broker_remove_provider:
 * @self: a #PlexusBroker
 * @service: the service name
 * @peer_id: the peer ID of the provider
 *
 * Unregisters a provider and emits #PlexusBroker::provider-removed. If it
 * was the selected provider of @service, #PlexusBroker::failover follows
 * (reason `provider removed`) to the best remaining usable provider, or to
 * %NULL if none is left.
 *
 * Returns: %TRUE if such a provider was registered
 */
gboolean
plexus_broker_remove_provider (PlexusBroker *self,
                               const gchar  *service,
                               const gchar  *peer_id)
{
  ServiceEntry *svc;
  ProviderEntry *entry;
  ProviderEntry *next = NULL;
  gboolean was_selected;
  g_autoptr(PlexusProvider) provider = NULL;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), FALSE);
  g_return_val_if_fail (service != NULL, FALSE);
  g_return_val_if_fail (peer_id != NULL, FALSE);

  svc = g_hash_table_lookup (self->services, service);
  if (svc == NULL)
    return FALSE;
  entry = g_hash_table_lookup (svc->providers, peer_id);
  if (entry == NULL)
    return FALSE;

  provider = g_object_ref (entry->provider);
  was_selected = svc->selected == entry;
  if (was_selected)
    svc->selected = NULL;
  g_hash_table_remove (svc->providers, peer_id);

  /* Decide before emitting, so every signal describes the same state. */
  if (was_selected) {
    g_autoptr(GArray) ranked = service_rank (self, svc, broker_now (self));
    if (ranked->len > 0 && g_array_index (ranked, Ranked, 0).score >= 0.0)
      next = g_array_index (ranked, Ranked, 0).entry;
    svc->selected = next;
  }

  g_debug ("%s: removed provider %s", service, plexus_provider_get_peer_id (provider));
  g_object_ref (self);
  g_signal_emit (self, signals[SIGNAL_PROVIDER_REMOVED], 0, provider);
  /* A provider-removed handler may have changed the selection already; the
   * failover still happened and is reported, toward what is selected now. */
  if (was_selected)
    service_commit (self, svc, svc->selected, provider, "provider removed");
  g_object_unref (self);
  return TRUE;
}

/**
 * plexus_broker_lookup_provider:
 * @self: a #PlexusBroker
 * @service: the service name
 * @peer_id: the peer ID of the provider
 *
 * Returns: (transfer none) (nullable): the registered provider, or %NULL
 */
PlexusProvider *
plexus_broker_lookup_provider (PlexusBroker *self,
                               const gchar  *service,
                               const gchar  *peer_id)
{
  ServiceEntry *svc;
  ProviderEntry *entry;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), NULL);
  g_return_val_if_fail (service != NULL, NULL);
  g_return_val_if_fail (peer_id != NULL, NULL);

  svc = g_hash_table_lookup (self->services, service);
  if (svc == NULL)
    return NULL;
  entry = g_hash_table_lookup (svc->providers, peer_id);
  return entry != NULL ? entry->provider : NULL;
}

static void
append_ranked (GPtrArray *result,
               GArray    *ranked)
{
  for (guint i = 0; i < ranked->len; i++)
    g_ptr_array_add (result, g_object_ref (g_array_index (ranked, Ranked, i).entry->provider));
}

/**
 * plexus_broker_list_providers:
 * @self: a #PlexusBroker
 * @service: (nullable): a service name, or %NULL for every service
 *
 * Lists registered providers, usable or not, sorted by service name, then
 * by score (best first; unusable ones last), then by peer ID.
 *
 * Returns: (transfer container) (element-type PlexusProvider): the
 *   providers; the array holds a reference on each
 */
GPtrArray *
plexus_broker_list_providers (PlexusBroker *self,
                              const gchar  *service)
{
  GPtrArray *result;
  gint64 now;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), NULL);

  result = g_ptr_array_new_with_free_func (g_object_unref);
  now = broker_now (self);
  if (service != NULL) {
    ServiceEntry *svc = g_hash_table_lookup (self->services, service);
    if (svc != NULL) {
      g_autoptr(GArray) ranked = service_rank (self, svc, now);
      append_ranked (result, ranked);
    }
  } else {
    g_autoptr(GPtrArray) names = broker_service_names (self);

    for (guint i = 0; i < names->len; i++) {
      ServiceEntry *svc = g_hash_table_lookup (self->services, g_ptr_array_index (names, i));
      g_autoptr(GArray) ranked = service_rank (self, svc, now);
      append_ranked (result, ranked);
    }
  }
  return result;
}

/**
 * plexus_broker_score:
 * @self: a #PlexusBroker
 * @provider: a provider, registered or not
 *
 * Computes the documented score of @provider under the current mode,
 * local region and clock: a weighted sum in 0..1 of headroom, round-trip
 * time, region, uptime, reputation and capacity, times the preference of
 * the mode for the provider's kind. A provider that is not registered has
 * no health record and counts as healthy.
 *
 * Returns: the score, higher is better, or %PLEXUS_BROKER_SCORE_UNUSABLE
 *   (below zero) if the provider is unavailable, excluded by the mode or
 *   unhealthy
 */
gdouble
plexus_broker_score (PlexusBroker   *self,
                     PlexusProvider *provider)
{
  g_return_val_if_fail (PLEXUS_IS_BROKER (self), PLEXUS_BROKER_SCORE_UNUSABLE);
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (provider), PLEXUS_BROKER_SCORE_UNUSABLE);

  return provider_score (self, provider, broker_find_entry (self, provider), broker_now (self));
}

/* The NO_PROVIDER message: how many exist and why none is usable. */
static gchar *
service_describe_unusable (PlexusBroker *self,
                           const gchar  *service,
                           ServiceEntry *svc,
                           gint64        now)
{
  guint n_known = svc != NULL ? g_hash_table_size (svc->providers) : 0;
  guint n_unavailable = 0, n_unhealthy = 0, n_mode = 0;
  gint64 next_retry = G_MAXINT64;
  GString *msg;
  GHashTableIter iter;
  gpointer value;

  msg = g_string_new (NULL);
  g_string_append_printf (msg, "no usable provider of '%s': ", service);
  if (n_known == 0) {
    g_string_append (msg, "none known");
    return g_string_free (msg, FALSE);
  }

  g_hash_table_iter_init (&iter, svc->providers);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    ProviderEntry *entry = value;
    switch (provider_usability (self, entry->provider, entry, now)) {
    case UNUSABLE_MODE:
      n_mode++;
      break;
    case UNUSABLE_UNAVAILABLE:
      n_unavailable++;
      break;
    case UNUSABLE_UNHEALTHY:
      n_unhealthy++;
      next_retry = MIN (next_retry, entry->retry_at);
      break;
    case USABLE:
    default:
      break;
    }
  }

  g_string_append_printf (msg, "%u known", n_known);
  if (n_unavailable > 0)
    g_string_append_printf (msg, ", %u unavailable", n_unavailable);
  if (n_unhealthy > 0) {
    gint64 wait = next_retry - now;
    g_string_append_printf (msg, ", %u unhealthy (next retry in %" G_GINT64_FORMAT " s)",
                            n_unhealthy, (wait + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  }
  if (n_mode > 0)
    g_string_append_printf (msg, ", %u excluded by mode '%s'",
                            n_mode, plexus_mode_to_string (self->mode));
  return g_string_free (msg, FALSE);
}

/**
 * plexus_broker_select:
 * @self: a #PlexusBroker
 * @service: a service name
 * @k: how many providers the caller wants, at least 1
 * @error: return location for a #GError
 *
 * Selects providers for a request: up to @k usable providers, the current
 * selection first, then the others by score, best first (ties broken by
 * peer ID). The extra ones are the redundant candidates a caller races or
 * falls back to.
 *
 * This is also where time-based changes are noticed: a provider whose
 * exclusion ended becomes a candidate again. The selection changes only
 * when the current one is unusable (#PlexusBroker::failover) or another
 * beats it by more than the hysteresis margin
 * (#PlexusBroker::provider-selected). The first call for a service makes
 * the first selection.
 *
 * Returns: (transfer container) (element-type PlexusProvider): the
 *   providers, at least one; %NULL with %PLEXUS_ERROR_UNKNOWN_SERVICE if
 *   Plexus does not know @service, or %PLEXUS_ERROR_NO_PROVIDER if no
 *   provider is usable (the message says how many exist and why none is
 *   usable)
 */
GPtrArray *
plexus_broker_select (PlexusBroker *self,
                      const gchar  *service,
                      guint         k,
                      GError      **error)
{
  ServiceEntry *svc;
  g_autoptr(GArray) ranked = NULL;
  g_autoptr(GPtrArray) result = NULL;
  gint64 now;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), NULL);
  g_return_val_if_fail (service != NULL, NULL);
  g_return_val_if_fail (k >= 1, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!plexus_service_name_is_known (service)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE,
                 "'%s' is not a service Plexus knows", service);
    return NULL;
  }

  svc = broker_ensure_service (self, service);
  svc->active = TRUE;
  service_evaluate (self, svc, broker_now (self));

  /* Rank again: handlers of the signals above may have changed things. */
  now = broker_now (self);
  ranked = service_rank (self, svc, now);
  result = g_ptr_array_new_with_free_func (g_object_unref);
  if (svc->selected != NULL &&
      provider_score (self, svc->selected->provider, svc->selected, now) >= 0.0)
    g_ptr_array_add (result, g_object_ref (svc->selected->provider));
  for (guint i = 0; i < ranked->len && result->len < k; i++) {
    const Ranked *r = &g_array_index (ranked, Ranked, i);
    if (r->score < 0.0)
      break;
    if (r->entry == svc->selected)
      continue;
    g_ptr_array_add (result, g_object_ref (r->entry->provider));
  }

  if (result->len == 0) {
    g_autofree gchar *msg = service_describe_unusable (self, service, svc, now);
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER, msg);
    return NULL;
  }
  return g_steal_pointer (&result);
}

/**
 * plexus_broker_get_selected:
 * @self: a #PlexusBroker
 * @service: a service name
 *
 * Returns: (transfer none) (nullable): the selected provider of @service,
 *   or %NULL if none is selected (not asked for yet, or nothing usable)
 */
PlexusProvider *
plexus_broker_get_selected (PlexusBroker *self,
                            const gchar  *service)
{
  ServiceEntry *svc;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), NULL);
  g_return_val_if_fail (service != NULL, NULL);

  svc = g_hash_table_lookup (self->services, service);
  if (svc == NULL || svc->selected == NULL)
    return NULL;
  return svc->selected->provider;
}

/**
 * plexus_broker_report_success:
 * @self: a #PlexusBroker
 * @provider: the provider that answered
 * @rtt_ms: the request's round-trip time in milliseconds, or a negative
 *   value if not measured
 *
 * Records a request that succeeded. The provider's #PlexusProvider:rtt-ms
 * becomes an exponentially weighted moving average of the samples
 * (weight 0.3 for the new one), its #PlexusProvider:reputation moves 20%
 * of the way toward 1, and its health is fully restored: the failure
 * count and the backoff start over, even while it is excluded (a late
 * answer is still an answer). A provider that is not registered is
 * ignored (the request may outlive its provider).
 */
void
plexus_broker_report_success (PlexusBroker   *self,
                              PlexusProvider *provider,
                              gdouble         rtt_ms)
{
  ProviderEntry *entry;
  ServiceEntry *svc;
  gdouble rtt, reputation;
  g_autoptr(PlexusProvider) keep = NULL;

  g_return_if_fail (PLEXUS_IS_BROKER (self));
  g_return_if_fail (PLEXUS_IS_PROVIDER (provider));
  g_return_if_fail (!isnan (rtt_ms));

  entry = broker_find_entry (self, provider);
  if (entry == NULL) {
    g_debug ("success reported for unregistered provider %s of %s; ignored",
             plexus_provider_get_peer_id (provider), plexus_provider_get_service (provider));
    return;
  }
  svc = entry->service;
  keep = g_object_ref (provider);

  if (entry->tripped)
    g_debug ("%s: provider %s healthy again", svc->name, plexus_provider_get_peer_id (provider));
  entry->consecutive_failures = 0;
  entry->tripped = FALSE;
  entry->retry_at = 0;
  entry->backoff_usec = 0;
  g_clear_pointer (&entry->last_failure, g_free);

  rtt = plexus_provider_get_rtt_ms (provider);
  if (rtt_ms >= 0.0)
    rtt = rtt < 0.0 ? rtt_ms : rtt + RTT_ALPHA * (rtt_ms - rtt);
  reputation = plexus_provider_get_reputation (provider);
  reputation = MIN (1.0, reputation + REPUTATION_ALPHA * (1.0 - reputation));

  /* One notify round for both, after the health update, so the
   * re-evaluation it triggers sees the whole new state. */
  g_object_freeze_notify (G_OBJECT (provider));
  plexus_provider_set_rtt_ms (provider, rtt);
  plexus_provider_set_reputation (provider, reputation);
  g_object_thaw_notify (G_OBJECT (provider));

  /* The health change alone may matter (e.g. nothing was selected). */
  service_evaluate (self, svc, broker_now (self));
}

/**
 * plexus_broker_report_failure:
 * @self: a #PlexusBroker
 * @provider: the provider that failed
 * @reason: (nullable): what went wrong, e.g. `timed out`
 *
 * Records a request that failed. The provider's
 * #PlexusProvider:reputation moves 20% of the way toward 0 and its
 * consecutive failures are counted. When they reach the failure threshold
 * (plexus_broker_set_failure_threshold()) the provider becomes unhealthy:
 * excluded for a backoff of %PLEXUS_BROKER_BACKOFF_MIN_USEC. After that it
 * is on probation, usable again; a failure on probation excludes it again
 * for twice the previous backoff, up to %PLEXUS_BROKER_BACKOFF_MAX_USEC,
 * and a success restores it. Failures reported while it is excluded
 * (requests that were already in flight) do not extend the backoff.
 *
 * If the provider was the selected one and is now excluded,
 * #PlexusBroker::failover is emitted with a reason like
 * `3 consecutive failures: timed out`. A provider that is not registered
 * is ignored.
 */
void
plexus_broker_report_failure (PlexusBroker   *self,
                              PlexusProvider *provider,
                              const gchar    *reason)
{
  ProviderEntry *entry;
  ServiceEntry *svc;
  gint64 now;
  gdouble reputation;
  g_autoptr(PlexusProvider) keep = NULL;

  g_return_if_fail (PLEXUS_IS_BROKER (self));
  g_return_if_fail (PLEXUS_IS_PROVIDER (provider));

  entry = broker_find_entry (self, provider);
  if (entry == NULL) {
    g_debug ("failure reported for unregistered provider %s of %s; ignored",
             plexus_provider_get_peer_id (provider), plexus_provider_get_service (provider));
    return;
  }
  svc = entry->service;
  keep = g_object_ref (provider);
  now = broker_now (self);

  if (entry->consecutive_failures < G_MAXUINT)
    entry->consecutive_failures++;
  g_free (entry->last_failure);
  entry->last_failure = g_strdup (reason != NULL && *reason != '\0' ? reason : "request failed");

  switch (entry_health (entry, now)) {
  case HEALTH_HEALTHY:
    if (entry->consecutive_failures >= self->failure_threshold) {
      entry->tripped = TRUE;
      entry->backoff_usec = PLEXUS_BROKER_BACKOFF_MIN_USEC;
      entry->retry_at = now + entry->backoff_usec;
      g_debug ("%s: provider %s unhealthy for %" G_GINT64_FORMAT " s after %u failures",
               svc->name, plexus_provider_get_peer_id (provider),
               entry->backoff_usec / G_USEC_PER_SEC, entry->consecutive_failures);
    }
    break;
  case HEALTH_PROBATION:
    entry->backoff_usec = MIN (entry->backoff_usec * 2, PLEXUS_BROKER_BACKOFF_MAX_USEC);
    entry->retry_at = now + entry->backoff_usec;
    g_debug ("%s: provider %s failed on probation; unhealthy for %" G_GINT64_FORMAT " s",
             svc->name, plexus_provider_get_peer_id (provider),
             entry->backoff_usec / G_USEC_PER_SEC);
    break;
  case HEALTH_UNHEALTHY:
  default:
    /* Already excluded: a request sent before that does not prolong it. */
    break;
  }

  reputation = plexus_provider_get_reputation (provider);
  reputation = MAX (0.0, reputation - REPUTATION_ALPHA * reputation);
  plexus_provider_set_reputation (provider, reputation);

  service_evaluate (self, svc, broker_now (self));
}

/**
 * plexus_broker_provider_is_healthy:
 * @self: a #PlexusBroker
 * @provider: a provider
 *
 * Whether real requests allow using @provider: %FALSE only while it is
 * excluded after repeated failures. A provider on probation is usable and
 * counts as healthy here; see plexus_broker_get_provider_health() for the
 * finer state. A provider that is not registered has no failure record
 * and is healthy.
 *
 * Returns: %FALSE if the provider is excluded for failing
 */
gboolean
plexus_broker_provider_is_healthy (PlexusBroker   *self,
                                   PlexusProvider *provider)
{
  ProviderEntry *entry;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), FALSE);
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (provider), FALSE);

  entry = broker_find_entry (self, provider);
  if (entry == NULL)
    return TRUE;
  return entry_health (entry, broker_now (self)) != HEALTH_UNHEALTHY;
}

/**
 * plexus_broker_get_provider_health:
 * @self: a #PlexusBroker
 * @provider: a provider
 *
 * The health of @provider as judged from real requests:
 * `healthy`; `unhealthy` while it is excluded after repeated failures; or
 * `probation` once the exclusion ended and until the next outcome (a
 * success makes it `healthy`, a failure `unhealthy` for twice as long).
 *
 * Returns: `healthy`, `probation` or `unhealthy`
 */
const gchar *
plexus_broker_get_provider_health (PlexusBroker   *self,
                                   PlexusProvider *provider)
{
  ProviderEntry *entry;

  g_return_val_if_fail (PLEXUS_IS_BROKER (self), NULL);
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (provider), NULL);

  entry = broker_find_entry (self, provider);
  if (entry == NULL)
    return "healthy";
  switch (entry_health (entry, broker_now (self))) {
  case HEALTH_PROBATION:
    return "probation";
  case HEALTH_UNHEALTHY:
    return "unhealthy";
  case HEALTH_HEALTHY:
  default:
    return "healthy";
  }
}
