/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-delivery.h"
#include "plexus-error.h"

/* The delivery engine on a virtual clock: racing paths, failing over,
 * giving up at the deadline, and delivering each arrival once. */

#define BOB    "b0743156505b173489e76788e22ff3428f932c4e90e1169cd558c567cae8d862"
#define SUPER1 "379041925989a8200b2d1347eb4ed9430df0bda402ff15c5debe3f06ad09f394"
#define SUPER2 "4dbb7f8f45f643b347ac77514a34a64cfc4e62f46c1e5d99707ab6539ff6bd7b"
#define SERVER "06de1356884acf74549cd203eed1949ecb1e184d69d307f159368e32068bcb79"

static PlexusDeliveryPath
path (PlexusDeliveryPathKind kind, const gchar *relay)
{
  PlexusDeliveryPath p = { kind, "" };

  g_strlcpy (p.relay, relay, sizeof p.relay);
  return p;
}

/* The relays the engine asked to send to, in order, "" if none. */
static gchar *
pop_sends (PlexusDelivery *engine)
{
  GString *out = g_string_new ("");
  PlexusDeliverySend send;

  while (plexus_delivery_pop_send (engine, &send)) {
    g_string_append_printf (out, "%s%s:%s#%u", out->len > 0 ? " " : "",
                            plexus_delivery_path_kind_to_string (send.path.kind), send.path.relay, send.attempt);
    plexus_delivery_send_clear (&send);
  }
  return g_string_free (out, FALSE);
}

static gchar *
pop_events (PlexusDelivery *engine)
{
  GString *out = g_string_new ("");
  PlexusDeliveryEvent event;

  while (plexus_delivery_pop_event (engine, &event)) {
    const gchar *names[] = { "delivered", "path-failed", "failed", "path-acknowledged", "path-silent" };

    g_string_append_printf (out, "%s%s %s", out->len > 0 ? " " : "", names[event.type], event.id);
    if (event.type != PLEXUS_DELIVERY_EVENT_FAILED)
      g_string_append_printf (out, " %s:%s", plexus_delivery_path_kind_to_string (event.path.kind), event.path.relay);
    if (event.type == PLEXUS_DELIVERY_EVENT_DELIVERED || event.type == PLEXUS_DELIVERY_EVENT_PATH_ACKNOWLEDGED)
      g_string_append_printf (out, " %" G_GINT64_FORMAT "ms", event.latency_ms);
    plexus_delivery_event_clear (&event);
  }
  return g_string_free (out, FALSE);
}

#define ASSERT_SENDS(engine, expected) \
  G_STMT_START { g_autofree gchar *got = pop_sends (engine); g_assert_cmpstr (got, ==, expected); } G_STMT_END
#define ASSERT_EVENTS(engine, expected) \
  G_STMT_START { g_autofree gchar *got = pop_events (engine); g_assert_cmpstr (got, ==, expected); } G_STMT_END

/* Hybrid: the best peer path and the server at once; the first
 * acknowledgement wins, the second gives the slower path's latency and
 * delivers nothing more. */
static void
test_race (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_PEER, SUPER1), path (PLEXUS_DELIVERY_PATH_SERVER, SERVER) };
  g_autoptr(GError) error = NULL;

  g_assert_true (plexus_delivery_submit (engine, 1000, "m1", BOB, paths, 2, 2, &error));
  g_assert_no_error (error);
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1 server:" SERVER "#2");
  plexus_delivery_acknowledged (engine, 1040, "m1", BOB, &paths[1]);
  ASSERT_EVENTS (engine, "delivered m1 server:" SERVER " 40ms");
  g_assert_cmpuint (plexus_delivery_get_n_pending (engine), ==, 0);
  g_assert_true (plexus_delivery_is_trailing (engine, "m1"));
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, 4000);
  plexus_delivery_acknowledged (engine, 1060, "m1", BOB, &paths[0]);
  ASSERT_EVENTS (engine, "path-acknowledged m1 peer:" SUPER1 " 60ms");
  g_assert_false (plexus_delivery_is_trailing (engine, "m1"));
  plexus_delivery_acknowledged (engine, 1070, "m1", BOB, &paths[0]);
  plexus_delivery_tick (engine, 5000);
  ASSERT_EVENTS (engine, "");
  ASSERT_SENDS (engine, "");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, -1);
}

