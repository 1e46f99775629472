/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>

#include "plexus-enum-types.h"
#include "plexus-provider.h"

/**
 * SECTION:plexus-provider
 * @title: PlexusProvider
 * @short_description: one provider of one service
 *
 * A #PlexusProvider describes who can serve a service: a plugin of this
 * daemon (%PLEXUS_PROVIDER_KIND_LOCAL), another peer learned from
 * capability gossip (%PLEXUS_PROVIDER_KIND_PEER) or the traditional server
 * (%PLEXUS_PROVIDER_KIND_SERVER). The pair (#PlexusProvider:service,
 * #PlexusProvider:peer-id) is its identity in the #PlexusBroker.
 *
 * Every field is a GObject property. A setter emits #GObject::notify only
 * when the value really changes, so the broker, which listens to it,
 * re-ranks providers exactly when something it scores on moved.
 *
 * Defaults, and how "unknown" is spelled:
 *
 * - #PlexusProvider:available: %TRUE
 * - #PlexusProvider:load: 0.0 (idle); range 0.0..1.0
 * - #PlexusProvider:capacity: -1 (unknown); otherwise 0 or more
 * - #PlexusProvider:rtt-ms: -1 (not measured yet); any negative value
 *   given to the setter is stored as -1
 * - #PlexusProvider:region: %NULL (unknown)
 * - #PlexusProvider:uptime: -1 (unknown); otherwise 0.0..1.0; any
 *   negative value given to the setter is stored as -1
 * - #PlexusProvider:reputation: 1.0; range 0.0..1.0. A provider is
 *   trusted until real requests say otherwise; the broker lowers it on
 *   failures.
 *
 * Out-of-range and NaN values are programmer errors: the setter logs a
 * critical and leaves the value unchanged.
 */

struct _PlexusProvider
{
  GObject             parent_instance;

  gchar              *service;
  gchar              *peer_id;
  PlexusProviderKind  kind;

  gchar              *address;
  gboolean            available;
  gdouble             load;
  gint64              capacity;
  gdouble             rtt_ms;
  gchar              *region;
  gdouble             uptime;
  gdouble             reputation;
};

