/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsoup/soup.h>

#include "plexus.h"
#include "plexus-noise.h"

G_BEGIN_DECLS

/* One authenticated, encrypted link between two nodes: a WebSocket with
 * subprotocol plexus.v2 or plexus.v1 carrying a Noise XX handshake, then
 * one Noise transport message per WebSocket message. doc/protocol.md, "Node links",
 * is the specification. Private to the daemon. */

/**
 * PLEXUS_LINK_SUBPROTOCOL:
 *
 * The WebSocket subprotocol of the newest version of the link protocol,
 * the one a node offers first.
 */
#define PLEXUS_LINK_SUBPROTOCOL "plexus.v2"
/**
 * PLEXUS_LINK_SUBPROTOCOL_V1:
 *
 * The subprotocol of version 1, still spoken: envelopes are all JSON.
 */
#define PLEXUS_LINK_SUBPROTOCOL_V1 "plexus.v1"
/* The Noise prologue is the negotiated subprotocol: both sides must go on
 * under the version agreed for the handshake to succeed. */
/**
 * PLEXUS_LINK_SIGNATURE_CONTEXT:
 *
 * What a node signs with its Ed25519 identity, followed by its 32-byte
 * Noise static public key.
 */
#define PLEXUS_LINK_SIGNATURE_CONTEXT "plexus-noise-static:"
/**
 * PLEXUS_LINK_IDENTITY_PAYLOAD_SIZE:
 *
 * Size of the payload of handshake messages 2 and 3: the Ed25519 public
 * key and its signature of the Noise static key.
 */
#define PLEXUS_LINK_IDENTITY_PAYLOAD_SIZE (PLEXUS_IDENTITY_PUBLIC_KEY_SIZE + PLEXUS_IDENTITY_SIGNATURE_SIZE)
/**
 * PLEXUS_LINK_MAX_FRAME:
 *
 * The largest frame (plaintext) a link carries, in bytes.
 */
#define PLEXUS_LINK_MAX_FRAME 65000
/**
 * PLEXUS_LINK_MAX_MESSAGE:
 *
 * The largest WebSocket message a link accepts: a maximal frame plus the
 * Noise tag.
 */
#define PLEXUS_LINK_MAX_MESSAGE (PLEXUS_LINK_MAX_FRAME + PLEXUS_NOISE_TAG_SIZE)

/* A transport message whose plaintext begins with this byte is the link's
 * own (doc/protocol.md, "Keepalive"), never a frame; envelopes begin
 * with '{'. The second byte says which. */
#define PLEXUS_LINK_CONTROL_PREFIX 0x00
#define PLEXUS_LINK_CONTROL_PING   0x01
#define PLEXUS_LINK_CONTROL_PONG   0x02

#define PLEXUS_LINK_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define PLEXUS_LINK_DEFAULT_KEEPALIVE_INTERVAL   15
#define PLEXUS_LINK_DEFAULT_RATE                 500.0
#define PLEXUS_LINK_DEFAULT_BURST                1000
#define PLEXUS_LINK_DEFAULT_MAX_QUEUED_BYTES     (1024 * 1024)
/* A peer that overruns its rate limit by more than the burst within this
 * many seconds is disconnected. */
#define PLEXUS_LINK_RATE_WINDOW_SECONDS          10

/**
 * PlexusLinkCloseCode:
 * @PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT: the handshake did not finish in time
 * @PLEXUS_LINK_CLOSE_PEER_ID_MISMATCH: the peer is not the one that was dialed
 * @PLEXUS_LINK_CLOSE_DECRYPT_FAILED: a transport message did not decrypt
 * @PLEXUS_LINK_CLOSE_RATE_LIMIT: the peer kept sending faster than allowed
 * @PLEXUS_LINK_CLOSE_PEER_SILENT: nothing arrived for three keepalive intervals
 * @PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED: a handshake message was malformed or
 *   its identity proof did not verify
 *
 * WebSocket close codes (RFC 6455 private-use range) of the link protocol.
 * RFC 6455 codes are used as they are: 1000 normal, 1001 going away, 1003
 * text message, 1009 message too big.
 */
typedef enum {
  PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT = 4000,
  PLEXUS_LINK_CLOSE_PEER_ID_MISMATCH  = 4001,
  PLEXUS_LINK_CLOSE_DECRYPT_FAILED    = 4002,
  PLEXUS_LINK_CLOSE_RATE_LIMIT        = 4003,
  PLEXUS_LINK_CLOSE_PEER_SILENT       = 4004,
  PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED  = 4005,
} PlexusLinkCloseCode;

