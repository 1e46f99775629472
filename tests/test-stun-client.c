/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

#include "plexus-stun-client.h"
#include "plexus-stun-server.h"

#define MS G_TIME_SPAN_MILLISECOND

/* The client against the server engine, with a NAT in between made of a
 * table: what address each server sees the client's requests come from. */

typedef struct {
  PlexusStunClient  *client;
  PlexusStunServer  *server;
  PlexusStunAddress  local;
  gint64             now;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->client = plexus_stun_client_new ();
  f->server = plexus_stun_server_new ();
  g_assert_true (plexus_stun_address_parse ("10.0.0.2", 5000, &f->local));
  f->now = 5000 * G_TIME_SPAN_SECOND;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->client);
  g_clear_object (&f->server);
}

static guint
add_server (Fixture *f, const gchar *ip, guint16 port, PlexusStunTransport transport)
{
  PlexusStunAddress address;

  g_assert_true (plexus_stun_address_parse (ip, port, &address));
  return plexus_stun_client_add_server (f->client, &address, transport);
}

/* Delivers every queued request to the server engine, as seen from
 * mapped[index] (NULL: lost), and the answers back to the client. */
static guint
exchange (Fixture *f, const PlexusStunAddress *mapped)
{
  guint index;
  GBytes *message;
  guint delivered = 0;

  while (plexus_stun_client_poll_transmit (f->client, &index, &message)) {
    g_autoptr(GBytes) request = message;
    g_autoptr(GBytes) answer = NULL;

    if (mapped[index].family == 0)
      continue;
    answer = plexus_stun_server_handle (f->server, f->now, g_bytes_get_data (request, NULL),
                                        g_bytes_get_size (request), &mapped[index], PLEXUS_STUN_TRANSPORT_UDP);
    g_assert_nonnull (answer);
    f->now += 2 * MS;
    if (plexus_stun_client_handle_input (f->client, f->now, g_bytes_get_data (answer, NULL),
                                         g_bytes_get_size (answer),
                                         plexus_stun_client_get_server (f->client, index)))
      delivered++;
  }
  return delivered;
}

