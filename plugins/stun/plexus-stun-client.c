/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

#include "plexus-stun-client.h"

/**
 * SECTION:plexus-stun-client
 * @title: PlexusStunClient
 * @short_description: NAT discovery: Binding requests to several servers
 *
 * One round of discovery as a state machine: one Binding transaction per
 * server, retransmitted over UDP as RFC 8489 §6.2.1 says (RTO 500 ms,
 * doubling, Rc = 7 sends, then Rm = 16 RTOs of waiting: a silent server
 * fails after 39.5 s), a single send and the same 39.5 s over TCP.
 * Answers are matched by transaction ID and, over UDP, by the address they
 * come from. The caller sends what plexus_stun_client_poll_transmit()
 * gives, calls plexus_stun_client_handle_timeout() at
 * plexus_stun_client_get_deadline() and hands in what arrives.
 *
 * plexus_stun_client_classify() then reads the answers: a mapped address
 * that is one of the node's own means no NAT; the same mapped address from
 * every server an endpoint-independent mapping; different ones an
 * address-dependent mapping; no answer at all, blocked.
 */

typedef struct {
  PlexusStunAddress      server;
  PlexusStunTransport    transport;
  guint8                 transaction_id[PLEXUS_STUN_TRANSACTION_ID_SIZE];
  GBytes                *request;
  gint64                 last_send;
  gint64                 deadline;
  PlexusStunQueryResult  result;
} Query;

typedef struct {
  guint   index;
  GBytes *message;
} Transmit;

struct _PlexusStunClient {
  GObject  parent_instance;

  gint64   rto;
  GArray  *queries;   /* (element-type Query) */
  GQueue   transmits; /* (element-type Transmit) */
  gboolean started;
};

G_DEFINE_TYPE (PlexusStunClient, plexus_stun_client, G_TYPE_OBJECT)

static void
query_clear (gpointer data)
{
  Query *query = data;

  g_clear_pointer (&query->request, g_bytes_unref);
}

static void
transmit_free (gpointer data)
{
  Transmit *transmit = data;

  g_bytes_unref (transmit->message);
  g_free (transmit);
}

static void
plexus_stun_client_finalize (GObject *object)
{
  PlexusStunClient *self = PLEXUS_STUN_CLIENT (object);

  g_array_unref (self->queries);
  g_queue_clear_full (&self->transmits, transmit_free);
  G_OBJECT_CLASS (plexus_stun_client_parent_class)->finalize (object);
}

static void
plexus_stun_client_class_init (PlexusStunClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_stun_client_finalize;
}

static void
plexus_stun_client_init (PlexusStunClient *self)
{
  self->rto = PLEXUS_STUN_CLIENT_DEFAULT_RTO_USEC;
  self->queries = g_array_new (FALSE, TRUE, sizeof (Query));
  g_array_set_clear_func (self->queries, query_clear);
  g_queue_init (&self->transmits);
}

/**
 * plexus_stun_nat_type_to_string:
 * @type: a #PlexusStunNatType
 *
 * Returns: its string, e.g. `endpoint-independent`
 */
const gchar *
plexus_stun_nat_type_to_string (PlexusStunNatType type)
{
  switch (type) {
  case PLEXUS_STUN_NAT_NONE:
    return "none";
  case PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT:
    return "endpoint-independent";
  case PLEXUS_STUN_NAT_ADDRESS_DEPENDENT:
    return "address-dependent";
  case PLEXUS_STUN_NAT_BLOCKED:
    return "blocked";
  case PLEXUS_STUN_NAT_UNKNOWN:
  default:
    return "unknown";
  }
}

/**
 * plexus_stun_nat_type_is_super_eligible:
 * @type: a #PlexusStunNatType
 *
 * A super peer must be reachable by others at the address STUN shows:
 * with no NAT, or behind one that maps endpoint-independently.
 *
 * Returns: whether a node behind @type may take the super role
 */
gboolean
plexus_stun_nat_type_is_super_eligible (PlexusStunNatType type)
{
  return type == PLEXUS_STUN_NAT_NONE || type == PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT;
}

/**
 * plexus_stun_client_new:
 *
 * Returns: (transfer full): a client with no servers
 */
PlexusStunClient *
plexus_stun_client_new (void)
{
  return g_object_new (PLEXUS_TYPE_STUN_CLIENT, NULL);
}

/**
 * plexus_stun_client_set_rto:
 * @self: a #PlexusStunClient
 * @rto: the initial retransmission timeout in microseconds, > 0
 *
 * For networks known to be faster or slower than the default assumes;
 * call before plexus_stun_client_start().
 */
