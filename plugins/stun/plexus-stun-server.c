/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

#include "plexus-stun-server.h"

/**
 * SECTION:plexus-stun-server
 * @title: PlexusStunServer
 * @short_description: The STUN Binding server as a state machine
 *
 * Takes a request (the time, the bytes, where they came from) and gives
 * back the answer to send, or nothing. It does no I/O and reads no clock,
 * so the plugin's sockets, the tests and the benchmark drive it alike.
 *
 * It answers Binding requests with XOR-MAPPED-ADDRESS, a request with a
 * comprehension-required attribute it does not know with 420 (listing
 * them in UNKNOWN-ATTRIBUTES), a malformed request or another method with
 * 400, and nothing else: not what is not STUN, a wrong FINGERPRINT,
 * indications or responses. An answer is at most
 * %PLEXUS_STUN_SERVER_MAX_GROWTH bytes larger than its request: the
 * server adds FINGERPRINT only when the request had one, and SOFTWARE only
 * when the answer stays within the request's size. Each source address
 * (IP, not port) has a token bucket; answers beyond it are dropped.
 */

#define WINDOW_USEC G_USEC_PER_SEC

/* Not above 32 per answer: each costs 2 bytes in the answer and at least
 * 4 in the request. */
#define MAX_UNKNOWN 16

typedef struct {
  PlexusStunAddress ip;       /* port 0 */
  gdouble           tokens;
  gint64            last;
} Bucket;

struct _PlexusStunServer {
  GObject                   parent_instance;

  gchar                    *software;
  guint                     rate;
  guint                     burst;
  guint                     capacity;
  GHashTable               *buckets;   /* (element-type Bucket Bucket) */
  Bucket                    overflow;
  PlexusStunServerCounters  counters;
  gint64                    window_start;
  guint64                   window_count;
  gdouble                   rate_per_second;
};

G_DEFINE_TYPE (PlexusStunServer, plexus_stun_server, G_TYPE_OBJECT)

static guint
bucket_hash (gconstpointer key)
{
  const Bucket *bucket = key;
  guint hash = bucket->ip.family;

  for (guint i = 0; i < (bucket->ip.family == G_SOCKET_FAMILY_IPV4 ? 4u : 16u); i++)
    hash = hash * 31 + bucket->ip.bytes[i];
  return hash;
}

static gboolean
bucket_equal (gconstpointer a, gconstpointer b)
{
  return plexus_stun_address_equal_ip (&((const Bucket *) a)->ip, &((const Bucket *) b)->ip);
}

static void
plexus_stun_server_finalize (GObject *object)
{
  PlexusStunServer *self = PLEXUS_STUN_SERVER (object);

  g_free (self->software);
  g_hash_table_unref (self->buckets);
  G_OBJECT_CLASS (plexus_stun_server_parent_class)->finalize (object);
}

static void
plexus_stun_server_class_init (PlexusStunServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_stun_server_finalize;
}

static void
plexus_stun_server_init (PlexusStunServer *self)
{
  self->software = g_strdup ("Plexus " PACKAGE_VERSION);
  self->rate = PLEXUS_STUN_SERVER_DEFAULT_RATE;
  self->burst = 2 * PLEXUS_STUN_SERVER_DEFAULT_RATE;
  self->capacity = PLEXUS_STUN_SERVER_DEFAULT_CAPACITY;
  self->buckets = g_hash_table_new_full (bucket_hash, bucket_equal, NULL, g_free);
  self->window_start = G_MININT64;
}

/**
 * plexus_stun_server_new:
 *
 * Returns: (transfer full): a server with the default rate limit and
 *   capacity
 */
PlexusStunServer *
plexus_stun_server_new (void)
{
  return g_object_new (PLEXUS_TYPE_STUN_SERVER, NULL);
}

/**
 * plexus_stun_server_set_software:
 * @self: a #PlexusStunServer
 * @software: (nullable): the SOFTWARE value, or %NULL for none
 */
void
plexus_stun_server_set_software (PlexusStunServer *self, const gchar *software)
{
  g_return_if_fail (PLEXUS_IS_STUN_SERVER (self));
  g_return_if_fail (software == NULL || strlen (software) <= PLEXUS_STUN_MAX_SOFTWARE_SIZE);

  g_free (self->software);
  self->software = g_strdup (software);
}

/**
 * plexus_stun_server_set_rate_limit:
 * @self: a #PlexusStunServer
 * @rate: answers per second per source address; 0 for no limit
 * @burst: how many answers a quiet source may get at once; at least 1
 *
 * Forgets what it knew of the sources.
 */
