/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-link.h"
#include "plexus-link-stream.h"
#include "plexus-listener.h"

/**
 * SECTION:plexus-link
 * @title: PlexusLink
 * @short_description: an authenticated, encrypted link to another node
 *
 * A #PlexusLink runs the link protocol of doc/protocol.md ("Node links")
 * over one #SoupWebsocketConnection: the Noise XX handshake that proves
 * both peer IDs, then frames of at most %PLEXUS_LINK_MAX_FRAME bytes, each
 * one Noise transport message in one binary WebSocket message.
 *
 * It also guards the node against its peer: a per-link token bucket on
 * incoming frames, a handshake deadline, dead-peer detection on top of
 * WebSocket ping/pong, and a bound on what may wait to be written.
 *
 * Everything happens in the thread-default main context of the thread that
 * created the link, its last unref included: the links of a context share
 * one keepalive ticker, which that thread alone touches.
 */

/* A peer is dead after three keepalive intervals without a message or a
 * pong: one lost pong is not enough, as a busy peer may answer late. */
#define SECONDS_OF_SILENCE(interval) (3 * (gint64) (interval))

struct _PlexusLink {
  GObject                  parent_instance;

  GMainContext            *context;
  SoupWebsocketConnection *ws;
  PlexusIdentity          *identity;
  PlexusNoiseKeypair      *static_key;
  gchar                   *expected_peer_id;
  PlexusLinkDirection      direction;
  guint                    version;   /* of the link protocol: 1 or 2 */
  PlexusLinkState          state;
  gchar                   *remote_address;
  GDateTime               *created;

  /* Handshake */
  PlexusNoiseHandshake    *handshake;
  guint                    handshake_timeout_ms;
  GSource                 *handshake_timer;
  gint64                   handshake_sent_at;
  gdouble                  rtt_ms;

  /* Transport */
  gchar                   *peer_id;
  PlexusNoiseCipher       *send_cipher;
  PlexusNoiseCipher       *recv_cipher;

  guint64                  bytes_in;
  guint64                  bytes_out;
  guint64                  frames_in;
  guint64                  frames_out;
  guint64                  frames_dropped;

  /* Incoming rate limit: token buckets refilled continuously. */
  gdouble                  rate;
  guint                    burst;
  gdouble                  tokens;
  gdouble                  byte_rate;
  gsize                    byte_burst;
  gdouble                  byte_tokens;
  gint64                   tokens_updated;
  gint64                   overrun_window_start;
  guint64                  overrun_frames;
  guint64                  overrun_bytes;

  /* Keepalive, driven by the context's ticker (see link_ticker_add()) */
  guint                    keepalive_interval;
  gint64                   last_received;
  gint64                   last_ping;     /* monotonic µs the last ping went */
  gint64                   ping_early;    /* µs before the interval this link pings */
  gboolean                 awaiting_pong;
  gboolean                 pings_overlap; /* a ping went before the last was answered */
  struct _LinkTicker      *ticker;        /* the ticker watching us, if any */

  /* Outgoing ciphertexts not yet handed to libsoup. */
  GQueue                   send_queue;
  gsize                    queued_bytes;
  gsize                    pump_budget;   /* see link_pump() */
  gsize                    max_queued_bytes;
  GSource                 *writable_source;

  gint                     close_code;
  gchar                   *close_reason;
  gboolean                 closing_locally;
  guint                    sending;       /* plexus_link_send() calls under way */
};

enum {
  SIGNAL_READY,
  SIGNAL_FRAME,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PlexusLink, plexus_link, G_TYPE_OBJECT)

static void link_pump (PlexusLink *self);

/* Bytes handed to libsoup per check that the socket is writable. */
#define PUMP_BUDGET (64 * 1024)
static void link_ticker_add (PlexusLink *self);
static void link_ticker_remove (PlexusLink *self);
static void link_handle_control (PlexusLink *self, const guint8 *data, gsize len);
static void link_ticker_arm (struct _LinkTicker *ticker, gint64 deadline);
static gint64 link_keepalive_deadline (PlexusLink *self);

static void
clear_source (GSource **source)
{
  if (*source != NULL) {
    g_source_destroy (*source);
    g_clear_pointer (source, g_source_unref);
  }
}

static GSource *
attach_timeout (PlexusLink *self, guint ms, GSourceFunc func)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, self, NULL);
  g_source_attach (source, self->context);
  return source;
}

static void
clear_send_queue (PlexusLink *self)
{
  GBytes *bytes;

  while ((bytes = g_queue_pop_head (&self->send_queue)) != NULL)
    g_bytes_unref (bytes);
  self->queued_bytes = 0;
  clear_source (&self->writable_source);
}

static gboolean
ws_is_open (PlexusLink *self)
{
  return soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

static gboolean
emit_closed (gpointer user_data)
{
  PlexusLink *self = PLEXUS_LINK (user_data);

  g_signal_emit (self, signals[SIGNAL_CLOSED], 0, self->close_code, self->close_reason);
  return G_SOURCE_REMOVE;
}

/* The link is over: record why, release what it held and tell the owner,
 * once. The WebSocket may still be finishing its closing handshake; it
 * does that on its own. */
static void
link_finish (PlexusLink *self, gint code, const gchar *reason)
{
  if (self->state == PLEXUS_LINK_STATE_CLOSED)
    return;

  self->state = PLEXUS_LINK_STATE_CLOSED;
  self->close_code = code;
  self->close_reason = g_strdup (reason != NULL ? reason : "");
  clear_source (&self->handshake_timer);
  link_ticker_remove (self);
  clear_send_queue (self);
  g_clear_object (&self->handshake);
  g_clear_object (&self->send_cipher);
  g_clear_object (&self->recv_cipher);

  g_debug ("link to %s closed: %d %s",
           self->peer_id != NULL ? self->peer_id : self->remote_address,
           code, self->close_reason);
  /* A write that fails inside plexus_link_send() would otherwise tell the
   * owner while it is still sending (iterating its links, say): it hears
   * of it from the main loop instead. The link is closed already. */
  if (self->sending > 0) {
    GSource *idle = g_idle_source_new ();

    g_source_set_callback (idle, emit_closed, g_object_ref (self), g_object_unref);
    g_source_attach (idle, self->context);
    g_source_unref (idle);
    return;
  }
  g_object_ref (self);
  emit_closed (self);
  g_object_unref (self);
}

/**
 * plexus_link_close:
 * @self: a #PlexusLink
 * @code: a WebSocket close code: 1000, or 3000–4999
 * @reason: (nullable): why, for the peer's logs (at most 123 bytes of it
 *   are sent)
 *
 * Closes the link. #PlexusLink::closed is emitted now, with @code and
 * @reason; the WebSocket closing handshake finishes in the background.
 * Frames still queued are discarded.
 */
void
plexus_link_close (PlexusLink *self, gushort code, const gchar *reason)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));

  if (self->state == PLEXUS_LINK_STATE_CLOSED)
    return;
  if (ws_is_open (self)) {
    g_autofree gchar *sent = NULL;

    /* A close frame holds 125 bytes: the code and 123 of reason, cut at a
     * character boundary so that it stays valid UTF-8. */
    if (reason != NULL && strlen (reason) > 123) {
      const gchar *end = reason + 123;

      while (end > reason && !g_utf8_validate (reason, end - reason, NULL))
        end--;
      sent = g_strndup (reason, end - reason);
    }
    self->closing_locally = TRUE;
    soup_websocket_connection_close (self->ws, code, sent != NULL ? sent : reason);
  }
  link_finish (self, code, reason);
}

static void
link_fail (PlexusLink *self, gushort code, const gchar *format, ...) G_GNUC_PRINTF (3, 4);

static void
link_fail (PlexusLink *self, gushort code, const gchar *format, ...)
{
  g_autofree gchar *reason = NULL;
  va_list args;

  va_start (args, format);
  reason = g_strdup_vprintf (format, args);
  va_end (args);
  g_debug ("closing link to %s: %s",
           self->peer_id != NULL ? self->peer_id : self->remote_address, reason);
  plexus_link_close (self, code, reason);
}

/* Handshake ------------------------------------------------------------ */

