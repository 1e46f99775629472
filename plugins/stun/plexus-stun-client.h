/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "plexus-stun-message.h"
#include "plexus-stun-server.h"

G_BEGIN_DECLS

/**
 * PLEXUS_STUN_CLIENT_DEFAULT_RTO_USEC:
 *
 * The initial retransmission timeout over UDP (RFC 8489 §6.2.1: 500 ms).
 */
#define PLEXUS_STUN_CLIENT_DEFAULT_RTO_USEC (500 * G_TIME_SPAN_MILLISECOND)

/**
 * PLEXUS_STUN_CLIENT_RC:
 *
 * How many times a request is sent over UDP at most (Rc).
 */
#define PLEXUS_STUN_CLIENT_RC 7

/**
 * PLEXUS_STUN_CLIENT_RM:
 *
 * After the last send, how many initial RTOs to wait for an answer (Rm).
 */
#define PLEXUS_STUN_CLIENT_RM 16

/**
 * PlexusStunNatType:
 * @PLEXUS_STUN_NAT_UNKNOWN: not known yet, or only one server answered
 *   and the mapped address is not local
 * @PLEXUS_STUN_NAT_NONE: the mapped address is a local one: no NAT
 * @PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT: every server saw the same mapped
 *   address
 * @PLEXUS_STUN_NAT_ADDRESS_DEPENDENT: servers saw different mapped
 *   addresses (address- or address-and-port-dependent mapping)
 * @PLEXUS_STUN_NAT_BLOCKED: no server answered
 *
 * What the answers of the STUN servers say about the node's NAT. Strings
 * (plexus_stun_nat_type_to_string()): `unknown`, `none`,
 * `endpoint-independent`, `address-dependent`, `blocked`.
 */
typedef enum {
  PLEXUS_STUN_NAT_UNKNOWN,
  PLEXUS_STUN_NAT_NONE,
  PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT,
  PLEXUS_STUN_NAT_ADDRESS_DEPENDENT,
  PLEXUS_STUN_NAT_BLOCKED,
} PlexusStunNatType;

/**
 * PlexusStunQueryState:
 * @PLEXUS_STUN_QUERY_PENDING: not answered yet
 * @PLEXUS_STUN_QUERY_MAPPED: answered with a mapped address
 * @PLEXUS_STUN_QUERY_ERROR: answered with an error response
 * @PLEXUS_STUN_QUERY_TIMED_OUT: never answered
 *
 * Where the query of one server stands.
 */
typedef enum {
  PLEXUS_STUN_QUERY_PENDING,
  PLEXUS_STUN_QUERY_MAPPED,
  PLEXUS_STUN_QUERY_ERROR,
  PLEXUS_STUN_QUERY_TIMED_OUT,
} PlexusStunQueryState;

/**
 * PlexusStunQueryResult:
 * @state: where the query stands
 * @mapped: the mapped address, when @state is %PLEXUS_STUN_QUERY_MAPPED
 * @error_code: the error code, when @state is %PLEXUS_STUN_QUERY_ERROR
 * @rtt: time from the last send to the answer, in microseconds; -1 when
 *   not answered
 * @sends: how many times the request was sent
 */
typedef struct {
  PlexusStunQueryState state;
  PlexusStunAddress    mapped;
  guint                error_code;
  gint64               rtt;
  guint                sends;
} PlexusStunQueryResult;

const gchar *plexus_stun_nat_type_to_string (PlexusStunNatType type);
gboolean     plexus_stun_nat_type_is_super_eligible (PlexusStunNatType type);

#define PLEXUS_TYPE_STUN_CLIENT (plexus_stun_client_get_type ())
G_DECLARE_FINAL_TYPE (PlexusStunClient, plexus_stun_client, PLEXUS, STUN_CLIENT, GObject)

PlexusStunClient  *plexus_stun_client_new (void);
void               plexus_stun_client_set_rto (PlexusStunClient *self,
                                               gint64            rto);
guint              plexus_stun_client_add_server (PlexusStunClient        *self,
                                                  const PlexusStunAddress *server,
                                                  PlexusStunTransport      transport);
guint              plexus_stun_client_get_n_servers (PlexusStunClient *self);
const PlexusStunAddress *plexus_stun_client_get_server (PlexusStunClient *self,
                                                        guint             index);

void               plexus_stun_client_start (PlexusStunClient *self,
                                             gint64            now);
gboolean           plexus_stun_client_poll_transmit (PlexusStunClient *self,
                                                     guint            *index,
                                                     GBytes          **message);
gint64             plexus_stun_client_get_deadline (PlexusStunClient *self);
void               plexus_stun_client_handle_timeout (PlexusStunClient *self,
                                                      gint64            now);
gboolean           plexus_stun_client_handle_input (PlexusStunClient        *self,
                                                    gint64                   now,
                                                    const guint8            *data,
                                                    gsize                    length,
                                                    const PlexusStunAddress *from);
gboolean           plexus_stun_client_is_done (PlexusStunClient *self);
const PlexusStunQueryResult *plexus_stun_client_get_result (PlexusStunClient *self,
                                                            guint             index);

PlexusStunNatType  plexus_stun_client_classify (PlexusStunClient        *self,
                                                const PlexusStunAddress *locals,
                                                guint                    n_locals,
                                                PlexusStunAddress       *mapped);

G_END_DECLS
