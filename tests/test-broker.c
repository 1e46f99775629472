/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <stdarg.h>

#include "plexus.h"

/* Scores in these tests follow doc/architecture.md ("The broker").
 * Providers made by add() have uptime 0.93 and otherwise the defaults
 * (rtt, region and capacity unknown, reputation 1), so with load L:
 *
 *   0.30 (1 - L) + 0.20 * 0.5 + 0.10 * 0.5 + 0.10 * 0.93 + 0.25 + 0.05 * 0.5
 *   = 0.818 - 0.30 L
 *
 * Values are chosen so that no score shown with two decimals sits on a
 * rounding boundary, and no difference sits on the hysteresis margin. */
#define BASE_SCORE 0.818
#define EPSILON    1e-9

typedef struct {
  PlexusBroker *broker;
  gint64        now;
  GPtrArray    *providers;   /* our references */
  GPtrArray    *events;      /* recorded signals, as strings */
} Fixture;

static gint64
fake_clock (gpointer user_data)
{
  Fixture *f = user_data;
  return f->now;
}

static void
on_provider_added (PlexusBroker   *broker,
                   PlexusProvider *provider,
                   Fixture        *f)
{
  g_ptr_array_add (f->events, g_strdup_printf ("added %s/%s",
                                               plexus_provider_get_service (provider),
                                               plexus_provider_get_peer_id (provider)));
}

static void
on_provider_removed (PlexusBroker   *broker,
                     PlexusProvider *provider,
                     Fixture        *f)
{
  g_ptr_array_add (f->events, g_strdup_printf ("removed %s/%s",
                                               plexus_provider_get_service (provider),
                                               plexus_provider_get_peer_id (provider)));
}

static void
on_provider_selected (PlexusBroker   *broker,
                      const gchar    *service,
                      PlexusProvider *provider,
                      const gchar    *reason,
                      Fixture        *f)
{
  g_assert_true (plexus_broker_get_selected (broker, service) == provider);
  g_ptr_array_add (f->events, g_strdup_printf ("selected %s %s: %s", service,
                                               plexus_provider_get_peer_id (provider),
                                               reason));
}

static void
on_failover (PlexusBroker   *broker,
             const gchar    *service,
             PlexusProvider *from,
             PlexusProvider *to,
             const gchar    *reason,
             Fixture        *f)
{
  g_assert_true (plexus_broker_get_selected (broker, service) == to);
  g_ptr_array_add (f->events, g_strdup_printf ("failover %s %s->%s: %s", service,
                                               plexus_provider_get_peer_id (from),
                                               to != NULL ? plexus_provider_get_peer_id (to) : "(none)",
                                               reason));
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->broker = plexus_broker_new ();
  f->now = 1000 * G_USEC_PER_SEC;
  f->providers = g_ptr_array_new_with_free_func (g_object_unref);
  f->events = g_ptr_array_new_with_free_func (g_free);
  plexus_broker_set_clock (f->broker, fake_clock, f);
  g_signal_connect (f->broker, "provider-added", G_CALLBACK (on_provider_added), f);
  g_signal_connect (f->broker, "provider-removed", G_CALLBACK (on_provider_removed), f);
  g_signal_connect (f->broker, "provider-selected", G_CALLBACK (on_provider_selected), f);
  g_signal_connect (f->broker, "failover", G_CALLBACK (on_failover), f);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  /* Every test consumes the signals it caused. */
  g_assert_cmpuint (f->events->len, ==, 0);
  g_assert_finalize_object (f->broker);
  g_ptr_array_unref (f->providers);
  g_ptr_array_unref (f->events);
}

/* Asserts that exactly these signals were recorded since the last call,
 * in this order, then forgets them. NULL-terminated. */
static void
assert_events (Fixture *f,
               ...)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) expected = NULL;
  const gchar *event;
  va_list ap;

  va_start (ap, f);
  while ((event = va_arg (ap, const gchar *)) != NULL)
    g_strv_builder_add (builder, event);
  va_end (ap);
  expected = g_strv_builder_end (builder);

  g_ptr_array_add (f->events, NULL);
  g_assert_cmpstrv ((const gchar * const *) f->events->pdata, expected);
  g_ptr_array_set_size (f->events, 0);
}

static PlexusProvider *
add (Fixture            *f,
     const gchar        *service,
     const gchar        *peer_id,
     PlexusProviderKind  kind,
     gdouble             load)
{
  g_autoptr(GError) error = NULL;
  PlexusProvider *provider = plexus_provider_new (service, peer_id, kind);

  plexus_provider_set_uptime (provider, 0.93);
  plexus_provider_set_load (provider, load);
  g_assert_true (plexus_broker_add_provider (f->broker, provider, &error));
  g_assert_no_error (error);
  g_ptr_array_add (f->providers, provider);
  return provider;
}

/* The peer IDs plexus_broker_select() returns, comma-separated. */
static gchar *
select_ids (Fixture     *f,
            const gchar *service,
            guint        k)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = plexus_broker_select (f->broker, service, k, &error);
  GString *ids = g_string_new (NULL);

  g_assert_no_error (error);
  g_assert_nonnull (list);
  g_assert_cmpuint (list->len, >=, 1);
  g_assert_cmpuint (list->len, <=, k);
  for (guint i = 0; i < list->len; i++) {
    if (i > 0)
      g_string_append_c (ids, ',');
    g_string_append (ids, plexus_provider_get_peer_id (g_ptr_array_index (list, i)));
  }
  return g_string_free (ids, FALSE);
}

static void
assert_select (Fixture     *f,
               const gchar *service,
               guint        k,
               const gchar *expected)
{
  g_autofree gchar *ids = select_ids (f, service, k);
  g_assert_cmpstr (ids, ==, expected);
}