static GBytes *
link_identity_payload (PlexusLink *self)
{
  const guint8 *noise_public = plexus_noise_keypair_get_public_key (self->static_key);
  g_autoptr(GByteArray) signed_data = g_byte_array_new ();
  g_autoptr(GBytes) signature = NULL;
  GByteArray *payload = g_byte_array_sized_new (PLEXUS_LINK_IDENTITY_PAYLOAD_SIZE);

  g_byte_array_append (signed_data, (const guint8 *) PLEXUS_LINK_SIGNATURE_CONTEXT,
                       strlen (PLEXUS_LINK_SIGNATURE_CONTEXT));
  g_byte_array_append (signed_data, noise_public, PLEXUS_NOISE_KEY_SIZE);
  signature = plexus_identity_sign (self->identity, signed_data->data, signed_data->len);

  g_byte_array_append (payload, plexus_identity_get_public_key (self->identity),
                       PLEXUS_IDENTITY_PUBLIC_KEY_SIZE);
  g_byte_array_append (payload, g_bytes_get_data (signature, NULL), PLEXUS_IDENTITY_SIGNATURE_SIZE);
  return g_byte_array_free_to_bytes (payload);
}

/* Returns the peer ID proven by @payload for the Noise static key the peer
 * used in this handshake. */
static gchar *
verify_identity_payload (const guint8 *payload,
                         gsize         payload_len,
                         const guint8 *remote_static,
                         GError      **error)
{
  g_autofree gchar *peer_id = NULL;
  g_autoptr(GByteArray) signed_data = NULL;
  g_autoptr(GError) local_error = NULL;

  if (payload_len != PLEXUS_LINK_IDENTITY_PAYLOAD_SIZE) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "identity payload is %" G_GSIZE_FORMAT " bytes, expected %d",
                 payload_len, PLEXUS_LINK_IDENTITY_PAYLOAD_SIZE);
    return NULL;
  }
  peer_id = plexus_peer_id_from_public_key (payload);
  signed_data = g_byte_array_new ();
  g_byte_array_append (signed_data, (const guint8 *) PLEXUS_LINK_SIGNATURE_CONTEXT,
                       strlen (PLEXUS_LINK_SIGNATURE_CONTEXT));
  g_byte_array_append (signed_data, remote_static, PLEXUS_NOISE_KEY_SIZE);
  if (!plexus_identity_verify (peer_id, signed_data->data, signed_data->len,
                               payload + PLEXUS_IDENTITY_PUBLIC_KEY_SIZE,
                               PLEXUS_IDENTITY_SIGNATURE_SIZE, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA,
                 "peer %s did not prove it owns the Noise static key it used: %s",
                 peer_id, local_error->message);
    return NULL;
  }
  return g_steal_pointer (&peer_id);
}

static void
send_message (PlexusLink *self, const guint8 *data, gsize len)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, len);

  soup_websocket_connection_send_message (self->ws, SOUP_WEBSOCKET_DATA_BINARY, bytes);
}

/* Writes our next handshake message, carrying @payload. */
static gboolean
write_handshake_message (PlexusLink *self, GBytes *payload)
{
  g_autoptr(GByteArray) message = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  gsize payload_len = 0;
  const guint8 *payload_data = payload != NULL ? g_bytes_get_data (payload, &payload_len) : NULL;

  if (!plexus_noise_handshake_write_message (self->handshake, payload_data, payload_len,
                                             message, &error)) {
    link_fail (self, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED, "handshake failed: %s", error->message);
    return FALSE;
  }
  send_message (self, message->data, message->len);
  self->handshake_sent_at = g_get_monotonic_time ();
  return TRUE;
}

static void
link_become_ready (PlexusLink *self)
{
  g_autoptr(GError) error = NULL;

  if (!plexus_noise_handshake_split (self->handshake, &self->send_cipher,
                                     &self->recv_cipher, &error)) {
    link_fail (self, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED, "handshake failed: %s", error->message);
    return;
  }
  g_clear_object (&self->handshake);
  clear_source (&self->handshake_timer);
  self->state = PLEXUS_LINK_STATE_READY;
  /* Links opened together fall silent together: each pings up to a
   * quarter interval early, its own share, so that a relay holding
   * thousands of idle links does not ping them all in one tick (a burst
   * that delays the signals it relays meanwhile). */
  self->ping_early = (gint64) g_random_double_range (0, (gdouble) self->keepalive_interval * G_USEC_PER_SEC / 4.0);
  /* Pings are due from now on, earlier than the silence check. */
  if (self->ticker != NULL)
    link_ticker_arm (self->ticker, link_keepalive_deadline (self));
  self->tokens = self->burst;
  self->byte_tokens = self->byte_burst;
  self->tokens_updated = g_get_monotonic_time ();
  g_debug ("link to %s (%s) ready", self->peer_id, self->remote_address);
  g_signal_emit (self, signals[SIGNAL_READY], 0);
}

static void
link_handle_handshake_message (PlexusLink *self, const guint8 *data, gsize len)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *peer_id = NULL;
  gboolean initiator = self->direction == PLEXUS_LINK_DIRECTION_OUTBOUND;

  if (!plexus_noise_handshake_read_message (self->handshake, data, len, payload, &error)) {
    link_fail (self, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED, "handshake failed: %s", error->message);
    return;
  }

  if (!initiator && !plexus_noise_handshake_is_finished (self->handshake)) {
    /* Message 1: the responder answers with message 2. */
    g_autoptr(GBytes) own = NULL;

    if (payload->len != 0) {
      link_fail (self, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED,
                 "handshake failed: message 1 carries a %u-byte payload, expected none",
                 payload->len);
      return;
    }
    own = link_identity_payload (self);
    write_handshake_message (self, own);
    return;
  }

  /* Message 2 (initiator) or 3 (responder): the peer's identity. */
  peer_id = verify_identity_payload (payload->data, payload->len,
                                     plexus_noise_handshake_get_remote_static (self->handshake),
                                     &error);
  if (peer_id == NULL) {
    link_fail (self, PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED, "handshake failed: %s", error->message);
    return;
  }
  self->rtt_ms = (g_get_monotonic_time () - self->handshake_sent_at) / 1000.0;

  if (self->expected_peer_id != NULL && g_strcmp0 (self->expected_peer_id, peer_id) != 0) {
    link_fail (self, PLEXUS_LINK_CLOSE_PEER_ID_MISMATCH, "peer ID mismatch: expected %s, got %s",
               self->expected_peer_id, peer_id);
    return;
  }
  self->peer_id = g_steal_pointer (&peer_id);

  if (initiator) {
    g_autoptr(GBytes) own = link_identity_payload (self);

    if (!write_handshake_message (self, own))
      return;
  }
  link_become_ready (self);
}

static gboolean
on_handshake_timeout (gpointer user_data)
{
  PlexusLink *self = PLEXUS_LINK (user_data);

  g_clear_pointer (&self->handshake_timer, g_source_unref);
  link_fail (self, PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT,
             "handshake not completed within %u ms", self->handshake_timeout_ms);
  return G_SOURCE_REMOVE;
}

/* Transport ------------------------------------------------------------ */

/* Takes tokens for a frame of @len bytes, or says it must be dropped. */
static gboolean
rate_limit_admit (PlexusLink *self, gsize len, gint64 now)
{
  gdouble elapsed = (now - self->tokens_updated) / (gdouble) G_USEC_PER_SEC;
  gboolean frames_ok;
  gboolean bytes_ok;

  self->tokens_updated = now;
  if (self->rate > 0)
    self->tokens = MIN ((gdouble) self->burst, self->tokens + elapsed * self->rate);
  if (self->byte_rate > 0)
    self->byte_tokens = MIN ((gdouble) self->byte_burst, self->byte_tokens + elapsed * self->byte_rate);

  frames_ok = self->rate <= 0 || self->tokens >= 1.0;
  bytes_ok = self->byte_rate <= 0 || self->byte_tokens >= (gdouble) len;
  if (frames_ok && bytes_ok) {
    if (self->rate > 0)
      self->tokens -= 1.0;
    if (self->byte_rate > 0)
      self->byte_tokens -= len;
    return TRUE;
  }
  return FALSE;
}

/* A dropped frame: closes the link when the peer has overrun its limit by
 * more than a burst within PLEXUS_LINK_RATE_WINDOW_SECONDS. */
