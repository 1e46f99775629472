/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <plexus.h>

#include "plexus-stun-server.h"

#define SECOND G_TIME_SPAN_SECOND

typedef struct {
  PlexusStunServer  *server;
  PlexusStunAddress  source;
  PlexusStunAddress  source6;
  gint64             now;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->server = plexus_stun_server_new ();
  g_assert_true (plexus_stun_address_parse ("198.51.100.20", 40000, &f->source));
  g_assert_true (plexus_stun_address_parse ("2001:db8::20", 40001, &f->source6));
  f->now = 1000 * SECOND;
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->server);
}

static GBytes *
build (PlexusStunClass klass, guint16 method, const guint16 *types, guint n_types,
       gsize extra, gboolean fingerprint)
{
  g_autoptr(PlexusStunMessage) message = plexus_stun_message_new (klass, method, NULL);
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  for (guint i = 0; i < n_types; i++)
    g_assert_true (plexus_stun_message_add_attribute (message, types[i], (const guint8 *) "abcd", 4, &error));
  if (extra > 0) {
    g_autofree guint8 *zeros = g_malloc0 (extra);

    /* A comprehension-optional attribute the server ignores. */
    g_assert_true (plexus_stun_message_add_attribute (message, 0x8099, zeros, extra, &error));
  }
  bytes = plexus_stun_message_encode (message, NULL, 0, fingerprint, &error);
  g_assert_no_error (error);
  return bytes;
}

static GBytes *
handle (Fixture *f, GBytes *request, const PlexusStunAddress *source)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (request, &length);
  GBytes *answer = plexus_stun_server_handle (f->server, f->now, data, length, source,
                                              PLEXUS_STUN_TRANSPORT_UDP);

  /* Whatever the request, the answer does not amplify it beyond the bound. */
  if (answer != NULL)
    g_assert_cmpuint (g_bytes_get_size (answer), <=, length + PLEXUS_STUN_SERVER_MAX_GROWTH);
  return answer;
}

static PlexusStunMessage *
decode_answer (GBytes *answer, GBytes *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusStunMessage) req = NULL;
  PlexusStunMessage *message;

  g_assert_nonnull (answer);
  message = plexus_stun_message_decode (g_bytes_get_data (answer, NULL), g_bytes_get_size (answer), NULL, &error);
  g_assert_no_error (error);
  req = plexus_stun_message_decode (g_bytes_get_data (request, NULL), g_bytes_get_size (request), NULL, NULL);
  if (req != NULL)
    g_assert_cmpmem (plexus_stun_message_get_transaction_id (message), 12,
                     plexus_stun_message_get_transaction_id (req), 12);
  return message;
}

static void
assert_counters_add_up (PlexusStunServer *server)
{
  PlexusStunServerCounters c;

  plexus_stun_server_get_counters (server, &c);
  g_assert_cmpuint (c.received, ==, c.answered + c.bad_request + c.unknown_attribute +
                    c.dropped_not_stun + c.dropped_too_large + c.dropped_bad_fingerprint +
                    c.dropped_malformed + c.dropped_not_request + c.dropped_rate_limited);
}

static void
check_binding (Fixture *f, const PlexusStunAddress *source)
{
  g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 0, FALSE);
  g_autoptr(GBytes) answer = handle (f, request, source);
  g_autoptr(PlexusStunMessage) message = decode_answer (answer, request);
  g_autoptr(GError) error = NULL;
  PlexusStunAddress mapped;

  g_assert_cmpint (plexus_stun_message_get_class (message), ==, PLEXUS_STUN_CLASS_SUCCESS_RESPONSE);
  g_assert_cmpuint (plexus_stun_message_get_method (message), ==, PLEXUS_STUN_METHOD_BINDING);
  g_assert_true (plexus_stun_message_get_xor_mapped_address (message, &mapped, &error));
  g_assert_no_error (error);
  g_assert_true (plexus_stun_address_equal (&mapped, source));
  /* A bare 20-byte request gets no FINGERPRINT and no SOFTWARE. */
  g_assert_false (plexus_stun_message_has_fingerprint (message));
  g_assert_null (plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_SOFTWARE, NULL));
}

static void
test_binding_ipv4 (Fixture *f, gconstpointer data)
{
  PlexusStunServerCounters c;

  check_binding (f, &f->source);
  plexus_stun_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.received, ==, 1);
  g_assert_cmpuint (c.answered, ==, 1);
}

static void
test_binding_ipv6 (Fixture *f, gconstpointer data)
{
  check_binding (f, &f->source6);
}