G_DEFINE_TYPE (PlexusProvider, plexus_provider, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_SERVICE,
  PROP_PEER_ID,
  PROP_KIND,
  PROP_ADDRESS,
  PROP_AVAILABLE,
  PROP_LOAD,
  PROP_CAPACITY,
  PROP_RTT_MS,
  PROP_REGION,
  PROP_UPTIME,
  PROP_REPUTATION,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
plexus_provider_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  PlexusProvider *self = PLEXUS_PROVIDER (object);

  switch (prop_id) {
  case PROP_SERVICE:
    g_value_set_string (value, self->service);
    break;
  case PROP_PEER_ID:
    g_value_set_string (value, self->peer_id);
    break;
  case PROP_KIND:
    g_value_set_enum (value, self->kind);
    break;
  case PROP_ADDRESS:
    g_value_set_string (value, self->address);
    break;
  case PROP_AVAILABLE:
    g_value_set_boolean (value, self->available);
    break;
  case PROP_LOAD:
    g_value_set_double (value, self->load);
    break;
  case PROP_CAPACITY:
    g_value_set_int64 (value, self->capacity);
    break;
  case PROP_RTT_MS:
    g_value_set_double (value, self->rtt_ms);
    break;
  case PROP_REGION:
    g_value_set_string (value, self->region);
    break;
  case PROP_UPTIME:
    g_value_set_double (value, self->uptime);
    break;
  case PROP_REPUTATION:
    g_value_set_double (value, self->reputation);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
plexus_provider_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  PlexusProvider *self = PLEXUS_PROVIDER (object);

  switch (prop_id) {
  case PROP_SERVICE:
    self->service = g_value_dup_string (value);
    break;
  case PROP_PEER_ID:
    self->peer_id = g_value_dup_string (value);
    break;
  case PROP_KIND:
    self->kind = g_value_get_enum (value);
    break;
  case PROP_ADDRESS:
    plexus_provider_set_address (self, g_value_get_string (value));
    break;
  case PROP_AVAILABLE:
    plexus_provider_set_available (self, g_value_get_boolean (value));
    break;
  case PROP_LOAD:
    plexus_provider_set_load (self, g_value_get_double (value));
    break;
  case PROP_CAPACITY:
    plexus_provider_set_capacity (self, g_value_get_int64 (value));
    break;
  case PROP_RTT_MS:
    plexus_provider_set_rtt_ms (self, g_value_get_double (value));
    break;
  case PROP_REGION:
    plexus_provider_set_region (self, g_value_get_string (value));
    break;
  case PROP_UPTIME:
    plexus_provider_set_uptime (self, g_value_get_double (value));
    break;
  case PROP_REPUTATION:
    plexus_provider_set_reputation (self, g_value_get_double (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
plexus_provider_constructed (GObject *object)
{
  PlexusProvider *self = PLEXUS_PROVIDER (object);

  G_OBJECT_CLASS (plexus_provider_parent_class)->constructed (object);

  /* The broker keys providers on these; an empty one would be a bug in the
   * caller, not something to carry around. */
  if (self->service == NULL || *self->service == '\0')
    g_critical ("PlexusProvider created without a service name");
  if (self->peer_id == NULL || *self->peer_id == '\0')
    g_critical ("PlexusProvider created without a peer ID");
}

static void
plexus_provider_finalize (GObject *object)
{
  PlexusProvider *self = PLEXUS_PROVIDER (object);

  g_free (self->service);
  g_free (self->peer_id);
  g_free (self->address);
  g_free (self->region);

  G_OBJECT_CLASS (plexus_provider_parent_class)->finalize (object);
}

static void
plexus_provider_class_init (PlexusProviderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags co = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = plexus_provider_get_property;
  object_class->set_property = plexus_provider_set_property;
  object_class->constructed = plexus_provider_constructed;
  object_class->finalize = plexus_provider_finalize;

  /**
   * PlexusProvider:service:
   *
   * The name of the service provided, e.g. `signaling`.
   */
  props[PROP_SERVICE] =
    g_param_spec_string ("service", "Service", "Name of the service provided",
                         NULL, co);

  /**
   * PlexusProvider:peer-id:
   *
   * The peer ID of the node that provides the service (this node's own ID
   * for a local provider).
   */
  props[PROP_PEER_ID] =
    g_param_spec_string ("peer-id", "Peer ID", "Peer ID of the providing node",
                         NULL, co);

  /**
   * PlexusProvider:kind:
   *
   * Where the provider lives.
   */
  props[PROP_KIND] =
    g_param_spec_enum ("kind", "Kind", "Where the provider lives",
                       PLEXUS_TYPE_PROVIDER_KIND, PLEXUS_PROVIDER_KIND_LOCAL, co);

  /**
   * PlexusProvider:address:
   *
   * The node's address, `ws://HOST:PORT/`, or %NULL for a local provider.
   */
  props[PROP_ADDRESS] =
    g_param_spec_string ("address", "Address", "WebSocket URI of the node",
                         NULL, rw);

  /**
   * PlexusProvider:available:
   *
   * Whether the provider says it offers the service now.
   */
  props[PROP_AVAILABLE] =
    g_param_spec_boolean ("available", "Available", "Whether the service is offered now",
                          TRUE, rw);

  /**
   * PlexusProvider:load:
   *
   * Current load, 0.0 (idle) to 1.0 (saturated).
   */
  props[PROP_LOAD] =
    g_param_spec_double ("load", "Load", "Current load, 0 idle .. 1 saturated",
                         0.0, 1.0, 0.0, rw);

  /**
   * PlexusProvider:capacity:
   *
   * How many units (rooms, relayed peers, ...) it can hold; -1 unknown.
   */
  props[PROP_CAPACITY] =
    g_param_spec_int64 ("capacity", "Capacity", "Units it can hold, -1 unknown",
                        -1, G_MAXINT64, -1, rw);

  /**
   * PlexusProvider:rtt-ms:
   *
   * Measured round-trip time in milliseconds; -1 when not measured yet.
   */
  props[PROP_RTT_MS] =
    g_param_spec_double ("rtt-ms", "RTT", "Measured round-trip time in ms, -1 unknown",
                         -1.0, G_MAXDOUBLE, -1.0, rw);

  /**
   * PlexusProvider:region:
   *
   * The region the node says it is in, or %NULL if unknown.
   */
  props[PROP_REGION] =
    g_param_spec_string ("region", "Region", "Region of the node",
                         NULL, rw);

  /**
   * PlexusProvider:uptime:
   *
   * Fraction of time the node is online, 0.0..1.0; -1 unknown.
   */
  props[PROP_UPTIME] =
    g_param_spec_double ("uptime", "Uptime", "Fraction of time online, -1 unknown",
                         -1.0, 1.0, -1.0, rw);

  /**
   * PlexusProvider:reputation:
   *
   * 0.0 (always fails) to 1.0 (always answers); the broker keeps it from
   * the outcomes of real requests.
   */
  props[PROP_REPUTATION] =
    g_param_spec_double ("reputation", "Reputation", "Reliability from real requests, 0..1",
                         0.0, 1.0, 1.0, rw);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
plexus_provider_init (PlexusProvider *self)
{
  self->kind = PLEXUS_PROVIDER_KIND_LOCAL;
  self->available = TRUE;
  self->load = 0.0;
  self->capacity = -1;
  self->rtt_ms = -1.0;
  self->uptime = -1.0;
  self->reputation = 1.0;
}

/**
 * plexus_provider_new:
 * @service: the service name, e.g. `signaling`
 * @peer_id: the peer ID of the providing node
 * @kind: where the provider lives
 *
 * Creates a provider with the defaults listed in the section description.
 * The service name is not checked here; the broker refuses unknown ones.
 *
 * Returns: (transfer full): a new #PlexusProvider
 */
PlexusProvider *
plexus_provider_new (const gchar        *service,
                     const gchar        *peer_id,
                     PlexusProviderKind  kind)
{
  g_return_val_if_fail (service != NULL && *service != '\0', NULL);
  g_return_val_if_fail (peer_id != NULL && *peer_id != '\0', NULL);
  g_return_val_if_fail (plexus_provider_kind_to_string (kind) != NULL, NULL);

  return g_object_new (PLEXUS_TYPE_PROVIDER,
                       "service", service,
                       "peer-id", peer_id,
                       "kind", kind,
                       NULL);
}

/**
 * plexus_provider_get_service:
 * @self: a #PlexusProvider
 *
 * Returns: the name of the service provided
 */
const gchar *
plexus_provider_get_service (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), NULL);
  return self->service;
}

/**
 * plexus_provider_get_peer_id:
 * @self: a #PlexusProvider
 *
 * Returns: the peer ID of the providing node
 */
const gchar *
plexus_provider_get_peer_id (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), NULL);
  return self->peer_id;
}

/**
 * plexus_provider_get_kind:
 * @self: a #PlexusProvider
 *
 * Returns: where the provider lives
 */
PlexusProviderKind
plexus_provider_get_kind (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), PLEXUS_PROVIDER_KIND_LOCAL);
  return self->kind;
}