static void
rate_limit_overrun (PlexusLink *self, gsize len, gint64 now)
{
  self->frames_dropped++;
  if (self->overrun_window_start == 0 ||
      now - self->overrun_window_start > PLEXUS_LINK_RATE_WINDOW_SECONDS * G_USEC_PER_SEC) {
    self->overrun_window_start = now;
    self->overrun_frames = 0;
    self->overrun_bytes = 0;
  }
  self->overrun_frames++;
  self->overrun_bytes += len;

  if ((self->rate > 0 && self->overrun_frames > self->burst) ||
      (self->byte_rate > 0 && self->overrun_bytes > self->byte_burst))
    link_fail (self, PLEXUS_LINK_CLOSE_RATE_LIMIT,
               "rate limit exceeded: %" G_GUINT64_FORMAT " frames (%" G_GUINT64_FORMAT
               " bytes) over the limit within %d s", self->overrun_frames,
               self->overrun_bytes, PLEXUS_LINK_RATE_WINDOW_SECONDS);
}

static void
link_handle_transport_message (PlexusLink *self, const guint8 *data, gsize len)
{
  g_autoptr(GByteArray) plaintext = g_byte_array_sized_new (len);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = NULL;
  gint64 now = g_get_monotonic_time ();
  guint64 nonce = plexus_noise_cipher_get_nonce (self->recv_cipher);

  /* Decrypt even frames about to be dropped: the nonces must stay in step,
   * and a forged frame closes the link whatever the rate. */
  if (!plexus_noise_cipher_decrypt (self->recv_cipher, NULL, 0, data, len, plaintext, &error)) {
    link_fail (self, PLEXUS_LINK_CLOSE_DECRYPT_FAILED,
               "transport message %" G_GUINT64_FORMAT " did not decrypt", nonce);
    return;
  }
  if (!rate_limit_admit (self, plaintext->len, now)) {
    rate_limit_overrun (self, plaintext->len, now);
    return;
  }

  if (plaintext->len > 0 && plaintext->data[0] == PLEXUS_LINK_CONTROL_PREFIX) {
    link_handle_control (self, plaintext->data, plaintext->len);
    return;
  }
  self->frames_in++;
  self->bytes_in += plaintext->len;
  frame = g_byte_array_free_to_bytes (g_steal_pointer (&plaintext));
  g_signal_emit (self, signals[SIGNAL_FRAME], 0, frame);
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               gint                     type,
               GBytes                  *message,
               gpointer                 user_data)
{
  PlexusLink *self = PLEXUS_LINK (user_data);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (message, &len);

  if (self->state == PLEXUS_LINK_STATE_CLOSED || self->state == PLEXUS_LINK_STATE_NEW)
    return;
  self->last_received = g_get_monotonic_time ();

  g_object_ref (self);
  if (type != SOUP_WEBSOCKET_DATA_BINARY)
    link_fail (self, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA,
               "text message received: Plexus links carry binary messages only");
  else if (self->state == PLEXUS_LINK_STATE_HANDSHAKING)
    link_handle_handshake_message (self, data, len);
  else
    link_handle_transport_message (self, data, len);
  g_object_unref (self);
}

static void
on_ws_error (SoupWebsocketConnection *ws, GError *error, gpointer user_data)
{
  PlexusLink *self = PLEXUS_LINK (user_data);

  /* libsoup reports protocol violations (1002, 1007, 1009 when a message
   * is larger than max-incoming-payload-size) with their close code; an
   * I/O error means the connection is gone. */
  if (error->domain == SOUP_WEBSOCKET_ERROR)
    link_finish (self, error->code, error->message);
  else
    link_finish (self, SOUP_WEBSOCKET_CLOSE_ABNORMAL, error->message);
}

static void
on_ws_closing (SoupWebsocketConnection *ws, gpointer user_data)
{
  PlexusLink *self = PLEXUS_LINK (user_data);
  gushort code;

  if (self->closing_locally)
    return;
  /* The peer sent a close frame; libsoup answers it. */
  code = soup_websocket_connection_get_close_code (ws);
  if (code != 0)
    link_finish (self, code, soup_websocket_connection_get_close_data (ws));
}

static void
on_ws_closed (SoupWebsocketConnection *ws, gpointer user_data)
{
  PlexusLink *self = PLEXUS_LINK (user_data);
  gushort code = soup_websocket_connection_get_close_code (ws);

  if (code != 0)
    link_finish (self, code, soup_websocket_connection_get_close_data (ws));
  else
    link_finish (self, SOUP_WEBSOCKET_CLOSE_ABNORMAL, "connection lost");
}

/* Keepalive ------------------------------------------------------------ */

/* One timer per main context watches every link in it, rather than a timer
 * (and libsoup's ping timer) per link: GLib walks every source of a
 * context on each main loop iteration, so a relay holding thousands of
 * idle links would pay three sources per link on every signal it passes
 * on. The ticker fires at the earliest deadline among its links, but at
 * most every TICK_MIN_MS: many links with scattered deadlines then cost a
 * pass over them a few times a second, not a wake-up each. */
#define TICK_MIN_MS 250

typedef struct _LinkTicker {
  GMainContext *context;
  GSource      *source;
  GHashTable   *links;    /* PlexusLink *, unowned: a link leaves as it closes */
  gboolean      ticking;  /* in on_tick(), which frees it when it empties */
  gint64        armed;    /* earliest deadline asked for during on_tick() */
} LinkTicker;

/* GMainContext * → LinkTicker *; links are added and removed only from
 * the thread running their context, the table is shared by all. */
static GMutex tickers_lock;
static GHashTable *tickers;

static gboolean link_send_control (PlexusLink *self, guint8 kind);

/* When the ticker must next look at @self. */
static gint64
link_keepalive_deadline (PlexusLink *self)
{
  gint64 interval = (gint64) self->keepalive_interval * G_USEC_PER_SEC;
  gint64 silent = self->last_received + SECONDS_OF_SILENCE (self->keepalive_interval) * G_USEC_PER_SEC;

  if (self->state != PLEXUS_LINK_STATE_READY)
    return silent;
  return MIN (silent, MAX (self->last_received, self->last_ping) + interval - self->ping_early);
}

/* Closes a link silent for three intervals; pings one silent for one,
 * once an interval. */
static void
link_keepalive_check (PlexusLink *self, gint64 now)
{
  gint64 silent_for = now - self->last_received;
  gint64 interval = (gint64) self->keepalive_interval * G_USEC_PER_SEC;

  if (silent_for >= SECONDS_OF_SILENCE (self->keepalive_interval) * G_USEC_PER_SEC) {
    link_fail (self, PLEXUS_LINK_CLOSE_PEER_SILENT,
               "peer silent: nothing received for %.1f s (keepalive interval %u s)",
               silent_for / (gdouble) G_USEC_PER_SEC, self->keepalive_interval);
    return;
  }
  if (self->state == PLEXUS_LINK_STATE_READY && silent_for >= interval - self->ping_early &&
      now - self->last_ping >= interval - self->ping_early) {
    /* Pongs carry nothing to tell which ping they answer: after a ping
     * unanswered for an interval, the next pong times nothing. */
    self->pings_overlap = self->awaiting_pong;
    self->last_ping = now;
    self->awaiting_pong = link_send_control (self, PLEXUS_LINK_CONTROL_PING);
  }
}

static void
link_ticker_free (LinkTicker *ticker)
{
  g_mutex_lock (&tickers_lock);
  g_hash_table_remove (tickers, ticker->context);
  g_mutex_unlock (&tickers_lock);
  g_source_destroy (ticker->source);
  g_source_unref (ticker->source);
  g_hash_table_unref (ticker->links);
  g_main_context_unref (ticker->context);
  g_free (ticker);
}

/* Sets the ticker for @deadline unless it fires earlier already. */
static void
link_ticker_arm (LinkTicker *ticker, gint64 deadline)
{
  gint64 current = g_source_get_ready_time (ticker->source);

  /* on_tick() sets the time last, from what it saw and this. */
  if (ticker->ticking) {
    ticker->armed = MIN (ticker->armed, deadline);
    return;
  }
  if (current < 0 || deadline < current)
    g_source_set_ready_time (ticker->source, deadline);
}