/* The race's other path stays silent to the end of its attempt: it took
 * the message on and lost it, which is told once, at that time. One that
 * refuses after the delivery is not silent. Nothing is sent again. */
static void
test_race_trailing_silent (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_PEER, SUPER1), path (PLEXUS_DELIVERY_PATH_SERVER, SERVER) };

  g_assert_true (plexus_delivery_submit (engine, 0, "m1", BOB, paths, 2, 2, NULL));
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1 server:" SERVER "#2");
  plexus_delivery_acknowledged (engine, 30, "m1", BOB, &paths[1]);
  ASSERT_EVENTS (engine, "delivered m1 server:" SERVER " 30ms");
  plexus_delivery_tick (engine, 2999);
  ASSERT_EVENTS (engine, "");
  plexus_delivery_tick (engine, 3000);
  ASSERT_EVENTS (engine, "path-silent m1 peer:" SUPER1);
  ASSERT_SENDS (engine, "");
  g_assert_false (plexus_delivery_is_trailing (engine, "m1"));
  plexus_delivery_tick (engine, 6000);
  ASSERT_EVENTS (engine, "");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, -1);

  g_assert_true (plexus_delivery_submit (engine, 10000, "m2", BOB, paths, 2, 2, NULL));
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1 server:" SERVER "#2");
  plexus_delivery_acknowledged (engine, 10030, "m2", BOB, &paths[0]);
  ASSERT_EVENTS (engine, "delivered m2 peer:" SUPER1 " 30ms");
  plexus_delivery_path_failed (engine, 10500, "m2", &paths[1], "refused late");
  g_assert_false (plexus_delivery_is_trailing (engine, "m2"));
  plexus_delivery_tick (engine, 13000);
  ASSERT_EVENTS (engine, "");
  ASSERT_SENDS (engine, "");
}

/* One path at a time: a refusal moves on at once, silence after the
 * attempt timeout; the list wraps round. */
static void
test_failover (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = {
    path (PLEXUS_DELIVERY_PATH_PEER, SUPER1),
    path (PLEXUS_DELIVERY_PATH_PEER, SUPER2),
    path (PLEXUS_DELIVERY_PATH_SERVER, SERVER),
  };

  g_assert_true (plexus_delivery_submit (engine, 0, "m2", BOB, paths, 3, 1, NULL));
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, 3000);

  plexus_delivery_path_failed (engine, 10, "m2", &paths[0], "super peer gone");
  ASSERT_EVENTS (engine, "path-failed m2 peer:" SUPER1);
  ASSERT_SENDS (engine, "peer:" SUPER2 "#2");
  /* A failure of a path not in flight is old news. */
  plexus_delivery_path_failed (engine, 20, "m2", &paths[0], "again");
  ASSERT_EVENTS (engine, "");

  plexus_delivery_tick (engine, 3009);
  ASSERT_SENDS (engine, "");
  plexus_delivery_tick (engine, 3010);
  ASSERT_EVENTS (engine, "path-failed m2 peer:" SUPER2);
  ASSERT_SENDS (engine, "server:" SERVER "#3");
  plexus_delivery_tick (engine, 6010);
  ASSERT_EVENTS (engine, "path-failed m2 server:" SERVER);
  ASSERT_SENDS (engine, "peer:" SUPER1 "#4");

  /* Only the recipient's acknowledgement counts. */
  plexus_delivery_acknowledged (engine, 6100, "m2", SUPER1, &paths[0]);
  ASSERT_EVENTS (engine, "");
  plexus_delivery_acknowledged (engine, 6100, "m2", BOB, &paths[0]);
  ASSERT_EVENTS (engine, "delivered m2 peer:" SUPER1 " 90ms");
}

/* The daemon offers the paths anew on each tick while a message is in
 * flight. A path that swallowed an attempt without a word (a relay that
 * took it on and dropped it) does not get the next one too: the turn goes
 * on from the path tried last. */