static void
advance (Fixture *f,
         gdouble  seconds)
{
  /* Rounded: 3.999 s must be 3999000 µs, not one short. */
  f->now += (gint64) (seconds * G_USEC_PER_SEC + 0.5);
}

/* ---- PlexusProvider ---- */

static void
on_notify_count (GObject    *object,
                 GParamSpec *pspec,
                 GString    *log)
{
  g_string_append_printf (log, "%s;", pspec->name);
}

static void
test_provider_defaults (void)
{
  g_autoptr(PlexusProvider) provider = plexus_provider_new ("signaling", "peer-a",
                                                            PLEXUS_PROVIDER_KIND_PEER);
  g_autofree gchar *service = NULL;
  g_autofree gchar *peer_id = NULL;
  PlexusProviderKind kind;
  gdouble uptime;

  g_assert_cmpstr (plexus_provider_get_service (provider), ==, "signaling");
  g_assert_cmpstr (plexus_provider_get_peer_id (provider), ==, "peer-a");
  g_assert_cmpint (plexus_provider_get_kind (provider), ==, PLEXUS_PROVIDER_KIND_PEER);
  g_assert_null (plexus_provider_get_address (provider));
  g_assert_true (plexus_provider_get_available (provider));
  g_assert_cmpfloat (plexus_provider_get_load (provider), ==, 0.0);
  g_assert_cmpint (plexus_provider_get_capacity (provider), ==, -1);
  g_assert_cmpfloat (plexus_provider_get_rtt_ms (provider), ==, -1.0);
  g_assert_null (plexus_provider_get_region (provider));
  g_assert_cmpfloat (plexus_provider_get_uptime (provider), ==, -1.0);
  g_assert_cmpfloat (plexus_provider_get_reputation (provider), ==, 1.0);

  /* The same through GObject properties, as D-Bus glue would read them. */
  g_object_get (provider,
                "service", &service,
                "peer-id", &peer_id,
                "kind", &kind,
                "uptime", &uptime,
                NULL);
  g_assert_cmpstr (service, ==, "signaling");
  g_assert_cmpstr (peer_id, ==, "peer-a");
  g_assert_cmpint (kind, ==, PLEXUS_PROVIDER_KIND_PEER);
  g_assert_cmpfloat (uptime, ==, -1.0);
}

static void
test_provider_notify (void)
{
  g_autoptr(PlexusProvider) provider = plexus_provider_new ("stun", "srv",
                                                            PLEXUS_PROVIDER_KIND_SERVER);
  g_autoptr(GString) log = g_string_new (NULL);

  g_signal_connect (provider, "notify", G_CALLBACK (on_notify_count), log);

  /* Each change notifies once; setting the same value again does not. */
  plexus_provider_set_load (provider, 0.5);
  plexus_provider_set_load (provider, 0.5);
  plexus_provider_set_available (provider, FALSE);
  plexus_provider_set_available (provider, FALSE);
  plexus_provider_set_capacity (provider, 10);
  plexus_provider_set_rtt_ms (provider, 42.0);
  plexus_provider_set_region (provider, "eu-west");
  plexus_provider_set_region (provider, "eu-west");
  plexus_provider_set_uptime (provider, 0.5);
  plexus_provider_set_reputation (provider, 0.25);
  plexus_provider_set_address (provider, "ws://192.0.2.1:4000/");
  plexus_provider_set_address (provider, "ws://192.0.2.1:4000/");
  g_object_set (provider, "load", 0.5, "rtt-ms", 42.0, NULL);
  g_assert_cmpstr (log->str, ==,
                   "load;available;capacity;rtt-ms;region;uptime;reputation;address;");

  /* "Unknown" has one spelling: any negative number becomes -1, and an
   * empty region becomes NULL. */
  g_string_truncate (log, 0);
  plexus_provider_set_rtt_ms (provider, -7.0);
  plexus_provider_set_rtt_ms (provider, -1.0);
  plexus_provider_set_capacity (provider, -3);
  plexus_provider_set_uptime (provider, -0.5);
  plexus_provider_set_region (provider, "");
  plexus_provider_set_region (provider, NULL);
  g_assert_cmpstr (log->str, ==, "rtt-ms;capacity;uptime;region;");
  g_assert_cmpfloat (plexus_provider_get_rtt_ms (provider), ==, -1.0);
  g_assert_cmpint (plexus_provider_get_capacity (provider), ==, -1);
  g_assert_cmpfloat (plexus_provider_get_uptime (provider), ==, -1.0);
  g_assert_null (plexus_provider_get_region (provider));

  /* Out of range is a programmer error and changes nothing. */
  g_string_truncate (log, 0);
  g_test_expect_message ("plexus", G_LOG_LEVEL_CRITICAL, "*load >= 0.0*");
  plexus_provider_set_load (provider, 1.5);
  g_test_assert_expected_messages ();
  g_test_expect_message ("plexus", G_LOG_LEVEL_CRITICAL, "*reputation >= 0.0*");
  plexus_provider_set_reputation (provider, -0.1);
  g_test_assert_expected_messages ();
  g_test_expect_message ("plexus", G_LOG_LEVEL_CRITICAL, "*uptime <= 1.0*");
  plexus_provider_set_uptime (provider, 1.01);
  g_test_assert_expected_messages ();
  g_assert_cmpfloat (plexus_provider_get_load (provider), ==, 0.5);
  g_assert_cmpfloat (plexus_provider_get_reputation (provider), ==, 0.25);
  g_assert_cmpfloat (plexus_provider_get_uptime (provider), ==, -1.0);
  g_assert_cmpstr (log->str, ==, "");
}

/* ---- PlexusBroker: registry ---- */