static gboolean
on_tick (gpointer user_data)
{
  LinkTicker *ticker = user_data;
  g_autoptr(GPtrArray) due = g_ptr_array_new_with_free_func (g_object_unref);
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  GHashTableIter iter;
  gpointer link;

  g_hash_table_iter_init (&iter, ticker->links);
  while (g_hash_table_iter_next (&iter, &link, NULL)) {
    gint64 deadline = link_keepalive_deadline (link);

    if (deadline <= now)
      g_ptr_array_add (due, g_object_ref (link));
    else
      next = MIN (next, deadline);
  }
  /* Closing a link tells its owner, which may close or open others. */
  ticker->ticking = TRUE;
  ticker->armed = G_MAXINT64;
  for (guint i = 0; i < due->len; i++) {
    PlexusLink *self = g_ptr_array_index (due, i);

    if (self->ticker != ticker)
      continue;
    link_keepalive_check (self, now);
    if (self->ticker == ticker)
      next = MIN (next, link_keepalive_deadline (self));
  }
  ticker->ticking = FALSE;
  next = MIN (next, ticker->armed);
  if (g_hash_table_size (ticker->links) == 0) {
    link_ticker_free (ticker);
    return G_SOURCE_REMOVE;
  }
  g_source_set_ready_time (ticker->source, next == G_MAXINT64 ? -1 : MAX (next, now + TICK_MIN_MS * 1000));
  return G_SOURCE_CONTINUE;
}

static gboolean
tick_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs tick_funcs = { NULL, NULL, tick_dispatch, NULL, NULL, NULL };

/* Puts @self under its context's ticker, if it has a keepalive. */
static void
link_ticker_add (PlexusLink *self)
{
  LinkTicker *ticker;

  if (self->ticker != NULL || self->keepalive_interval == 0 ||
      self->state == PLEXUS_LINK_STATE_NEW || self->state == PLEXUS_LINK_STATE_CLOSED)
    return;
  g_mutex_lock (&tickers_lock);
  if (tickers == NULL)
    tickers = g_hash_table_new (NULL, NULL);
  ticker = g_hash_table_lookup (tickers, self->context);
  if (ticker == NULL) {
    ticker = g_new0 (LinkTicker, 1);
    ticker->context = g_main_context_ref (self->context);
    ticker->links = g_hash_table_new (NULL, NULL);
    ticker->source = g_source_new (&tick_funcs, sizeof (GSource));
    g_source_set_name (ticker->source, "PlexusLink keepalive");
    g_source_set_callback (ticker->source, on_tick, ticker, NULL);
    g_source_attach (ticker->source, self->context);
    g_hash_table_insert (tickers, self->context, ticker);
  }
  g_mutex_unlock (&tickers_lock);
  g_hash_table_add (ticker->links, self);
  self->ticker = ticker;
  link_ticker_arm (ticker, link_keepalive_deadline (self));
}

static void
link_ticker_remove (PlexusLink *self)
{
  LinkTicker *ticker = self->ticker;

  if (ticker == NULL)
    return;
  self->ticker = NULL;
  g_hash_table_remove (ticker->links, self);
  if (g_hash_table_size (ticker->links) == 0 && !ticker->ticking)
    link_ticker_free (ticker);
}

/* A control message from the peer (doc/protocol.md, "Keepalive"). Kinds
 * this node does not know are ignored, for later versions. */
static void
link_handle_control (PlexusLink *self, const guint8 *data, gsize len)
{
  if (len != 2)
    return;
  if (data[1] == PLEXUS_LINK_CONTROL_PING) {
    link_send_control (self, PLEXUS_LINK_CONTROL_PONG);
  } else if (data[1] == PLEXUS_LINK_CONTROL_PONG && self->awaiting_pong) {
    self->awaiting_pong = FALSE;
    if (!self->pings_overlap)
      self->rtt_ms = (g_get_monotonic_time () - self->last_ping) / 1000.0;
    self->pings_overlap = FALSE;
  }
}

/* Sending -------------------------------------------------------------- */

static gboolean
on_writable (GObject *stream, gpointer user_data)
{
  g_autoptr(PlexusLink) self = g_object_ref (PLEXUS_LINK (user_data));

  g_clear_pointer (&self->writable_source, g_source_unref);
  link_pump (self);
  return G_SOURCE_REMOVE;
}

/* libsoup queues whatever it is given without bound and does not say how
 * much is waiting. So frames wait here, and one is handed over only while
 * the socket accepts data: libsoup then writes it at once, keeping at most
 * the tail of a frame or two of its own. */
static void
link_pump (PlexusLink *self)
{
  GPollableOutputStream *output =
    G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (soup_websocket_connection_get_io_stream (self->ws)));

  while (!g_queue_is_empty (&self->send_queue)) {
    g_autoptr(GBytes) message = NULL;

    if (self->state != PLEXUS_LINK_STATE_READY || !ws_is_open (self))
      return;
    /* Asking the socket costs a poll(); once it said writable, up to
     * PUMP_BUDGET more bytes go to libsoup before it is asked again. That
     * bounds what libsoup holds beyond our own queue. */
    if (self->pump_budget < g_bytes_get_size (g_queue_peek_head (&self->send_queue))) {
      if (!g_pollable_output_stream_is_writable (output)) {
        if (self->writable_source == NULL) {
          self->writable_source = g_pollable_output_stream_create_source (output, NULL);
          g_source_set_callback (self->writable_source, (GSourceFunc) G_CALLBACK (on_writable), self, NULL);
          g_source_attach (self->writable_source, self->context);
        }
        return;
      }
      self->pump_budget = PUMP_BUDGET;
    }
    message = g_queue_pop_head (&self->send_queue);
    self->queued_bytes -= g_bytes_get_size (message);
    self->pump_budget -= MIN (self->pump_budget, g_bytes_get_size (message));
    soup_websocket_connection_send_message (self->ws, SOUP_WEBSOCKET_DATA_BINARY, message);
  }
}

/* Encrypts @len bytes and queues them for the peer. */
static gboolean
link_queue_plaintext (PlexusLink *self, const guint8 *data, gsize len, GError **error)
{
  g_autoptr(GByteArray) ciphertext = NULL;
  gsize wire_len = len + PLEXUS_NOISE_TAG_SIZE;

  if (self->state != PLEXUS_LINK_STATE_READY) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 self->state == PLEXUS_LINK_STATE_CLOSED
                 ? "link to %s is closed" : "link to %s is not ready yet",
                 self->peer_id != NULL ? self->peer_id : self->remote_address);
    return FALSE;
  }
  /* An empty queue takes any frame, so a small limit cannot block a link. */
  if (self->queued_bytes > 0 && self->queued_bytes + wire_len > self->max_queued_bytes) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "send queue full: %" G_GSIZE_FORMAT " bytes are waiting to be written "
                 "to %s (limit %" G_GSIZE_FORMAT ")",
                 self->queued_bytes, self->peer_id, self->max_queued_bytes);
    return FALSE;
  }
  ciphertext = g_byte_array_sized_new (wire_len);
  if (!plexus_noise_cipher_encrypt (self->send_cipher, NULL, 0, data, len, ciphertext, error))
    return FALSE;
  g_queue_push_tail (&self->send_queue, g_byte_array_free_to_bytes (g_steal_pointer (&ciphertext)));
  self->queued_bytes += wire_len;
  self->sending++;
  link_pump (self);
  self->sending--;
  return TRUE;
}

/* A ping or a pong; a full queue means the peer is not reading, and the
 * silence check will tell. */
static gboolean
link_send_control (PlexusLink *self, guint8 kind)
{
  const guint8 message[] = { PLEXUS_LINK_CONTROL_PREFIX, kind };

  return link_queue_plaintext (self, message, sizeof message, NULL);
}

/**
 * plexus_link_send:
 * @self: a ready #PlexusLink
 * @frame: at most %PLEXUS_LINK_MAX_FRAME bytes
 * @error: return location for a #GError
 *
 * Encrypts @frame and queues it for the peer. Frames arrive in the order
 * they were sent. Fails with %PLEXUS_ERROR_INVALID_ARGUMENT for a frame
 * that is too large or begins with a zero byte (the link's own control
 * messages begin so), and with %PLEXUS_ERROR_FAILED when the link is not
 * ready or when more than plexus_link_set_max_queued_bytes() would be
 * waiting to be written (the peer or the network is not keeping up).
 * The frame is written at once when the socket takes it; a write that
 * fails closes the link, and #PlexusLink::closed then comes from the main
 * loop, never from within this call.
 *
 * Returns: %TRUE if the frame was queued
 */