static void
test_fingerprint_and_software (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 0, TRUE);
  g_autoptr(GBytes) answer = handle (f, request, &f->source);
  g_autoptr(PlexusStunMessage) message = decode_answer (answer, request);
  g_autoptr(GBytes) big_request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 64, TRUE);
  g_autoptr(GBytes) big_answer = handle (f, big_request, &f->source);
  g_autoptr(PlexusStunMessage) big_message = decode_answer (big_answer, big_request);
  g_autofree gchar *software = NULL;

  /* FINGERPRINT answered with FINGERPRINT. */
  g_assert_true (plexus_stun_message_has_fingerprint (message));
  g_assert_null (plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_SOFTWARE, NULL));
  /* A request large enough pays for SOFTWARE. */
  g_assert_true (plexus_stun_message_has_fingerprint (big_message));
  software = plexus_stun_message_dup_software (big_message);
  g_assert_cmpstr (software, ==, "Plexus " PACKAGE_VERSION);
  g_assert_cmpuint (g_bytes_get_size (big_answer), <=, g_bytes_get_size (big_request));
}

static void
test_unknown_attributes (Fixture *f, gconstpointer data)
{
  static const guint16 types[] = { PLEXUS_STUN_ATTR_CHANGE_REQUEST, 0x7fff, 0x8099, 0x7fff, PLEXUS_STUN_ATTR_PRIORITY };
  g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, types, G_N_ELEMENTS (types), 0, TRUE);
  g_autoptr(GBytes) answer = handle (f, request, &f->source);
  g_autoptr(PlexusStunMessage) message = decode_answer (answer, request);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) optional_only = NULL;
  g_autoptr(GBytes) optional_answer = NULL;
  g_autoptr(PlexusStunMessage) optional_message = NULL;
  static const guint16 optional[] = { 0x8099, 0xc001, PLEXUS_STUN_ATTR_USERNAME, PLEXUS_STUN_ATTR_PRIORITY };
  const guint8 *value;
  gsize length;
  guint code = 0;
  PlexusStunServerCounters c;

  g_assert_cmpint (plexus_stun_message_get_class (message), ==, PLEXUS_STUN_CLASS_ERROR_RESPONSE);
  g_assert_true (plexus_stun_message_get_error_code (message, &code, NULL, &error));
  g_assert_cmpuint (code, ==, 420);
  /* Each unknown comprehension-required type once; not 0x8099 (optional)
   * nor PRIORITY (known). */
  value = plexus_stun_message_get_attribute (message, PLEXUS_STUN_ATTR_UNKNOWN_ATTRIBUTES, &length);
  g_assert_cmpmem (value, length, "\x00\x03\x7f\xff", 4);

  /* Unknown comprehension-optional and known required ones are ignored. */
  optional_only = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, optional, G_N_ELEMENTS (optional), 0, FALSE);
  optional_answer = handle (f, optional_only, &f->source);
  optional_message = decode_answer (optional_answer, optional_only);
  g_assert_cmpint (plexus_stun_message_get_class (optional_message), ==, PLEXUS_STUN_CLASS_SUCCESS_RESPONSE);

  plexus_stun_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.unknown_attribute, ==, 1);
  g_assert_cmpuint (c.answered, ==, 1);
}

static void
test_bad_requests (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) other_method = build (PLEXUS_STUN_CLASS_REQUEST, 0x003, NULL, 0, 0, FALSE);
  g_autoptr(GBytes) answer = handle (f, other_method, &f->source);
  g_autoptr(PlexusStunMessage) message = decode_answer (answer, other_method);
  g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 8, FALSE);
  g_autoptr(GBytes) malformed = NULL;
  g_autoptr(GBytes) malformed_answer = NULL;
  g_autoptr(PlexusStunMessage) malformed_message = NULL;
  g_autofree guint8 *copy = NULL;
  guint code = 0;
  PlexusStunServerCounters c;

  g_assert_true (plexus_stun_message_get_error_code (message, &code, NULL, NULL));
  g_assert_cmpuint (code, ==, 400);
  g_assert_cmpuint (plexus_stun_message_get_method (message), ==, 0x003);

  /* An attribute that claims more than the message holds. */
  copy = g_memdup2 (g_bytes_get_data (request, NULL), g_bytes_get_size (request));
  copy[23] = 0x40;
  malformed = g_bytes_new (copy, g_bytes_get_size (request));
  malformed_answer = handle (f, malformed, &f->source);
  malformed_message = decode_answer (malformed_answer, malformed);
  g_assert_cmpmem (plexus_stun_message_get_transaction_id (malformed_message), 12, copy + 8, 12);
  g_assert_true (plexus_stun_message_get_error_code (malformed_message, &code, NULL, NULL));
  g_assert_cmpuint (code, ==, 400);

  /* The same as an indication: dropped. */
  copy[1] = 0x11;
  g_assert_null (plexus_stun_server_handle (f->server, f->now, copy, g_bytes_get_size (request), &f->source,
                                            PLEXUS_STUN_TRANSPORT_UDP));
  plexus_stun_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.bad_request, ==, 2);
  g_assert_cmpuint (c.dropped_malformed, ==, 1);
  assert_counters_add_up (f->server);
}