static void
test_retransmissions (Fixture *f, gconstpointer data)
{
  static const gint64 expected_ms[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
  gint64 start = f->now;
  guint sends = 0;
  guint index;
  GBytes *message;
  GBytes *first = NULL;

  add_server (f, "192.0.2.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  plexus_stun_client_start (f->client, f->now);
  while (!plexus_stun_client_is_done (f->client)) {
    while (plexus_stun_client_poll_transmit (f->client, &index, &message)) {
      g_assert_cmpuint (index, ==, 0);
      g_assert_cmpuint (sends, <, G_N_ELEMENTS (expected_ms));
      g_assert_cmpint ((f->now - start) / MS, ==, expected_ms[sends]);
      /* The same transaction every time. */
      if (first == NULL)
        first = g_bytes_ref (message);
      g_assert_true (g_bytes_equal (first, message));
      g_bytes_unref (message);
      sends++;
    }
    f->now = plexus_stun_client_get_deadline (f->client);
    plexus_stun_client_handle_timeout (f->client, f->now);
  }
  g_bytes_unref (first);
  /* Rc sends, then Rm * RTO: 39.5 s in all. */
  g_assert_cmpuint (sends, ==, PLEXUS_STUN_CLIENT_RC);
  g_assert_cmpint ((f->now - start) / MS, ==, 39500);
  g_assert_cmpint (plexus_stun_client_get_result (f->client, 0)->state, ==, PLEXUS_STUN_QUERY_TIMED_OUT);
  g_assert_cmpint (plexus_stun_client_get_deadline (f->client), ==, G_MAXINT64);
  g_assert_cmpint (plexus_stun_client_classify (f->client, &f->local, 1, NULL), ==, PLEXUS_STUN_NAT_BLOCKED);
}

static void
test_tcp_single_send (Fixture *f, gconstpointer data)
{
  guint index;
  GBytes *message;
  gint64 start = f->now;

  add_server (f, "192.0.2.1", 3478, PLEXUS_STUN_TRANSPORT_TCP);
  plexus_stun_client_start (f->client, f->now);
  g_assert_true (plexus_stun_client_poll_transmit (f->client, &index, &message));
  g_bytes_unref (message);
  f->now = plexus_stun_client_get_deadline (f->client);
  g_assert_cmpint ((f->now - start) / MS, ==, 39500);
  plexus_stun_client_handle_timeout (f->client, f->now);
  g_assert_false (plexus_stun_client_poll_transmit (f->client, &index, &message));
  g_assert_true (plexus_stun_client_is_done (f->client));
}

static PlexusStunNatType
classify_through_nat (Fixture *f, const gchar *mapped_a, const gchar *mapped_b, PlexusStunAddress *mapped)
{
  PlexusStunAddress seen[2];
  g_auto(GStrv) a = g_strsplit (mapped_a, " ", 2);
  g_auto(GStrv) b = g_strsplit (mapped_b, " ", 2);

  add_server (f, "192.0.2.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  add_server (f, "198.51.100.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  g_assert_true (plexus_stun_address_parse (a[0], atoi (a[1]), &seen[0]));
  g_assert_true (plexus_stun_address_parse (b[0], atoi (b[1]), &seen[1]));
  plexus_stun_client_start (f->client, f->now);
  g_assert_cmpuint (exchange (f, seen), ==, 2);
  g_assert_true (plexus_stun_client_is_done (f->client));
  for (guint i = 0; i < 2; i++) {
    const PlexusStunQueryResult *result = plexus_stun_client_get_result (f->client, i);

    g_assert_cmpint (result->state, ==, PLEXUS_STUN_QUERY_MAPPED);
    g_assert_true (plexus_stun_address_equal (&result->mapped, &seen[i]));
    /* Both sent at once, answered 2 ms apart. */
    g_assert_cmpint (result->rtt, ==, (i + 1) * 2 * MS);
    g_assert_cmpuint (result->sends, ==, 1);
  }
  return plexus_stun_client_classify (f->client, &f->local, 1, mapped);
}

static void
test_endpoint_independent (Fixture *f, gconstpointer data)
{
  PlexusStunAddress mapped;
  g_autofree gchar *text = NULL;

  g_assert_cmpint (classify_through_nat (f, "203.0.113.9 6000", "203.0.113.9 6000", &mapped), ==,
                   PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT);
  text = plexus_stun_address_to_string (&mapped);
  g_assert_cmpstr (text, ==, "203.0.113.9:6000");
  g_assert_true (plexus_stun_nat_type_is_super_eligible (PLEXUS_STUN_NAT_ENDPOINT_INDEPENDENT));
}

static void
test_address_dependent (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (classify_through_nat (f, "203.0.113.9 6000", "203.0.113.9 6001", NULL), ==,
                   PLEXUS_STUN_NAT_ADDRESS_DEPENDENT);
  g_assert_false (plexus_stun_nat_type_is_super_eligible (PLEXUS_STUN_NAT_ADDRESS_DEPENDENT));
  g_assert_cmpstr (plexus_stun_nat_type_to_string (PLEXUS_STUN_NAT_ADDRESS_DEPENDENT), ==, "address-dependent");
}

static void
test_no_nat (Fixture *f, gconstpointer data)
{
  g_assert_cmpint (classify_through_nat (f, "10.0.0.2 5000", "10.0.0.2 5000", NULL), ==, PLEXUS_STUN_NAT_NONE);
  g_assert_true (plexus_stun_nat_type_is_super_eligible (PLEXUS_STUN_NAT_NONE));
}

/* One server lost, the other answers: a foreign mapping from one server
 * says nothing about its behaviour; a local one still means no NAT. */
static void
test_one_answer (Fixture *f, gconstpointer data)
{
  PlexusStunAddress seen[2] = { { 0, }, };
  guint index;
  GBytes *message;

  add_server (f, "192.0.2.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  add_server (f, "198.51.100.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  g_assert_true (plexus_stun_address_parse ("203.0.113.9", 6000, &seen[1]));
  plexus_stun_client_start (f->client, f->now);
  g_assert_cmpuint (exchange (f, seen), ==, 1);
  g_assert_false (plexus_stun_client_is_done (f->client));
  g_assert_cmpint (plexus_stun_client_classify (f->client, &f->local, 1, NULL), ==, PLEXUS_STUN_NAT_UNKNOWN);
  while (!plexus_stun_client_is_done (f->client)) {
    f->now = plexus_stun_client_get_deadline (f->client);
    plexus_stun_client_handle_timeout (f->client, f->now);
    while (plexus_stun_client_poll_transmit (f->client, &index, &message)) {
      g_assert_cmpuint (index, ==, 0);
      g_bytes_unref (message);
    }
  }
  g_assert_cmpint (plexus_stun_client_get_result (f->client, 0)->state, ==, PLEXUS_STUN_QUERY_TIMED_OUT);
  g_assert_cmpint (plexus_stun_client_classify (f->client, &f->local, 1, NULL), ==, PLEXUS_STUN_NAT_UNKNOWN);
  /* Had the one answer been local (port 0 matches any port): no NAT. */
  {
    PlexusStunAddress any_port;

    g_assert_true (plexus_stun_address_parse ("203.0.113.9", 0, &any_port));
    g_assert_cmpint (plexus_stun_client_classify (f->client, &any_port, 1, NULL), ==, PLEXUS_STUN_NAT_NONE);
  }
}

/* The first request is lost; the retransmission is answered. */
static void
test_lost_then_answered (Fixture *f, gconstpointer data)
{
  PlexusStunAddress none[1] = { { 0, }, };
  PlexusStunAddress seen[1];
  const PlexusStunQueryResult *result;

  add_server (f, "192.0.2.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  g_assert_true (plexus_stun_address_parse ("203.0.113.9", 6000, &seen[0]));
  plexus_stun_client_start (f->client, f->now);
  g_assert_cmpuint (exchange (f, none), ==, 0);
  f->now = plexus_stun_client_get_deadline (f->client);
  plexus_stun_client_handle_timeout (f->client, f->now);
  g_assert_cmpuint (exchange (f, seen), ==, 1);
  result = plexus_stun_client_get_result (f->client, 0);
  g_assert_cmpint (result->state, ==, PLEXUS_STUN_QUERY_MAPPED);
  g_assert_cmpuint (result->sends, ==, 2);
  g_assert_cmpint (result->rtt, ==, 2 * MS);
}

static void
test_foreign_answers (Fixture *f, gconstpointer data)
{
  g_autoptr(PlexusStunMessage) other = NULL;
  g_autoptr(PlexusStunMessage) error_answer = NULL;
  g_autoptr(GBytes) other_bytes = NULL;
  g_autoptr(GBytes) error_bytes = NULL;
  g_autoptr(GBytes) request = NULL;
  g_autoptr(PlexusStunMessage) decoded = NULL;
  PlexusStunAddress wrong;
  guint index;

  add_server (f, "192.0.2.1", 3478, PLEXUS_STUN_TRANSPORT_UDP);
  plexus_stun_client_start (f->client, f->now);
  g_assert_true (plexus_stun_client_poll_transmit (f->client, &index, &request));
  decoded = plexus_stun_message_decode (g_bytes_get_data (request, NULL), g_bytes_get_size (request), NULL, NULL);
  g_assert_nonnull (decoded);

  /* Another transaction: ignored. */
  other = plexus_stun_message_new (PLEXUS_STUN_CLASS_SUCCESS_RESPONSE, PLEXUS_STUN_METHOD_BINDING, NULL);
  g_assert_true (plexus_stun_message_add_xor_mapped_address (other, &f->local, NULL));
  other_bytes = plexus_stun_message_encode (other, NULL, 0, FALSE, NULL);
  g_assert_false (plexus_stun_client_handle_input (f->client, f->now, g_bytes_get_data (other_bytes, NULL),
                                                   g_bytes_get_size (other_bytes),
                                                   plexus_stun_client_get_server (f->client, 0)));
  /* The request itself, echoed back: not an answer. */
  g_assert_false (plexus_stun_client_handle_input (f->client, f->now, g_bytes_get_data (request, NULL),
                                                   g_bytes_get_size (request),
                                                   plexus_stun_client_get_server (f->client, 0)));
  /* The right transaction from another address: ignored. */
  error_answer = plexus_stun_message_new (PLEXUS_STUN_CLASS_ERROR_RESPONSE, PLEXUS_STUN_METHOD_BINDING,
                                          plexus_stun_message_get_transaction_id (decoded));
  g_assert_true (plexus_stun_message_add_error_code (error_answer, 420, "Unknown Attribute", NULL));
  error_bytes = plexus_stun_message_encode (error_answer, NULL, 0, TRUE, NULL);
  g_assert_true (plexus_stun_address_parse ("192.0.2.66", 3478, &wrong));
  g_assert_false (plexus_stun_client_handle_input (f->client, f->now, g_bytes_get_data (error_bytes, NULL),
                                                   g_bytes_get_size (error_bytes), &wrong));
  g_assert_cmpint (plexus_stun_client_get_result (f->client, 0)->state, ==, PLEXUS_STUN_QUERY_PENDING);
  /* From the server: an error answer. */
  g_assert_true (plexus_stun_client_handle_input (f->client, f->now, g_bytes_get_data (error_bytes, NULL),
                                                  g_bytes_get_size (error_bytes),
                                                  plexus_stun_client_get_server (f->client, 0)));
  g_assert_cmpint (plexus_stun_client_get_result (f->client, 0)->state, ==, PLEXUS_STUN_QUERY_ERROR);
  g_assert_cmpuint (plexus_stun_client_get_result (f->client, 0)->error_code, ==, 420);
  g_assert_true (plexus_stun_client_is_done (f->client));
  /* An error is an answer: not blocked, just unknown. */
  g_assert_cmpint (plexus_stun_client_classify (f->client, &f->local, 1, NULL), ==, PLEXUS_STUN_NAT_UNKNOWN);
  /* Garbage does not matter. */
  g_assert_false (plexus_stun_client_handle_input (f->client, f->now, (const guint8 *) "junk", 4, NULL));
}

static void
test_no_servers (Fixture *f, gconstpointer data)
{
  plexus_stun_client_start (f->client, f->now);
  g_assert_true (plexus_stun_client_is_done (f->client));
  g_assert_cmpint (plexus_stun_client_classify (f->client, NULL, 0, NULL), ==, PLEXUS_STUN_NAT_UNKNOWN);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add ("/plexus/stun/client/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("retransmissions", test_retransmissions);
  ADD ("tcp-single-send", test_tcp_single_send);
  ADD ("endpoint-independent", test_endpoint_independent);
  ADD ("address-dependent", test_address_dependent);
  ADD ("no-nat", test_no_nat);
  ADD ("one-answer", test_one_answer);
  ADD ("lost-then-answered", test_lost_then_answered);
  ADD ("foreign-answers", test_foreign_answers);
  ADD ("no-servers", test_no_servers);
#undef ADD

  return g_test_run ();
}
