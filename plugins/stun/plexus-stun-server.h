/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "plexus-stun-message.h"

G_BEGIN_DECLS

/**
 * PlexusStunTransport:
 * @PLEXUS_STUN_TRANSPORT_UDP: a datagram
 * @PLEXUS_STUN_TRANSPORT_TCP: a message from a stream
 *
 * What a request came over.
 */
typedef enum {
  PLEXUS_STUN_TRANSPORT_UDP,
  PLEXUS_STUN_TRANSPORT_TCP,
} PlexusStunTransport;

/**
 * PLEXUS_STUN_SERVER_DEFAULT_RATE:
 *
 * Requests per second one source address may make, by default.
 */
#define PLEXUS_STUN_SERVER_DEFAULT_RATE 50

/**
 * PLEXUS_STUN_SERVER_DEFAULT_CAPACITY:
 *
 * Requests per second that count as full load (load 1.0), by default.
 */
#define PLEXUS_STUN_SERVER_DEFAULT_CAPACITY 20000

/**
 * PLEXUS_STUN_SERVER_MAX_SOURCES:
 *
 * How many source addresses the rate limiter tracks at most; sources
 * beyond share one bucket.
 */
#define PLEXUS_STUN_SERVER_MAX_SOURCES 4096

/**
 * PLEXUS_STUN_SERVER_MAX_GROWTH:
 *
 * By how many bytes an answer may exceed the request it answers, at most:
 * the server never amplifies more than that.
 */
#define PLEXUS_STUN_SERVER_MAX_GROWTH 32

/**
 * PlexusStunServerCounters:
 * @received: every datagram or stream message handed in
 * @answered: Binding success responses produced
 * @bad_request: 400 error responses produced (malformed requests,
 *   unsupported methods)
 * @unknown_attribute: 420 error responses produced
 * @dropped_not_stun: dropped: not STUN (header checks)
 * @dropped_too_large: dropped: larger than %PLEXUS_STUN_MAX_MESSAGE_SIZE
 * @dropped_bad_fingerprint: dropped: a FINGERPRINT that does not match
 * @dropped_malformed: dropped: malformed and not a request
 * @dropped_not_request: dropped: a valid indication or response
 * @dropped_rate_limited: dropped: the source made too many requests
 *
 * What the server did with what it was handed; every packet is counted
 * in @received and in exactly one other member.
 */
typedef struct {
  guint64 received;
  guint64 answered;
  guint64 bad_request;
  guint64 unknown_attribute;
  guint64 dropped_not_stun;
  guint64 dropped_too_large;
  guint64 dropped_bad_fingerprint;
  guint64 dropped_malformed;
  guint64 dropped_not_request;
  guint64 dropped_rate_limited;
} PlexusStunServerCounters;

#define PLEXUS_TYPE_STUN_SERVER (plexus_stun_server_get_type ())
G_DECLARE_FINAL_TYPE (PlexusStunServer, plexus_stun_server, PLEXUS, STUN_SERVER, GObject)

PlexusStunServer *plexus_stun_server_new (void);

void              plexus_stun_server_set_software (PlexusStunServer *self,
                                                   const gchar      *software);
void              plexus_stun_server_set_rate_limit (PlexusStunServer *self,
                                                     guint             rate,
                                                     guint             burst);
void              plexus_stun_server_set_capacity (PlexusStunServer *self,
                                                   guint             requests_per_second);

GBytes           *plexus_stun_server_handle (PlexusStunServer        *self,
                                             gint64                   now,
                                             const guint8            *data,
                                             gsize                    length,
                                             const PlexusStunAddress *source,
                                             PlexusStunTransport      transport);
GBytes           *plexus_stun_server_handle_from (PlexusStunServer    *self,
                                                  gint64               now,
                                                  const guint8        *data,
                                                  gsize                length,
                                                  GSocketAddress      *source,
                                                  PlexusStunTransport  transport);

void              plexus_stun_server_get_counters (PlexusStunServer         *self,
                                                   PlexusStunServerCounters *counters);
gdouble           plexus_stun_server_get_request_rate (PlexusStunServer *self,
                                                       gint64            now);
gdouble           plexus_stun_server_get_load (PlexusStunServer *self,
                                               gint64            now);
guint             plexus_stun_server_get_n_sources (PlexusStunServer *self);

G_END_DECLS