void
plexus_stun_server_set_rate_limit (PlexusStunServer *self, guint rate, guint burst)
{
  g_return_if_fail (PLEXUS_IS_STUN_SERVER (self));

  self->rate = rate;
  self->burst = MAX (burst, 1);
  g_hash_table_remove_all (self->buckets);
  memset (&self->overflow, 0, sizeof self->overflow);
}

/**
 * plexus_stun_server_set_capacity:
 * @self: a #PlexusStunServer
 * @requests_per_second: the request rate that counts as full load; at
 *   least 1
 */
void
plexus_stun_server_set_capacity (PlexusStunServer *self, guint requests_per_second)
{
  g_return_if_fail (PLEXUS_IS_STUN_SERVER (self));

  self->capacity = MAX (requests_per_second, 1);
}

static void
roll_window (PlexusStunServer *self, gint64 now)
{
  gint64 elapsed;

  if (self->window_start == G_MININT64) {
    self->window_start = now;
    return;
  }
  elapsed = now - self->window_start;
  if (elapsed < WINDOW_USEC)
    return;
  self->rate_per_second = (gdouble) self->window_count * G_USEC_PER_SEC / elapsed;
  self->window_start = now;
  self->window_count = 0;
}

static void
refill (PlexusStunServer *self, Bucket *bucket, gint64 now)
{
  if (bucket->last == 0) {
    bucket->tokens = self->burst;
  } else if (now > bucket->last) {
    bucket->tokens += (gdouble) (now - bucket->last) * self->rate / G_USEC_PER_SEC;
    if (bucket->tokens > self->burst)
      bucket->tokens = self->burst;
  }
  bucket->last = MAX (now, 1);
}

/* Drops the buckets that have refilled: a source that comes back then
 * starts full, as it would have anyway. */
static void
purge_buckets (PlexusStunServer *self, gint64 now)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->buckets);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    Bucket *bucket = key;

    refill (self, bucket, now);
    if (bucket->tokens >= self->burst)
      g_hash_table_iter_remove (&iter);
  }
}

static gboolean
take_token (PlexusStunServer *self, gint64 now, const PlexusStunAddress *source)
{
  Bucket lookup = { 0, };
  Bucket *bucket;

  if (self->rate == 0)
    return TRUE;
  lookup.ip = *source;
  lookup.ip.port = 0;
  bucket = g_hash_table_lookup (self->buckets, &lookup);
  if (bucket == NULL) {
    if (g_hash_table_size (self->buckets) >= PLEXUS_STUN_SERVER_MAX_SOURCES)
      purge_buckets (self, now);
    if (g_hash_table_size (self->buckets) >= PLEXUS_STUN_SERVER_MAX_SOURCES) {
      /* Many sources at once, maybe forged: the new ones share. */
      bucket = &self->overflow;
    } else {
      bucket = g_memdup2 (&lookup, sizeof lookup);
      g_hash_table_add (self->buckets, bucket);
    }
  }
  refill (self, bucket, now);
  if (bucket->tokens < 1.0)
    return FALSE;
  bucket->tokens -= 1.0;
  return TRUE;
}

/* Comprehension-required attributes the server understands well enough
 * to ignore: those of RFC 8489 and the ICE ones (RFC 8445) of connectivity
 * checks. Not CHANGE-REQUEST, RESPONSE-PORT or PADDING: the server does
 * not change where it answers from, nor where to, nor pads. */
static gboolean
is_known_required (guint16 type)
{
  switch (type) {
  case PLEXUS_STUN_ATTR_MAPPED_ADDRESS:
  case PLEXUS_STUN_ATTR_USERNAME:
  case PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY:
  case PLEXUS_STUN_ATTR_ERROR_CODE:
  case PLEXUS_STUN_ATTR_UNKNOWN_ATTRIBUTES:
  case PLEXUS_STUN_ATTR_REALM:
  case PLEXUS_STUN_ATTR_NONCE:
  case PLEXUS_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
  case PLEXUS_STUN_ATTR_PASSWORD_ALGORITHM:
  case PLEXUS_STUN_ATTR_USERHASH:
  case PLEXUS_STUN_ATTR_XOR_MAPPED_ADDRESS:
  case PLEXUS_STUN_ATTR_PRIORITY:
  case PLEXUS_STUN_ATTR_USE_CANDIDATE:
    return TRUE;
  default:
    return FALSE;
  }
}

