/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "plexus-capabilities.h"
#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-json.h"

/* What a node advertises about itself. The JSON form is the one on the wire
 * and on D-Bus; members are snake_case and always written in this order:
 *
 *   {
 *     "peer_id": "<64-character peer ID>",
 *     "roles": ["standard", "super"],
 *     "services": {
 *       "signaling": {"available": true, "load": 0.3,
 *                     "capacity": 1000, "bandwidth_mbps": 100}
 *     },
 *     "resources": {
 *       "uptime": 0.95,
 *       "bandwidth": {"up": 50, "down": 100},
 *       "storage": {"available": 1000}
 *     },
 *     "location": {"region": "us-west", "timezone": "PST"},
 *     "network": {"nat": "endpoint-independent", "address": "ws://203.0.113.7:7070/",
 *                 "attached": ["<peer ID of a super peer>", ...]}
 *   }
 *
 * - peer_id, roles and services are required; services may be {} and roles
 *   may be [] (a role may repeat).
 * - Service names are those of plexus_service_names(), at most
 *   MAX_SERVICES of them, written sorted by name.
 * - In a service, available (boolean) and load (number, 0..1) are required;
 *   capacity (integer 0..MAX_COUNT) and bandwidth_mbps (number
 *   0..MAX_BANDWIDTH_MBPS, Mbit/s) are left out when unknown.
 * - resources and location, and every member in them, are optional and left
 *   out when unknown: uptime is a number 0..1, bandwidth up/down are numbers
 *   0..MAX_BANDWIDTH_MBPS in Mbit/s, storage.available an integer
 *   0..MAX_COUNT in MB; region and timezone are non-empty strings of at most
 *   MAX_STRING_LENGTH bytes.
 * - network and its members are optional too: nat is one of the NAT types,
 *   address a URI others can dial, attached the peer IDs of the super
 *   peers a standard peer is attached to (at most
 *   PLEXUS_CAPABILITIES_MAX_ATTACHED, sorted, none twice; left out when
 *   empty).
 * - Numbers that are not integers (load, uptime, bandwidths) are kept to
 *   six decimal places, rounded when read or set.
 *
 * The bounds and the rounding keep every value one that json-glib 1.6
 * writes as JSON: it appends ".0" to a double printed without a '.', so
 * 1e20 comes out as "1e+20.0" and 1e-8 as "1e-08.0", neither of them JSON.
 * Doubles below 1e17 are printed without an exponent from 1e-4 up, and the
 * multiples of 1e-6 below that are printed with a '.'. MAX_COUNT (2^53)
 * keeps integers exact for peers that read JSON numbers as doubles.
 *
 * The JSON itself is read strictly by plexus_json_parse_strict(), the reader
 * envelopes use: one value, RFC 8259 only (no comments, single quotes, hex
 * numbers...), integers within 64 bits, no U+0000 in strings, no member name
 * twice in one object, containers nested at most MAX_DEPTH deep.
 *
 * Parsing is strict: an unknown member, a wrong type or a value out of range
 * anywhere is an error naming the member's path, e.g.
 * `services.signaling.load: 1.5 is out of range 0..1`. A number may be
 * written as an integer or with a fraction, except where an integer is
 * required.
 */

#define MAX_SERVICES 32
#define MAX_STRING_LENGTH 64
#define MAX_BANDWIDTH_MBPS PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS
#define MAX_COUNT PLEXUS_CAPABILITIES_MAX_COUNT
/* Numbers with a fraction are kept to 1 / NUMBER_SCALE. */
#define NUMBER_SCALE 1e6
/* The document nests three levels deep; more is refused before json-glib
 * reads it, as for envelopes. */
#define MAX_DEPTH 32

struct _PlexusCapabilities {
  GObject     parent_instance;

  gchar      *peer_id;
  PlexusRole  roles;
  GTree      *services;     /* service name → PlexusServiceCapability, sorted */
  gdouble     uptime;       /* -1 unknown */
  gdouble     bandwidth_up;   /* -1 unknown */
  gdouble     bandwidth_down; /* -1 unknown */
  gint64      storage_mb;   /* -1 unknown */
  gchar      *region;       /* nullable */
  gchar      *timezone;     /* nullable */
  gchar      *nat;          /* nullable; one of nat_types */
  gchar      *address;      /* nullable; ws:// URI others link to */
  GStrv       attached;     /* sorted super peer IDs; never NULL */
};

G_DEFINE_FINAL_TYPE (PlexusCapabilities, plexus_capabilities, G_TYPE_OBJECT)

static const gchar * const service_names[] = {
  "contact-discovery",
  "file-transfer",
  "membership",
  "room-registry",
  "signaling",
  "stun",
  NULL
};

static void
plexus_capabilities_finalize (GObject *object)
{
  PlexusCapabilities *self = PLEXUS_CAPABILITIES (object);

  g_free (self->peer_id);
  g_tree_unref (self->services);
  g_free (self->region);
  g_free (self->timezone);
  g_free (self->nat);
  g_free (self->address);
  g_strfreev (self->attached);

  G_OBJECT_CLASS (plexus_capabilities_parent_class)->finalize (object);
}

static void
plexus_capabilities_class_init (PlexusCapabilitiesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_capabilities_finalize;
}

static gint
compare_names (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (a, b);
}

static void
plexus_capabilities_init (PlexusCapabilities *self)
{
  self->roles = PLEXUS_ROLE_STANDARD;
  self->services = g_tree_new_full (compare_names, NULL, g_free, g_free);
  self->uptime = -1;
  self->bandwidth_up = -1;
  self->bandwidth_down = -1;
  self->storage_mb = -1;
  self->attached = g_new0 (gchar *, 1);
}

/* Range checks shared by the setters and the parser. */

static gboolean
is_fraction (gdouble value)
{
  return isfinite (value) && value >= 0.0 && value <= 1.0;
}