static void
test_dropped (Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 0, TRUE);
  g_autoptr(GBytes) indication = build (PLEXUS_STUN_CLASS_INDICATION, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 0, FALSE);
  g_autoptr(GBytes) response = build (PLEXUS_STUN_CLASS_SUCCESS_RESPONSE, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 0, FALSE);
  g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (request, NULL), g_bytes_get_size (request));
  g_autofree guint8 *big = g_malloc0 (PLEXUS_STUN_MAX_MESSAGE_SIZE + 20);
  gsize size = g_bytes_get_size (request);
  PlexusStunServerCounters c;

  g_assert_null (handle (f, indication, &f->source));
  g_assert_null (handle (f, response, &f->source));
  /* Wrong cookie. */
  copy[5] ^= 0xff;
  g_assert_null (plexus_stun_server_handle (f->server, f->now, copy, size, &f->source, PLEXUS_STUN_TRANSPORT_UDP));
  copy[5] ^= 0xff;
  /* Bad FINGERPRINT. */
  copy[size - 1] ^= 0x01;
  g_assert_null (plexus_stun_server_handle (f->server, f->now, copy, size, &f->source, PLEXUS_STUN_TRANSPORT_UDP));
  /* Truncated. */
  g_assert_null (plexus_stun_server_handle (f->server, f->now, copy, 19, &f->source, PLEXUS_STUN_TRANSPORT_UDP));
  g_assert_null (plexus_stun_server_handle (f->server, f->now, copy, 0, &f->source, PLEXUS_STUN_TRANSPORT_UDP));
  /* Oversized. */
  memcpy (big, copy, 20);
  g_assert_null (plexus_stun_server_handle (f->server, f->now, big, PLEXUS_STUN_MAX_MESSAGE_SIZE + 20,
                                            &f->source, PLEXUS_STUN_TRANSPORT_UDP));
  /* HTTP on the STUN port. */
  g_assert_null (plexus_stun_server_handle (f->server, f->now, (const guint8 *) "GET / HTTP/1.1\r\n\r\n", 18,
                                            &f->source, PLEXUS_STUN_TRANSPORT_TCP));

  plexus_stun_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.received, ==, 8);
  g_assert_cmpuint (c.dropped_not_request, ==, 2);
  g_assert_cmpuint (c.dropped_not_stun, ==, 4);
  g_assert_cmpuint (c.dropped_bad_fingerprint, ==, 1);
  g_assert_cmpuint (c.dropped_too_large, ==, 1);
  g_assert_cmpuint (c.answered + c.bad_request + c.unknown_attribute, ==, 0);
  assert_counters_add_up (f->server);
}

/* Random damage to valid requests: never a crash, never more than the
 * growth bound, every packet counted once. */
static void
test_mutations (Fixture *f, gconstpointer data)
{
  static const guint16 types[] = { PLEXUS_STUN_ATTR_USERNAME, 0x7ff0, PLEXUS_STUN_ATTR_SOFTWARE };

  plexus_stun_server_set_rate_limit (f->server, 0, 1);
  for (guint round = 0; round < 20000; round++) {
    g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING,
                                       types, g_test_rand_int_range (0, 4), g_test_rand_int_range (0, 40),
                                       g_test_rand_bit ());
    g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (request, NULL), g_bytes_get_size (request));
    gsize size = g_bytes_get_size (request);
    g_autoptr(GBytes) answer = NULL;
    guint flips = g_test_rand_int_range (1, 4);

    for (guint i = 0; i < flips; i++)
      copy[g_test_rand_int_range (0, size)] ^= 1 << g_test_rand_int_range (0, 8);
    if (g_test_rand_bit ())
      size = g_test_rand_int_range (0, size + 1);
    answer = plexus_stun_server_handle (f->server, f->now, copy, size,
                                        g_test_rand_bit () ? &f->source : &f->source6, PLEXUS_STUN_TRANSPORT_UDP);
    if (answer != NULL) {
      g_autoptr(PlexusStunMessage) message = NULL;

      g_assert_cmpuint (g_bytes_get_size (answer), <=, size + PLEXUS_STUN_SERVER_MAX_GROWTH);
      message = plexus_stun_message_decode (g_bytes_get_data (answer, NULL), g_bytes_get_size (answer), NULL, NULL);
      g_assert_nonnull (message);
      g_assert_cmpint (plexus_stun_message_get_class (message), !=, PLEXUS_STUN_CLASS_REQUEST);
    }
  }
  assert_counters_add_up (f->server);
}