static void
test_paths_anew_keep_turn (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_PEER, SUPER1), path (PLEXUS_DELIVERY_PATH_PEER, SUPER2) };

  g_assert_true (plexus_delivery_submit (engine, 0, "m3", BOB, paths, 2, 1, NULL));
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1");
  plexus_delivery_set_paths (engine, "m3", paths, 2);
  plexus_delivery_tick (engine, 3000);
  ASSERT_EVENTS (engine, "path-failed m3 peer:" SUPER1);
  ASSERT_SENDS (engine, "peer:" SUPER2 "#2");
  plexus_delivery_set_paths (engine, "m3", paths, 2);
  plexus_delivery_tick (engine, 6000);
  ASSERT_EVENTS (engine, "path-failed m3 peer:" SUPER2);
  ASSERT_SENDS (engine, "peer:" SUPER1 "#3");
  /* A list without the path tried last starts at its head. */
  plexus_delivery_set_paths (engine, "m3", &paths[1], 1);
  plexus_delivery_tick (engine, 9000);
  ASSERT_EVENTS (engine, "path-failed m3 peer:" SUPER1);
  ASSERT_SENDS (engine, "peer:" SUPER2 "#4");
}

/* Hybrid: offered anew, the race still pairs the best peer path with the
 * server when both went unanswered. */
static void
test_paths_anew_race (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = {
    path (PLEXUS_DELIVERY_PATH_PEER, SUPER1),
    path (PLEXUS_DELIVERY_PATH_SERVER, SERVER),
    path (PLEXUS_DELIVERY_PATH_PEER, SUPER2),
  };

  g_assert_true (plexus_delivery_submit (engine, 0, "m4", BOB, paths, 3, 2, NULL));
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1 server:" SERVER "#2");
  for (guint round = 1; round <= 3; round++) {
    g_autofree gchar *sends = NULL;

    plexus_delivery_set_paths (engine, "m4", paths, 3);
    plexus_delivery_tick (engine, 3000 * round);
    sends = pop_sends (engine);
    g_test_message ("round %u: %s", round, sends);
    g_assert_nonnull (strstr (sends, "server:" SERVER));
    g_free (pop_events (engine));
  }
}

/* Never acknowledged: tried every 3 s until the 15 s deadline, then given
 * up, once. */
static void
test_deadline (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_DIRECT, BOB) };
  guint sends = 0;

  g_assert_true (plexus_delivery_submit (engine, 0, "m3", BOB, paths, 1, 2, NULL));
  for (gint64 now = 0; now <= 20000; now += 500) {
    g_autofree gchar *got = NULL;
    g_autofree gchar *events = NULL;

    plexus_delivery_tick (engine, now);
    got = pop_sends (engine);
    sends += got[0] != '\0';
    events = pop_events (engine);
    if (now == 15000)
      g_assert_nonnull (strstr (events, "failed m3"));
    else if (now > 15000)
      g_assert_cmpstr (events, ==, "");
  }
  /* At 0, 3000, 6000, 9000 and 12000. */
  g_assert_cmpuint (sends, ==, 5);
  g_assert_cmpuint (plexus_delivery_get_n_pending (engine), ==, 0);
}

/* No path known at first (the relays are restarting): the message waits,
 * due again every replan interval for the caller to offer paths, and goes
 * out as soon as one is given; a path that rests keeps resting when paths
 * are offered again. */
static void
test_paths_later (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_SERVER, SERVER), path (PLEXUS_DELIVERY_PATH_PEER, SUPER1) };

  g_assert_true (plexus_delivery_submit (engine, 0, "m9", BOB, NULL, 0, 2, NULL));
  ASSERT_SENDS (engine, "");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, 500);
  plexus_delivery_tick (engine, 500);
  ASSERT_SENDS (engine, "");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, 1000);
  plexus_delivery_set_paths (engine, "m9", paths, 1);
  plexus_delivery_tick (engine, 1000);
  ASSERT_SENDS (engine, "server:" SERVER "#1");
  plexus_delivery_path_failed (engine, 1010, "m9", &paths[0], "restarting");
  ASSERT_EVENTS (engine, "path-failed m9 server:" SERVER);
  /* Offered again with a second path: the server still rests, the super
   * peer goes at once. */
  plexus_delivery_set_paths (engine, "m9", paths, 2);
  plexus_delivery_tick (engine, 1020);
  ASSERT_SENDS (engine, "peer:" SUPER1 "#2");
  plexus_delivery_tick (engine, 4000);
  ASSERT_SENDS (engine, "server:" SERVER "#3");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), >, 4000);
  plexus_delivery_acknowledged (engine, 4020, "m9", BOB, &paths[0]);
  ASSERT_EVENTS (engine, "delivered m9 server:" SERVER " 20ms");
}