static gboolean
is_amount_or_unknown (gdouble value)
{
  return value == -1.0 || (isfinite (value) && value >= 0.0 && value <= MAX_BANDWIDTH_MBPS);
}

static gboolean
is_count_or_unknown (gint64 value)
{
  return value >= -1 && value <= MAX_COUNT;
}

/* Rounds to six decimal places (see the top of the file). Exact for the
 * values kept: at most MAX_BANDWIDTH_MBPS * NUMBER_SCALE = 1e12 < 2^53 and
 * a division of integers below 2^53, so rounding again changes nothing;
 * -1 (unknown) and -0.0 stay as they are. */
static gdouble
round_number (gdouble value)
{
  return round (value * NUMBER_SCALE) / NUMBER_SCALE;
}

static gboolean
is_fraction_or_unknown (gdouble value)
{
  return value == -1.0 || is_fraction (value);
}

static gboolean
is_valid_service_capability (const PlexusServiceCapability *capability)
{
  return is_fraction (capability->load) &&
         is_count_or_unknown (capability->capacity) &&
         is_amount_or_unknown (capability->bandwidth_mbps);
}

static gboolean
is_valid_location_string (const gchar *str)
{
  return str == NULL ||
         (*str != '\0' && strlen (str) <= MAX_STRING_LENGTH && g_utf8_validate (str, -1, NULL));
}

/**
 * plexus_capabilities_new:
 * @peer_id: the peer ID of the node described
 *
 * Creates capabilities with the standard role, no services and unknown
 * resources and location.
 *
 * Returns: (transfer full): new capabilities
 */
PlexusCapabilities *
plexus_capabilities_new (const gchar *peer_id)
{
  PlexusCapabilities *self;

  g_return_val_if_fail (plexus_peer_id_is_valid (peer_id), NULL);

  self = g_object_new (PLEXUS_TYPE_CAPABILITIES, NULL);
  self->peer_id = g_strdup (peer_id);
  return self;
}

/**
 * plexus_capabilities_get_peer_id:
 * @self: a #PlexusCapabilities
 *
 * Returns: the peer ID of the node described
 */
const gchar *
plexus_capabilities_get_peer_id (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);
  return self->peer_id;
}

/**
 * plexus_capabilities_get_roles:
 * @self: a #PlexusCapabilities
 *
 * Returns: the roles the node holds
 */
PlexusRole
plexus_capabilities_get_roles (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), PLEXUS_ROLE_NONE);
  return self->roles;
}

/**
 * plexus_capabilities_set_roles:
 * @self: a #PlexusCapabilities
 * @roles: a set of #PlexusRole bits
 *
 * Sets the roles the node holds.
 */
void
plexus_capabilities_set_roles (PlexusCapabilities *self, PlexusRole roles)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail ((roles & ~PLEXUS_ROLE_ALL) == 0);

  self->roles = roles;
}

/**
 * plexus_capabilities_set_service:
 * @self: a #PlexusCapabilities
 * @service: a known service name
 * @capability: what the node offers for @service
 *
 * Adds or replaces what the node says about @service. @capability must be in
 * range: load 0..1, capacity -1 (unknown) or 0..%PLEXUS_CAPABILITIES_MAX_COUNT,
 * bandwidth_mbps -1 (unknown) or 0..%PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS.
 * load and bandwidth_mbps are kept to six decimal places.
 */
void
plexus_capabilities_set_service (PlexusCapabilities            *self,
                                 const gchar                   *service,
                                 const PlexusServiceCapability *capability)
{
  PlexusServiceCapability *copy;

  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (plexus_service_name_is_known (service));
  g_return_if_fail (capability != NULL);
  g_return_if_fail (is_valid_service_capability (capability));

  copy = g_new (PlexusServiceCapability, 1);
  *copy = *capability;
  /* Any true value is TRUE, so that equal() and JSON agree. */
  copy->available = capability->available ? TRUE : FALSE;
  copy->load = round_number (capability->load);
  copy->bandwidth_mbps = round_number (capability->bandwidth_mbps);
  g_tree_replace (self->services, g_strdup (service), copy);
}

/**
 * plexus_capabilities_get_service:
 * @self: a #PlexusCapabilities
 * @service: a service name
 * @capability: (out caller-allocates) (optional): where to store what the
 *   node says about @service
 *
 * Returns: %TRUE if the node says something about @service
 */
gboolean
plexus_capabilities_get_service (PlexusCapabilities      *self,
                                 const gchar             *service,
                                 PlexusServiceCapability *capability)
{
  const PlexusServiceCapability *found;

  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), FALSE);
  g_return_val_if_fail (service != NULL, FALSE);

  found = g_tree_lookup (self->services, service);
  if (found == NULL)
    return FALSE;
  if (capability != NULL)
    *capability = *found;
  return TRUE;
}

/**
 * plexus_capabilities_remove_service:
 * @self: a #PlexusCapabilities
 * @service: a service name
 *
 * Returns: %TRUE if @service was there and is removed
 */
gboolean
plexus_capabilities_remove_service (PlexusCapabilities *self, const gchar *service)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), FALSE);
  g_return_val_if_fail (service != NULL, FALSE);

  return g_tree_remove (self->services, service);
}

static gboolean
add_name_to_builder (gpointer key, gpointer value, gpointer user_data)
{
  g_strv_builder_add (user_data, key);
  return FALSE;
}

/**
 * plexus_capabilities_list_services:
 * @self: a #PlexusCapabilities
 *
 * Returns: (transfer full): the names of the services the node describes,
 *   sorted
 */
gchar **
plexus_capabilities_list_services (PlexusCapabilities *self)
{
  g_autoptr(GStrvBuilder) builder = NULL;

  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);

  builder = g_strv_builder_new ();
  g_tree_foreach (self->services, add_name_to_builder, builder);
  return g_strv_builder_end (builder);
}