static void
test_registry (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusProvider) dup = plexus_provider_new ("signaling", "a", PLEXUS_PROVIDER_KIND_PEER);
  g_autoptr(PlexusProvider) unknown = plexus_provider_new ("teleport", "a", PLEXUS_PROVIDER_KIND_PEER);
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) one = NULL;
  PlexusProvider *a, *b, *s;

  a = add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.5);
  b = add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.1);
  s = add (f, "stun", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  assert_events (f, "added signaling/a", "added signaling/b", "added stun/a", NULL);

  /* (service, peer) is the key: same peer, other service is fine, same
   * pair is not, whether or not it is the same object. */
  g_assert_false (plexus_broker_add_provider (f->broker, dup, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS);
  g_assert_cmpstr (error->message, ==, "a provider of 'signaling' from peer 'a' is already registered");
  g_clear_error (&error);
  g_assert_false (plexus_broker_add_provider (f->broker, a, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_false (plexus_broker_add_provider (f->broker, unknown, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE);
  g_assert_cmpstr (error->message, ==, "cannot add provider 'a': 'teleport' is not a service Plexus knows");
  g_clear_error (&error);
  assert_events (f, NULL);

  g_assert_true (plexus_broker_lookup_provider (f->broker, "signaling", "a") == a);
  g_assert_true (plexus_broker_lookup_provider (f->broker, "stun", "a") == s);
  g_assert_null (plexus_broker_lookup_provider (f->broker, "stun", "b"));
  g_assert_null (plexus_broker_lookup_provider (f->broker, "membership", "a"));

  /* Nothing is selected before anyone asks, and property changes of
   * providers of an idle service cause no signal. */
  g_assert_null (plexus_broker_get_selected (f->broker, "signaling"));
  plexus_provider_set_available (b, FALSE);
  plexus_provider_set_available (b, TRUE);
  assert_events (f, NULL);

  /* Sorted by service, then score: b (0.788) before a (0.668). */
  all = plexus_broker_list_providers (f->broker, NULL);
  g_assert_cmpuint (all->len, ==, 3);
  g_assert_true (g_ptr_array_index (all, 0) == b);
  g_assert_true (g_ptr_array_index (all, 1) == a);
  g_assert_true (g_ptr_array_index (all, 2) == s);
  one = plexus_broker_list_providers (f->broker, "stun");
  g_assert_cmpuint (one->len, ==, 1);
  g_assert_true (g_ptr_array_index (one, 0) == s);
  g_clear_pointer (&one, g_ptr_array_unref);
  one = plexus_broker_list_providers (f->broker, "membership");
  g_assert_cmpuint (one->len, ==, 0);

  g_assert_false (plexus_broker_remove_provider (f->broker, "signaling", "zz"));
  g_assert_false (plexus_broker_remove_provider (f->broker, "membership", "a"));
  g_assert_true (plexus_broker_remove_provider (f->broker, "signaling", "a"));
  g_assert_false (plexus_broker_remove_provider (f->broker, "signaling", "a"));
  assert_events (f, "removed signaling/a", NULL);
  g_assert_null (plexus_broker_lookup_provider (f->broker, "signaling", "a"));

  /* A removed provider is not followed any more. */
  plexus_provider_set_load (a, 0.0);
  assert_events (f, NULL);

  /* Once removed, the same key may come back. */
  g_assert_true (plexus_broker_add_provider (f->broker, dup, &error));
  g_assert_no_error (error);
  assert_events (f, "added signaling/a", NULL);
}

static void
test_score_formula (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(PlexusProvider) peer = plexus_provider_new ("signaling", "peer-a", PLEXUS_PROVIDER_KIND_PEER);
  g_autoptr(PlexusProvider) server = plexus_provider_new ("signaling", "server", PLEXUS_PROVIDER_KIND_SERVER);
  g_autoptr(PlexusProvider) fresh = plexus_provider_new ("signaling", "peer-b", PLEXUS_PROVIDER_KIND_PEER);
  g_autoptr(PlexusProvider) local = plexus_provider_new ("signaling", "self", PLEXUS_PROVIDER_KIND_LOCAL);

  /* The worked example of doc/architecture.md. */
  plexus_broker_set_local_region (f->broker, "eu-west");
  g_object_set (peer, "load", 0.4, "rtt-ms", 30.0, "region", "eu-west", "uptime", 0.9,
                "reputation", 0.95, "capacity", (gint64) 100, NULL);
  g_object_set (server, "load", 0.1, "rtt-ms", 80.0, "region", "us-east", "uptime", 1.0,
                "reputation", 1.0, "capacity", (gint64) 10000, NULL);
  g_object_set (fresh, "load", 0.25, NULL);

  /* 0.30*0.6 + 0.20/(1+30/50) + 0.10*1 + 0.10*0.9 + 0.25*0.95 + 0.05*100/200 */
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, peer), 0.7575, EPSILON);
  /* (0.30*0.9 + 0.20/(1+80/50) + 0 + 0.10 + 0.25 + 0.05*10000/10100) * 0.5 */
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, server),
                                  (0.27 + 0.2 / 2.6 + 0.1 + 0.25 + 0.05 * 10000.0 / 10100.0) * 0.5,
                                  EPSILON);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, server), 0.373214, 1e-6);
  /* Unknown RTT, region, uptime and capacity are neutral (0.5). */
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, fresh), 0.70, EPSILON);
  /* The example goes on: peer-a gets busy, then slow. */
  plexus_provider_set_load (peer, 0.9);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, peer), 0.6075, EPSILON);
  plexus_provider_set_rtt_ms (peer, 150.0);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, peer), 0.5325, EPSILON);
  g_object_set (peer, "load", 0.4, "rtt-ms", 30.0, NULL);

  /* Region: unknown on our side is neutral for everyone. */
  plexus_broker_set_local_region (f->broker, NULL);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, peer), 0.7075, EPSILON);
  plexus_broker_set_local_region (f->broker, "EU-West");
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, peer), 0.7575, EPSILON);

  /* The mode's preference for the kind. */
  g_object_set (local, "load", 0.25, NULL);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, local), 0.70, EPSILON);
  plexus_broker_set_mode (f->broker, PLEXUS_MODE_TRADITIONAL);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, server), 0.746428, 1e-6);
  g_assert_cmpfloat (plexus_broker_score (f->broker, peer), ==, PLEXUS_BROKER_SCORE_UNUSABLE);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, local), 0.70, EPSILON);
  plexus_broker_set_mode (f->broker, PLEXUS_MODE_PEER);
  g_assert_cmpfloat (plexus_broker_score (f->broker, server), ==, PLEXUS_BROKER_SCORE_UNUSABLE);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, peer), 0.7575, EPSILON);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, local), 0.70, EPSILON);

  /* Unavailable is unusable, whatever the metrics. */
  plexus_provider_set_available (peer, FALSE);
  g_assert_cmpfloat (plexus_broker_score (f->broker, peer), ==, PLEXUS_BROKER_SCORE_UNUSABLE);
}

