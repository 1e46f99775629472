/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib-object.h>
#include <json-glib/json-glib.h>

#include "plexus-enums.h"

G_BEGIN_DECLS

/**
 * PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS:
 *
 * The largest bandwidth in Mbit/s capabilities hold (1 Tbit/s).
 */
#define PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS 1e6

/**
 * PLEXUS_CAPABILITIES_MAX_COUNT:
 *
 * The largest capacity, and storage in MB, capabilities hold: 2^53, so
 * that the number is exact for peers that read JSON numbers as doubles.
 */
#define PLEXUS_CAPABILITIES_MAX_COUNT G_GINT64_CONSTANT (9007199254740992)

/**
 * PlexusServiceCapability:
 * @available: whether the node offers the service now
 * @load: current load, 0.0 (idle) to 1.0 (saturated)
 * @capacity: how many units (rooms, relayed peers, ...) it can hold, at most
 *   %PLEXUS_CAPABILITIES_MAX_COUNT; -1 unknown
 * @bandwidth_mbps: bandwidth it gives this service in Mbit/s, at most
 *   %PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS; -1 unknown
 *
 * What a node says about one service it may provide. Numbers with a
 * fraction (@load, @bandwidth_mbps) are kept to six decimal places.
 */
typedef struct {
  gboolean available;
  gdouble  load;
  gint64   capacity;
  gdouble  bandwidth_mbps;
} PlexusServiceCapability;

#define PLEXUS_TYPE_CAPABILITIES (plexus_capabilities_get_type ())
G_DECLARE_FINAL_TYPE (PlexusCapabilities, plexus_capabilities, PLEXUS, CAPABILITIES, GObject)

PlexusCapabilities *plexus_capabilities_new (const gchar *peer_id);

const gchar  *plexus_capabilities_get_peer_id (PlexusCapabilities *self);
PlexusRole    plexus_capabilities_get_roles (PlexusCapabilities *self);
void          plexus_capabilities_set_roles (PlexusCapabilities *self,
                                             PlexusRole          roles);

/* Services, by name (see plexus_service_name_is_known()). */
void          plexus_capabilities_set_service (PlexusCapabilities            *self,
                                               const gchar                   *service,
                                               const PlexusServiceCapability *capability);
gboolean      plexus_capabilities_get_service (PlexusCapabilities      *self,
                                               const gchar             *service,
                                               PlexusServiceCapability *capability);
gboolean      plexus_capabilities_remove_service (PlexusCapabilities *self,
                                                  const gchar        *service);
/* Sorted names. */
gchar       **plexus_capabilities_list_services (PlexusCapabilities *self);

/* Resources. uptime is the fraction of time online, 0.0..1.0; bandwidth in
 * Mbit/s, at most PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS; storage in MB, at
 * most PLEXUS_CAPABILITIES_MAX_COUNT; -1 where unknown. uptime and
 * bandwidth are kept to six decimal places. */
gdouble       plexus_capabilities_get_uptime (PlexusCapabilities *self);
void          plexus_capabilities_set_uptime (PlexusCapabilities *self,
                                              gdouble             uptime);
void          plexus_capabilities_get_bandwidth (PlexusCapabilities *self,
                                                 gdouble            *up_mbps,
                                                 gdouble            *down_mbps);
void          plexus_capabilities_set_bandwidth (PlexusCapabilities *self,
                                                 gdouble             up_mbps,
                                                 gdouble             down_mbps);
gint64        plexus_capabilities_get_storage_mb (PlexusCapabilities *self);
void          plexus_capabilities_set_storage_mb (PlexusCapabilities *self,
                                                  gint64              storage_mb);

/* Location. */
const gchar  *plexus_capabilities_get_region (PlexusCapabilities *self);
void          plexus_capabilities_set_region (PlexusCapabilities *self,
                                              const gchar        *region);
const gchar  *plexus_capabilities_get_timezone (PlexusCapabilities *self);
/* Network: the NAT STUN found, NULL while unknown. */
gboolean      plexus_capabilities_nat_is_valid (const gchar *nat);
const gchar  *plexus_capabilities_get_nat (PlexusCapabilities *self);
void          plexus_capabilities_set_nat (PlexusCapabilities *self,
                                           const gchar        *nat);
gboolean      plexus_capabilities_is_super_eligible (PlexusCapabilities *self);
/* Network: the address others link to this node at, NULL if none. */
gboolean      plexus_capabilities_address_is_valid (const gchar *address);
const gchar  *plexus_capabilities_get_address (PlexusCapabilities *self);
void          plexus_capabilities_set_address (PlexusCapabilities *self,
                                               const gchar        *address);

/**
 * PLEXUS_CAPABILITIES_MAX_ATTACHED:
 *
 * The most super peers a standard peer says it is attached to.
 */
#define PLEXUS_CAPABILITIES_MAX_ATTACHED 8

/* Network: the super peers a standard peer is attached to, sorted. */
const gchar * const *plexus_capabilities_get_attached (PlexusCapabilities  *self);
void          plexus_capabilities_set_attached (PlexusCapabilities  *self,
                                                const gchar * const *peer_ids);
void          plexus_capabilities_set_timezone (PlexusCapabilities *self,
                                                const gchar        *timezone);

/* Strict JSON: text that is not UTF-8, unknown members, wrong types and
 * out-of-range values are errors (PLEXUS_ERROR_INVALID_DATA) naming the
 * member's path. */
JsonNode           *plexus_capabilities_to_json (PlexusCapabilities *self);
gchar              *plexus_capabilities_to_string (PlexusCapabilities *self);
PlexusCapabilities *plexus_capabilities_new_from_json (JsonNode *node,
                                                       GError  **error);
PlexusCapabilities *plexus_capabilities_new_from_string (const gchar *json,
                                                         gssize       length,
                                                         GError     **error);
gboolean            plexus_capabilities_equal (PlexusCapabilities *a,
                                               PlexusCapabilities *b);

/* The services Plexus knows by name, sorted. */
const gchar * const *plexus_service_names (void);
gboolean             plexus_service_name_is_known (const gchar *service);

G_END_DECLS