/* A relay that refuses at once is not asked again at once: the path rests
 * until its attempt's time is up. */
static void
test_refusal_rests (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_SERVER, SERVER) };

  g_assert_true (plexus_delivery_submit (engine, 0, "m7", BOB, paths, 1, 2, NULL));
  ASSERT_SENDS (engine, "server:" SERVER "#1");
  plexus_delivery_path_failed (engine, 5, "m7", &paths[0], "no-route");
  ASSERT_EVENTS (engine, "path-failed m7 server:" SERVER);
  ASSERT_SENDS (engine, "");
  /* Due again to be offered paths (every 500 ms), and to resend when the
   * rest ends, never sooner. */
  for (gint64 now = 5; now < 3000;) {
    gint64 next = plexus_delivery_next_deadline (engine);

    g_assert_cmpint (next, >, now);
    g_assert_cmpint (next, <=, now + 500);
    now = next;
    if (now == 3000)
      break;
    plexus_delivery_tick (engine, now);
    ASSERT_SENDS (engine, "");
  }
  plexus_delivery_tick (engine, 3000);
  ASSERT_SENDS (engine, "server:" SERVER "#2");
  plexus_delivery_path_failed (engine, 3001, "m7", &paths[0], "no-route");
  ASSERT_EVENTS (engine, "path-failed m7 server:" SERVER);
  ASSERT_SENDS (engine, "");
  g_assert_cmpint (plexus_delivery_next_deadline (engine), ==, 3501);
}