/**
 * plexus_capabilities_get_uptime:
 * @self: a #PlexusCapabilities
 *
 * Returns: the fraction of time the node is online, 0..1, or -1 if unknown
 */
gdouble
plexus_capabilities_get_uptime (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), -1);
  return self->uptime;
}

/**
 * plexus_capabilities_set_uptime:
 * @self: a #PlexusCapabilities
 * @uptime: the fraction of time the node is online, 0..1, or -1 if unknown
 *
 * Sets the node's uptime, kept to six decimal places.
 */
void
plexus_capabilities_set_uptime (PlexusCapabilities *self, gdouble uptime)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (is_fraction_or_unknown (uptime));

  self->uptime = round_number (uptime);
}

/**
 * plexus_capabilities_get_bandwidth:
 * @self: a #PlexusCapabilities
 * @up_mbps: (out) (optional): upload bandwidth in Mbit/s, or -1 if unknown
 * @down_mbps: (out) (optional): download bandwidth in Mbit/s, or -1 if unknown
 *
 * Gets the node's bandwidth.
 */
void
plexus_capabilities_get_bandwidth (PlexusCapabilities *self,
                                   gdouble            *up_mbps,
                                   gdouble            *down_mbps)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));

  if (up_mbps != NULL)
    *up_mbps = self->bandwidth_up;
  if (down_mbps != NULL)
    *down_mbps = self->bandwidth_down;
}

/**
 * plexus_capabilities_set_bandwidth:
 * @self: a #PlexusCapabilities
 * @up_mbps: upload bandwidth in Mbit/s, at most
 *   %PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS, or -1 if unknown
 * @down_mbps: download bandwidth in Mbit/s, at most
 *   %PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS, or -1 if unknown
 *
 * Sets the node's bandwidth, kept to six decimal places.
 */
void
plexus_capabilities_set_bandwidth (PlexusCapabilities *self,
                                   gdouble             up_mbps,
                                   gdouble             down_mbps)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (is_amount_or_unknown (up_mbps));
  g_return_if_fail (is_amount_or_unknown (down_mbps));

  self->bandwidth_up = round_number (up_mbps);
  self->bandwidth_down = round_number (down_mbps);
}

/**
 * plexus_capabilities_get_storage_mb:
 * @self: a #PlexusCapabilities
 *
 * Returns: the storage the node offers in MB, or -1 if unknown
 */
gint64
plexus_capabilities_get_storage_mb (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), -1);
  return self->storage_mb;
}

/**
 * plexus_capabilities_set_storage_mb:
 * @self: a #PlexusCapabilities
 * @storage_mb: the storage the node offers in MB, at most
 *   %PLEXUS_CAPABILITIES_MAX_COUNT, or -1 if unknown
 *
 * Sets the node's storage.
 */
void
plexus_capabilities_set_storage_mb (PlexusCapabilities *self, gint64 storage_mb)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (is_count_or_unknown (storage_mb));

  self->storage_mb = storage_mb;
}

/**
 * plexus_capabilities_get_region:
 * @self: a #PlexusCapabilities
 *
 * Returns: (nullable): the node's region, e.g. `us-west`, or %NULL if unknown
 */
const gchar *
plexus_capabilities_get_region (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);
  return self->region;
}

/**
 * plexus_capabilities_set_region:
 * @self: a #PlexusCapabilities
 * @region: (nullable): a non-empty UTF-8 string of at most 64 bytes, or
 *   %NULL if unknown
 *
 * Sets the node's region.
 */
void
plexus_capabilities_set_region (PlexusCapabilities *self, const gchar *region)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (is_valid_location_string (region));

  g_free (self->region);
  self->region = g_strdup (region);
}

/**
 * plexus_capabilities_get_timezone:
 * @self: a #PlexusCapabilities
 *
 * Returns: (nullable): the node's time zone, e.g. `PST`, or %NULL if unknown
 */
const gchar *
plexus_capabilities_get_timezone (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);
  return self->timezone;
}

/**
 * plexus_capabilities_set_timezone:
 * @self: a #PlexusCapabilities
 * @timezone: (nullable): a non-empty UTF-8 string of at most 64 bytes, or
 *   %NULL if unknown
 *
 * Sets the node's time zone.
 */
void
plexus_capabilities_set_timezone (PlexusCapabilities *self, const gchar *timezone)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (is_valid_location_string (timezone));

  g_free (self->timezone);
  self->timezone = g_strdup (timezone);
}

/* What STUN can find out about a NAT (plugins/stun); "unknown" is left out. */
static const gchar * const nat_types[] = {
  "none", "endpoint-independent", "address-dependent", "blocked", NULL
};

/**
 * plexus_capabilities_nat_is_valid:
 * @nat: (nullable): a NAT type
 *
 * The NAT types are `none` (the node's address is its public one),
 * `endpoint-independent` (one public mapping whoever it talks to),
 * `address-dependent` (a new mapping per remote address) and `blocked`
 * (STUN gets no answer).
 *
 * Returns: %TRUE if @nat is one of them
 */
gboolean
plexus_capabilities_nat_is_valid (const gchar *nat)
{
  return nat != NULL && g_strv_contains (nat_types, nat);
}

/**
 * plexus_capabilities_get_nat:
 * @self: a #PlexusCapabilities
 *
 * Returns: (nullable): the NAT in front of the node (see
 *   plexus_capabilities_nat_is_valid()), or %NULL if unknown
 */
const gchar *
plexus_capabilities_get_nat (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);
  return self->nat;
}

/**
 * plexus_capabilities_set_nat:
 * @self: a #PlexusCapabilities
 * @nat: (nullable): a NAT type, or %NULL for unknown
 *
 * Sets what STUN found out about the NAT in front of the node.
 */
void
plexus_capabilities_set_nat (PlexusCapabilities *self, const gchar *nat)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (nat == NULL || plexus_capabilities_nat_is_valid (nat));

  g_free (self->nat);
  self->nat = g_strdup (nat);
}

