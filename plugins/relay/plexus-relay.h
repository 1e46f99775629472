/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <plexus.h>

G_BEGIN_DECLS

/**
 * PlexusRelayMiss:
 * @PLEXUS_RELAY_MISS_QUEUE: hold a message for a recipient that is not
 *   linked but was recently (it is reconnecting), for a bounded time
 * @PLEXUS_RELAY_MISS_FORWARD: hand it to the node's routing, which finds a
 *   neighbour that reaches the recipient
 *
 * What a relay does with a message for a recipient it has no link to.
 */
typedef enum {
  PLEXUS_RELAY_MISS_QUEUE,
  PLEXUS_RELAY_MISS_FORWARD,
} PlexusRelayMiss;

/* How long a reconnecting recipient's messages are held (no longer than
 * a sender tries: PLEXUS_SIGNAL_LIFETIME_MS), and how many. */
#define PLEXUS_RELAY_QUEUE_SECONDS 15
#define PLEXUS_RELAY_QUEUE_PER_PEER 64
#define PLEXUS_RELAY_QUEUE_TOTAL 4096
/* A peer unlinked this recently counts as reconnecting. */
#define PLEXUS_RELAY_RECONNECT_SECONDS 60

/* Signals each sender may have relayed per second, and in a burst, unless
 * the plugin's `rate-limit` and `burst` say otherwise; senders tracked at
 * most (a new one beyond is refused until idle ones are forgotten). */
#define PLEXUS_RELAY_DEFAULT_RATE 100
#define PLEXUS_RELAY_DEFAULT_BURST 200
#define PLEXUS_RELAY_MAX_SENDERS 65536

#define PLEXUS_TYPE_RELAY (plexus_relay_get_type ())
G_DECLARE_FINAL_TYPE (PlexusRelay, plexus_relay, PLEXUS, RELAY, GObject)

PlexusRelay *plexus_relay_new (PlexusMessenger *messenger,
                               const gchar     *own_peer_id,
                               PlexusRelayMiss  miss,
                               GError         **error);
void         plexus_relay_set_rate_limit (PlexusRelay *self,
                                          guint        per_second,
                                          guint        burst);
void         plexus_relay_shutdown (PlexusRelay *self);

G_END_DECLS