void
plexus_stun_client_set_rto (PlexusStunClient *self, gint64 rto)
{
  g_return_if_fail (PLEXUS_IS_STUN_CLIENT (self));
  g_return_if_fail (rto > 0);
  g_return_if_fail (!self->started);

  self->rto = rto;
}

/**
 * plexus_stun_client_add_server:
 * @self: a #PlexusStunClient
 * @server: the server's address
 * @transport: UDP or TCP
 *
 * Returns: the server's index, for results and transmits
 */
guint
plexus_stun_client_add_server (PlexusStunClient        *self,
                               const PlexusStunAddress *server,
                               PlexusStunTransport      transport)
{
  Query query = { 0, };

  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), 0);
  g_return_val_if_fail (server != NULL, 0);
  g_return_val_if_fail (!self->started, 0);

  query.server = *server;
  query.transport = transport;
  query.result.state = PLEXUS_STUN_QUERY_PENDING;
  query.result.rtt = -1;
  g_array_append_val (self->queries, query);
  return self->queries->len - 1;
}

/**
 * plexus_stun_client_get_n_servers:
 * @self: a #PlexusStunClient
 *
 * Returns: how many servers were added
 */
guint
plexus_stun_client_get_n_servers (PlexusStunClient *self)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), 0);
  return self->queries->len;
}

/**
 * plexus_stun_client_get_server:
 * @self: a #PlexusStunClient
 * @index: a server index
 *
 * Returns: (transfer none): the server's address
 */
const PlexusStunAddress *
plexus_stun_client_get_server (PlexusStunClient *self, guint index)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), NULL);
  g_return_val_if_fail (index < self->queries->len, NULL);
  return &g_array_index (self->queries, Query, index).server;
}

static void
queue_transmit (PlexusStunClient *self, guint index, GBytes *message)
{
  Transmit *transmit = g_new (Transmit, 1);

  transmit->index = index;
  transmit->message = g_bytes_ref (message);
  g_queue_push_tail (&self->transmits, transmit);
}

/* After the n-th send: the next one an RTO later, doubling each time;
 * after the last, Rm RTOs to wait. Over TCP, one send and the same total
 * wait (Ti). */
static gint64
next_deadline (PlexusStunClient *self, const Query *query)
{
  guint sends = query->result.sends;

  if (query->transport == PLEXUS_STUN_TRANSPORT_TCP)
    return query->last_send + ((1 << (PLEXUS_STUN_CLIENT_RC - 1)) - 1 + PLEXUS_STUN_CLIENT_RM) * self->rto;
  if (sends >= PLEXUS_STUN_CLIENT_RC)
    return query->last_send + PLEXUS_STUN_CLIENT_RM * self->rto;
  return query->last_send + (self->rto << (sends - 1));
}

/**
 * plexus_stun_client_start:
 * @self: a #PlexusStunClient
 * @now: the current time in microseconds on a monotonic clock
 *
 * Queues the first request to every server. Call once.
 */
void
plexus_stun_client_start (PlexusStunClient *self, gint64 now)
{
  g_return_if_fail (PLEXUS_IS_STUN_CLIENT (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  for (guint i = 0; i < self->queries->len; i++) {
    Query *query = &g_array_index (self->queries, Query, i);
    g_autoptr(PlexusStunMessage) request = NULL;

    request = plexus_stun_message_new (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL);
    memcpy (query->transaction_id, plexus_stun_message_get_transaction_id (request),
            PLEXUS_STUN_TRANSACTION_ID_SIZE);
    /* An empty request with FINGERPRINT: 28 bytes, nothing to hide. */
    query->request = plexus_stun_message_encode (request, NULL, 0, TRUE, NULL);
    g_assert (query->request != NULL);
    query->result.sends = 1;
    query->last_send = now;
    query->deadline = next_deadline (self, query);
    queue_transmit (self, i, query->request);
  }
}

/**
 * plexus_stun_client_poll_transmit:
 * @self: a #PlexusStunClient
 * @index: (out): the server to send to
 * @message: (out) (transfer full): what to send
 *
 * Returns: %TRUE if there was something to send
 */
gboolean
plexus_stun_client_poll_transmit (PlexusStunClient *self, guint *index, GBytes **message)
{
  Transmit *transmit;

  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), FALSE);
  g_return_val_if_fail (index != NULL && message != NULL, FALSE);

  transmit = g_queue_pop_head (&self->transmits);
  if (transmit == NULL)
    return FALSE;
  *index = transmit->index;
  *message = g_steal_pointer (&transmit->message);
  g_free (transmit);
  return TRUE;
}