gboolean
plexus_link_send (PlexusLink *self, GBytes *frame, GError **error)
{
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (PLEXUS_IS_LINK (self), FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  data = g_bytes_get_data (frame, &len);
  if (len > PLEXUS_LINK_MAX_FRAME) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "frame of %" G_GSIZE_FORMAT " bytes is larger than the %d bytes a link carries",
                 len, PLEXUS_LINK_MAX_FRAME);
    return FALSE;
  }
  if (len > 0 && data[0] == PLEXUS_LINK_CONTROL_PREFIX) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "a frame may not begin with a zero byte: that marks the link's own control messages");
    return FALSE;
  }
  if (!link_queue_plaintext (self, data, len, error))
    return FALSE;
  self->frames_out++;
  self->bytes_out += len;
  return TRUE;
}

/* Life cycle ----------------------------------------------------------- */

/* What the link's version is called on the wire; also its Noise
 * prologue. */
static const gchar *
link_subprotocol (PlexusLink *self)
{
  return self->version == 1 ? PLEXUS_LINK_SUBPROTOCOL_V1 : PLEXUS_LINK_SUBPROTOCOL;
}

static PlexusLink *
link_new (SoupWebsocketConnection  *ws,
          PlexusIdentity           *identity,
          const PlexusNoiseKeypair *static_key,
          PlexusLinkDirection       direction)
{
  PlexusLink *self = g_object_new (PLEXUS_TYPE_LINK, NULL);

  self->ws = g_object_ref (ws);
  self->identity = g_object_ref (identity);
  self->static_key = plexus_noise_keypair_copy (static_key);
  self->direction = direction;
  self->version = g_strcmp0 (soup_websocket_connection_get_protocol (ws), PLEXUS_LINK_SUBPROTOCOL) == 0 ? 2 : 1;
  /* A WebSocket message is one Noise message, so nothing larger is read;
   * libsoup closes the connection with 1009 instead. */
  soup_websocket_connection_set_max_incoming_payload_size (ws, PLEXUS_LINK_MAX_MESSAGE);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (ws, "error", G_CALLBACK (on_ws_error), self);
  g_signal_connect (ws, "closing", G_CALLBACK (on_ws_closing), self);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);
  return self;
}

/**
 * plexus_link_new_client:
 * @ws: an open WebSocket this node dialed, with subprotocol plexus.v2 or
 *   plexus.v1
 * @identity: this node's identity
 * @static_key: this node's Noise static key (copied)
 * @expected_peer_id: (nullable): the peer ID the other end must prove, if
 *   known (from a bootstrap URI or gossip)
 *
 * Creates the dialing side of a link: the Noise initiator. Call
 * plexus_link_start() to run the handshake.
 *
 * Returns: (transfer full): a new #PlexusLink
 */
PlexusLink *
plexus_link_new_client (SoupWebsocketConnection  *ws,
                        PlexusIdentity           *identity,
                        const PlexusNoiseKeypair *static_key,
                        const gchar              *expected_peer_id)
{
  PlexusLink *self;
  GUri *uri;

  g_return_val_if_fail (SOUP_IS_WEBSOCKET_CONNECTION (ws), NULL);
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (static_key != NULL, NULL);
  g_return_val_if_fail (expected_peer_id == NULL || plexus_peer_id_is_valid (expected_peer_id), NULL);

  self = link_new (ws, identity, static_key, PLEXUS_LINK_DIRECTION_OUTBOUND);
  self->expected_peer_id = g_strdup (expected_peer_id);
  uri = soup_websocket_connection_get_uri (ws);
  if (uri != NULL && g_uri_get_host (uri) != NULL)
    self->remote_address = strchr (g_uri_get_host (uri), ':') != NULL
                           ? g_strdup_printf ("[%s]:%d", g_uri_get_host (uri), g_uri_get_port (uri))
                           : g_strdup_printf ("%s:%d", g_uri_get_host (uri), g_uri_get_port (uri));
  return self;
}

/**
 * plexus_link_new_server:
 * @ws: an open WebSocket another node dialed, with subprotocol plexus.v2
 *   or plexus.v1
 * @identity: this node's identity
 * @static_key: this node's Noise static key (copied)
 * @remote_address: (nullable): the peer's `HOST:PORT`, for display
 *
 * Creates the accepting side of a link: the Noise responder. Call
 * plexus_link_start() to run the handshake.
 *
 * Returns: (transfer full): a new #PlexusLink
 */
PlexusLink *
plexus_link_new_server (SoupWebsocketConnection  *ws,
                        PlexusIdentity           *identity,
                        const PlexusNoiseKeypair *static_key,
                        const gchar              *remote_address)
{
  PlexusLink *self;

  g_return_val_if_fail (SOUP_IS_WEBSOCKET_CONNECTION (ws), NULL);
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (static_key != NULL, NULL);

  self = link_new (ws, identity, static_key, PLEXUS_LINK_DIRECTION_INBOUND);
  g_free (self->remote_address);
  self->remote_address = g_strdup (remote_address);
  return self;
}

/**
 * plexus_link_start:
 * @self: a new #PlexusLink
 *
 * Starts the handshake: the dialing side sends message 1, the accepting
 * side waits for it. #PlexusLink::ready or #PlexusLink::closed follows.
 */
void
plexus_link_start (PlexusLink *self)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));
  g_return_if_fail (self->state == PLEXUS_LINK_STATE_NEW);

  self->state = PLEXUS_LINK_STATE_HANDSHAKING;
  self->last_received = g_get_monotonic_time ();
  if (!ws_is_open (self)) {
    link_finish (self, SOUP_WEBSOCKET_CLOSE_ABNORMAL, "the WebSocket is not open");
    return;
  }

  link_ticker_add (self);
  if (self->handshake_timeout_ms > 0)
    self->handshake_timer = attach_timeout (self, self->handshake_timeout_ms, on_handshake_timeout);

  self->handshake = plexus_noise_handshake_new (self->direction == PLEXUS_LINK_DIRECTION_OUTBOUND,
                                                plexus_noise_keypair_get_private_key (self->static_key),
                                                (const guint8 *) link_subprotocol (self),
                                                strlen (link_subprotocol (self)));
  if (self->direction == PLEXUS_LINK_DIRECTION_OUTBOUND)
    write_handshake_message (self, NULL);
}

/* Settings ------------------------------------------------------------- */

/**
 * plexus_link_set_rate_limit:
 * @self: a #PlexusLink
 * @frames_per_second: sustained rate of incoming frames, 0 for no limit
 * @burst: how many frames may arrive at once
 *
 * Incoming frames beyond the limit are dropped and counted
 * (plexus_link_get_frames_dropped()); a peer that overruns the limit by
 * more than @burst frames within 10 s is disconnected with 4003.
 */
void
plexus_link_set_rate_limit (PlexusLink *self, gdouble frames_per_second, guint burst)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));
  g_return_if_fail (frames_per_second >= 0);

  self->rate = frames_per_second;
  self->burst = burst;
  self->tokens = MIN (self->tokens, (gdouble) burst);
  if (self->state != PLEXUS_LINK_STATE_READY)
    self->tokens = burst;
}

/**
 * plexus_link_set_byte_rate_limit:
 * @self: a #PlexusLink
 * @bytes_per_second: sustained rate of incoming frame bytes, 0 for no limit
 *   (the default)
 * @burst_bytes: how many bytes may arrive at once; at least
 *   %PLEXUS_LINK_MAX_FRAME, or large frames never pass
 *
 * Like plexus_link_set_rate_limit(), counted in plaintext bytes.
 */
void
plexus_link_set_byte_rate_limit (PlexusLink *self, gdouble bytes_per_second, gsize burst_bytes)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));
  g_return_if_fail (bytes_per_second >= 0);

  self->byte_rate = bytes_per_second;
  self->byte_burst = burst_bytes;
  self->byte_tokens = MIN (self->byte_tokens, (gdouble) burst_bytes);
  if (self->state != PLEXUS_LINK_STATE_READY)
    self->byte_tokens = burst_bytes;
}

/**
 * plexus_link_set_keepalive_interval:
 * @self: a #PlexusLink
 * @seconds: how often to ping the peer, 0 for never
 *
 * The link pings its peer (a control message, answered by a pong) when
 * nothing has arrived from it for @seconds (less up to a quarter, drawn
 * per link, so that links opened together do not ping together), and
 * closes it with 4004 when
 * nothing at all has arrived for three intervals. The checks run on one
 * timer for every link of the main context, so they may come up to a
 * quarter of a second late. Default 15.
 */