static void
test_submit_errors (void)
{
  PlexusDeliveryConfig config;
  g_autoptr(PlexusDelivery) engine = NULL;
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_SERVER, SERVER) };
  g_autoptr(GError) error = NULL;

  plexus_delivery_config_init (&config);
  config.max_pending = 2;
  engine = plexus_delivery_new (&config);
  g_assert_false (plexus_delivery_submit (engine, 0, "m4", BOB, paths, 1, 0, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (plexus_delivery_submit (engine, 0, "m4", BOB, paths, 1, 1, NULL));
  g_assert_false (plexus_delivery_submit (engine, 0, "m4", BOB, paths, 1, 1, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (plexus_delivery_submit (engine, 0, "m5", BOB, paths, 1, 1, NULL));
  g_assert_false (plexus_delivery_submit (engine, 0, "m6", BOB, paths, 1, 1, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED);
}

/* Each (sender, ID) once while remembered; the memory is bounded, and
 * when full it refuses rather than forget early (which would let a replay
 * through). */
static void
test_dedupe (void)
{
  PlexusDeliveryConfig config;
  g_autoptr(PlexusDelivery) engine = NULL;

  plexus_delivery_config_init (&config);
  config.dedupe_capacity = 3;
  config.dedupe_ttl_ms = 1000;
  engine = plexus_delivery_new (&config);
  g_assert_cmpint (plexus_delivery_note_received (engine, 0, SUPER1, "a"), ==, PLEXUS_DELIVERY_NEW);
  g_assert_cmpint (plexus_delivery_note_received (engine, 10, SUPER1, "a"), ==, PLEXUS_DELIVERY_COPY);
  /* The same ID from someone else is another message. */
  g_assert_cmpint (plexus_delivery_note_received (engine, 20, SUPER2, "a"), ==, PLEXUS_DELIVERY_NEW);
  g_assert_cmpint (plexus_delivery_note_received (engine, 999, SUPER1, "a"), ==, PLEXUS_DELIVERY_COPY);
  g_assert_cmpint (plexus_delivery_note_received (engine, 30, SUPER1, "b"), ==, PLEXUS_DELIVERY_NEW);
  /* Full: a new one is refused, and what is remembered stays so. */
  g_assert_cmpint (plexus_delivery_note_received (engine, 40, SUPER1, "c"), ==, PLEXUS_DELIVERY_FULL);
  g_assert_cmpint (plexus_delivery_note_received (engine, 50, SUPER1, "a"), ==, PLEXUS_DELIVERY_COPY);
  /* Expired entries make room, one at a time; an expired one may come
   * again (the signal's own age limit refuses it by then). */
  g_assert_cmpint (plexus_delivery_note_received (engine, 1000, SUPER1, "c"), ==, PLEXUS_DELIVERY_NEW);
  g_assert_cmpint (plexus_delivery_note_received (engine, 1001, SUPER1, "a"), ==, PLEXUS_DELIVERY_FULL);
  g_assert_cmpint (plexus_delivery_note_received (engine, 1030, SUPER1, "a"), ==, PLEXUS_DELIVERY_NEW);
  g_assert_cmpint (plexus_delivery_note_received (engine, 1031, SUPER1, "c"), ==, PLEXUS_DELIVERY_COPY);
}

/* Two paths raced, both refusing: nothing is due before a path's rest
 * ends, so the caller's timer never fires in a busy loop. */
static void
test_race_rests (void)
{
  g_autoptr(PlexusDelivery) engine = plexus_delivery_new (NULL);
  PlexusDeliveryPath paths[] = { path (PLEXUS_DELIVERY_PATH_PEER, SUPER1), path (PLEXUS_DELIVERY_PATH_SERVER, SERVER) };

  g_assert_true (plexus_delivery_submit (engine, 0, "m8", BOB, paths, 2, 2, NULL));
  ASSERT_SENDS (engine, "peer:" SUPER1 "#1 server:" SERVER "#2");
  plexus_delivery_path_failed (engine, 1, "m8", &paths[0], "refused");
  plexus_delivery_path_failed (engine, 2, "m8", &paths[1], "refused");
  ASSERT_EVENTS (engine, "path-failed m8 peer:" SUPER1 " path-failed m8 server:" SERVER);
  for (gint64 now = 2; now < 15000; now += 1) {
    gint64 next = plexus_delivery_next_deadline (engine);

    g_assert_cmpint (next, >, now);
    now = next;
    plexus_delivery_tick (engine, now);
    {
      g_autofree gchar *sends = pop_sends (engine);
      g_autofree gchar *events = pop_events (engine);
      PlexusDeliveryEvent event;

      /* Every retry is refused at once again, one path a moment later. */
      if (strstr (sends, SUPER1) != NULL)
        plexus_delivery_path_failed (engine, now, "m8", &paths[0], "refused");
      if (strstr (sends, SERVER) != NULL)
        plexus_delivery_path_failed (engine, now + 1, "m8", &paths[1], "refused");
      while (plexus_delivery_pop_event (engine, &event))
        plexus_delivery_event_clear (&event);
      if (plexus_delivery_get_n_pending (engine) == 0)
        break;
    }
  }
  g_assert_cmpuint (plexus_delivery_get_n_pending (engine), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plexus/delivery/race", test_race);
  g_test_add_func ("/plexus/delivery/race-trailing-silent", test_race_trailing_silent);
  g_test_add_func ("/plexus/delivery/failover", test_failover);
  g_test_add_func ("/plexus/delivery/deadline", test_deadline);
  g_test_add_func ("/plexus/delivery/refusal-rests", test_refusal_rests);
  g_test_add_func ("/plexus/delivery/paths-later", test_paths_later);
  g_test_add_func ("/plexus/delivery/paths-anew-keep-turn", test_paths_anew_keep_turn);
  g_test_add_func ("/plexus/delivery/paths-anew-race", test_paths_anew_race);
  g_test_add_func ("/plexus/delivery/submit-errors", test_submit_errors);
  g_test_add_func ("/plexus/delivery/dedupe", test_dedupe);
  g_test_add_func ("/plexus/delivery/race-rests", test_race_rests);
  return g_test_run ();
}