/**
 * plexus_capabilities_address_is_valid:
 * @address: (nullable): a node address
 *
 * Returns: %TRUE if @address is a node address others can dial: a
 *   `ws://` or `wss://` URI with a host that is not a wildcard address, of
 *   at most 256 bytes
 */
gboolean
plexus_capabilities_address_is_valid (const gchar *address)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  const gchar *host;

  if (address == NULL || strlen (address) > 256 || !g_utf8_validate (address, -1, NULL))
    return FALSE;
  uri = g_uri_parse (address, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "ws") != 0 && g_strcmp0 (g_uri_get_scheme (uri), "wss") != 0))
    return FALSE;
  host = g_uri_get_host (uri);
  if (host == NULL || host[0] == '\0')
    return FALSE;
  inet = g_inet_address_new_from_string (host);
  return inet == NULL || !g_inet_address_get_is_any (inet);
}

/**
 * plexus_capabilities_get_address:
 * @self: a #PlexusCapabilities
 *
 * Returns: (nullable): the address others link to this node at
 *   (`ws://HOST:PORT/`), or %NULL if it gives none
 */
const gchar *
plexus_capabilities_get_address (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);
  return self->address;
}

/**
 * plexus_capabilities_set_address:
 * @self: a #PlexusCapabilities
 * @address: (nullable): see plexus_capabilities_address_is_valid(), or %NULL
 *
 * Sets the address others link to this node at.
 */
void
plexus_capabilities_set_address (PlexusCapabilities *self, const gchar *address)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (address == NULL || plexus_capabilities_address_is_valid (address));

  g_free (self->address);
  self->address = g_strdup (address);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* Valid peer IDs, none twice, at most PLEXUS_CAPABILITIES_MAX_ATTACHED. */
static gboolean
attached_is_valid (const gchar * const *peer_ids)
{
  guint n = peer_ids != NULL ? g_strv_length ((gchar **) peer_ids) : 0;

  if (n > PLEXUS_CAPABILITIES_MAX_ATTACHED)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    if (!plexus_peer_id_is_valid (peer_ids[i]))
      return FALSE;
    for (guint j = 0; j < i; j++) {
      if (strcmp (peer_ids[i], peer_ids[j]) == 0)
        return FALSE;
    }
  }
  return TRUE;
}

/**
 * plexus_capabilities_get_attached:
 * @self: a #PlexusCapabilities
 *
 * Returns: (transfer none) (array zero-terminated=1): the peer IDs of the
 *   super peers this standard peer is attached to, sorted; empty if none
 */
const gchar * const *
plexus_capabilities_get_attached (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);
  return (const gchar * const *) self->attached;
}

/**
 * plexus_capabilities_set_attached:
 * @self: a #PlexusCapabilities
 * @peer_ids: (nullable) (array zero-terminated=1): valid peer IDs, none
 *   twice, at most %PLEXUS_CAPABILITIES_MAX_ATTACHED; %NULL for none
 *
 * Sets the super peers a standard peer is attached to, which is how others
 * find a way to it.
 */
void
plexus_capabilities_set_attached (PlexusCapabilities *self, const gchar * const *peer_ids)
{
  g_return_if_fail (PLEXUS_IS_CAPABILITIES (self));
  g_return_if_fail (attached_is_valid (peer_ids));

  g_strfreev (self->attached);
  self->attached = peer_ids != NULL ? g_strdupv ((gchar **) peer_ids) : g_new0 (gchar *, 1);
  qsort (self->attached, g_strv_length (self->attached), sizeof (gchar *), compare_strings);
}

/**
 * plexus_capabilities_is_super_eligible:
 * @self: a #PlexusCapabilities
 *
 * Others must be able to reach a super peer at the address STUN finds for
 * it: only a node with no NAT or an endpoint-independent one qualifies.
 *
 * Returns: %TRUE if the NAT is known and lets the node serve as a super peer
 */
gboolean
plexus_capabilities_is_super_eligible (PlexusCapabilities *self)
{
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), FALSE);
  return g_strcmp0 (self->nat, "none") == 0 || g_strcmp0 (self->nat, "endpoint-independent") == 0;
}

/* Serialising */

static void
add_double (JsonBuilder *builder, gdouble value)
{
  /* -0.0 equals 0.0, so it must also be written the same. */
  json_builder_add_double_value (builder, value == 0.0 ? 0.0 : value);
}

static gboolean
build_service (gpointer key, gpointer value, gpointer user_data)
{
  const PlexusServiceCapability *capability = value;
  JsonBuilder *builder = user_data;

  json_builder_set_member_name (builder, key);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "available");
  json_builder_add_boolean_value (builder, capability->available);
  json_builder_set_member_name (builder, "load");
  add_double (builder, capability->load);
  if (capability->capacity >= 0) {
    json_builder_set_member_name (builder, "capacity");
    json_builder_add_int_value (builder, capability->capacity);
  }
  if (capability->bandwidth_mbps >= 0) {
    json_builder_set_member_name (builder, "bandwidth_mbps");
    add_double (builder, capability->bandwidth_mbps);
  }
  json_builder_end_object (builder);
  return FALSE;
}

/**
 * plexus_capabilities_to_json:
 * @self: a #PlexusCapabilities
 *
 * Builds the JSON form described at the top of this file; equal
 * capabilities give identical JSON.
 *
 * Returns: (transfer full): a JSON object node
 */
