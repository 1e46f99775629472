/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PLEXUS_DELIVERY_PEER_ID_LENGTH 64

/**
 * PlexusDeliveryPathKind:
 * @PLEXUS_DELIVERY_PATH_DIRECT: over the link to the recipient itself
 * @PLEXUS_DELIVERY_PATH_PEER: through a super peer
 * @PLEXUS_DELIVERY_PATH_SERVER: through the server
 */
typedef enum {
  PLEXUS_DELIVERY_PATH_DIRECT,
  PLEXUS_DELIVERY_PATH_PEER,
  PLEXUS_DELIVERY_PATH_SERVER,
} PlexusDeliveryPathKind;

/**
 * PlexusDeliveryPath:
 * @kind: which kind of path
 * @relay: the node the message is handed to (the recipient, for a direct
 *   path)
 */
typedef struct {
  PlexusDeliveryPathKind kind;
  gchar                  relay[PLEXUS_DELIVERY_PEER_ID_LENGTH + 1];
} PlexusDeliveryPath;

/**
 * PlexusDeliveryConfig:
 * @attempt_timeout_ms: an attempt on one path without acknowledgement
 *   this long has failed, and the next path is tried
 * @deadline_ms: a message not acknowledged this long after it was
 *   submitted has failed
 * @max_pending: messages in flight at most
 * @dedupe_capacity: (sender, ID) pairs remembered at most
 * @dedupe_ttl_ms: how long one is remembered
 * @replan_ms: a message short of paths (none known, or all resting) is
 *   due again this often, for the caller to offer paths anew
 */
typedef struct {
  guint attempt_timeout_ms;
  guint deadline_ms;
  guint max_pending;
  guint dedupe_capacity;
  guint dedupe_ttl_ms;
  guint replan_ms;
} PlexusDeliveryConfig;

/**
 * PlexusDeliverySend:
 * @id: the message
 * @to: its recipient
 * @path: hand it to @path.relay
 * @attempt: 1 for the first attempt of the message, then 2, ...
 *
 * An output of the engine: send the sealed message on a path.
 */
typedef struct {
  gchar              *id;
  gchar               to[PLEXUS_DELIVERY_PEER_ID_LENGTH + 1];
  PlexusDeliveryPath  path;
  guint               attempt;
} PlexusDeliverySend;

/**
 * PlexusDeliveryEventType:
 * @PLEXUS_DELIVERY_EVENT_DELIVERED: the recipient acknowledged the
 *   message: @path is the one it came by, @latency_ms the time from the
 *   attempt on that path to the acknowledgement
 * @PLEXUS_DELIVERY_EVENT_PATH_FAILED: an attempt failed (@reason); the
 *   message goes on by another path
 * @PLEXUS_DELIVERY_EVENT_FAILED: the message is given up (@reason)
 * @PLEXUS_DELIVERY_EVENT_PATH_ACKNOWLEDGED: after the message was
 *   delivered, an attempt still out on another path (a race's slower
 *   path) was acknowledged too: @path and its @latency_ms
 * @PLEXUS_DELIVERY_EVENT_PATH_SILENT: after the message was delivered, an
 *   attempt still out on another path ran out of time without a word
 *   (neither refused nor acknowledged): that path took the message on and
 *   lost it (@reason)
 */
typedef enum {
  PLEXUS_DELIVERY_EVENT_DELIVERED,
  PLEXUS_DELIVERY_EVENT_PATH_FAILED,
  PLEXUS_DELIVERY_EVENT_FAILED,
  PLEXUS_DELIVERY_EVENT_PATH_ACKNOWLEDGED,
  PLEXUS_DELIVERY_EVENT_PATH_SILENT,
} PlexusDeliveryEventType;

typedef struct {
  PlexusDeliveryEventType type;
  gchar                  *id;
  gchar                   to[PLEXUS_DELIVERY_PEER_ID_LENGTH + 1];
  PlexusDeliveryPath      path;
  gint64                  latency_ms;
  gchar                  *reason;
} PlexusDeliveryEvent;

void plexus_delivery_config_init (PlexusDeliveryConfig *config);
void plexus_delivery_send_clear (PlexusDeliverySend *send);
void plexus_delivery_event_clear (PlexusDeliveryEvent *event);
const gchar *plexus_delivery_path_kind_to_string (PlexusDeliveryPathKind kind);

#define PLEXUS_TYPE_DELIVERY (plexus_delivery_get_type ())
G_DECLARE_FINAL_TYPE (PlexusDelivery, plexus_delivery, PLEXUS, DELIVERY, GObject)

PlexusDelivery *plexus_delivery_new (const PlexusDeliveryConfig *config);

gboolean plexus_delivery_submit (PlexusDelivery           *self,
                                 gint64                    now_ms,
                                 const gchar              *id,
                                 const gchar              *to,
                                 const PlexusDeliveryPath *paths,
                                 guint                     n_paths,
                                 guint                     race,
                                 GError                  **error);
void     plexus_delivery_set_paths (PlexusDelivery           *self,
                                    const gchar              *id,
                                    const PlexusDeliveryPath *paths,
                                    guint                     n_paths);
void     plexus_delivery_acknowledged (PlexusDelivery           *self,
                                       gint64                    now_ms,
                                       const gchar              *id,
                                       const gchar              *from,
                                       const PlexusDeliveryPath *path);
void     plexus_delivery_path_failed (PlexusDelivery           *self,
                                      gint64                    now_ms,
                                      const gchar              *id,
                                      const PlexusDeliveryPath *path,
                                      const gchar              *reason);
void     plexus_delivery_tick (PlexusDelivery *self,
                               gint64          now_ms);
gint64   plexus_delivery_next_deadline (PlexusDelivery *self);
gboolean plexus_delivery_pop_send (PlexusDelivery     *self,
                                   PlexusDeliverySend *send);
gboolean plexus_delivery_pop_event (PlexusDelivery      *self,
                                    PlexusDeliveryEvent *event);
guint    plexus_delivery_get_n_pending (PlexusDelivery *self);
gboolean plexus_delivery_is_trailing (PlexusDelivery *self,
                                      const gchar    *id);

/**
 * PlexusDeliveryArrival:
 * @PLEXUS_DELIVERY_NEW: first arrival: deliver it
 * @PLEXUS_DELIVERY_COPY: seen already: acknowledge, do not deliver
 * @PLEXUS_DELIVERY_FULL: no room to remember it: refuse for now
 */
typedef enum {
  PLEXUS_DELIVERY_NEW,
  PLEXUS_DELIVERY_COPY,
  PLEXUS_DELIVERY_FULL,
} PlexusDeliveryArrival;

PlexusDeliveryArrival plexus_delivery_note_received (PlexusDelivery *self,
                                        gint64          now_ms,
                                        const gchar    *from,
                                        const gchar    *id);

G_END_DECLS