typedef enum {
  PLEXUS_LINK_DIRECTION_OUTBOUND, /* we dialed: Noise initiator */
  PLEXUS_LINK_DIRECTION_INBOUND,  /* the peer dialed: Noise responder */
} PlexusLinkDirection;

typedef enum {
  PLEXUS_LINK_STATE_NEW,
  PLEXUS_LINK_STATE_HANDSHAKING,
  PLEXUS_LINK_STATE_READY,
  PLEXUS_LINK_STATE_CLOSED,
} PlexusLinkState;

#define PLEXUS_TYPE_LINK (plexus_link_get_type ())
G_DECLARE_FINAL_TYPE (PlexusLink, plexus_link, PLEXUS, LINK, GObject)

/* @ws must be open with subprotocol plexus.v2 or plexus.v1. Nothing
 * happens on it until plexus_link_start(), so settings and signal handlers
 * can come first. */
PlexusLink          *plexus_link_new_client (SoupWebsocketConnection *ws,
                                             PlexusIdentity          *identity,
                                             const PlexusNoiseKeypair *static_key,
                                             const gchar             *expected_peer_id);
PlexusLink          *plexus_link_new_server (SoupWebsocketConnection *ws,
                                             PlexusIdentity          *identity,
                                             const PlexusNoiseKeypair *static_key,
                                             const gchar             *remote_address);
void                 plexus_link_start (PlexusLink *self);

gboolean             plexus_link_send (PlexusLink *self,
                                       GBytes     *frame,
                                       GError    **error);
void                 plexus_link_close (PlexusLink  *self,
                                        gushort      code,
                                        const gchar *reason);

/* Settings; 0 turns a limit or the keepalive off. */
void                 plexus_link_set_rate_limit (PlexusLink *self,
                                                 gdouble     frames_per_second,
                                                 guint       burst);
void                 plexus_link_set_byte_rate_limit (PlexusLink *self,
                                                      gdouble     bytes_per_second,
                                                      gsize       burst_bytes);
void                 plexus_link_set_keepalive_interval (PlexusLink *self,
                                                         guint       seconds);
void                 plexus_link_set_handshake_timeout (PlexusLink *self,
                                                        guint       milliseconds);
void                 plexus_link_set_max_queued_bytes (PlexusLink *self,
                                                       gsize       max_queued_bytes);

PlexusLinkState      plexus_link_get_state (PlexusLink *self);
PlexusLinkDirection  plexus_link_get_direction (PlexusLink *self);
guint                plexus_link_get_version (PlexusLink *self);
PlexusEnvelopeEncoding plexus_link_get_envelope_encoding (PlexusLink *self);
const gchar         *plexus_link_get_peer_id (PlexusLink *self);
const gchar         *plexus_link_get_remote_address (PlexusLink *self);
GDateTime           *plexus_link_get_created (PlexusLink *self);
gdouble              plexus_link_get_rtt_ms (PlexusLink *self);
guint64              plexus_link_get_bytes_in (PlexusLink *self);
guint64              plexus_link_get_bytes_out (PlexusLink *self);
guint64              plexus_link_get_frames_in (PlexusLink *self);
guint64              plexus_link_get_frames_out (PlexusLink *self);
guint64              plexus_link_get_frames_dropped (PlexusLink *self);
gsize                plexus_link_get_queued_bytes (PlexusLink *self);
gint                 plexus_link_get_close_code (PlexusLink *self);
const gchar         *plexus_link_get_close_reason (PlexusLink *self);
SoupWebsocketConnection *plexus_link_get_websocket (PlexusLink *self);

/* Dials @uri (ws://HOST:PORT/, optionally #PEER-ID) and completes when the
 * link is ready, or fails with the reason it closed. */
void                 plexus_link_connect_async (SoupSession              *session,
                                                const gchar              *uri,
                                                PlexusIdentity           *identity,
                                                const PlexusNoiseKeypair *static_key,
                                                const gchar              *expected_peer_id,
                                                GCancellable             *cancellable,
                                                GAsyncReadyCallback       callback,
                                                gpointer                  user_data);
PlexusLink          *plexus_link_connect_finish (SoupSession  *session,
                                                 GAsyncResult *result,
                                                 GError      **error);

/* Called with each new inbound link before it starts; take a reference
 * to keep it. */
typedef void (*PlexusLinkAcceptFunc) (PlexusLink *link,
                                      gpointer    user_data);

void                 plexus_link_server_add_handler (SoupServer               *server,
                                                     const gchar              *path,
                                                     PlexusIdentity           *identity,
                                                     const PlexusNoiseKeypair *static_key,
                                                     PlexusLinkAcceptFunc      callback,
                                                     gpointer                  user_data,
                                                     GDestroyNotify            destroy);

G_END_DECLS