/**
 * plexus_stun_client_get_deadline:
 * @self: a #PlexusStunClient
 *
 * Returns: when plexus_stun_client_handle_timeout() is due next, or
 *   %G_MAXINT64 when nothing is pending
 */
gint64
plexus_stun_client_get_deadline (PlexusStunClient *self)
{
  gint64 deadline = G_MAXINT64;

  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), G_MAXINT64);

  for (guint i = 0; i < self->queries->len; i++) {
    const Query *query = &g_array_index (self->queries, Query, i);

    if (self->started && query->result.state == PLEXUS_STUN_QUERY_PENDING)
      deadline = MIN (deadline, query->deadline);
  }
  return deadline;
}

/**
 * plexus_stun_client_handle_timeout:
 * @self: a #PlexusStunClient
 * @now: the current time in microseconds
 *
 * Retransmits what is due and gives up on what has waited long enough.
 */
void
plexus_stun_client_handle_timeout (PlexusStunClient *self, gint64 now)
{
  g_return_if_fail (PLEXUS_IS_STUN_CLIENT (self));

  for (guint i = 0; i < self->queries->len; i++) {
    Query *query = &g_array_index (self->queries, Query, i);

    if (query->result.state != PLEXUS_STUN_QUERY_PENDING || now < query->deadline)
      continue;
    if (query->transport == PLEXUS_STUN_TRANSPORT_UDP && query->result.sends < PLEXUS_STUN_CLIENT_RC) {
      query->result.sends++;
      query->last_send = now;
      query->deadline = next_deadline (self, query);
      queue_transmit (self, i, query->request);
    } else {
      query->result.state = PLEXUS_STUN_QUERY_TIMED_OUT;
    }
  }
}

/**
 * plexus_stun_client_handle_input:
 * @self: a #PlexusStunClient
 * @now: the current time in microseconds
 * @data: (array length=length): a datagram or stream message
 * @length: its size
 * @from: (nullable): where it came from; over UDP an answer must come
 *   from the server asked
 *
 * Returns: whether it answered one of the pending requests
 */
gboolean
plexus_stun_client_handle_input (PlexusStunClient        *self,
                                 gint64                   now,
                                 const guint8            *data,
                                 gsize                    length,
                                 const PlexusStunAddress *from)
{
  g_autoptr(PlexusStunMessage) message = NULL;
  PlexusStunClass klass;

  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), FALSE);

  message = plexus_stun_message_decode (data, length, NULL, NULL);
  if (message == NULL || plexus_stun_message_get_method (message) != PLEXUS_STUN_METHOD_BINDING)
    return FALSE;
  klass = plexus_stun_message_get_class (message);
  if (klass != PLEXUS_STUN_CLASS_SUCCESS_RESPONSE && klass != PLEXUS_STUN_CLASS_ERROR_RESPONSE)
    return FALSE;

  for (guint i = 0; i < self->queries->len; i++) {
    Query *query = &g_array_index (self->queries, Query, i);

    if (query->result.state != PLEXUS_STUN_QUERY_PENDING ||
        memcmp (query->transaction_id, plexus_stun_message_get_transaction_id (message),
                PLEXUS_STUN_TRANSACTION_ID_SIZE) != 0)
      continue;
    if (query->transport == PLEXUS_STUN_TRANSPORT_UDP && from != NULL &&
        !plexus_stun_address_equal (from, &query->server))
      return FALSE;

    query->result.rtt = MAX (now - query->last_send, 0);
    if (klass == PLEXUS_STUN_CLASS_ERROR_RESPONSE) {
      guint code = 0;

      query->result.state = PLEXUS_STUN_QUERY_ERROR;
      if (plexus_stun_message_get_error_code (message, &code, NULL, NULL))
        query->result.error_code = code;
    } else if (plexus_stun_message_get_xor_mapped_address (message, &query->result.mapped, NULL) ||
               plexus_stun_message_get_mapped_address (message, &query->result.mapped, NULL)) {
      query->result.state = PLEXUS_STUN_QUERY_MAPPED;
    } else {
      /* A success without an address is no use; 0 says it was not an
       * error response. */
      query->result.state = PLEXUS_STUN_QUERY_ERROR;
      query->result.error_code = 0;
    }
    return TRUE;
  }
  return FALSE;
}