void
plexus_link_set_keepalive_interval (PlexusLink *self, guint seconds)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));

  self->keepalive_interval = seconds;
  if (self->state == PLEXUS_LINK_STATE_NEW || self->state == PLEXUS_LINK_STATE_CLOSED)
    return;
  self->ping_early = (gint64) g_random_double_range (0, (gdouble) seconds * G_USEC_PER_SEC / 4.0);
  link_ticker_remove (self);
  link_ticker_add (self);
}

/**
 * plexus_link_set_handshake_timeout:
 * @self: a new #PlexusLink
 * @milliseconds: deadline for the handshake, 0 for none. Default 10000.
 *
 * A link whose handshake is not done by then closes with 4000.
 */
void
plexus_link_set_handshake_timeout (PlexusLink *self, guint milliseconds)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));
  g_return_if_fail (self->state == PLEXUS_LINK_STATE_NEW);

  self->handshake_timeout_ms = milliseconds;
}

/**
 * plexus_link_set_max_queued_bytes:
 * @self: a #PlexusLink
 * @max_queued_bytes: how many encrypted bytes may wait to be written.
 *   Default 1 MiB.
 *
 * Bounds the send queue: plexus_link_send() fails rather than exceed it.
 */
void
plexus_link_set_max_queued_bytes (PlexusLink *self, gsize max_queued_bytes)
{
  g_return_if_fail (PLEXUS_IS_LINK (self));

  self->max_queued_bytes = max_queued_bytes;
}

/* Getters -------------------------------------------------------------- */

/**
 * plexus_link_get_state:
 * @self: a #PlexusLink
 *
 * Returns: where the link is in its life
 */
PlexusLinkState
plexus_link_get_state (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), PLEXUS_LINK_STATE_CLOSED);
  return self->state;
}

/**
 * plexus_link_get_direction:
 * @self: a #PlexusLink
 *
 * Returns: whether this node dialed (outbound) or accepted (inbound)
 */
PlexusLinkDirection
plexus_link_get_direction (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), PLEXUS_LINK_DIRECTION_OUTBOUND);
  return self->direction;
}

/**
 * plexus_link_get_version:
 * @self: a #PlexusLink
 *
 * Returns: the version of the link protocol the two nodes agreed on: 2,
 *   or 1 with a node that speaks only that
 */
guint
plexus_link_get_version (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 1);
  return self->version;
}

/**
 * plexus_link_get_envelope_encoding:
 * @self: a #PlexusLink
 *
 * Returns: the wire forms of envelopes the link's version allows
 */
PlexusEnvelopeEncoding
plexus_link_get_envelope_encoding (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), PLEXUS_ENVELOPE_ENCODING_JSON);
  return self->version >= 2 ? PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS : PLEXUS_ENVELOPE_ENCODING_JSON;
}

/**
 * plexus_link_get_peer_id:
 * @self: a #PlexusLink
 *
 * Returns: (nullable): the peer ID the peer proved in the handshake, or
 *   %NULL before that
 */
const gchar *
plexus_link_get_peer_id (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), NULL);
  return self->peer_id;
}

/**
 * plexus_link_get_remote_address:
 * @self: a #PlexusLink
 *
 * Returns: (nullable): the peer's `HOST:PORT` as seen on the connection
 */
const gchar *
plexus_link_get_remote_address (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), NULL);
  return self->remote_address;
}

/**
 * plexus_link_get_created:
 * @self: a #PlexusLink
 *
 * Returns: (transfer none): when the link was created
 */
GDateTime *
plexus_link_get_created (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), NULL);
  return self->created;
}

/**
 * plexus_link_get_rtt_ms:
 * @self: a #PlexusLink
 *
 * The round-trip time last measured: first over the handshake, from
 * sending our handshake message to receiving the peer's answer (messages
 * 1→2 on the dialing side, 2→3 on the accepting side), then from each
 * keepalive ping to its pong.
 *
 * Returns: milliseconds, or -1 before the handshake has measured it
 */
gdouble
plexus_link_get_rtt_ms (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), -1);
  return self->rtt_ms;
}

/**
 * plexus_link_get_bytes_in:
 * @self: a #PlexusLink
 *
 * Returns: plaintext bytes of the frames received and delivered
 */
guint64
plexus_link_get_bytes_in (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->bytes_in;
}

/**
 * plexus_link_get_bytes_out:
 * @self: a #PlexusLink
 *
 * Returns: plaintext bytes of the frames plexus_link_send() accepted
 */
guint64
plexus_link_get_bytes_out (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->bytes_out;
}

/**
 * plexus_link_get_frames_in:
 * @self: a #PlexusLink
 *
 * Returns: frames received and delivered through #PlexusLink::frame
 */
guint64
plexus_link_get_frames_in (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->frames_in;
}

/**
 * plexus_link_get_frames_out:
 * @self: a #PlexusLink
 *
 * Returns: frames plexus_link_send() accepted
 */
guint64
plexus_link_get_frames_out (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->frames_out;
}

/**
 * plexus_link_get_frames_dropped:
 * @self: a #PlexusLink
 *
 * Returns: incoming frames dropped by the rate limit
 */
guint64
plexus_link_get_frames_dropped (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->frames_dropped;
}

/**
 * plexus_link_get_queued_bytes:
 * @self: a #PlexusLink
 *
 * Returns: encrypted bytes waiting in the send queue, not yet handed to
 *   the WebSocket
 */
gsize
plexus_link_get_queued_bytes (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->queued_bytes;
}

/**
 * plexus_link_get_close_code:
 * @self: a #PlexusLink
 *
 * Returns: the close code once the link is closed (ours or the peer's;
 *   1006 when the connection was lost), else 0
 */
gint
plexus_link_get_close_code (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), 0);
  return self->close_code;
}

/**
 * plexus_link_get_close_reason:
 * @self: a #PlexusLink
 *
 * Returns: (nullable): why the link closed, or %NULL while it is open
 */
const gchar *
plexus_link_get_close_reason (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), NULL);
  return self->close_reason;
}

/**
 * plexus_link_get_websocket:
 * @self: a #PlexusLink
 *
 * For diagnostics and tests: sending on it directly breaks the link.
 *
 * Returns: (transfer none): the WebSocket the link runs on
 */
SoupWebsocketConnection *
plexus_link_get_websocket (PlexusLink *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK (self), NULL);
  return self->ws;
}

/* Dialing -------------------------------------------------------------- */

typedef struct {
  PlexusIdentity     *identity;
  PlexusNoiseKeypair *static_key;
  gchar              *expected_peer_id;
  gchar              *uri;
  PlexusLink         *link;
  GSource            *cancelled_source;
} ConnectData;

static void
connect_data_free (ConnectData *data)
{
  g_clear_object (&data->link);
  clear_source (&data->cancelled_source);
  g_object_unref (data->identity);
  plexus_noise_keypair_free (data->static_key);
  g_free (data->expected_peer_id);
  g_free (data->uri);
  g_free (data);
}

static void
connect_detach (GTask *task)
{
  ConnectData *data = g_task_get_task_data (task);

  g_signal_handlers_disconnect_by_data (data->link, task);
  clear_source (&data->cancelled_source);
}

static void
on_connect_ready (PlexusLink *link, gpointer user_data)
{
  GTask *task = G_TASK (user_data);

  connect_detach (task);
  g_task_return_pointer (task, g_object_ref (link), g_object_unref);
  g_object_unref (task);
}

static void
on_connect_closed (PlexusLink *link, gint code, const gchar *reason, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ConnectData *data = g_task_get_task_data (task);
  gint error_code;

  connect_detach (task);
  if (g_task_return_error_if_cancelled (task)) {
    g_object_unref (task);
    return;
  }
  switch (code) {
  case PLEXUS_LINK_CLOSE_HANDSHAKE_TIMEOUT:
    error_code = PLEXUS_ERROR_TIMED_OUT;
    break;
  case PLEXUS_LINK_CLOSE_PEER_ID_MISMATCH:
  case PLEXUS_LINK_CLOSE_HANDSHAKE_FAILED:
    error_code = PLEXUS_ERROR_INVALID_DATA;
    break;
  default:
    error_code = PLEXUS_ERROR_FAILED;
    break;
  }
  g_task_return_new_error (task, PLEXUS_ERROR, error_code,
                           "link to %s failed during the handshake: %s (close code %d)",
                           data->uri, reason, code);
  g_object_unref (task);
}