/* The worked example of doc/architecture.md, replayed through signals. */
static void
test_worked_example (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusProvider) peer_a = plexus_provider_new ("signaling", "peer-a", PLEXUS_PROVIDER_KIND_PEER);
  g_autoptr(PlexusProvider) server = plexus_provider_new ("signaling", "server", PLEXUS_PROVIDER_KIND_SERVER);
  g_autoptr(PlexusProvider) peer_b = plexus_provider_new ("signaling", "peer-b", PLEXUS_PROVIDER_KIND_PEER);

  plexus_broker_set_local_region (f->broker, "eu-west");
  g_object_set (peer_a, "load", 0.4, "rtt-ms", 30.0, "region", "eu-west", "uptime", 0.9,
                "reputation", 0.95, "capacity", (gint64) 100, NULL);
  g_object_set (server, "load", 0.1, "rtt-ms", 80.0, "region", "us-east", "uptime", 1.0,
                "reputation", 1.0, "capacity", (gint64) 10000, NULL);
  g_object_set (peer_b, "load", 0.25, NULL);
  g_assert_true (plexus_broker_add_provider (f->broker, server, &error));
  g_assert_true (plexus_broker_add_provider (f->broker, peer_b, &error));
  g_assert_true (plexus_broker_add_provider (f->broker, peer_a, &error));
  g_assert_no_error (error);

  assert_select (f, "signaling", 2, "peer-a,peer-b");
  plexus_provider_set_load (peer_a, 0.9);
  assert_select (f, "signaling", 2, "peer-a,peer-b");
  plexus_provider_set_rtt_ms (peer_a, 150.0);
  assert_select (f, "signaling", 3, "peer-b,peer-a,server");
  for (guint i = 0; i < 3; i++)
    plexus_broker_report_failure (f->broker, peer_b, "timed out");
  assert_select (f, "signaling", 3, "peer-a,server");
  assert_events (f,
                 "added signaling/server", "added signaling/peer-b", "added signaling/peer-a",
                 "selected signaling peer-a: first provider (score 0.76)",
                 "selected signaling peer-b: score 0.70 beats current 0.53 by more than 0.15",
                 "failover signaling peer-b->peer-a: 3 consecutive failures: timed out",
                 "selected signaling peer-a: failover from 'peer-b': 3 consecutive failures: timed out",
                 NULL);
}

/* ---- selection ---- */

static void
test_select_by_score (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) none = NULL;
  PlexusProvider *a, *b;

  /* Lower load wins. */
  a = add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.5);
  b = add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.1);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, a), BASE_SCORE - 0.15, EPSILON);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, b), BASE_SCORE - 0.03, EPSILON);
  assert_select (f, "signaling", 1, "b");
  g_assert_true (plexus_broker_get_selected (f->broker, "signaling") == b);
  assert_events (f, "added signaling/a", "added signaling/b",
                 "selected signaling b: first provider (score 0.79)", NULL);
  /* Asking again changes nothing. */
  assert_select (f, "signaling", 1, "b");
  assert_events (f, NULL);

  /* Lower RTT wins: 1/(1+200/50) = 0.2 against 1/(1+20/50) = 0.714. */
  a = add (f, "stun", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  b = add (f, "stun", "b", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  plexus_provider_set_rtt_ms (a, 200.0);
  plexus_provider_set_rtt_ms (b, 20.0);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, a), BASE_SCORE - 0.1 + 0.04, EPSILON);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, b), BASE_SCORE - 0.1 + 0.2 / 1.4, EPSILON);
  assert_select (f, "stun", 1, "b");
  assert_events (f, "added stun/a", "added stun/b",
                 "selected stun b: first provider (score 0.86)", NULL);

  /* Matching region wins. */
  plexus_broker_set_local_region (f->broker, "eu-west");
  a = add (f, "membership", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  b = add (f, "membership", "b", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  plexus_provider_set_region (a, "us-east");
  plexus_provider_set_region (b, "eu-west");
  assert_select (f, "membership", 1, "b");
  assert_events (f, "added membership/a", "added membership/b",
                 "selected membership b: first provider (score 0.87)", NULL);

  /* Unknown service names are refused, known ones without providers say
   * so. */
  none = plexus_broker_select (f->broker, "teleport", 1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE);
  g_assert_cmpstr (error->message, ==, "'teleport' is not a service Plexus knows");
  g_assert_null (none);
  g_clear_error (&error);
  none = plexus_broker_select (f->broker, "file-transfer", 1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
  g_assert_cmpstr (error->message, ==, "no usable provider of 'file-transfer': none known");
  g_assert_null (none);
  assert_events (f, NULL);
}

static void
test_select_top_k (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GPtrArray) list = NULL;
  PlexusProvider *a, *d;

  a = add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.6);   /* 0.638 */
  add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.2);       /* 0.758 */
  add (f, "signaling", "c", PLEXUS_PROVIDER_KIND_PEER, 0.4);       /* 0.698 */
  d = add (f, "signaling", "d", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  plexus_provider_set_available (d, FALSE);
  assert_events (f, "added signaling/a", "added signaling/b", "added signaling/c",
                 "added signaling/d", NULL);

  assert_select (f, "signaling", 3, "b,c,a");
  assert_events (f, "selected signaling b: first provider (score 0.76)", NULL);
  assert_select (f, "signaling", 2, "b,c");
  assert_select (f, "signaling", 1, "b");
  /* Never more than the usable ones. */
  assert_select (f, "signaling", 10, "b,c,a");

  /* a becomes the best by a little: the selection stays first, the rest
   * follow by score. */
  plexus_provider_set_load (a, 0.0);                               /* 0.818 */
  assert_select (f, "signaling", 2, "b,a");
  assert_select (f, "signaling", 4, "b,a,c");
  assert_events (f, NULL);

  /* The list of all providers is by score, unusable last. */
  list = plexus_broker_list_providers (f->broker, "signaling");
  g_assert_cmpuint (list->len, ==, 4);
  g_assert_cmpstr (plexus_provider_get_peer_id (g_ptr_array_index (list, 0)), ==, "a");
  g_assert_cmpstr (plexus_provider_get_peer_id (g_ptr_array_index (list, 1)), ==, "b");
  g_assert_cmpstr (plexus_provider_get_peer_id (g_ptr_array_index (list, 2)), ==, "c");
  g_assert_cmpstr (plexus_provider_get_peer_id (g_ptr_array_index (list, 3)), ==, "d");

  /* Equal scores: the peer ID decides, whatever the order of arrival. */
  add (f, "stun", "y", PLEXUS_PROVIDER_KIND_PEER, 0.3);
  add (f, "stun", "x", PLEXUS_PROVIDER_KIND_PEER, 0.3);
  add (f, "stun", "z", PLEXUS_PROVIDER_KIND_PEER, 0.3);
  assert_select (f, "stun", 3, "x,y,z");
  assert_events (f, "added stun/y", "added stun/x", "added stun/z",
                 "selected stun x: first provider (score 0.73)", NULL);
}