static gboolean
answered (Fixture *f, const PlexusStunAddress *source)
{
  g_autoptr(GBytes) request = build (PLEXUS_STUN_CLASS_REQUEST, PLEXUS_STUN_METHOD_BINDING, NULL, 0, 0, FALSE);
  g_autoptr(GBytes) answer = handle (f, request, source);

  return answer != NULL;
}

static void
test_rate_limit (Fixture *f, gconstpointer data)
{
  PlexusStunAddress other_port = f->source;
  PlexusStunServerCounters c;

  other_port.port++;
  plexus_stun_server_set_rate_limit (f->server, 10, 5);
  for (guint i = 0; i < 5; i++)
    g_assert_true (answered (f, i % 2 ? &f->source : &other_port));
  /* The burst is spent, whatever the port. */
  g_assert_false (answered (f, &f->source));
  g_assert_false (answered (f, &other_port));
  /* Another address is not affected. */
  g_assert_true (answered (f, &f->source6));
  /* 10 per second: one more after 100 ms, not before. */
  f->now += SECOND / 10 - 1000;
  g_assert_false (answered (f, &f->source));
  f->now += 1000;
  g_assert_true (answered (f, &f->source));
  g_assert_false (answered (f, &f->source));
  /* A quiet second refills the burst, not more. */
  f->now += 10 * SECOND;
  for (guint i = 0; i < 5; i++)
    g_assert_true (answered (f, &f->source));
  g_assert_false (answered (f, &f->source));

  plexus_stun_server_get_counters (f->server, &c);
  g_assert_cmpuint (c.dropped_rate_limited, ==, 5);
  assert_counters_add_up (f->server);
}

static void
test_many_sources (Fixture *f, gconstpointer data)
{
  plexus_stun_server_set_rate_limit (f->server, 1, 1);
  for (guint i = 0; i < PLEXUS_STUN_SERVER_MAX_SOURCES + 100; i++) {
    PlexusStunAddress source = f->source;

    source.bytes[2] = (i >> 8) & 0xff;
    source.bytes[3] = i & 0xff;
    answered (f, &source);
    g_assert_cmpuint (plexus_stun_server_get_n_sources (f->server), <=, PLEXUS_STUN_SERVER_MAX_SOURCES);
  }
  /* Much later, the table makes room again for a new source. */
  f->now += 10 * SECOND;
  {
    PlexusStunAddress source = f->source;

    source.bytes[1] = 0xff;
    g_assert_true (answered (f, &source));
    g_assert_cmpuint (plexus_stun_server_get_n_sources (f->server), ==, 1);
  }
}

static void
test_load (Fixture *f, gconstpointer data)
{
  plexus_stun_server_set_rate_limit (f->server, 0, 1);
  plexus_stun_server_set_capacity (f->server, 200);
  g_assert_cmpfloat (plexus_stun_server_get_load (f->server, f->now), ==, 0.0);
  for (guint i = 0; i < 100; i++) {
    g_assert_true (answered (f, &f->source));
    f->now += SECOND / 100;
  }
  /* 100 requests over one second against a capacity of 200. */
  g_assert_cmpfloat_with_epsilon (plexus_stun_server_get_request_rate (f->server, f->now), 100.0, 1.0);
  g_assert_cmpfloat_with_epsilon (plexus_stun_server_get_load (f->server, f->now), 0.5, 0.01);
  /* Overloaded: clamped to 1. */
  for (guint i = 0; i < 1000; i++) {
    answered (f, &f->source);
    f->now += SECOND / 500;
  }
  g_assert_cmpfloat (plexus_stun_server_get_load (f->server, f->now), ==, 1.0);
  /* Quiet again. */
  f->now += 5 * SECOND;
  g_assert_cmpfloat (plexus_stun_server_get_load (f->server, f->now), <, 0.01);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add ("/plexus/stun/server/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("binding-ipv4", test_binding_ipv4);
  ADD ("binding-ipv6", test_binding_ipv6);
  ADD ("fingerprint-and-software", test_fingerprint_and_software);
  ADD ("unknown-attributes", test_unknown_attributes);
  ADD ("bad-requests", test_bad_requests);
  ADD ("dropped", test_dropped);
  ADD ("mutations", test_mutations);
  ADD ("rate-limit", test_rate_limit);
  ADD ("many-sources", test_many_sources);
  ADD ("load", test_load);
#undef ADD

  return g_test_run ();
}