/**
 * plexus_stun_client_is_done:
 * @self: a #PlexusStunClient
 *
 * Returns: whether every server has answered or timed out
 */
gboolean
plexus_stun_client_is_done (PlexusStunClient *self)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), FALSE);

  if (!self->started)
    return FALSE;
  for (guint i = 0; i < self->queries->len; i++) {
    if (g_array_index (self->queries, Query, i).result.state == PLEXUS_STUN_QUERY_PENDING)
      return FALSE;
  }
  return TRUE;
}

/**
 * plexus_stun_client_get_result:
 * @self: a #PlexusStunClient
 * @index: a server index
 *
 * Returns: (transfer none): what became of the query to that server
 */
const PlexusStunQueryResult *
plexus_stun_client_get_result (PlexusStunClient *self, guint index)
{
  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), NULL);
  g_return_val_if_fail (index < self->queries->len, NULL);
  return &g_array_index (self->queries, Query, index).result;
}

static gboolean
is_local (const PlexusStunAddress *address, const PlexusStunAddress *locals, guint n_locals)
{
  for (guint i = 0; i < n_locals; i++) {
    if (plexus_stun_address_equal_ip (address, &locals[i]) &&
        (locals[i].port == 0 || locals[i].port == address->port))
      return TRUE;
  }
  return FALSE;
}

/**
 * plexus_stun_client_classify:
 * @self: a #PlexusStunClient
 * @locals: (array length=n_locals) (nullable): the node's own addresses
 *   with the port the requests were sent from (port 0 matches any)
 * @n_locals: how many
 * @mapped: (out caller-allocates) (optional): the mapped address the
 *   classification rests on (the first one answered), family 0 if none
 *
 * Classifies from the answers so far:
 *
 * - no server answered at all, each timed out: %PLEXUS_STUN_NAT_BLOCKED;
 * - every mapped address is one of @locals: %PLEXUS_STUN_NAT_NONE;
 * - two or more mapped addresses, all the same:
 *   %PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT;
 * - two or more, not all the same: %PLEXUS_STUN_NAT_ADDRESS_DEPENDENT;
 * - otherwise (nothing asked, pending, errors only, or a single foreign
 *   mapped address): %PLEXUS_STUN_NAT_UNKNOWN.
 *
 * Only servers at different IP addresses can tell an endpoint-independent
 * mapping from an address-dependent one for certain; on one IP with two
 * ports, "the same" rules out port-dependence only.
 *
 * Returns: the NAT type
 */
PlexusStunNatType
plexus_stun_client_classify (PlexusStunClient        *self,
                             const PlexusStunAddress *locals,
                             guint                    n_locals,
                             PlexusStunAddress       *mapped)
{
  const PlexusStunAddress *first = NULL;
  guint n_mapped = 0;
  guint n_timed_out = 0;
  gboolean all_local = TRUE;
  gboolean all_same = TRUE;

  g_return_val_if_fail (PLEXUS_IS_STUN_CLIENT (self), PLEXUS_STUN_NAT_UNKNOWN);
  g_return_val_if_fail (locals != NULL || n_locals == 0, PLEXUS_STUN_NAT_UNKNOWN);

  if (mapped != NULL)
    memset (mapped, 0, sizeof *mapped);
  for (guint i = 0; i < self->queries->len; i++) {
    const PlexusStunQueryResult *result = &g_array_index (self->queries, Query, i).result;

    if (result->state == PLEXUS_STUN_QUERY_TIMED_OUT)
      n_timed_out++;
    if (result->state != PLEXUS_STUN_QUERY_MAPPED)
      continue;
    n_mapped++;
    if (first == NULL)
      first = &result->mapped;
    else if (!plexus_stun_address_equal (first, &result->mapped))
      all_same = FALSE;
    if (!is_local (&result->mapped, locals, n_locals))
      all_local = FALSE;
  }
  if (first != NULL && mapped != NULL)
    *mapped = *first;

  if (self->queries->len > 0 && n_timed_out == self->queries->len)
    return PLEXUS_STUN_NAT_BLOCKED;
  if (n_mapped == 0)
    return PLEXUS_STUN_NAT_UNKNOWN;
  if (all_local)
    return PLEXUS_STUN_NAT_NONE;
  if (n_mapped < 2)
    return PLEXUS_STUN_NAT_UNKNOWN;
  return all_same ? PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT : PLEXUS_STUN_NAT_ADDRESS_DEPENDENT;
}