/**
 * plexus_provider_get_address:
 * @self: a #PlexusProvider
 *
 * Returns: (nullable): the node's `ws://HOST:PORT/` address, or %NULL for
 *   a local provider or when not known
 */
const gchar *
plexus_provider_get_address (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), NULL);
  return self->address;
}

/**
 * plexus_provider_set_address:
 * @self: a #PlexusProvider
 * @address: (nullable): the node's address, or %NULL
 *
 * Sets #PlexusProvider:address.
 */
void
plexus_provider_set_address (PlexusProvider *self,
                             const gchar    *address)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));

  if (g_strcmp0 (self->address, address) == 0)
    return;
  g_free (self->address);
  self->address = g_strdup (address);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_ADDRESS]);
}

/**
 * plexus_provider_get_available:
 * @self: a #PlexusProvider
 *
 * Returns: whether the provider says it offers the service now
 */
gboolean
plexus_provider_get_available (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), FALSE);
  return self->available;
}

/**
 * plexus_provider_set_available:
 * @self: a #PlexusProvider
 * @available: whether the service is offered now
 *
 * Sets #PlexusProvider:available. An unavailable provider is never
 * selected; if it was the selected one, the broker fails over.
 */
void
plexus_provider_set_available (PlexusProvider *self,
                               gboolean        available)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));

  available = !!available;
  if (self->available == available)
    return;
  self->available = available;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_AVAILABLE]);
}

/**
 * plexus_provider_get_load:
 * @self: a #PlexusProvider
 *
 * Returns: the current load, 0.0 (idle) to 1.0 (saturated)
 */
gdouble
plexus_provider_get_load (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), 0.0);
  return self->load;
}

/**
 * plexus_provider_set_load:
 * @self: a #PlexusProvider
 * @load: 0.0 (idle) to 1.0 (saturated)
 *
 * Sets #PlexusProvider:load.
 */
void
plexus_provider_set_load (PlexusProvider *self,
                          gdouble         load)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));
  g_return_if_fail (load >= 0.0 && load <= 1.0);

  if (self->load == load)
    return;
  self->load = load;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_LOAD]);
}

