/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "plexus-identity.h"

G_BEGIN_DECLS

/* The most payload bytes one signaling message carries: an SDP offer with
 * its candidates fits many times over, and the sealed form stays well
 * inside an envelope. */
#define PLEXUS_SIGNAL_MAX_PAYLOAD 16384

/* How long a sender tries to deliver a message before it gives up. */
#define PLEXUS_SIGNAL_LIFETIME_MS 15000
/* Clocks of sender and recipient may differ by this much. */
#define PLEXUS_SIGNAL_MAX_SKEW_MS (60 * 1000)
/* A sealed signal is accepted this long after it was made (its lifetime,
 * and the skew), and at most the skew ahead of the recipient's clock; a
 * replay older than that is refused outright, a newer one is caught by
 * the recipient's memory of IDs. A relay holding a signal longer than its
 * lifetime cannot deliver it after this. */
#define PLEXUS_SIGNAL_MAX_AGE_MS (PLEXUS_SIGNAL_LIFETIME_MS + PLEXUS_SIGNAL_MAX_SKEW_MS)

typedef enum {
  PLEXUS_SIGNAL_KIND_MESSAGE,
  PLEXUS_SIGNAL_KIND_ACK,
} PlexusSignalKind;

/**
 * PlexusSignal:
 * @kind: a message, or the acknowledgement of one
 * @from: the sender's peer ID
 * @to: the recipient's peer ID
 * @id: the message ID (an ack carries the ID of the message it acknowledges)
 * @timestamp_ms: when the sender made it, wall-clock milliseconds
 * @payload: (nullable): the application's bytes (messages only)
 *
 * What one node says to another through relays that must neither read nor
 * alter it: signed by @from, then sealed to @to.
 */
typedef struct {
  PlexusSignalKind kind;
  gchar           *from;
  gchar           *to;
  gchar           *id;
  gint64           timestamp_ms;
  GBytes          *payload;
} PlexusSignal;

PlexusSignal *plexus_signal_new (PlexusSignalKind kind,
                                 const gchar     *from,
                                 const gchar     *to,
                                 const gchar     *id,
                                 gint64           timestamp_ms,
                                 GBytes          *payload);
void          plexus_signal_free (PlexusSignal *signal);

gchar        *plexus_signal_seal (const PlexusSignal *signal,
                                  PlexusIdentity     *sender,
                                  GError            **error);
PlexusSignal *plexus_signal_open (PlexusIdentity *recipient,
                                  const gchar    *sealed,
                                  gint64          now_ms,
                                  GError        **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusSignal, plexus_signal_free)

G_END_DECLS