static guint
find_unknown (PlexusStunMessage *request, guint16 *unknown)
{
  guint n = 0;

  for (guint i = 0; i < plexus_stun_message_get_n_attributes (request) && n < MAX_UNKNOWN; i++) {
    guint16 type;
    gboolean seen = FALSE;

    plexus_stun_message_get_attribute_at (request, i, &type, NULL);
    if (!PLEXUS_STUN_ATTR_IS_COMPREHENSION_REQUIRED (type) || is_known_required (type))
      continue;
    for (guint j = 0; j < n && !seen; j++)
      seen = unknown[j] == type;
    if (!seen)
      unknown[n++] = type;
  }
  return n;
}

static GBytes *
encode_answer (PlexusStunServer *self, PlexusStunMessage *answer, gboolean fingerprint, gsize request_length)
{
  g_autoptr(GBytes) bytes = NULL;
  gsize size;

  bytes = plexus_stun_message_encode (answer, NULL, 0, fingerprint, NULL);
  if (bytes == NULL)
    return NULL;
  size = g_bytes_get_size (bytes);
  /* SOFTWARE only when it costs no amplification. */
  if (self->software != NULL && *self->software != '\0' &&
      size + 4 + ((strlen (self->software) + 3) & ~(gsize) 3) <= request_length &&
      plexus_stun_message_add_software (answer, self->software, NULL)) {
    g_bytes_unref (bytes);
    bytes = plexus_stun_message_encode (answer, NULL, 0, fingerprint, NULL);
  }
  return g_steal_pointer (&bytes);
}

static GBytes *
error_answer (PlexusStunServer *self, guint16 method, const guint8 *transaction_id, guint code,
              const gchar *reason, const guint16 *unknown, guint n_unknown, gboolean fingerprint,
              gsize request_length)
{
  g_autoptr(PlexusStunMessage) answer = NULL;

  answer = plexus_stun_message_new (PLEXUS_STUN_CLASS_ERROR_RESPONSE, method, transaction_id);
  if (!plexus_stun_message_add_error_code (answer, code, reason, NULL))
    return NULL;
  if (n_unknown > 0 && !plexus_stun_message_add_unknown_attributes (answer, unknown, n_unknown, NULL))
    return NULL;
  return encode_answer (self, answer, fingerprint, request_length);
}

/**
 * plexus_stun_server_handle:
 * @self: a #PlexusStunServer
 * @now: the current time in microseconds on a monotonic clock
 * @data: (array length=length): one datagram, or one message from a
 *   stream (see plexus_stun_message_peek_length())
 * @length: its size
 * @source: where it came from (for TCP, the connection's peer)
 * @transport: what it came over
 *
 * Returns: (transfer full) (nullable): the answer to send back to
 *   @source, or %NULL to send nothing
 */
GBytes *
plexus_stun_server_handle (PlexusStunServer        *self,
                           gint64                   now,
                           const guint8            *data,
                           gsize                    length,
                           const PlexusStunAddress *source,
                           PlexusStunTransport      transport)
{
  g_autoptr(PlexusStunMessage) request = NULL;
  g_autoptr(PlexusStunMessage) answer = NULL;
  PlexusStunDecodeStatus status = PLEXUS_STUN_DECODE_OK;
  guint16 unknown[MAX_UNKNOWN];
  guint n_unknown;
  gboolean fingerprint;
  GBytes *bytes;

  g_return_val_if_fail (PLEXUS_IS_STUN_SERVER (self), NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (source != NULL, NULL);

  self->counters.received++;
  roll_window (self, now);
  self->window_count++;

  request = plexus_stun_message_decode (data, length, &status, NULL);
  switch (status) {
  case PLEXUS_STUN_DECODE_OK:
    break;
  case PLEXUS_STUN_DECODE_NOT_STUN:
    self->counters.dropped_not_stun++;
    return NULL;
  case PLEXUS_STUN_DECODE_TOO_LARGE:
    self->counters.dropped_too_large++;
    return NULL;
  case PLEXUS_STUN_DECODE_BAD_FINGERPRINT:
    self->counters.dropped_bad_fingerprint++;
    return NULL;
  case PLEXUS_STUN_DECODE_MALFORMED:
  default: {
    /* The header passed the checks: answer a request with 400, read from
     * the header itself. */
    guint16 type = (guint16) ((data[0] << 8) | data[1]);
    guint16 method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);

    if ((type & 0x0110) != 0) {
      self->counters.dropped_malformed++;
      return NULL;
    }
    if (!take_token (self, now, source)) {
      self->counters.dropped_rate_limited++;
      return NULL;
    }
    bytes = error_answer (self, method, data + 8, 400, "Bad Request", NULL, 0, FALSE, length);
    if (bytes != NULL)
      self->counters.bad_request++;
    else
      self->counters.dropped_malformed++;
    return bytes;
  }
  }

  if (plexus_stun_message_get_class (request) != PLEXUS_STUN_CLASS_REQUEST) {
    /* Binding indications are keep-alives; responses are not for us. */
    self->counters.dropped_not_request++;
    return NULL;
  }
  if (!take_token (self, now, source)) {
    self->counters.dropped_rate_limited++;
    return NULL;
  }
  fingerprint = plexus_stun_message_has_fingerprint (request);
  if (plexus_stun_message_get_method (request) != PLEXUS_STUN_METHOD_BINDING) {
    self->counters.bad_request++;
    return error_answer (self, plexus_stun_message_get_method (request),
                         plexus_stun_message_get_transaction_id (request),
                         400, "Unsupported Method", NULL, 0, fingerprint, length);
  }
  n_unknown = find_unknown (request, unknown);
  if (n_unknown > 0) {
    self->counters.unknown_attribute++;
    return error_answer (self, PLEXUS_STUN_METHOD_BINDING, plexus_stun_message_get_transaction_id (request),
                         420, "Unknown Attribute", unknown, n_unknown, fingerprint, length);
  }

  answer = plexus_stun_message_new (PLEXUS_STUN_CLASS_SUCCESS_RESPONSE, PLEXUS_STUN_METHOD_BINDING,
                                    plexus_stun_message_get_transaction_id (request));
  if (!plexus_stun_message_add_xor_mapped_address (answer, source, NULL)) {
    self->counters.dropped_malformed++;
    return NULL;
  }
  bytes = encode_answer (self, answer, fingerprint, length);
  self->counters.answered++;
  return bytes;
}