/**
 * plexus_provider_get_capacity:
 * @self: a #PlexusProvider
 *
 * Returns: how many units the provider can hold, or -1 if unknown
 */
gint64
plexus_provider_get_capacity (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), -1);
  return self->capacity;
}

/**
 * plexus_provider_set_capacity:
 * @self: a #PlexusProvider
 * @capacity: units it can hold, or -1 if unknown
 *
 * Sets #PlexusProvider:capacity. Any negative value means unknown and is
 * stored as -1.
 */
void
plexus_provider_set_capacity (PlexusProvider *self,
                              gint64          capacity)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));

  if (capacity < 0)
    capacity = -1;
  if (self->capacity == capacity)
    return;
  self->capacity = capacity;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CAPACITY]);
}

/**
 * plexus_provider_get_rtt_ms:
 * @self: a #PlexusProvider
 *
 * Returns: the measured round-trip time in milliseconds, or -1 if it was
 *   not measured yet
 */
gdouble
plexus_provider_get_rtt_ms (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), -1.0);
  return self->rtt_ms;
}

/**
 * plexus_provider_set_rtt_ms:
 * @self: a #PlexusProvider
 * @rtt_ms: round-trip time in milliseconds, or a negative value for
 *   "not measured"
 *
 * Sets #PlexusProvider:rtt-ms. The broker sets it from the smoothed
 * round-trip times of successful requests (see
 * plexus_broker_report_success()).
 */
void
plexus_provider_set_rtt_ms (PlexusProvider *self,
                            gdouble         rtt_ms)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));
  g_return_if_fail (!isnan (rtt_ms) && rtt_ms <= G_MAXDOUBLE);

  if (rtt_ms < 0.0)
    rtt_ms = -1.0;
  if (self->rtt_ms == rtt_ms)
    return;
  self->rtt_ms = rtt_ms;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_RTT_MS]);
}

/**
 * plexus_provider_get_region:
 * @self: a #PlexusProvider
 *
 * Returns: (nullable): the node's region, or %NULL if unknown
 */
const gchar *
plexus_provider_get_region (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), NULL);
  return self->region;
}

/**
 * plexus_provider_set_region:
 * @self: a #PlexusProvider
 * @region: (nullable): the node's region, or %NULL if unknown
 *
 * Sets #PlexusProvider:region. An empty string is stored as %NULL.
 */
void
plexus_provider_set_region (PlexusProvider *self,
                            const gchar    *region)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));

  if (region != NULL && *region == '\0')
    region = NULL;
  if (g_strcmp0 (self->region, region) == 0)
    return;
  g_free (self->region);
  self->region = g_strdup (region);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REGION]);
}

/**
 * plexus_provider_get_uptime:
 * @self: a #PlexusProvider
 *
 * Returns: the fraction of time the node is online, 0.0..1.0, or -1 if
 *   unknown
 */
gdouble
plexus_provider_get_uptime (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), -1.0);
  return self->uptime;
}

/**
 * plexus_provider_set_uptime:
 * @self: a #PlexusProvider
 * @uptime: fraction of time online, 0.0..1.0, or a negative value for
 *   "unknown"
 *
 * Sets #PlexusProvider:uptime.
 */
void
plexus_provider_set_uptime (PlexusProvider *self,
                            gdouble         uptime)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));
  g_return_if_fail (!isnan (uptime) && uptime <= 1.0);

  if (uptime < 0.0)
    uptime = -1.0;
  if (self->uptime == uptime)
    return;
  self->uptime = uptime;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_UPTIME]);
}

/**
 * plexus_provider_get_reputation:
 * @self: a #PlexusProvider
 *
 * Returns: 0.0 (always fails) to 1.0 (always answers)
 */
gdouble
plexus_provider_get_reputation (PlexusProvider *self)
{
  g_return_val_if_fail (PLEXUS_IS_PROVIDER (self), 0.0);
  return self->reputation;
}

/**
 * plexus_provider_set_reputation:
 * @self: a #PlexusProvider
 * @reputation: 0.0 (always fails) to 1.0 (always answers)
 *
 * Sets #PlexusProvider:reputation. The broker moves it with every
 * reported request outcome; set it directly only to restore a value kept
 * from earlier.
 */
void
plexus_provider_set_reputation (PlexusProvider *self,
                                gdouble         reputation)
{
  g_return_if_fail (PLEXUS_IS_PROVIDER (self));
  g_return_if_fail (reputation >= 0.0 && reputation <= 1.0);

  if (self->reputation == reputation)
    return;
  self->reputation = reputation;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REPUTATION]);
}
