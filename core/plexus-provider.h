/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib-object.h>

#include "plexus-enums.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_PROVIDER (plexus_provider_get_type ())
G_DECLARE_FINAL_TYPE (PlexusProvider, plexus_provider, PLEXUS, PROVIDER, GObject)

/* One provider of one service: a local plugin, a remote peer or the server.
 * (service, peer_id) is its identity in the broker. Every setter emits
 * GObject::notify so the broker re-ranks. */
PlexusProvider     *plexus_provider_new (const gchar        *service,
                                         const gchar        *peer_id,
                                         PlexusProviderKind  kind);

const gchar        *plexus_provider_get_service (PlexusProvider *self);
const gchar        *plexus_provider_get_peer_id (PlexusProvider *self);
PlexusProviderKind  plexus_provider_get_kind (PlexusProvider *self);

/* "ws://host:port/" of the node, or NULL for a local provider. */
const gchar        *plexus_provider_get_address (PlexusProvider *self);
void                plexus_provider_set_address (PlexusProvider *self,
                                                 const gchar    *address);
gboolean            plexus_provider_get_available (PlexusProvider *self);
void                plexus_provider_set_available (PlexusProvider *self,
                                                   gboolean        available);
/* 0.0 idle .. 1.0 saturated */
gdouble             plexus_provider_get_load (PlexusProvider *self);
void                plexus_provider_set_load (PlexusProvider *self,
                                              gdouble         load);
/* units it can hold; -1 unknown */
gint64              plexus_provider_get_capacity (PlexusProvider *self);
void                plexus_provider_set_capacity (PlexusProvider *self,
                                                  gint64          capacity);
/* measured round-trip time in ms; negative when not measured yet */
gdouble             plexus_provider_get_rtt_ms (PlexusProvider *self);
void                plexus_provider_set_rtt_ms (PlexusProvider *self,
                                                gdouble         rtt_ms);
const gchar        *plexus_provider_get_region (PlexusProvider *self);
void                plexus_provider_set_region (PlexusProvider *self,
                                                const gchar    *region);
/* fraction of time online, 0.0..1.0 */
gdouble             plexus_provider_get_uptime (PlexusProvider *self);
void                plexus_provider_set_uptime (PlexusProvider *self,
                                                gdouble         uptime);
/* 0.0 (always fails) .. 1.0 (always answers); the broker keeps it from
 * real request outcomes */
gdouble             plexus_provider_get_reputation (PlexusProvider *self);
void                plexus_provider_set_reputation (PlexusProvider *self,
                                                    gdouble         reputation);

G_END_DECLS