JsonNode *
plexus_capabilities_to_json (PlexusCapabilities *self)
{
  g_autoptr(JsonBuilder) builder = NULL;
  g_auto(GStrv) roles = NULL;
  gboolean has_bandwidth;

  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);

  builder = json_builder_new ();
  json_builder_begin_object (builder);

  json_builder_set_member_name (builder, "peer_id");
  json_builder_add_string_value (builder, self->peer_id);

  json_builder_set_member_name (builder, "roles");
  json_builder_begin_array (builder);
  roles = plexus_roles_to_strv (self->roles);
  for (guint i = 0; roles[i] != NULL; i++)
    json_builder_add_string_value (builder, roles[i]);
  json_builder_end_array (builder);

  /* GTree walks in name order, which makes the output stable. */
  json_builder_set_member_name (builder, "services");
  json_builder_begin_object (builder);
  g_tree_foreach (self->services, build_service, builder);
  json_builder_end_object (builder);

  has_bandwidth = self->bandwidth_up >= 0 || self->bandwidth_down >= 0;
  if (self->uptime >= 0 || has_bandwidth || self->storage_mb >= 0) {
    json_builder_set_member_name (builder, "resources");
    json_builder_begin_object (builder);
    if (self->uptime >= 0) {
      json_builder_set_member_name (builder, "uptime");
      add_double (builder, self->uptime);
    }
    if (has_bandwidth) {
      json_builder_set_member_name (builder, "bandwidth");
      json_builder_begin_object (builder);
      if (self->bandwidth_up >= 0) {
        json_builder_set_member_name (builder, "up");
        add_double (builder, self->bandwidth_up);
      }
      if (self->bandwidth_down >= 0) {
        json_builder_set_member_name (builder, "down");
        add_double (builder, self->bandwidth_down);
      }
      json_builder_end_object (builder);
    }
    if (self->storage_mb >= 0) {
      json_builder_set_member_name (builder, "storage");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "available");
      json_builder_add_int_value (builder, self->storage_mb);
      json_builder_end_object (builder);
    }
    json_builder_end_object (builder);
  }

  if (self->region != NULL || self->timezone != NULL) {
    json_builder_set_member_name (builder, "location");
    json_builder_begin_object (builder);
    if (self->region != NULL) {
      json_builder_set_member_name (builder, "region");
      json_builder_add_string_value (builder, self->region);
    }
    if (self->timezone != NULL) {
      json_builder_set_member_name (builder, "timezone");
      json_builder_add_string_value (builder, self->timezone);
    }
    json_builder_end_object (builder);
  }

  if (self->nat != NULL || self->address != NULL || self->attached[0] != NULL) {
    json_builder_set_member_name (builder, "network");
    json_builder_begin_object (builder);
    if (self->nat != NULL) {
      json_builder_set_member_name (builder, "nat");
      json_builder_add_string_value (builder, self->nat);
    }
    if (self->address != NULL) {
      json_builder_set_member_name (builder, "address");
      json_builder_add_string_value (builder, self->address);
    }
    if (self->attached[0] != NULL) {
      json_builder_set_member_name (builder, "attached");
      json_builder_begin_array (builder);
      for (guint i = 0; self->attached[i] != NULL; i++)
        json_builder_add_string_value (builder, self->attached[i]);
      json_builder_end_array (builder);
    }
    json_builder_end_object (builder);
  }

  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/**
 * plexus_capabilities_to_string:
 * @self: a #PlexusCapabilities
 *
 * Returns: (transfer full): the JSON form as compact text
 */
gchar *
plexus_capabilities_to_string (PlexusCapabilities *self)
{
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (self), NULL);

  node = plexus_capabilities_to_json (self);
  /* Mended: json-glib 1.6 writes U+001F in region or timezone unescaped. */
  return plexus_json_to_string (node, NULL);
}

/* Parsing. Each helper takes the dotted path of the value it looks at, for
 * the error message; the top level has the empty path. */

#define PATH_OR_TOP(path) ((path)[0] != '\0' ? (path) : "top level")

static const gchar *
describe_json_type (JsonNode *node)
{
  switch (json_node_get_node_type (node)) {
  case JSON_NODE_OBJECT:
    return "an object";
  case JSON_NODE_ARRAY:
    return "an array";
  case JSON_NODE_NULL:
    return "null";
  case JSON_NODE_VALUE:
    switch (json_node_get_value_type (node)) {
    case G_TYPE_BOOLEAN:
      return "a boolean";
    case G_TYPE_INT64:
      return "an integer";
    case G_TYPE_DOUBLE:
      return "a number";
    case G_TYPE_STRING:
      return "a string";
    default:
      return "a value";
    }
  default:
    return "something else";
  }
}

static gboolean
set_type_error (JsonNode *node, const gchar *path, const gchar *expected, GError **error)
{
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
               "%s: expected %s, got %s", PATH_OR_TOP (path), expected, describe_json_type (node));
  return FALSE;
}

static gchar *
join_path (const gchar *path, const gchar *member)
{
  if (path[0] == '\0')
    return g_strdup (member);
  return g_strconcat (path, ".", member, NULL);
}

static JsonObject *
get_object (JsonNode *node, const gchar *path, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    set_type_error (node, path, "an object", error);
    return NULL;
  }
  return json_node_get_object (node);
}

/* Refuses members not in @allowed (NULL-terminated). */
static gboolean
check_members (JsonObject *object, const gchar *path, const gchar * const *allowed, GError **error)
{
  g_autoptr(GList) members = json_object_get_members (object);

  for (GList *l = members; l != NULL; l = l->next) {
    if (!g_strv_contains (allowed, l->data)) {
      g_autofree gchar *quoted = plexus_json_quote (l->data);
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                   "%s: unknown member %s", PATH_OR_TOP (path), quoted);
      return FALSE;
    }
  }
  return TRUE;
}

static JsonNode *
get_required (JsonObject *object, const gchar *path, const gchar *member, GError **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL)
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: missing member '%s'", PATH_OR_TOP (path), member);
  return node;
}

/* Any JSON number: json-glib gives an int64 for `50` and a double for `50.0`. */
static gboolean
get_number (JsonNode *node, const gchar *path, gdouble *value, GError **error)
{
  GType type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;

  if (type == G_TYPE_INT64) {
    *value = (gdouble) json_node_get_int (node);
    return TRUE;
  }
  if (type != G_TYPE_DOUBLE)
    return set_type_error (node, path, "a number", error);
  *value = json_node_get_double (node);
  /* json-glib reads 1e999 as infinity. */
  if (!isfinite (*value)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %g is not a finite number", path, *value);
    return FALSE;
  }
  return TRUE;
}