static gboolean
on_connect_cancelled (GCancellable *cancellable, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  ConnectData *data = g_task_get_task_data (task);

  g_clear_pointer (&data->cancelled_source, g_source_unref);
  /* on_connect_closed() returns the cancellation. */
  plexus_link_close (data->link, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "cancelled");
  return G_SOURCE_REMOVE;
}

static void
on_websocket_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = G_TASK (user_data);
  ConnectData *data = g_task_get_task_data (task);
  g_autoptr(SoupWebsocketConnection) ws = NULL;
  g_autoptr(GError) error = NULL;
  GCancellable *cancellable = g_task_get_cancellable (task);

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (ws == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_task_return_error (task, g_steal_pointer (&error));
    else
      g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                               "cannot link to %s: %s", data->uri, error->message);
    return;
  }

  data->link = plexus_link_new_client (ws, data->identity, data->static_key, data->expected_peer_id);
  /* The handlers own a reference to the task until one of them runs. */
  g_signal_connect (data->link, "ready", G_CALLBACK (on_connect_ready), task);
  g_signal_connect (data->link, "closed", G_CALLBACK (on_connect_closed), task);
  if (cancellable != NULL) {
    data->cancelled_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (data->cancelled_source, (GSourceFunc) G_CALLBACK (on_connect_cancelled),
                           task, NULL);
    g_source_attach (data->cancelled_source, g_task_get_context (task));
  }
  g_object_ref (task);
  plexus_link_start (data->link);
}

/**
 * plexus_link_connect_async:
 * @session: the #SoupSession to dial with
 * @uri: the peer's address, `ws://HOST:PORT/`, optionally followed by
 *   `#PEER-ID`
 * @identity: this node's identity
 * @static_key: this node's Noise static key
 * @expected_peer_id: (nullable): the peer ID the peer must prove; taken
 *   from @uri's fragment when %NULL
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the link is ready or has failed
 * @user_data: data for @callback
 *
 * Dials a node and runs the handshake. The link is handed over ready, with
 * its signals not yet connected: frames the peer sends arrive from the
 * next main loop iteration on.
 */
void
plexus_link_connect_async (SoupSession              *session,
                           const gchar              *uri,
                           PlexusIdentity           *identity,
                           const PlexusNoiseKeypair *static_key,
                           const gchar              *expected_peer_id,
                           GCancellable             *cancellable,
                           GAsyncReadyCallback       callback,
                           gpointer                  user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GUri) parsed = NULL;
  g_autoptr(GUri) request_uri = NULL;
  g_autoptr(SoupMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *protocols[] = { PLEXUS_LINK_SUBPROTOCOL, PLEXUS_LINK_SUBPROTOCOL_V1, NULL };
  const gchar *fragment;
  const gchar *path;
  ConnectData *data;

  g_return_if_fail (SOUP_IS_SESSION (session));
  g_return_if_fail (uri != NULL);
  g_return_if_fail (PLEXUS_IS_IDENTITY (identity));
  g_return_if_fail (static_key != NULL);

  task = g_task_new (session, cancellable, callback, user_data);
  g_task_set_source_tag (task, plexus_link_connect_async);

  parsed = g_uri_parse (uri, G_URI_FLAGS_NONE, &error);
  if (parsed == NULL) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             "cannot link to %s: %s", uri, error->message);
    return;
  }
  if (g_strcmp0 (g_uri_get_scheme (parsed), "ws") != 0 &&
      g_strcmp0 (g_uri_get_scheme (parsed), "wss") != 0) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             "cannot link to %s: a node address is a ws:// or wss:// URI", uri);
    return;
  }
  fragment = g_uri_get_fragment (parsed);
  if (fragment != NULL && *fragment != '\0') {
    if (!plexus_peer_id_is_valid (fragment)) {
      g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                               "cannot link to %s: \"%s\" is not a peer ID", uri, fragment);
      return;
    }
    if (expected_peer_id != NULL && strcmp (expected_peer_id, fragment) != 0) {
      g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                               "cannot link to %s: the URI names peer %s, the caller expects %s",
                               uri, fragment, expected_peer_id);
      return;
    }
    expected_peer_id = fragment;
  }
  if (expected_peer_id != NULL && !plexus_peer_id_is_valid (expected_peer_id)) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             "cannot link to %s: \"%s\" is not a peer ID", uri, expected_peer_id);
    return;
  }

  data = g_new0 (ConnectData, 1);
  data->identity = g_object_ref (identity);
  data->static_key = plexus_noise_keypair_copy (static_key);
  data->expected_peer_id = g_strdup (expected_peer_id);
  data->uri = g_strdup (uri);
  g_task_set_task_data (task, data, (GDestroyNotify) connect_data_free);

  /* The fragment names the peer; it is not part of the request. */
  path = g_uri_get_path (parsed);
  request_uri = soup_uri_copy (parsed,
                               SOUP_URI_FRAGMENT, NULL,
                               SOUP_URI_PATH, *path != '\0' ? path : "/",
                               SOUP_URI_NONE);
  message = soup_message_new_from_uri (SOUP_METHOD_GET, request_uri);
  /* Frames are ciphertext: compressing them gains nothing. */
  soup_message_disable_feature (message, SOUP_TYPE_WEBSOCKET_EXTENSION_MANAGER);
  soup_session_websocket_connect_async (session, message, NULL, (gchar **) protocols,
                                        G_PRIORITY_DEFAULT, cancellable,
                                        on_websocket_connected, g_steal_pointer (&task));
}

/**
 * plexus_link_connect_finish:
 * @session: the #SoupSession given to plexus_link_connect_async()
 * @result: the #GAsyncResult
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the ready link, or %NULL with @error set
 */
PlexusLink *
plexus_link_connect_finish (SoupSession *session, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, session), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == plexus_link_connect_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Accepting ------------------------------------------------------------ */

/* Reference-counted (GRcBox): an upgrade under way holds the handler, as
 * the server may drop it first. */
typedef struct {
  PlexusIdentity       *identity;
  PlexusNoiseKeypair   *static_key;
  PlexusLinkAcceptFunc  callback;
  gpointer              user_data;
  GDestroyNotify        destroy;
  gboolean              removed;
} ServerHandler;

static void
server_handler_clear (gpointer user_data)
{
  ServerHandler *handler = user_data;

  g_object_unref (handler->identity);
  plexus_noise_keypair_free (handler->static_key);
}

static void
server_handler_release (gpointer user_data, GClosure *closure)
{
  g_rc_box_release_full (user_data, server_handler_clear);
}

/* The server drops the handler: its user data goes now, and an upgrade
 * still under way is refused. */
static void
server_handler_remove (gpointer user_data)
{
  ServerHandler *handler = user_data;

  handler->removed = TRUE;
  if (handler->destroy != NULL)
    handler->destroy (handler->user_data);
  handler->destroy = NULL;
  g_rc_box_release_full (handler, server_handler_clear);
}

static gboolean
offers_subprotocol (SoupServerMessage *msg)
{
  const gchar *offered = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                       "Sec-WebSocket-Protocol");
  g_auto(GStrv) tokens = NULL;

  if (offered == NULL)
    return FALSE;
  tokens = g_strsplit_set (offered, ", ", -1);
  return g_strv_contains ((const gchar * const *) tokens, PLEXUS_LINK_SUBPROTOCOL) ||
         g_strv_contains ((const gchar * const *) tokens, PLEXUS_LINK_SUBPROTOCOL_V1);
}

/* libsoup accepts a WebSocket that offers no subprotocol at all; a link
 * needs one, as it is the protocol version. */
static void
server_early_handler (SoupServer        *server,
                      SoupServerMessage *msg,
                      const char        *path,
                      GHashTable        *query,
                      gpointer           user_data)
{
  static const gchar refusal[] = "Plexus node links need the WebSocket subprotocol "
                                 PLEXUS_LINK_SUBPROTOCOL " or " PLEXUS_LINK_SUBPROTOCOL_V1 "\n";

  if (offers_subprotocol (msg))
    return;
  soup_server_message_set_status (msg, SOUP_STATUS_BAD_REQUEST, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC,
                                    refusal, strlen (refusal));
}