static void
test_hysteresis (Fixture       *f,
                 gconstpointer  data)
{
  PlexusProvider *a, *b;

  a = add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.2);   /* 0.758 */
  b = add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.3);   /* 0.728 */
  assert_select (f, "signaling", 1, "a");
  assert_events (f, "added signaling/a", "added signaling/b",
                 "selected signaling a: first provider (score 0.76)", NULL);

  /* Slightly better (by 0.06) does not displace the selection. */
  plexus_provider_set_load (b, 0.0);                               /* 0.818 */
  assert_select (f, "signaling", 1, "a");
  assert_events (f, NULL);
  g_assert_true (plexus_broker_get_selected (f->broker, "signaling") == a);

  /* Much better (by 0.18) does, at once, on the change itself. */
  plexus_provider_set_load (a, 0.6);                               /* 0.638 */
  assert_events (f, "selected signaling b: score 0.82 beats current 0.64 by more than 0.15", NULL);
  assert_select (f, "signaling", 2, "b,a");

  /* a recovers to equal: no flip back. */
  plexus_provider_set_load (a, 0.1);
  plexus_provider_set_load (a, 0.0);
  assert_select (f, "signaling", 1, "b");
  assert_events (f, NULL);

  /* Without margin, any strictly better provider wins. */
  plexus_broker_set_hysteresis (f->broker, 0.0);
  g_assert_cmpfloat (plexus_broker_get_hysteresis (f->broker), ==, 0.0);
  assert_events (f, NULL);
  plexus_provider_set_rtt_ms (a, 10.0);                            /* 0.885 */
  assert_events (f, "selected signaling a: score 0.88 beats current 0.82 by more than 0.00", NULL);

  /* Raising the margin again re-evaluates, and keeps the selection. */
  plexus_broker_set_hysteresis (f->broker, 0.5);
  plexus_provider_set_rtt_ms (b, 1.0);
  plexus_provider_set_rtt_ms (a, 500.0);
  assert_select (f, "signaling", 1, "a");
  assert_events (f, NULL);
}