static gboolean
get_fraction (JsonNode *node, const gchar *path, gdouble *value, GError **error)
{
  if (!get_number (node, path, value, error))
    return FALSE;
  if (!is_fraction (*value)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %g is out of range 0..1", path, *value);
    return FALSE;
  }
  *value = round_number (*value);
  return TRUE;
}

/* A bandwidth in Mbit/s. */
static gboolean
get_amount (JsonNode *node, const gchar *path, gdouble *value, GError **error)
{
  if (!get_number (node, path, value, error))
    return FALSE;
  if (*value < 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %g is negative", path, *value);
    return FALSE;
  }
  if (*value > MAX_BANDWIDTH_MBPS) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %g is out of range 0..%.0f", path, *value, MAX_BANDWIDTH_MBPS);
    return FALSE;
  }
  *value = round_number (*value);
  return TRUE;
}

static gboolean
get_count (JsonNode *node, const gchar *path, gint64 *value, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return set_type_error (node, path, "an integer", error);
  *value = json_node_get_int (node);
  if (*value < 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %" G_GINT64_FORMAT " is negative", path, *value);
    return FALSE;
  }
  if (*value > MAX_COUNT) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %" G_GINT64_FORMAT " is out of range 0..%" G_GINT64_FORMAT,
                 path, *value, MAX_COUNT);
    return FALSE;
  }
  return TRUE;
}

static const gchar *
get_string (JsonNode *node, const gchar *path, GError **error)
{
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    set_type_error (node, path, "a string", error);
    return NULL;
  }
  return json_node_get_string (node);
}

static gboolean
parse_roles (JsonNode *node, PlexusRole *roles, GError **error)
{
  JsonArray *array;
  guint length;

  if (!JSON_NODE_HOLDS_ARRAY (node))
    return set_type_error (node, "roles", "an array of strings", error);

  array = json_node_get_array (node);
  length = json_array_get_length (array);
  *roles = PLEXUS_ROLE_NONE;
  for (guint i = 0; i < length; i++) {
    g_autofree gchar *path = g_strdup_printf ("roles[%u]", i);
    const gchar *name = get_string (json_array_get_element (array, i), path, error);
    PlexusRole role;

    if (name == NULL)
      return FALSE;
    if (!plexus_role_from_string (name, &role, NULL)) {
      g_autofree gchar *quoted = plexus_json_quote (name);
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                   "%s: unknown role %s; expected standard, super, bootstrap or server",
                   path, quoted);
      return FALSE;
    }
    *roles |= role;
  }
  return TRUE;
}

