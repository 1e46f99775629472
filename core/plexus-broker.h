/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib-object.h>

#include "plexus-enums.h"
#include "plexus-provider.h"

G_BEGIN_DECLS

/**
 * PlexusBrokerClockFunc:
 * @user_data: data given to plexus_broker_set_clock()
 *
 * Returns: the current time in microseconds on a monotonic clock
 */
typedef gint64 (*PlexusBrokerClockFunc) (gpointer user_data);

#define PLEXUS_TYPE_BROKER (plexus_broker_get_type ())
G_DECLARE_FINAL_TYPE (PlexusBroker, plexus_broker, PLEXUS, BROKER, GObject)

/* The broker is a pure state machine: it does no I/O and reads time only
 * through its clock, so a simulator can drive it. Signals:
 *   provider-added    (PlexusProvider *provider)
 *   provider-removed  (PlexusProvider *provider)
 *   provider-selected (const gchar *service, PlexusProvider *provider, const gchar *reason)
 *   failover          (const gchar *service, PlexusProvider *from, PlexusProvider *to, const gchar *reason)
 * "to" may be NULL when nothing is left to fail over to. */
PlexusBroker   *plexus_broker_new (void);

void            plexus_broker_set_clock (PlexusBroker          *self,
                                         PlexusBrokerClockFunc  func,
                                         gpointer               user_data);
void            plexus_broker_set_mode (PlexusBroker *self,
                                        PlexusMode    mode);
PlexusMode      plexus_broker_get_mode (PlexusBroker *self);
void            plexus_broker_set_local_region (PlexusBroker *self,
                                                const gchar  *region);

gboolean        plexus_broker_add_provider (PlexusBroker   *self,
                                            PlexusProvider *provider,
                                            GError        **error);
gboolean        plexus_broker_remove_provider (PlexusBroker *self,
                                               const gchar  *service,
                                               const gchar  *peer_id);
PlexusProvider *plexus_broker_lookup_provider (PlexusBroker *self,
                                               const gchar  *service,
                                               const gchar  *peer_id);
/* (element-type PlexusProvider) (transfer container); service NULL = all,
 * sorted by service then by score, best first */
GPtrArray      *plexus_broker_list_providers (PlexusBroker *self,
                                              const gchar  *service);

/* The documented score of a provider, higher is better; see
 * doc/architecture.md. Unusable providers (unavailable, excluded by the
 * mode, unhealthy) score below zero. */
gdouble         plexus_broker_score (PlexusBroker   *self,
                                     PlexusProvider *provider);

/* Up to k usable providers, the current selection first. The selection
 * changes only when the current one is unusable or another beats it by the
 * hysteresis margin; a change emits provider-selected. */
GPtrArray      *plexus_broker_select (PlexusBroker *self,
                                      const gchar  *service,
                                      guint         k,
                                      GError      **error);
PlexusProvider *plexus_broker_get_selected (PlexusBroker *self,
                                            const gchar  *service);

/* Outcomes of real requests: they drive RTT, reputation and health. A
 * failure of the selected provider that makes it unhealthy fails over. */
void            plexus_broker_report_success (PlexusBroker   *self,
                                              PlexusProvider *provider,
                                              gdouble         rtt_ms);
void            plexus_broker_report_failure (PlexusBroker   *self,
                                              PlexusProvider *provider,
                                              const gchar    *reason);
gboolean        plexus_broker_provider_is_healthy (PlexusBroker   *self,
                                                   PlexusProvider *provider);

/* Additions: tuning and inspection; see doc/architecture.md ("The broker"). */

/**
 * PLEXUS_BROKER_DEFAULT_HYSTERESIS:
 *
 * The default score margin by which another provider must beat the
 * current selection to replace it.
 */
#define PLEXUS_BROKER_DEFAULT_HYSTERESIS        0.15

/**
 * PLEXUS_BROKER_DEFAULT_FAILURE_THRESHOLD:
 *
 * The default number of consecutive failed requests that make a provider
 * unhealthy.
 */
#define PLEXUS_BROKER_DEFAULT_FAILURE_THRESHOLD 3

/**
 * PLEXUS_BROKER_BACKOFF_MIN_USEC:
 *
 * How long an unhealthy provider is first excluded, in microseconds. Each
 * failure on probation doubles it, up to %PLEXUS_BROKER_BACKOFF_MAX_USEC.
 */
#define PLEXUS_BROKER_BACKOFF_MIN_USEC          (5 * G_USEC_PER_SEC)

/**
 * PLEXUS_BROKER_BACKOFF_MAX_USEC:
 *
 * The longest exclusion of an unhealthy provider, in microseconds.
 */
#define PLEXUS_BROKER_BACKOFF_MAX_USEC          (300 * G_USEC_PER_SEC)

/**
 * PLEXUS_BROKER_SCORE_UNUSABLE:
 *
 * What plexus_broker_score() returns for an unusable provider.
 */
#define PLEXUS_BROKER_SCORE_UNUSABLE            (-1.0)

void            plexus_broker_set_hysteresis (PlexusBroker *self,
                                              gdouble       margin);
gdouble         plexus_broker_get_hysteresis (PlexusBroker *self);
void            plexus_broker_set_failure_threshold (PlexusBroker *self,
                                                     guint         failures);
guint           plexus_broker_get_failure_threshold (PlexusBroker *self);
const gchar    *plexus_broker_get_local_region (PlexusBroker *self);
/* "healthy", "probation" or "unhealthy" */
const gchar    *plexus_broker_get_provider_health (PlexusBroker   *self,
                                                   PlexusProvider *provider);

G_END_DECLS