static void
test_load_over_time (Fixture       *f,
                     gconstpointer  data)
{
  const gdouble rising[] = { 0.2, 0.5, 0.75 };   /* 0.758, 0.668, 0.593 */
  const gdouble falling[] = { 0.5, 0.2, 0.0 };   /* 0.668, 0.758, 0.818 */
  PlexusProvider *a, *b;

  a = add (f, "room-registry", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  b = add (f, "room-registry", "b", PLEXUS_PROVIDER_KIND_PEER, 0.3);   /* 0.728 */
  assert_select (f, "room-registry", 1, "a");
  assert_events (f, "added room-registry/a", "added room-registry/b",
                 "selected room-registry a: first provider (score 0.82)", NULL);

  /* a's load creeps up, one report a minute: b is better from 0.5 on, but
   * only beyond the margin (at 0.9) does it take over. */
  for (guint i = 0; i < G_N_ELEMENTS (rising); i++) {
    advance (f, 60);
    plexus_provider_set_load (a, rising[i]);
    assert_select (f, "room-registry", 1, "a");
  }
  assert_events (f, NULL);
  advance (f, 60);
  plexus_provider_set_load (a, 0.9);                               /* 0.548 */
  assert_events (f, "selected room-registry b: score 0.73 beats current 0.55 by more than 0.15", NULL);

  /* a's load goes back down: it becomes better than b again, but not by
   * the margin, so b keeps the service. */
  for (guint i = 0; i < G_N_ELEMENTS (falling); i++) {
    advance (f, 60);
    plexus_provider_set_load (a, falling[i]);
    assert_select (f, "room-registry", 1, "b");
  }
  assert_events (f, NULL);

  /* Then b gets busy: a is clearly better and takes over again. */
  advance (f, 60);
  plexus_provider_set_load (b, 0.6);                               /* 0.638 */
  assert_events (f, "selected room-registry a: score 0.82 beats current 0.64 by more than 0.15", NULL);
  assert_select (f, "room-registry", 2, "a,b");
}

/* ---- failover ---- */

static void
test_failover_unavailable_and_removed (Fixture       *f,
                                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) none = NULL;
  PlexusProvider *a;

  a = add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);   /* 0.818 */
  add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.1);       /* 0.788 */
  add (f, "signaling", "c", PLEXUS_PROVIDER_KIND_PEER, 0.2);       /* 0.758 */
  assert_select (f, "signaling", 1, "a");
  assert_events (f, "added signaling/a", "added signaling/b", "added signaling/c",
                 "selected signaling a: first provider (score 0.82)", NULL);

  /* a dies: straight to the next best. */
  plexus_provider_set_available (a, FALSE);
  assert_events (f,
                 "failover signaling a->b: provider unavailable",
                 "selected signaling b: failover from 'a': provider unavailable",
                 NULL);
  assert_select (f, "signaling", 3, "b,c");

  /* a comes back: a candidate again, but only 0.03 better than b, so no
   * flip back. */
  plexus_provider_set_available (a, TRUE);
  assert_select (f, "signaling", 3, "b,a,c");
  assert_events (f, NULL);

  /* Removing the selection fails over too. */
  g_assert_true (plexus_broker_remove_provider (f->broker, "signaling", "b"));
  assert_events (f,
                 "removed signaling/b",
                 "failover signaling b->a: provider removed",
                 "selected signaling a: failover from 'b': provider removed",
                 NULL);
  /* Removing one that is not selected does not. */
  g_assert_true (plexus_broker_remove_provider (f->broker, "signaling", "c"));
  assert_events (f, "removed signaling/c", NULL);
  /* Removing the last one leaves nothing. */
  g_assert_true (plexus_broker_remove_provider (f->broker, "signaling", "a"));
  assert_events (f,
                 "removed signaling/a",
                 "failover signaling a->(none): provider removed",
                 NULL);
  g_assert_null (plexus_broker_get_selected (f->broker, "signaling"));
  none = plexus_broker_select (f->broker, "signaling", 1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
  g_assert_cmpstr (error->message, ==, "no usable provider of 'signaling': none known");
  g_assert_null (none);

  /* A newcomer is taken at once: the service is in use. */
  add (f, "signaling", "d", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  assert_events (f, "added signaling/d",
                 "selected signaling d: usable again after none was (score 0.82)", NULL);
  assert_select (f, "signaling", 1, "d");
}

static void
test_dies_and_comes_back (Fixture       *f,
                          gconstpointer  data)
{
  PlexusProvider *p;

  /* Hybrid: at equal metrics the server scores half as much. */
  p = add (f, "signaling", "p", PLEXUS_PROVIDER_KIND_PEER, 0.0);       /* 0.818 */
  add (f, "signaling", "srv", PLEXUS_PROVIDER_KIND_SERVER, 0.0);       /* 0.409 */
  assert_select (f, "signaling", 2, "p,srv");
  assert_events (f, "added signaling/p", "added signaling/srv",
                 "selected signaling p: first provider (score 0.82)", NULL);

  for (guint round = 0; round < 2; round++) {
    plexus_provider_set_available (p, FALSE);
    assert_events (f,
                   "failover signaling p->srv: provider unavailable",
                   "selected signaling srv: failover from 'p': provider unavailable",
                   NULL);
    assert_select (f, "signaling", 2, "srv");

    /* Back, and clearly better than the fallback: it takes over again. */
    plexus_provider_set_available (p, TRUE);
    assert_events (f, "selected signaling p: score 0.82 beats current 0.41 by more than 0.15", NULL);
    assert_select (f, "signaling", 2, "p,srv");
  }
}

static void
test_consecutive_failures (Fixture       *f,
                           gconstpointer  data)
{
  PlexusProvider *a, *b;

  g_assert_cmpuint (plexus_broker_get_failure_threshold (f->broker), ==, 3);
  a = add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);   /* 0.818 */
  b = add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.1);   /* 0.788 */
  assert_select (f, "signaling", 1, "a");
  assert_events (f, "added signaling/a", "added signaling/b",
                 "selected signaling a: first provider (score 0.82)", NULL);

  /* Two failures cost reputation (1 → 0.8 → 0.64) but a is still healthy
   * and within the margin. */
  plexus_broker_report_failure (f->broker, a, "timed out");
  plexus_broker_report_failure (f->broker, a, "timed out");
  g_assert_cmpfloat_with_epsilon (plexus_provider_get_reputation (a), 0.64, EPSILON);
  g_assert_true (plexus_broker_provider_is_healthy (f->broker, a));
  assert_events (f, NULL);

  /* The third makes it unhealthy: failover. */
  plexus_broker_report_failure (f->broker, a, "timed out");
  assert_events (f,
                 "failover signaling a->b: 3 consecutive failures: timed out",
                 "selected signaling b: failover from 'a': 3 consecutive failures: timed out",
                 NULL);
  g_assert_false (plexus_broker_provider_is_healthy (f->broker, a));
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "unhealthy");
  g_assert_cmpfloat (plexus_broker_score (f->broker, a), ==, PLEXUS_BROKER_SCORE_UNUSABLE);
  assert_select (f, "signaling", 2, "b");

  /* Excluded for 5 s; a late failure of a request already in flight does
   * not make that longer. */
  advance (f, 1);
  plexus_broker_report_failure (f->broker, a, "timed out");
  advance (f, 3.999);
  assert_select (f, "signaling", 2, "b");
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "unhealthy");
  advance (f, 0.001);
  assert_select (f, "signaling", 2, "b,a");
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "probation");
  g_assert_true (plexus_broker_provider_is_healthy (f->broker, a));

  /* Failing on probation doubles the exclusion: 10 s, then 20 s. */
  plexus_broker_report_failure (f->broker, a, "connection refused");
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "unhealthy");
  advance (f, 9.9);
  assert_select (f, "signaling", 2, "b");
  advance (f, 0.1);
  assert_select (f, "signaling", 2, "b,a");
  plexus_broker_report_failure (f->broker, a, "connection refused");
  advance (f, 19.9);
  assert_select (f, "signaling", 2, "b");
  advance (f, 0.1);
  assert_select (f, "signaling", 2, "b,a");
  assert_events (f, NULL);

  /* One success restores health and resets the backoff: the next trip
   * excludes for 5 s again. It also smooths RTT and lifts reputation. */
  plexus_broker_report_success (f->broker, a, 40.0);
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "healthy");
  g_assert_cmpfloat (plexus_provider_get_rtt_ms (a), ==, 40.0);
  plexus_broker_report_success (f->broker, a, 20.0);
  g_assert_cmpfloat_with_epsilon (plexus_provider_get_rtt_ms (a), 0.7 * 40.0 + 0.3 * 20.0, EPSILON);
  plexus_broker_report_success (f->broker, a, -1.0);   /* not measured */
  g_assert_cmpfloat_with_epsilon (plexus_provider_get_rtt_ms (a), 34.0, EPSILON);
  assert_events (f, NULL);

  for (guint i = 0; i < 3; i++)
    plexus_broker_report_failure (f->broker, a, "timed out");
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "unhealthy");
  advance (f, 5);
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, a), ==, "probation");

  /* Counting is of consecutive failures: a success in between resets. */
  plexus_broker_report_success (f->broker, b, 30.0);
  plexus_broker_report_failure (f->broker, b, "timed out");
  plexus_broker_report_failure (f->broker, b, "timed out");
  plexus_broker_report_success (f->broker, b, 30.0);
  plexus_broker_report_failure (f->broker, b, "timed out");
  plexus_broker_report_failure (f->broker, b, "timed out");
  g_assert_cmpstr (plexus_broker_get_provider_health (f->broker, b), ==, "healthy");
  assert_events (f, NULL);
}