static gboolean
parse_service (JsonNode *node, const gchar *path, PlexusServiceCapability *capability, GError **error)
{
  static const gchar * const members[] = { "available", "load", "capacity", "bandwidth_mbps", NULL };
  JsonObject *object;
  JsonNode *member;
  g_autofree gchar *available_path = join_path (path, "available");
  g_autofree gchar *load_path = join_path (path, "load");

  object = get_object (node, path, error);
  if (object == NULL || !check_members (object, path, members, error))
    return FALSE;

  member = get_required (object, path, "available", error);
  if (member == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (member) || json_node_get_value_type (member) != G_TYPE_BOOLEAN)
    return set_type_error (member, available_path, "a boolean", error);
  capability->available = json_node_get_boolean (member) ? TRUE : FALSE;

  member = get_required (object, path, "load", error);
  if (member == NULL || !get_fraction (member, load_path, &capability->load, error))
    return FALSE;

  capability->capacity = -1;
  member = json_object_get_member (object, "capacity");
  if (member != NULL) {
    g_autofree gchar *capacity_path = join_path (path, "capacity");
    if (!get_count (member, capacity_path, &capability->capacity, error))
      return FALSE;
  }

  capability->bandwidth_mbps = -1;
  member = json_object_get_member (object, "bandwidth_mbps");
  if (member != NULL) {
    g_autofree gchar *bandwidth_path = join_path (path, "bandwidth_mbps");
    if (!get_amount (member, bandwidth_path, &capability->bandwidth_mbps, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
parse_services (PlexusCapabilities *self, JsonNode *node, GError **error)
{
  JsonObject *object = get_object (node, "services", error);
  g_autoptr(GList) names = NULL;

  if (object == NULL)
    return FALSE;
  if (json_object_get_size (object) > MAX_SERVICES) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "services: %u services, at most %d are allowed",
                 json_object_get_size (object), MAX_SERVICES);
    return FALSE;
  }

  names = json_object_get_members (object);
  for (GList *l = names; l != NULL; l = l->next) {
    const gchar *name = l->data;
    g_autofree gchar *path = NULL;
    PlexusServiceCapability capability;

    if (!plexus_service_name_is_known (name)) {
      g_autofree gchar *quoted = plexus_json_quote (name);
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                   "services: unknown service %s", quoted);
      return FALSE;
    }
    path = join_path ("services", name);
    if (!parse_service (json_object_get_member (object, name), path, &capability, error))
      return FALSE;
    plexus_capabilities_set_service (self, name, &capability);
  }
  return TRUE;
}

static gboolean
parse_resources (PlexusCapabilities *self, JsonNode *node, GError **error)
{
  static const gchar * const members[] = { "uptime", "bandwidth", "storage", NULL };
  static const gchar * const bandwidth_members[] = { "up", "down", NULL };
  static const gchar * const storage_members[] = { "available", NULL };
  JsonObject *object = get_object (node, "resources", error);
  JsonNode *member;

  if (object == NULL || !check_members (object, "resources", members, error))
    return FALSE;

  member = json_object_get_member (object, "uptime");
  if (member != NULL && !get_fraction (member, "resources.uptime", &self->uptime, error))
    return FALSE;

  member = json_object_get_member (object, "bandwidth");
  if (member != NULL) {
    JsonObject *bandwidth = get_object (member, "resources.bandwidth", error);
    JsonNode *value;

    if (bandwidth == NULL ||
        !check_members (bandwidth, "resources.bandwidth", bandwidth_members, error))
      return FALSE;
    value = json_object_get_member (bandwidth, "up");
    if (value != NULL &&
        !get_amount (value, "resources.bandwidth.up", &self->bandwidth_up, error))
      return FALSE;
    value = json_object_get_member (bandwidth, "down");
    if (value != NULL &&
        !get_amount (value, "resources.bandwidth.down", &self->bandwidth_down, error))
      return FALSE;
  }

  member = json_object_get_member (object, "storage");
  if (member != NULL) {
    JsonObject *storage = get_object (member, "resources.storage", error);
    JsonNode *value;

    if (storage == NULL ||
        !check_members (storage, "resources.storage", storage_members, error))
      return FALSE;
    value = json_object_get_member (storage, "available");
    if (value != NULL &&
        !get_count (value, "resources.storage.available", &self->storage_mb, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
parse_location_string (JsonObject *object, const gchar *member, gchar **out, GError **error)
{
  g_autofree gchar *path = join_path ("location", member);
  JsonNode *node = json_object_get_member (object, member);
  const gchar *value;

  if (node == NULL)
    return TRUE;
  value = get_string (node, path, error);
  if (value == NULL)
    return FALSE;
  if (*value == '\0') {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: must not be empty", path);
    return FALSE;
  }
  if (strlen (value) > MAX_STRING_LENGTH) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: %" G_GSIZE_FORMAT " bytes is longer than the %d allowed",
                 path, strlen (value), MAX_STRING_LENGTH);
    return FALSE;
  }
  /* json-glib only hands out valid UTF-8; checked so the setters' rule holds. */
  if (!g_utf8_validate (value, -1, NULL)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "%s: not valid UTF-8", path);
    return FALSE;
  }
  g_free (*out);
  *out = g_strdup (value);
  return TRUE;
}

static gboolean
parse_location (PlexusCapabilities *self, JsonNode *node, GError **error)
{
  static const gchar * const members[] = { "region", "timezone", NULL };
  JsonObject *object = get_object (node, "location", error);

  if (object == NULL || !check_members (object, "location", members, error))
    return FALSE;
  return parse_location_string (object, "region", &self->region, error) &&
         parse_location_string (object, "timezone", &self->timezone, error);
}

static gboolean
parse_attached (PlexusCapabilities *self, JsonNode *node, GError **error)
{
  JsonArray *array;
  guint n;
  g_autoptr(GPtrArray) ids = g_ptr_array_new ();

  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "network.attached: not an array");
    return FALSE;
  }
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > PLEXUS_CAPABILITIES_MAX_ATTACHED) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "network.attached: %u super peers, at most %d", n, PLEXUS_CAPABILITIES_MAX_ATTACHED);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *path = g_strdup_printf ("network.attached[%u]", i);
    const gchar *id = get_string (json_array_get_element (array, i), path, error);

    if (id == NULL)
      return FALSE;
    if (!plexus_peer_id_is_valid (id)) {
      g_autofree gchar *quoted = plexus_json_quote (id);
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "%s: %s is not a peer ID", path, quoted);
      return FALSE;
    }
    /* Sorted and unique, so that equal capabilities have one form. */
    if (i > 0 && strcmp (g_ptr_array_index (ids, i - 1), id) >= 0) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                   "%s: peer IDs must be sorted and listed once", path);
      return FALSE;
    }
    g_ptr_array_add (ids, (gpointer) id);
  }
  g_ptr_array_add (ids, NULL);
  g_strfreev (self->attached);
  self->attached = g_strdupv ((gchar **) ids->pdata);
  return TRUE;
}

static gboolean
parse_network (PlexusCapabilities *self, JsonNode *node, GError **error)
{
  static const gchar * const members[] = { "nat", "address", "attached", NULL };
  JsonObject *object = get_object (node, "network", error);
  JsonNode *member;
  const gchar *nat;

  if (object == NULL || !check_members (object, "network", members, error))
    return FALSE;
  member = json_object_get_member (object, "attached");
  if (member != NULL && !parse_attached (self, member, error))
    return FALSE;
  member = json_object_get_member (object, "address");
  if (member != NULL) {
    const gchar *address = get_string (member, "network.address", error);

    if (address == NULL)
      return FALSE;
    if (!plexus_capabilities_address_is_valid (address)) {
      g_autofree gchar *quoted = plexus_json_quote (address);
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                   "network.address: %s is not a ws:// or wss:// URI others can dial", quoted);
      return FALSE;
    }
    self->address = g_strdup (address);
  }
  member = json_object_get_member (object, "nat");
  if (member == NULL)
    return TRUE;
  nat = get_string (member, "network.nat", error);
  if (nat == NULL)
    return FALSE;
  if (!plexus_capabilities_nat_is_valid (nat)) {
    g_autofree gchar *quoted = plexus_json_quote (nat);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "network.nat: %s is not none, endpoint-independent, address-dependent or blocked",
                 quoted);
    return FALSE;
  }
  self->nat = g_strdup (nat);
  return TRUE;
}

/**
 * plexus_capabilities_new_from_json:
 * @node: a JSON node
 * @error: return location for a #GError
 *
 * Reads capabilities from their JSON form (see the top of this file),
 * strictly: an unknown member, a wrong type or a value out of range is
 * %PLEXUS_ERROR_INVALID_DATA with a message naming the member's path.
 *
 * Returns: (transfer full): the capabilities, or %NULL with @error set
 */
