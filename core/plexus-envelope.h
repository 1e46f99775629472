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
 * PLEXUS_ENVELOPE_VERSION:
 *
 * The protocol version envelopes are written with, and the only one read.
 */
#define PLEXUS_ENVELOPE_VERSION 1

/**
 * PLEXUS_ENVELOPE_MAX_SIZE:
 *
 * The largest encoded envelope, in bytes.
 */
#define PLEXUS_ENVELOPE_MAX_SIZE 65000

/**
 * PLEXUS_ENVELOPE_MAX_DEPTH:
 *
 * How deeply JSON containers may nest in an envelope; the envelope object
 * itself is level 1 and its body level 2.
 */
#define PLEXUS_ENVELOPE_MAX_DEPTH 32

/**
 * PLEXUS_ENVELOPE_DEFAULT_TTL:
 *
 * The hops a new envelope may travel.
 */
#define PLEXUS_ENVELOPE_DEFAULT_TTL 8

/**
 * PLEXUS_ENVELOPE_MAX_TTL:
 *
 * The largest TTL an envelope may carry.
 */
#define PLEXUS_ENVELOPE_MAX_TTL 16

/**
 * PLEXUS_ENVELOPE_MAX_ID_LENGTH:
 *
 * The longest message ID, in characters.
 */
#define PLEXUS_ENVELOPE_MAX_ID_LENGTH 64

/**
 * PLEXUS_ENVELOPE_MAX_TYPE_LENGTH:
 *
 * The longest message type, in characters.
 */
#define PLEXUS_ENVELOPE_MAX_TYPE_LENGTH 64

/**
 * PLEXUS_ENVELOPE_COMPACT_RELAY:
 *
 * The first byte of a `signal.relay` envelope in the compact form.
 */
#define PLEXUS_ENVELOPE_COMPACT_RELAY 0x01
/**
 * PLEXUS_ENVELOPE_COMPACT_DELIVER:
 *
 * The first byte of a `signal.deliver` envelope in the compact form.
 */
#define PLEXUS_ENVELOPE_COMPACT_DELIVER 0x02

/**
 * PLEXUS_ENVELOPE_CODE_BAD_JSON:
 *
 * Protocol error code: the frame is not UTF-8, not JSON, or holds more
 * than one JSON value.
 */
#define PLEXUS_ENVELOPE_CODE_BAD_JSON "bad-json"
/**
 * PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE:
 *
 * Protocol error code: the JSON breaks the envelope's rules.
 */
#define PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE "bad-envelope"
/**
 * PLEXUS_ENVELOPE_CODE_TOO_LARGE:
 *
 * Protocol error code: the envelope is larger than
 * %PLEXUS_ENVELOPE_MAX_SIZE bytes.
 */
#define PLEXUS_ENVELOPE_CODE_TOO_LARGE "too-large"
/**
 * PLEXUS_ENVELOPE_CODE_UNSUPPORTED_VERSION:
 *
 * Protocol error code: the envelope's version is not
 * %PLEXUS_ENVELOPE_VERSION.
 */
#define PLEXUS_ENVELOPE_CODE_UNSUPPORTED_VERSION "unsupported-version"
/**
 * PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE:
 *
 * Protocol error code: the receiver does not handle the message type.
 */
#define PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE "unknown-type"
/**
 * PLEXUS_ENVELOPE_CODE_EXPIRED:
 *
 * Protocol error code: the envelope is too old, too far in the future, or
 * has no hops left.
 */
#define PLEXUS_ENVELOPE_CODE_EXPIRED "expired"
/**
 * PLEXUS_ENVELOPE_CODE_NO_ROUTE:
 *
 * Protocol error code: the receiver knows no way to the addressee.
 */
#define PLEXUS_ENVELOPE_CODE_NO_ROUTE "no-route"
/**
 * PLEXUS_ENVELOPE_CODE_RATE_LIMITED:
 *
 * Protocol error code: the sender sent too much, too fast.
 */
#define PLEXUS_ENVELOPE_CODE_RATE_LIMITED "rate-limited"
/**
 * PLEXUS_ENVELOPE_CODE_TIMED_OUT:
 *
 * Protocol error code: the receiver gave up waiting for an answer it
 * needed.
 */