static void
test_backoff_cap (Fixture       *f,
                  gconstpointer  data)
{
  const gdouble backoff[] = { 5, 10, 20, 40, 80, 160, 300, 300 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) none = NULL;
  PlexusProvider *a;

  a = add (f, "stun", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);
  assert_select (f, "stun", 1, "a");
  assert_events (f, "added stun/a", "selected stun a: first provider (score 0.82)", NULL);

  for (guint i = 0; i < 3; i++)
    plexus_broker_report_failure (f->broker, a, "no answer");
  assert_events (f, "failover stun a->(none): 3 consecutive failures: no answer", NULL);
  none = plexus_broker_select (f->broker, "stun", 1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
  g_assert_cmpstr (error->message, ==,
                   "no usable provider of 'stun': 1 known, 1 unhealthy (next retry in 5 s)");
  g_clear_error (&error);

  for (guint i = 0; i < G_N_ELEMENTS (backoff); i++) {
    g_autofree gchar *selected = NULL;

    advance (f, backoff[i] - 0.5);
    none = plexus_broker_select (f->broker, "stun", 1, &error);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
    g_assert_null (none);
    g_clear_error (&error);
    advance (f, 0.5);
    /* Back on probation, and taken since nothing else is there. */
    assert_select (f, "stun", 1, "a");
    if (i == 0)
      selected = g_strdup ("selected stun a: usable again after none was (score 0.70)");
    else
      selected = g_strdup_printf ("selected stun a: usable again after none was (score %.2f)",
                                  plexus_broker_score (f->broker, a));
    plexus_broker_report_failure (f->broker, a, "no answer");
    {
      g_autofree gchar *failover =
        g_strdup_printf ("failover stun a->(none): %u consecutive failures: no answer", i + 4);
      assert_events (f, selected, failover, NULL);
    }
  }
}

/* ---- modes ---- */

static void
test_modes (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) none = NULL;
  PlexusProvider *p, *p2, *srv, *self_provider;

  p = add (f, "signaling", "p", PLEXUS_PROVIDER_KIND_PEER, 0.0);        /* 0.818 */
  p2 = add (f, "signaling", "p2", PLEXUS_PROVIDER_KIND_PEER, 0.1);      /* 0.788 */
  srv = add (f, "signaling", "srv", PLEXUS_PROVIDER_KIND_SERVER, 0.0);  /* 0.409 */
  self_provider = add (f, "stun", "self", PLEXUS_PROVIDER_KIND_LOCAL, 0.0);
  assert_select (f, "signaling", 3, "p,p2,srv");
  assert_select (f, "stun", 1, "self");
  assert_events (f, "added signaling/p", "added signaling/p2", "added signaling/srv",
                 "added stun/self",
                 "selected signaling p: first provider (score 0.82)",
                 "selected stun self: first provider (score 0.82)", NULL);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, srv), BASE_SCORE / 2, EPSILON);

  /* Peer mode: the server is out; the selection was a peer, so nothing
   * else happens. */
  plexus_broker_set_mode (f->broker, PLEXUS_MODE_PEER);
  g_assert_cmpint (plexus_broker_get_mode (f->broker), ==, PLEXUS_MODE_PEER);
  assert_events (f, NULL);
  assert_select (f, "signaling", 3, "p,p2");

  /* Traditional mode: peers are out, the selection fails over to the
   * server. The local provider stays usable in every mode. */
  plexus_broker_set_mode (f->broker, PLEXUS_MODE_TRADITIONAL);
  assert_events (f,
                 "failover signaling p->srv: excluded by mode 'traditional'",
                 "selected signaling srv: failover from 'p': excluded by mode 'traditional'",
                 NULL);
  assert_select (f, "signaling", 3, "srv");
  assert_select (f, "stun", 1, "self");
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, srv), BASE_SCORE, EPSILON);
  g_assert_cmpfloat_with_epsilon (plexus_broker_score (f->broker, self_provider), BASE_SCORE, EPSILON);

  /* Hybrid: the peer is clearly preferred over the server again. */
  plexus_broker_set_mode (f->broker, PLEXUS_MODE_HYBRID);
  assert_events (f, "selected signaling p: score 0.82 beats current 0.41 by more than 0.15", NULL);

  /* When every peer dies, hybrid falls back to the server. */
  plexus_provider_set_available (p, FALSE);
  plexus_provider_set_available (p2, FALSE);
  assert_events (f,
                 "failover signaling p->p2: provider unavailable",
                 "selected signaling p2: failover from 'p': provider unavailable",
                 "failover signaling p2->srv: provider unavailable",
                 "selected signaling srv: failover from 'p2': provider unavailable",
                 NULL);

  /* Peer mode with only the server left: nothing to fail over to. */
  plexus_broker_set_mode (f->broker, PLEXUS_MODE_PEER);
  assert_events (f, "failover signaling srv->(none): excluded by mode 'peer'", NULL);
  none = plexus_broker_select (f->broker, "signaling", 1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
  g_assert_cmpstr (error->message, ==,
                   "no usable provider of 'signaling': 3 known, 2 unavailable, 1 excluded by mode 'peer'");
  g_clear_error (&error);

  /* p2 returns but keeps failing: the message counts it as unhealthy. */
  plexus_provider_set_available (p2, TRUE);
  assert_events (f, "selected signaling p2: usable again after none was (score 0.79)", NULL);
  for (guint i = 0; i < 3; i++)
    plexus_broker_report_failure (f->broker, p2, "timed out");
  assert_events (f, "failover signaling p2->(none): 3 consecutive failures: timed out", NULL);
  g_assert_true (plexus_broker_remove_provider (f->broker, "signaling", "p"));
  assert_events (f, "removed signaling/p", NULL);
  advance (f, 2.5);
  none = plexus_broker_select (f->broker, "signaling", 1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER);
  g_assert_cmpstr (error->message, ==,
                   "no usable provider of 'signaling': 2 known, 1 unhealthy (next retry in 3 s), "
                   "1 excluded by mode 'peer'");
}