PlexusCapabilities *
plexus_capabilities_new_from_json (JsonNode *node, GError **error)
{
  static const gchar * const members[] = {
    "peer_id", "roles", "services", "resources", "location", "network", NULL
  };
  g_autoptr(PlexusCapabilities) self = NULL;
  JsonObject *object;
  JsonNode *member;
  const gchar *peer_id;
  PlexusRole roles = PLEXUS_ROLE_NONE;

  g_return_val_if_fail (node != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  object = get_object (node, "", error);
  if (object == NULL || !check_members (object, "", members, error))
    return NULL;

  member = get_required (object, "", "peer_id", error);
  if (member == NULL)
    return NULL;
  peer_id = get_string (member, "peer_id", error);
  if (peer_id == NULL)
    return NULL;
  if (!plexus_peer_id_is_valid (peer_id)) {
    g_autofree gchar *quoted = plexus_json_quote (peer_id);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "peer_id: %s is not a valid peer ID", quoted);
    return NULL;
  }
  self = plexus_capabilities_new (peer_id);

  member = get_required (object, "", "roles", error);
  if (member == NULL || !parse_roles (member, &roles, error))
    return NULL;
  self->roles = roles;

  member = get_required (object, "", "services", error);
  if (member == NULL || !parse_services (self, member, error))
    return NULL;

  member = json_object_get_member (object, "resources");
  if (member != NULL && !parse_resources (self, member, error))
    return NULL;

  member = json_object_get_member (object, "location");
  if (member != NULL && !parse_location (self, member, error))
    return NULL;

  member = json_object_get_member (object, "network");
  if (member != NULL && !parse_network (self, member, error))
    return NULL;

  return g_steal_pointer (&self);
}

/**
 * plexus_capabilities_new_from_string:
 * @json: JSON text
 * @length: the length of @json, or -1 if it is nul-terminated
 * @error: return location for a #GError
 *
 * Parses JSON text and reads capabilities from it, as
 * plexus_capabilities_new_from_json() does. The text must be exactly one
 * JSON value, read as strictly as node protocol envelopes are (see the top
 * of this file); anything else is %PLEXUS_ERROR_INVALID_DATA too.
 *
 * Returns: (transfer full): the capabilities, or %NULL with @error set
 */
PlexusCapabilities *
plexus_capabilities_new_from_string (const gchar *json, gssize length, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  const gchar *code = NULL;
  const gchar *end = NULL;
  gsize size;

  g_return_val_if_fail (json != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  size = length < 0 ? strlen (json) : (gsize) length;

  /* JSON is UTF-8 (RFC 8259); saying so here gives a clearer message, with
   * the byte counted from 1. */
  if (!g_utf8_validate_len (json, size, &end)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "capabilities are not valid JSON: %s at byte %" G_GSIZE_FORMAT,
                 *end == '\0' ? "NUL character" : "not valid UTF-8",
                 (gsize) (end - json) + 1);
    return NULL;
  }

  root = plexus_json_parse_strict (json, size, MAX_DEPTH, &code, &local_error);
  if (root == NULL) {
    /* bad-envelope: JSON, but JSON Plexus does not accept (a duplicate
     * member name, an integer beyond 64 bits...). */
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, "%s%s",
                 g_strcmp0 (code, PLEXUS_ENVELOPE_CODE_BAD_JSON) == 0 ?
                 "capabilities are not valid JSON: " : "capabilities: ",
                 local_error->message);
    return NULL;
  }
  return plexus_capabilities_new_from_json (root, error);
}

static gboolean
service_capability_equal (const PlexusServiceCapability *a, const PlexusServiceCapability *b)
{
  return !a->available == !b->available &&
         a->load == b->load &&
         a->capacity == b->capacity &&
         a->bandwidth_mbps == b->bandwidth_mbps;
}

/**
 * plexus_capabilities_equal:
 * @a: a #PlexusCapabilities
 * @b: a #PlexusCapabilities
 *
 * Returns: %TRUE if @a and @b say the same about the same node
 */
gboolean
plexus_capabilities_equal (PlexusCapabilities *a, PlexusCapabilities *b)
{
  g_auto(GStrv) names_a = NULL;
  g_auto(GStrv) names_b = NULL;

  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (a), FALSE);
  g_return_val_if_fail (PLEXUS_IS_CAPABILITIES (b), FALSE);

  if (a == b)
    return TRUE;
  if (g_strcmp0 (a->peer_id, b->peer_id) != 0 ||
      a->roles != b->roles ||
      a->uptime != b->uptime ||
      a->bandwidth_up != b->bandwidth_up ||
      a->bandwidth_down != b->bandwidth_down ||
      a->storage_mb != b->storage_mb ||
      g_strcmp0 (a->region, b->region) != 0 ||
      g_strcmp0 (a->timezone, b->timezone) != 0 ||
      g_strcmp0 (a->nat, b->nat) != 0 ||
      g_strcmp0 (a->address, b->address) != 0 ||
      !g_strv_equal ((const gchar * const *) a->attached, (const gchar * const *) b->attached))
    return FALSE;

  names_a = plexus_capabilities_list_services (a);
  names_b = plexus_capabilities_list_services (b);
  if (!g_strv_equal ((const gchar * const *) names_a, (const gchar * const *) names_b))
    return FALSE;
  for (guint i = 0; names_a[i] != NULL; i++) {
    if (!service_capability_equal (g_tree_lookup (a->services, names_a[i]),
                                   g_tree_lookup (b->services, names_a[i])))
      return FALSE;
  }
  return TRUE;
}

/**
 * plexus_service_names:
 *
 * Returns: (transfer none) (array zero-terminated=1): the names of the
 *   services Plexus knows, sorted
 */
const gchar * const *
plexus_service_names (void)
{
  return service_names;
}

/**
 * plexus_service_name_is_known:
 * @service: (nullable): a service name
 *
 * Returns: %TRUE if @service is one of plexus_service_names()
 */
gboolean
plexus_service_name_is_known (const gchar *service)
{
  return service != NULL && g_strv_contains (service_names, service);
}
