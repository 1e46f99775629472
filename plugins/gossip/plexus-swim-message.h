/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * PLEXUS_SWIM_MESSAGE_MAX_SIZE:
 *
 * The largest encoded SWIM message body, in bytes: it must fit, with the
 * envelope around it, in one node link frame (65000 bytes).
 */
#define PLEXUS_SWIM_MESSAGE_MAX_SIZE 60000

/**
 * PLEXUS_SWIM_MESSAGE_MAX_UPDATES:
 *
 * The most updates (and wanted peers) one message holds.
 */
#define PLEXUS_SWIM_MESSAGE_MAX_UPDATES 2048

/**
 * PLEXUS_SWIM_MAX_CAPABILITIES_SIZE:
 *
 * The longest capabilities document an advertisement carries, in bytes.
 */
#define PLEXUS_SWIM_MAX_CAPABILITIES_SIZE 8192

/**
 * PLEXUS_SWIM_MAX_COUNTER:
 *
 * The largest incarnation, version or sequence number: 2^53, exact for
 * peers that read JSON numbers as doubles.
 */
#define PLEXUS_SWIM_MAX_COUNTER G_GUINT64_CONSTANT (9007199254740992)

#define PLEXUS_SWIM_PEER_ID_LENGTH 64
#define PLEXUS_SWIM_SIGNATURE_SIZE 64

/**
 * PlexusSwimMessageType:
 * @PLEXUS_SWIM_MESSAGE_PING: `swim.ping`, a probe
 * @PLEXUS_SWIM_MESSAGE_ACK: `swim.ack`, the answer to a ping
 * @PLEXUS_SWIM_MESSAGE_PING_REQ: `swim.ping-req`, asks to probe `target`
 * @PLEXUS_SWIM_MESSAGE_NACK: `swim.nack`, an indirect probe got no answer
 * @PLEXUS_SWIM_MESSAGE_GOSSIP: `swim.gossip`, updates only, unanswered
 * @PLEXUS_SWIM_MESSAGE_SYNC: `swim.sync`, push-pull: a node's state, asks
 *   for the receiver's
 * @PLEXUS_SWIM_MESSAGE_SYNC_REPLY: `swim.sync-reply`, the answer to a sync
 *
 * The kinds of SWIM message; each travels as the body of a node envelope
 * of the type named.
 */
typedef enum {
  PLEXUS_SWIM_MESSAGE_PING,
  PLEXUS_SWIM_MESSAGE_ACK,
  PLEXUS_SWIM_MESSAGE_PING_REQ,
  PLEXUS_SWIM_MESSAGE_NACK,
  PLEXUS_SWIM_MESSAGE_GOSSIP,
  PLEXUS_SWIM_MESSAGE_SYNC,
  PLEXUS_SWIM_MESSAGE_SYNC_REPLY,
} PlexusSwimMessageType;

#define PLEXUS_SWIM_MESSAGE_N_TYPES (PLEXUS_SWIM_MESSAGE_SYNC_REPLY + 1)

/**
 * PlexusSwimState:
 * @PLEXUS_SWIM_STATE_ALIVE: answers probes
 * @PLEXUS_SWIM_STATE_SUSPECT: missed a probe; dead unless it refutes in time
 * @PLEXUS_SWIM_STATE_DEAD: declared failed
 * @PLEXUS_SWIM_STATE_LEFT: left the group on purpose
 *
 * What the group believes about a member.
 */
typedef enum {
  PLEXUS_SWIM_STATE_ALIVE,
  PLEXUS_SWIM_STATE_SUSPECT,
  PLEXUS_SWIM_STATE_DEAD,
  PLEXUS_SWIM_STATE_LEFT,
} PlexusSwimState;

/**
 * PlexusSwimUpdate:
 * @is_advertisement: %TRUE for a capability advertisement, %FALSE for a
 *   membership state
 * @state: membership: the state claimed
 * @peer_id: the member the update is about
 * @incarnation: membership: the member's incarnation number
 * @by: membership: who suspects the member ("" when not said)
 * @version: advertisement: its version; membership in a sync: the
 *   advertisement version the sender holds (0: none)
 * @capabilities: advertisement: the capabilities document, JSON text,
 *   exactly as signed
 * @signature: advertisement: Ed25519 signature by @peer_id, see
 *   plexus_swim_advertisement_signed_data()
 *
 * One piggybacked update, or one entry of a sync.
 */
typedef struct {
  gboolean         is_advertisement;
  PlexusSwimState  state;
  gchar            peer_id[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  guint64          incarnation;
  gchar            by[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  guint64          version;
  gchar           *capabilities;
  guint8           signature[PLEXUS_SWIM_SIGNATURE_SIZE];
} PlexusSwimUpdate;

/**
 * PlexusSwimMessage:
 * @type: the kind of message
 * @seq: ping, ack, ping-req, nack: the probe sequence number
 * @target: ping-req: the member to probe
 * @updates: (element-type PlexusSwimUpdate): piggybacked updates, or a
 *   sync's entries
 * @want: (element-type utf8): sync, sync-reply: peers whose advertisement
 *   the sender asks for
 *
 * A decoded SWIM message.
 */
typedef struct {
  PlexusSwimMessageType type;
  guint64               seq;
  gchar                 target[PLEXUS_SWIM_PEER_ID_LENGTH + 1];
  GArray               *updates;
  GPtrArray            *want;
} PlexusSwimMessage;

const gchar       *plexus_swim_message_type_to_string (PlexusSwimMessageType type);
gboolean           plexus_swim_message_type_from_string (const gchar           *name,
                                                         PlexusSwimMessageType *type);
const gchar       *plexus_swim_state_to_string (PlexusSwimState state);

PlexusSwimMessage *plexus_swim_message_new (PlexusSwimMessageType type);
void               plexus_swim_message_free (PlexusSwimMessage *message);
PlexusSwimUpdate  *plexus_swim_message_add_update (PlexusSwimMessage *message);
void               plexus_swim_update_clear (PlexusSwimUpdate *update);
void               plexus_swim_update_copy (PlexusSwimUpdate       *dest,
                                            const PlexusSwimUpdate *src);
gsize              plexus_swim_update_encoded_size (const PlexusSwimUpdate *update);

JsonObject        *plexus_swim_message_to_json (const PlexusSwimMessage *message);
PlexusSwimMessage *plexus_swim_message_new_from_json (PlexusSwimMessageType   type,
                                                      JsonObject             *body,
                                                      GError                **error);
gchar             *plexus_swim_message_encode (const PlexusSwimMessage *message,
                                               gsize                   *length);
PlexusSwimMessage *plexus_swim_message_decode (PlexusSwimMessageType   type,
                                               const guint8           *data,
                                               gsize                   length,
                                               GError                **error);

guint8            *plexus_swim_advertisement_signed_data (const gchar *peer_id,
                                                          guint64      version,
                                                          const gchar *capabilities,
                                                          gsize       *length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusSwimMessage, plexus_swim_message_free)

G_END_DECLS