/* ---- robustness ---- */

static void
on_removed_remove_next (PlexusBroker   *broker,
                        PlexusProvider *provider,
                        gpointer        user_data)
{
  if (g_strcmp0 (plexus_provider_get_peer_id (provider), "a") == 0)
    plexus_broker_remove_provider (broker, "signaling", "b");
}

static void
on_failover_select (PlexusBroker   *broker,
                    const gchar    *service,
                    PlexusProvider *from,
                    PlexusProvider *to,
                    const gchar    *reason,
                    gpointer        user_data)
{
  g_autoptr(GPtrArray) list = plexus_broker_select (broker, service, 3, NULL);
}

static void
test_reentrant_handlers (Fixture       *f,
                         gconstpointer  data)
{
  add (f, "signaling", "a", PLEXUS_PROVIDER_KIND_PEER, 0.0);   /* 0.818 */
  add (f, "signaling", "b", PLEXUS_PROVIDER_KIND_PEER, 0.1);   /* 0.788 */
  add (f, "signaling", "c", PLEXUS_PROVIDER_KIND_PEER, 0.2);   /* 0.758 */
  assert_select (f, "signaling", 1, "a");
  g_ptr_array_set_size (f->events, 0);

  /* Handlers that change the registry while the broker emits: the state
   * stays consistent (the recorders check get_selected() against every
   * signal) and nothing is used after it is freed. */
  g_signal_connect (f->broker, "provider-removed", G_CALLBACK (on_removed_remove_next), NULL);
  g_signal_connect (f->broker, "failover", G_CALLBACK (on_failover_select), NULL);
  g_assert_true (plexus_broker_remove_provider (f->broker, "signaling", "a"));
  g_assert_null (plexus_broker_lookup_provider (f->broker, "signaling", "b"));
  g_assert_cmpstr (plexus_provider_get_peer_id (plexus_broker_get_selected (f->broker, "signaling")),
                   ==, "c");
  assert_select (f, "signaling", 3, "c");
  g_ptr_array_set_size (f->events, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/provider/defaults", test_provider_defaults);
  g_test_add_func ("/plexus/provider/notify", test_provider_notify);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/plexus/broker/registry", test_registry);
  ADD ("/plexus/broker/score-formula", test_score_formula);
  ADD ("/plexus/broker/worked-example", test_worked_example);
  ADD ("/plexus/broker/select-by-score", test_select_by_score);
  ADD ("/plexus/broker/select-top-k", test_select_top_k);
  ADD ("/plexus/broker/hysteresis", test_hysteresis);
  ADD ("/plexus/broker/load-over-time", test_load_over_time);
  ADD ("/plexus/broker/failover", test_failover_unavailable_and_removed);
  ADD ("/plexus/broker/dies-and-comes-back", test_dies_and_comes_back);
  ADD ("/plexus/broker/consecutive-failures", test_consecutive_failures);
  ADD ("/plexus/broker/backoff-cap", test_backoff_cap);
  ADD ("/plexus/broker/modes", test_modes);
  ADD ("/plexus/broker/reentrant-handlers", test_reentrant_handlers);
#undef ADD

  return g_test_run ();
}