/**
 * plexus_stun_server_handle_from:
 * @self: a #PlexusStunServer
 * @now: the current time in microseconds on a monotonic clock
 * @data: (array length=length): as for plexus_stun_server_handle()
 * @length: its size
 * @source: where it came from, a #GInetSocketAddress
 * @transport: what it came over
 *
 * plexus_stun_server_handle() with a #GSocketAddress.
 *
 * Returns: (transfer full) (nullable): the answer, or %NULL
 */
GBytes *
plexus_stun_server_handle_from (PlexusStunServer    *self,
                                gint64               now,
                                const guint8        *data,
                                gsize                length,
                                GSocketAddress      *source,
                                PlexusStunTransport  transport)
{
  PlexusStunAddress address;

  g_return_val_if_fail (PLEXUS_IS_STUN_SERVER (self), NULL);

  if (!plexus_stun_address_from_socket_address (source, &address)) {
    self->counters.received++;
    self->counters.dropped_not_stun++;
    return NULL;
  }
  return plexus_stun_server_handle (self, now, data, length, &address, transport);
}

/**
 * plexus_stun_server_get_counters:
 * @self: a #PlexusStunServer
 * @counters: (out caller-allocates): where to put them
 */
void
plexus_stun_server_get_counters (PlexusStunServer *self, PlexusStunServerCounters *counters)
{
  g_return_if_fail (PLEXUS_IS_STUN_SERVER (self));
  g_return_if_fail (counters != NULL);

  *counters = self->counters;
}

/**
 * plexus_stun_server_get_request_rate:
 * @self: a #PlexusStunServer
 * @now: the current time in microseconds on the clock given to
 *   plexus_stun_server_handle()
 *
 * Returns: packets handed in per second over the last full second or so
 */
gdouble
plexus_stun_server_get_request_rate (PlexusStunServer *self, gint64 now)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_SERVER (self), 0.0);

  roll_window (self, now);
  return self->rate_per_second;
}

/**
 * plexus_stun_server_get_load:
 * @self: a #PlexusStunServer
 * @now: the current time in microseconds
 *
 * Returns: the request rate as a fraction of the capacity, 0.0..1.0, for
 *   the capability advertisement
 */
gdouble
plexus_stun_server_get_load (PlexusStunServer *self, gint64 now)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_SERVER (self), 0.0);

  return MIN (1.0, plexus_stun_server_get_request_rate (self, now) / self->capacity);
}

/**
 * plexus_stun_server_get_n_sources:
 * @self: a #PlexusStunServer
 *
 * Returns: how many source addresses the rate limiter tracks now
 */
guint
plexus_stun_server_get_n_sources (PlexusStunServer *self)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_SERVER (self), 0);

  return g_hash_table_size (self->buckets);
}