static gchar *
describe_remote (SoupServerMessage *msg)
{
  GSocketAddress *address = soup_server_message_get_remote_address (msg);
  GInetSocketAddress *inet;
  g_autofree gchar *host = NULL;

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return NULL;
  inet = G_INET_SOCKET_ADDRESS (address);
  host = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
  return strchr (host, ':') != NULL
         ? g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (inet))
         : g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (inet));
}

/* The 101 response is out: the connection becomes the link's. libsoup's
 * own WebSocket handler would build the connection on the socket's usual
 * streams; the link builds it on a PlexusLinkStream, so that an idle link
 * costs the main loop neither a poll entry nor a source
 * (plexus-link-input-stream.h). */
static void
server_upgrade_complete (SoupServerMessage *msg, gpointer user_data)
{
  ServerHandler *handler = user_data;
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(SoupWebsocketConnection) ws = NULL;
  g_autoptr(GIOStream) connection = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *remote = describe_remote (msg);
  g_autoptr(SoupServerMessage) held = NULL;
  GMainContext *waiting;

  g_signal_handlers_disconnect_by_func (msg, server_upgrade_complete, user_data);
  if (handler->removed)
    return;
  /* Stealing the connection may drop the server's hold on the message,
   * which is still read below. */
  held = g_object_ref (msg);
  connection = soup_server_message_steal_connection (msg);
  if (connection == NULL) {
    g_warning ("Cannot accept a link from %s: the connection is gone", remote != NULL ? remote : "?");
    return;
  }
  socket = plexus_listener_find_socket (connection);
  if (socket == NULL) {
    g_warning ("Cannot accept a link from %s: its connection has no socket", remote != NULL ? remote : "?");
    g_io_stream_close (connection, NULL, NULL);
    return;
  }
  stream = plexus_link_stream_new (connection, socket, &error);
  if (stream == NULL) {
    g_warning ("Cannot accept a link from %s: %s", remote != NULL ? remote : "?", error->message);
    g_io_stream_close (connection, NULL, NULL);
    return;
  }
  waiting = plexus_link_stream_get_context (PLEXUS_LINK_STREAM (stream));
  if (waiting != NULL)
    g_main_context_push_thread_default (waiting);
  ws = soup_websocket_connection_new (stream, soup_server_message_get_uri (msg),
                                      SOUP_WEBSOCKET_CONNECTION_SERVER,
                                      soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Origin"),
                                      soup_message_headers_get_one (soup_server_message_get_response_headers (msg),
                                                                    "Sec-WebSocket-Protocol"),
                                      NULL);
  if (waiting != NULL)
    g_main_context_pop_thread_default (waiting);
  link = plexus_link_new_server (ws, handler->identity, handler->static_key, remote);
  handler->callback (link, handler->user_data);
  plexus_link_start (link);
}

static void
server_handler (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  /* libsoup answers with the first of these that the dialer offers: the
   * newest both speak. */
  const gchar *protocols[] = { PLEXUS_LINK_SUBPROTOCOL, PLEXUS_LINK_SUBPROTOCOL_V1, NULL };

  /* No extension is offered back: ciphertext does not compress, and
   * permessage-deflate would let a peer have small messages inflate into
   * large ones, past the size limit. On failure libsoup has set the
   * error status. */
  if (!soup_websocket_server_process_handshake (msg, NULL, (gchar **) protocols, NULL, NULL))
    return;
  g_signal_connect_data (msg, "wrote-informational", G_CALLBACK (server_upgrade_complete),
                         g_rc_box_acquire (user_data), server_handler_release, 0);
}

/**
 * plexus_link_server_add_handler:
 * @server: a #SoupServer
 * @path: (nullable): where links are accepted; %NULL for `/`
 * @identity: this node's identity
 * @static_key: this node's Noise static key (copied)
 * @callback: called with each new inbound link, before its handshake
 * @user_data: data for @callback
 * @destroy: (nullable): frees @user_data when the handler is removed
 *
 * Accepts node links on @server: WebSocket requests for @path that offer
 * the subprotocol plexus.v2 or plexus.v1. Others are refused with 400 Bad
 * Request.
 * @callback may configure the link and connect its signals; it must take a
 * reference to keep it.
 */
void
plexus_link_server_add_handler (SoupServer               *server,
                                const gchar              *path,
                                PlexusIdentity           *identity,
                                const PlexusNoiseKeypair *static_key,
                                PlexusLinkAcceptFunc      callback,
                                gpointer                  user_data,
                                GDestroyNotify            destroy)
{
  ServerHandler *handler;

  g_return_if_fail (SOUP_IS_SERVER (server));
  g_return_if_fail (PLEXUS_IS_IDENTITY (identity));
  g_return_if_fail (static_key != NULL);
  g_return_if_fail (callback != NULL);

  if (path == NULL)
    path = "/";
  handler = g_rc_box_new0 (ServerHandler);
  handler->identity = g_object_ref (identity);
  handler->static_key = plexus_noise_keypair_copy (static_key);
  handler->callback = callback;
  handler->user_data = user_data;
  handler->destroy = destroy;
  soup_server_add_early_handler (server, path, server_early_handler, NULL, NULL);
  soup_server_add_handler (server, path, server_handler, handler, server_handler_remove);
}

/* GObject -------------------------------------------------------------- */

static void
plexus_link_dispose (GObject *object)
{
  PlexusLink *self = PLEXUS_LINK (object);

  if (self->ws != NULL) {
    g_signal_handlers_disconnect_by_data (self->ws, self);
    /* Nobody can be told any more, so no "closed". */
    if (self->state != PLEXUS_LINK_STATE_CLOSED && ws_is_open (self))
      soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "link released");
    self->state = PLEXUS_LINK_STATE_CLOSED;
  }
  clear_source (&self->handshake_timer);
  link_ticker_remove (self);
  clear_send_queue (self);
  g_clear_object (&self->ws);
  g_clear_object (&self->handshake);
  g_clear_object (&self->send_cipher);
  g_clear_object (&self->recv_cipher);
  G_OBJECT_CLASS (plexus_link_parent_class)->dispose (object);
}

static void
plexus_link_finalize (GObject *object)
{
  PlexusLink *self = PLEXUS_LINK (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->static_key, plexus_noise_keypair_free);
  g_free (self->expected_peer_id);
  g_free (self->remote_address);
  g_free (self->peer_id);
  g_free (self->close_reason);
  g_date_time_unref (self->created);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (plexus_link_parent_class)->finalize (object);
}

static void
plexus_link_class_init (PlexusLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_link_dispose;
  object_class->finalize = plexus_link_finalize;

  /**
   * PlexusLink::ready:
   * @link: the link
   *
   * The handshake is done: the peer ID is known and frames may be sent.
   */
  signals[SIGNAL_READY] =
    g_signal_new ("ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /**
   * PlexusLink::frame:
   * @link: the link
   * @frame: the decrypted frame
   *
   * A frame arrived from the peer.
   */
  signals[SIGNAL_FRAME] =
    g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                  G_TYPE_BYTES | G_SIGNAL_TYPE_STATIC_SCOPE);
  /**
   * PlexusLink::closed:
   * @link: the link
   * @code: the WebSocket close code: ours when this side closed, the
   *   peer's when it did, 1006 when the connection was lost
   * @reason: why
   *
   * The link is over; emitted once.
   */
  signals[SIGNAL_CLOSED] =
    g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_INT, G_TYPE_STRING);
}

static void
plexus_link_init (PlexusLink *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->created = g_date_time_new_now_utc ();
  self->state = PLEXUS_LINK_STATE_NEW;
  self->rtt_ms = -1;
  self->handshake_timeout_ms = PLEXUS_LINK_DEFAULT_HANDSHAKE_TIMEOUT_MS;
  self->keepalive_interval = PLEXUS_LINK_DEFAULT_KEEPALIVE_INTERVAL;
  self->rate = PLEXUS_LINK_DEFAULT_RATE;
  self->burst = PLEXUS_LINK_DEFAULT_BURST;
  self->tokens = PLEXUS_LINK_DEFAULT_BURST;
  self->max_queued_bytes = PLEXUS_LINK_DEFAULT_MAX_QUEUED_BYTES;
  g_queue_init (&self->send_queue);
}