#define PLEXUS_ENVELOPE_CODE_TIMED_OUT "timed-out"
/**
 * PLEXUS_ENVELOPE_CODE_INTERNAL:
 *
 * Protocol error code: the receiver failed for a reason of its own.
 */
#define PLEXUS_ENVELOPE_CODE_INTERNAL "internal"

#define PLEXUS_TYPE_ENVELOPE (plexus_envelope_get_type ())
G_DECLARE_FINAL_TYPE (PlexusEnvelope, plexus_envelope, PLEXUS, ENVELOPE, GObject)

/* One message of the node protocol, sans I/O: see doc/protocol.md,
 * "Envelope". */
PlexusEnvelope *plexus_envelope_new (const gchar *type,
                                     const gchar *from,
                                     const gchar *to,
                                     JsonObject  *body);
PlexusEnvelope *plexus_envelope_new_reply (PlexusEnvelope *request,
                                           const gchar    *type,
                                           const gchar    *from,
                                           JsonObject     *body);
PlexusEnvelope *plexus_envelope_new_error (PlexusEnvelope *request,
                                           const gchar    *from,
                                           const gchar    *code,
                                           const gchar    *message);

const gchar    *plexus_envelope_get_message_type (PlexusEnvelope *self);
void            plexus_envelope_set_message_type (PlexusEnvelope *self,
                                                  const gchar    *type);
const gchar    *plexus_envelope_get_id (PlexusEnvelope *self);
void            plexus_envelope_set_id (PlexusEnvelope *self,
                                        const gchar    *id);
const gchar    *plexus_envelope_get_from (PlexusEnvelope *self);
void            plexus_envelope_set_from (PlexusEnvelope *self,
                                          const gchar    *from);
const gchar    *plexus_envelope_get_to (PlexusEnvelope *self);
void            plexus_envelope_set_to (PlexusEnvelope *self,
                                        const gchar    *to);
guint           plexus_envelope_get_ttl (PlexusEnvelope *self);
void            plexus_envelope_set_ttl (PlexusEnvelope *self,
                                         guint           ttl);
gint64          plexus_envelope_get_ts (PlexusEnvelope *self);
void            plexus_envelope_set_ts (PlexusEnvelope *self,
                                        gint64          ts);
const gchar    *plexus_envelope_get_re (PlexusEnvelope *self);
void            plexus_envelope_set_re (PlexusEnvelope *self,
                                        const gchar    *re);
GBytes         *plexus_envelope_get_attachment (PlexusEnvelope *self);
void            plexus_envelope_set_attachment (PlexusEnvelope *self,
                                                GBytes         *attachment);
JsonObject     *plexus_envelope_get_body (PlexusEnvelope *self);
void            plexus_envelope_set_body (PlexusEnvelope *self,
                                          JsonObject     *body);

/* Wire form. Both fail with an error naming what is wrong; decoding also
 * gives the protocol error code to answer with. */
GBytes         *plexus_envelope_encode (PlexusEnvelope *self,
                                        GError        **error);
PlexusEnvelope *plexus_envelope_decode (const guint8 *data,
                                        gsize         length,
                                        const gchar **error_code,
                                        GError      **error);
GBytes         *plexus_envelope_encode_with (PlexusEnvelope         *self,
                                             PlexusEnvelopeEncoding  encoding,
                                             GError                **error);
PlexusEnvelope *plexus_envelope_decode_with (const guint8           *data,
                                             gsize                   length,
                                             PlexusEnvelopeEncoding  encoding,
                                             const gchar           **error_code,
                                             GError                **error);

/* Checks a node makes before acting on or passing on an envelope; both
 * fail with the protocol error code "expired". */
gboolean        plexus_envelope_check_fresh (PlexusEnvelope *self,
                                             gint64          now_ms,
                                             gint64          max_skew_ms,
                                             GError        **error);
gboolean        plexus_envelope_decrement_ttl (PlexusEnvelope *self,
                                               GError        **error);

gboolean        plexus_envelope_type_is_valid (const gchar *type);
gboolean        plexus_envelope_id_is_valid (const gchar *id);
const gchar * const *plexus_envelope_error_codes (void);

G_END_DECLS
