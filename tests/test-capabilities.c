/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "plexus-capabilities.h"
#include "plexus-error.h"
#include "plexus-identity.h"

/* A well-formed peer ID, written out so that the JSON below is literal. */
#define PEER_ID "379041925989a8200b2d1347eb4ed9430df0bda402ff15c5debe3f06ad09f394"
#define OTHER_PEER_ID "b0743156505b173489e76788e22ff3428f932c4e90e1169cd558c567cae8d862"

/* The capability example of the design, in the wire's snake_case. */
static const gchar seed_example[] =
  "{\n"
  "  \"peer_id\": \"" PEER_ID "\",\n"
  "  \"roles\": [\"standard\", \"super\"],\n"
  "  \"services\": {\n"
  "    \"signaling\": {\"available\": true, \"load\": 0.3, \"capacity\": 1000, \"bandwidth_mbps\": 100}\n"
  "  },\n"
  "  \"resources\": {\n"
  "    \"uptime\": 0.95,\n"
  "    \"bandwidth\": {\"up\": 50, \"down\": 100},\n"
  "    \"storage\": {\"available\": 1000}\n"
  "  },\n"
  "  \"location\": {\"region\": \"us-west\", \"timezone\": \"PST\"}\n"
  "}\n";

static PlexusCapabilities *
parse_ok (const gchar *json)
{
  g_autoptr(GError) error = NULL;
  PlexusCapabilities *caps = plexus_capabilities_new_from_string (json, -1, &error);

  g_assert_no_error (error);
  g_assert_nonnull (caps);
  return caps;
}

static PlexusCapabilities *
make_full (void)
{
  PlexusCapabilities *caps = plexus_capabilities_new (PEER_ID);
  PlexusServiceCapability signaling = { TRUE, 0.3, 1000, 100 };
  /* Values that have no short exact decimal form, and the extremes. */
  PlexusServiceCapability stun = { FALSE, 0.1 + 0.2, 0, 1.0 / 3.0 };
  PlexusServiceCapability registry = { TRUE, 1.0, PLEXUS_CAPABILITIES_MAX_COUNT, 1e-6 };

  plexus_capabilities_set_roles (caps, PLEXUS_ROLE_ALL);
  plexus_capabilities_set_service (caps, "stun", &stun);
  plexus_capabilities_set_service (caps, "signaling", &signaling);
  plexus_capabilities_set_service (caps, "room-registry", &registry);
  plexus_capabilities_set_uptime (caps, 0.95);
  plexus_capabilities_set_bandwidth (caps, 50, 123456.789);
  plexus_capabilities_set_storage_mb (caps, 1000);
  plexus_capabilities_set_region (caps, "eu-central");
  plexus_capabilities_set_timezone (caps, "Europe/Berlin");
  plexus_capabilities_set_nat (caps, "endpoint-independent");
  plexus_capabilities_set_address (caps, "ws://203.0.113.7:7070/");
  return caps;
}

static void
assert_round_trip (PlexusCapabilities *caps)
{
  g_autofree gchar *text = plexus_capabilities_to_string (caps);
  g_autoptr(PlexusCapabilities) parsed = parse_ok (text);
  g_autofree gchar *text_again = plexus_capabilities_to_string (parsed);
  g_autoptr(JsonNode) node = plexus_capabilities_to_json (caps);
  g_autoptr(PlexusCapabilities) from_node = NULL;
  g_autoptr(GError) error = NULL;

  g_test_message ("%s", text);
  g_assert_true (plexus_capabilities_equal (parsed, caps));
  g_assert_true (plexus_capabilities_equal (caps, parsed));
  g_assert_cmpstr (text_again, ==, text);

  from_node = plexus_capabilities_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_capabilities_equal (from_node, caps));
}

static void
test_defaults (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  g_auto(GStrv) services = plexus_capabilities_list_services (caps);
  g_autofree gchar *text = plexus_capabilities_to_string (caps);
  gdouble up = 0, down = 0;

  g_assert_cmpstr (plexus_capabilities_get_peer_id (caps), ==, PEER_ID);
  g_assert_cmpint (plexus_capabilities_get_roles (caps), ==, PLEXUS_ROLE_STANDARD);
  g_assert_cmpuint (g_strv_length (services), ==, 0);
  g_assert_false (plexus_capabilities_get_service (caps, "signaling", NULL));
  g_assert_cmpfloat (plexus_capabilities_get_uptime (caps), ==, -1);
  plexus_capabilities_get_bandwidth (caps, &up, &down);
  g_assert_cmpfloat (up, ==, -1);
  g_assert_cmpfloat (down, ==, -1);
  g_assert_cmpint (plexus_capabilities_get_storage_mb (caps), ==, -1);
  g_assert_null (plexus_capabilities_get_region (caps));
  g_assert_null (plexus_capabilities_get_timezone (caps));

  /* Unknown resources and location are left out. */
  g_assert_cmpstr (text, ==,
                   "{\"peer_id\":\"" PEER_ID "\",\"roles\":[\"standard\"],\"services\":{}}");
}

static void
test_service_names (void)
{
  const gchar * const *names = plexus_service_names ();
  const gchar * const expected[] = {
    "contact-discovery", "file-transfer", "membership", "room-registry", "signaling", "stun", NULL
  };

  g_assert_true (g_strv_equal (names, expected));
  for (guint i = 0; names[i] != NULL; i++) {
    g_assert_true (plexus_service_name_is_known (names[i]));
    if (i > 0)
      g_assert_cmpint (strcmp (names[i - 1], names[i]), <, 0);
  }
  g_assert_false (plexus_service_name_is_known ("Signaling"));
  g_assert_false (plexus_service_name_is_known ("signaling "));
  g_assert_false (plexus_service_name_is_known (""));
  g_assert_false (plexus_service_name_is_known (NULL));
}

static void
test_services (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  PlexusServiceCapability stun = { TRUE, 0.5, -1, -1 };
  PlexusServiceCapability stun2 = { FALSE, 0.0, 10, 2.5 };
  PlexusServiceCapability membership = { TRUE, 1.0, 0, 0 };
  PlexusServiceCapability got = { 0 };
  g_auto(GStrv) names = NULL;
  g_auto(GStrv) names_after = NULL;

  plexus_capabilities_set_service (caps, "stun", &stun);
  plexus_capabilities_set_service (caps, "membership", &membership);
  names = plexus_capabilities_list_services (caps);
  g_assert_cmpstrv (names, ((const gchar * const[]) { "membership", "stun", NULL }));

  g_assert_true (plexus_capabilities_get_service (caps, "stun", &got));
  g_assert_true (got.available);
  g_assert_cmpfloat (got.load, ==, 0.5);
  g_assert_cmpint (got.capacity, ==, -1);
  g_assert_cmpfloat (got.bandwidth_mbps, ==, -1);

  /* Setting again replaces. */
  plexus_capabilities_set_service (caps, "stun", &stun2);
  g_assert_true (plexus_capabilities_get_service (caps, "stun", &got));
  g_assert_false (got.available);
  g_assert_cmpint (got.capacity, ==, 10);
  g_assert_cmpfloat (got.bandwidth_mbps, ==, 2.5);

  g_assert_true (plexus_capabilities_remove_service (caps, "stun"));
  g_assert_false (plexus_capabilities_remove_service (caps, "stun"));
  g_assert_false (plexus_capabilities_get_service (caps, "stun", &got));
  names_after = plexus_capabilities_list_services (caps);
  g_assert_cmpstrv (names_after, ((const gchar * const[]) { "membership", NULL }));
}

static void
test_round_trip_full (void)
{
  g_autoptr(PlexusCapabilities) caps = make_full ();

  assert_round_trip (caps);
}

static void
test_round_trip_minimal (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  g_autoptr(PlexusCapabilities) no_roles = plexus_capabilities_new (PEER_ID);

  assert_round_trip (caps);
  plexus_capabilities_set_roles (no_roles, PLEXUS_ROLE_NONE);
  assert_round_trip (no_roles);
}

static void
test_round_trip_partial (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  PlexusServiceCapability idle = { FALSE, 0.0, -1, -1 };
  gdouble up = 0, down = 0;

  /* Each optional member alone, so that leaving out one does not lose
   * another. */
  plexus_capabilities_set_service (caps, "file-transfer", &idle);
  plexus_capabilities_set_bandwidth (caps, 20, -1);
  plexus_capabilities_set_timezone (caps, "UTC");
  assert_round_trip (caps);

  plexus_capabilities_set_bandwidth (caps, -1, 0);
  plexus_capabilities_set_storage_mb (caps, 0);
  plexus_capabilities_set_timezone (caps, NULL);
  plexus_capabilities_set_region (caps, "ap-south");
  assert_round_trip (caps);

  plexus_capabilities_set_bandwidth (caps, -1, -1);
  plexus_capabilities_set_storage_mb (caps, -1);
  plexus_capabilities_set_uptime (caps, 0);
  assert_round_trip (caps);

  {
    g_autofree gchar *text = plexus_capabilities_to_string (caps);
    g_autoptr(PlexusCapabilities) parsed = parse_ok (text);

    plexus_capabilities_get_bandwidth (parsed, &up, &down);
    g_assert_cmpfloat (up, ==, -1);
    g_assert_cmpfloat (down, ==, -1);
    g_assert_cmpint (plexus_capabilities_get_storage_mb (parsed), ==, -1);
    g_assert_cmpfloat (plexus_capabilities_get_uptime (parsed), ==, 0);
    g_assert_null (strstr (text, "bandwidth\""));
    g_assert_null (strstr (text, "storage"));
    g_assert_null (strstr (text, "timezone"));
  }
}

static void
test_seed_example (void)
{
  g_autoptr(PlexusCapabilities) caps = parse_ok (seed_example);
  PlexusServiceCapability signaling = { 0 };
  g_auto(GStrv) services = plexus_capabilities_list_services (caps);
  gdouble up = 0, down = 0;

  g_assert_cmpstr (plexus_capabilities_get_peer_id (caps), ==, PEER_ID);
  g_assert_cmpint (plexus_capabilities_get_roles (caps), ==, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER);
  g_assert_cmpstrv (services, ((const gchar * const[]) { "signaling", NULL }));
  g_assert_true (plexus_capabilities_get_service (caps, "signaling", &signaling));
  g_assert_true (signaling.available);
  g_assert_cmpfloat (signaling.load, ==, 0.3);
  g_assert_cmpint (signaling.capacity, ==, 1000);
  g_assert_cmpfloat (signaling.bandwidth_mbps, ==, 100);
  g_assert_cmpfloat (plexus_capabilities_get_uptime (caps), ==, 0.95);
  plexus_capabilities_get_bandwidth (caps, &up, &down);
  g_assert_cmpfloat (up, ==, 50);
  g_assert_cmpfloat (down, ==, 100);
  g_assert_cmpint (plexus_capabilities_get_storage_mb (caps), ==, 1000);
  g_assert_cmpstr (plexus_capabilities_get_region (caps), ==, "us-west");
  g_assert_cmpstr (plexus_capabilities_get_timezone (caps), ==, "PST");

  assert_round_trip (caps);
}

static void
test_lenient_where_allowed (void)
{
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(PlexusCapabilities) all = NULL;
  g_autoptr(GString) json = g_string_new ("{\"peer_id\":\"" PEER_ID "\",\"roles\":[],\"services\":{");
  g_autofree gchar *region = g_strnfill (64, 'r');
  g_autofree gchar *with_region = NULL;
  g_autoptr(PlexusCapabilities) long_region = NULL;
  PlexusServiceCapability got = { 0 };
  g_autofree gchar *text = NULL;

  /* Integers where numbers go, fractions written as 0 and 1, repeated
   * roles, empty optional objects, members in any order. */
  caps = parse_ok ("{\"services\":{\"stun\":{\"load\":1,\"available\":false}},"
                   "\"roles\":[\"super\",\"super\",\"standard\"],"
                   "\"resources\":{\"uptime\":1,\"bandwidth\":{},\"storage\":{}},"
                   "\"location\":{},"
                   "\"peer_id\":\"" PEER_ID "\"}");
  g_assert_cmpint (plexus_capabilities_get_roles (caps), ==, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER);
  g_assert_true (plexus_capabilities_get_service (caps, "stun", &got));
  g_assert_cmpfloat (got.load, ==, 1.0);
  g_assert_cmpfloat (plexus_capabilities_get_uptime (caps), ==, 1.0);
  g_assert_cmpint (plexus_capabilities_get_storage_mb (caps), ==, -1);
  g_assert_null (plexus_capabilities_get_region (caps));
  text = plexus_capabilities_to_string (caps);
  g_assert_cmpstr (text, ==,
                   "{\"peer_id\":\"" PEER_ID "\",\"roles\":[\"standard\",\"super\"],"
                   "\"services\":{\"stun\":{\"available\":false,\"load\":1.0}},"
                   "\"resources\":{\"uptime\":1.0}}");

  /* Every known service at once. */
  for (const gchar * const *name = plexus_service_names (); *name != NULL; name++)
    g_string_append_printf (json, "%s\"%s\":{\"available\":true,\"load\":0}",
                            name == plexus_service_names () ? "" : ",", *name);
  g_string_append (json, "}}");
  all = parse_ok (json->str);
  {
    g_auto(GStrv) names = plexus_capabilities_list_services (all);
    g_assert_true (g_strv_equal ((const gchar * const *) names, plexus_service_names ()));
  }

  /* The longest region allowed. */
  with_region = g_strdup_printf ("{\"peer_id\":\"" PEER_ID "\",\"roles\":[],\"services\":{},"
                                 "\"location\":{\"region\":\"%s\"}}", region);
  long_region = parse_ok (with_region);
  g_assert_cmpstr (plexus_capabilities_get_region (long_region), ==, region);
}

static void
test_stable_serialisation (void)
{
  g_autoptr(PlexusCapabilities) a = make_full ();
  g_autoptr(PlexusCapabilities) b = plexus_capabilities_new (PEER_ID);
  PlexusServiceCapability signaling = { TRUE, 0.3, 1000, 100 };
  PlexusServiceCapability stun = { FALSE, 0.1 + 0.2, 0, 1.0 / 3.0 };
  PlexusServiceCapability registry = { TRUE, 1.0, PLEXUS_CAPABILITIES_MAX_COUNT, 1e-6 };
  g_autofree gchar *text_a = NULL;
  g_autofree gchar *text_b = NULL;
  g_autofree gchar *text_c = NULL;
  g_autoptr(PlexusCapabilities) c = NULL;

  /* The same content set in another order. */
  plexus_capabilities_set_address (b, "ws://203.0.113.7:7070/");
  plexus_capabilities_set_nat (b, "endpoint-independent");
  plexus_capabilities_set_timezone (b, "Europe/Berlin");
  plexus_capabilities_set_region (b, "eu-central");
  plexus_capabilities_set_storage_mb (b, 1000);
  plexus_capabilities_set_bandwidth (b, 50, 123456.789);
  plexus_capabilities_set_uptime (b, 0.95);
  plexus_capabilities_set_service (b, "room-registry", &registry);
  plexus_capabilities_set_service (b, "signaling", &signaling);
  plexus_capabilities_set_service (b, "stun", &stun);
  plexus_capabilities_set_roles (b, PLEXUS_ROLE_SERVER | PLEXUS_ROLE_BOOTSTRAP |
                                    PLEXUS_ROLE_SUPER | PLEXUS_ROLE_STANDARD);

  g_assert_true (plexus_capabilities_equal (a, b));
  text_a = plexus_capabilities_to_string (a);
  text_b = plexus_capabilities_to_string (b);
  g_assert_cmpstr (text_a, ==, text_b);

  /* And parsed from text in yet another order. */
  c = parse_ok ("{\"network\":{\"address\":\"ws://203.0.113.7:7070/\",\"nat\":\"endpoint-independent\"},"
                "\"location\":{\"timezone\":\"Europe/Berlin\",\"region\":\"eu-central\"},"
                "\"resources\":{\"storage\":{\"available\":1000},"
                "\"bandwidth\":{\"down\":123456.789,\"up\":50},\"uptime\":0.95},"
                "\"services\":{"
                "\"stun\":{\"bandwidth_mbps\":0.33333333333333331,\"capacity\":0,"
                "\"load\":0.30000000000000004,\"available\":false},"
                "\"signaling\":{\"load\":0.3,\"available\":true,\"capacity\":1000,\"bandwidth_mbps\":100},"
                "\"room-registry\":{\"available\":true,\"load\":1,\"capacity\":9007199254740992,"
                "\"bandwidth_mbps\":1e-6}},"
                "\"roles\":[\"server\",\"bootstrap\",\"super\",\"standard\"],"
                "\"peer_id\":\"" PEER_ID "\"}");
  g_assert_true (plexus_capabilities_equal (a, c));
  text_c = plexus_capabilities_to_string (c);
  g_assert_cmpstr (text_c, ==, text_a);

  /* Members come out in the documented order. */
  g_assert_true (g_str_has_prefix (text_a, "{\"peer_id\":"));
  g_assert_true (strstr (text_a, "\"roles\"") < strstr (text_a, "\"services\""));
  g_assert_true (strstr (text_a, "\"services\"") < strstr (text_a, "\"resources\""));
  g_assert_true (strstr (text_a, "\"location\"") < strstr (text_a, "\"network\""));
  g_assert_true (strstr (text_a, "\"resources\"") < strstr (text_a, "\"location\""));
  g_assert_true (strstr (text_a, "\"room-registry\"") < strstr (text_a, "\"signaling\""));
  g_assert_true (strstr (text_a, "\"signaling\"") < strstr (text_a, "\"stun\""));
}

static void
test_negative_zero (void)
{
  g_autoptr(PlexusCapabilities) a = plexus_capabilities_new (PEER_ID);
  g_autoptr(PlexusCapabilities) b = plexus_capabilities_new (PEER_ID);
  g_autofree gchar *text_a = NULL;
  g_autofree gchar *text_b = NULL;

  /* Equal values, so the same text. */
  plexus_capabilities_set_bandwidth (a, 0.0, 1);
  plexus_capabilities_set_bandwidth (b, -0.0, 1);
  g_assert_true (plexus_capabilities_equal (a, b));
  text_a = plexus_capabilities_to_string (a);
  text_b = plexus_capabilities_to_string (b);
  g_assert_cmpstr (text_a, ==, text_b);
}

static void
test_equal (void)
{
  g_autoptr(PlexusCapabilities) base = make_full ();
  PlexusServiceCapability service = { 0 };

  g_assert_true (plexus_capabilities_equal (base, base));

  /* Each field on its own makes a difference. */
  for (guint i = 0; i < 13; i++) {
    g_autoptr(PlexusCapabilities) other = make_full ();

    g_assert_true (plexus_capabilities_equal (base, other));
    plexus_capabilities_get_service (other, "signaling", &service);
    switch (i) {
    case 0:
      g_clear_object (&other);
      other = plexus_capabilities_new (OTHER_PEER_ID);
      break;
    case 1:
      plexus_capabilities_set_roles (other, PLEXUS_ROLE_STANDARD);
      break;
    case 2:
      plexus_capabilities_remove_service (other, "stun");
      break;
    case 3:
      service.available = FALSE;
      plexus_capabilities_set_service (other, "signaling", &service);
      break;
    case 4:
      service.load = 0.31;
      plexus_capabilities_set_service (other, "signaling", &service);
      break;
    case 5:
      service.capacity = -1;
      plexus_capabilities_set_service (other, "signaling", &service);
      break;
    case 6:
      service.bandwidth_mbps = 100.5;
      plexus_capabilities_set_service (other, "signaling", &service);
      break;
    case 7:
      plexus_capabilities_set_uptime (other, -1);
      break;
    case 8:
      plexus_capabilities_set_bandwidth (other, 50, 1);
      break;
    case 9:
      plexus_capabilities_set_bandwidth (other, 51, 123456.789);
      break;
    case 10:
      plexus_capabilities_set_storage_mb (other, 1001);
      break;
    case 11:
      plexus_capabilities_set_region (other, NULL);
      break;
    case 12:
      plexus_capabilities_set_timezone (other, "europe/berlin");
      break;
    default:
      g_assert_not_reached ();
    }
    g_assert_false (plexus_capabilities_equal (base, other));
    g_assert_false (plexus_capabilities_equal (other, base));
  }

  /* The same services under a different name differ too. */
  {
    g_autoptr(PlexusCapabilities) a = plexus_capabilities_new (PEER_ID);
    g_autoptr(PlexusCapabilities) b = plexus_capabilities_new (PEER_ID);
    PlexusServiceCapability cap = { TRUE, 0.5, 1, 1 };

    plexus_capabilities_set_service (a, "stun", &cap);
    plexus_capabilities_set_service (b, "membership", &cap);
    g_assert_false (plexus_capabilities_equal (a, b));
  }
}

/* Strict parsing. A document that is valid except for one thing, and a part
 * of the message the error must have (always including the path). */
typedef struct {
  const gchar *json;
  const gchar *message;
} InvalidCase;

#define HEAD "\"peer_id\":\"" PEER_ID "\",\"roles\":[\"standard\"]"
#define SIGNALING(members) \
  "{" HEAD ",\"services\":{\"signaling\":{" members "}}}"
#define WITH(member) \
  "{" HEAD ",\"services\":{}," member "}"

static const InvalidCase invalid_cases[] = {
  /* The document. */
  { "[]", "top level: expected an object, got an array" },
  { "\"capabilities\"", "top level: expected an object, got a string" },
  { "null", "top level: expected an object, got null" },
  { "{}", "top level: missing member 'peer_id'" },
  { "{\"peer_id\":\"" PEER_ID "\",\"services\":{}}", "top level: missing member 'roles'" },
  { "{" HEAD "}", "top level: missing member 'services'" },
  { WITH ("\"colour\":\"blue\""), "top level: unknown member 'colour'" },
  { WITH ("\"Location\":{}"), "top level: unknown member 'Location'" },
  { WITH ("\"bad\\u0001name\":1"), "top level: unknown member 'bad\\001name'" },

  /* peer_id */
  { "{\"peer_id\":42,\"roles\":[],\"services\":{}}", "peer_id: expected a string, got an integer" },
  { "{\"peer_id\":\"abc\",\"roles\":[],\"services\":{}}", "peer_id: 'abc' is not a valid peer ID" },
  { "{\"peer_id\":\"" PEER_ID "=\",\"roles\":[],\"services\":{}}", "peer_id: " },
  { "{\"peer_id\":\"" PEER_ID "A\",\"roles\":[],\"services\":{}}", "peer_id: " },

  /* roles */
  { "{\"peer_id\":\"" PEER_ID "\",\"roles\":\"standard\",\"services\":{}}",
    "roles: expected an array of strings, got a string" },
  { "{\"peer_id\":\"" PEER_ID "\",\"roles\":{},\"services\":{}}",
    "roles: expected an array of strings, got an object" },
  { "{\"peer_id\":\"" PEER_ID "\",\"roles\":[\"standard\",1],\"services\":{}}",
    "roles[1]: expected a string, got an integer" },
  { "{\"peer_id\":\"" PEER_ID "\",\"roles\":[[\"super\"]],\"services\":{}}",
    "roles[0]: expected a string, got an array" },
  { "{\"peer_id\":\"" PEER_ID "\",\"roles\":[\"standard\",\"king\"],\"services\":{}}",
    "roles[1]: unknown role 'king'" },
  { "{\"peer_id\":\"" PEER_ID "\",\"roles\":[\"Super\"],\"services\":{}}",
    "roles[0]: unknown role 'Super'" },

  /* services */
  { "{" HEAD ",\"services\":[]}", "services: expected an object, got an array" },
  { "{" HEAD ",\"services\":null}", "services: expected an object, got null" },
  { "{" HEAD ",\"services\":{\"teleport\":{\"available\":true,\"load\":0}}}",
    "services: unknown service 'teleport'" },
  { "{" HEAD ",\"services\":{\"signaling\":true}}",
    "services.signaling: expected an object, got a boolean" },
  { SIGNALING ("\"load\":0.5"), "services.signaling: missing member 'available'" },
  { SIGNALING ("\"available\":true"), "services.signaling: missing member 'load'" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"colour\":1"),
    "services.signaling: unknown member 'colour'" },
  { SIGNALING ("\"available\":\"yes\",\"load\":0.5"),
    "services.signaling.available: expected a boolean, got a string" },
  { SIGNALING ("\"available\":1,\"load\":0.5"),
    "services.signaling.available: expected a boolean, got an integer" },
  { SIGNALING ("\"available\":true,\"load\":\"0.3\""),
    "services.signaling.load: expected a number, got a string" },
  { SIGNALING ("\"available\":true,\"load\":null"),
    "services.signaling.load: expected a number, got null" },
  { SIGNALING ("\"available\":true,\"load\":1.5"),
    "services.signaling.load: 1.5 is out of range 0..1" },
  { SIGNALING ("\"available\":true,\"load\":2"),
    "services.signaling.load: 2 is out of range 0..1" },
  { SIGNALING ("\"available\":true,\"load\":-0.1"),
    "services.signaling.load: -0.1 is out of range 0..1" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"capacity\":-5"),
    "services.signaling.capacity: -5 is negative" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"capacity\":-1"),
    "services.signaling.capacity: -1 is negative" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"capacity\":10.5"),
    "services.signaling.capacity: expected an integer, got a number" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"capacity\":\"10\""),
    "services.signaling.capacity: expected an integer, got a string" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"bandwidth_mbps\":-1"),
    "services.signaling.bandwidth_mbps: -1 is negative" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"bandwidth_mbps\":[]"),
    "services.signaling.bandwidth_mbps: expected a number, got an array" },
  /* Bounds that keep every value one json-glib writes as JSON, and exact. */
  { SIGNALING ("\"available\":true,\"load\":0.5,\"bandwidth_mbps\":1e17"),
    "services.signaling.bandwidth_mbps: 1e+17 is out of range 0..1000000" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"bandwidth_mbps\":1000000.5"),
    "services.signaling.bandwidth_mbps: 1e+06 is out of range 0..1000000" },
  { SIGNALING ("\"available\":true,\"load\":0.5,\"capacity\":9007199254740993"),
    "services.signaling.capacity: 9007199254740993 is out of range 0..9007199254740992" },

  /* resources */
  { WITH ("\"resources\":[]"), "resources: expected an object, got an array" },
  { WITH ("\"resources\":{\"cpu\":4}"), "resources: unknown member 'cpu'" },
  { WITH ("\"resources\":{\"uptime\":1.01}"), "resources.uptime: 1.01 is out of range 0..1" },
  { WITH ("\"resources\":{\"uptime\":-1}"), "resources.uptime: -1 is out of range 0..1" },
  { WITH ("\"resources\":{\"uptime\":true}"), "resources.uptime: expected a number, got a boolean" },
  { WITH ("\"resources\":{\"bandwidth\":100}"),
    "resources.bandwidth: expected an object, got an integer" },
  { WITH ("\"resources\":{\"bandwidth\":{\"sideways\":1}}"),
    "resources.bandwidth: unknown member 'sideways'" },
  { WITH ("\"resources\":{\"bandwidth\":{\"up\":-3}}"), "resources.bandwidth.up: -3 is negative" },
  { WITH ("\"resources\":{\"bandwidth\":{\"down\":\"fast\"}}"),
    "resources.bandwidth.down: expected a number, got a string" },
  { WITH ("\"resources\":{\"bandwidth\":{\"down\":1e20}}"),
    "resources.bandwidth.down: 1e+20 is out of range 0..1000000" },
  { WITH ("\"resources\":{\"bandwidth\":{\"up\":2000000}}"),
    "resources.bandwidth.up: 2e+06 is out of range 0..1000000" },
  { WITH ("\"resources\":{\"storage\":1000}"), "resources.storage: expected an object, got an integer" },
  { WITH ("\"resources\":{\"storage\":{\"used\":1}}"), "resources.storage: unknown member 'used'" },
  { WITH ("\"resources\":{\"storage\":{\"available\":1.5}}"),
    "resources.storage.available: expected an integer, got a number" },
  { WITH ("\"resources\":{\"storage\":{\"available\":-1}}"),
    "resources.storage.available: -1 is negative" },
  { WITH ("\"resources\":{\"storage\":{\"available\":9223372036854775807}}"),
    "resources.storage.available: 9223372036854775807 is out of range 0..9007199254740992" },

  /* location */
  { WITH ("\"location\":\"us-west\""), "location: expected an object, got a string" },
  { WITH ("\"location\":{\"city\":\"Oslo\"}"), "location: unknown member 'city'" },
  { WITH ("\"location\":{\"region\":5}"), "location.region: expected a string, got an integer" },
  { WITH ("\"location\":{\"region\":null}"), "location.region: expected a string, got null" },
  { WITH ("\"location\":{\"region\":\"\"}"), "location.region: must not be empty" },
  { WITH ("\"location\":{\"timezone\":[\"PST\"]}"), "location.timezone: expected a string, got an array" },
  { WITH ("\"location\":{\"timezone\":"
          "\"12345678901234567890123456789012345678901234567890123456789012345\"}"),
    "location.timezone: 65 bytes is longer than the 64 allowed" },

  /* network */
  { WITH ("\"network\":[]"), "network: expected an object, got an array" },
  { WITH ("\"network\":{\"mtu\":1500}"), "network: unknown member 'mtu'" },
  { WITH ("\"network\":{\"nat\":true}"), "network.nat: expected a string, got a boolean" },
  { WITH ("\"network\":{\"nat\":\"unknown\"}"),
    "network.nat: 'unknown' is not none, endpoint-independent, address-dependent or blocked" },
  { WITH ("\"network\":{\"nat\":\"symmetric\"}"), "network.nat: 'symmetric' is not none" },
  { WITH ("\"network\":{\"address\":\"http://203.0.113.7/\"}"),
    "network.address: 'http://203.0.113.7/' is not a ws:// or wss:// URI others can dial" },
  { WITH ("\"network\":{\"address\":\"ws://0.0.0.0:7070/\"}"), "network.address: 'ws://0.0.0.0:7070/' is not" },
  { WITH ("\"network\":{\"address\":7070}"), "network.address: expected a string, got an integer" },
  { WITH ("\"network\":{\"attached\":\"" PEER_ID "\"}"), "network.attached: not an array" },
  { WITH ("\"network\":{\"attached\":[7]}"), "network.attached[0]: expected a string, got an integer" },
  { WITH ("\"network\":{\"attached\":[\"super\"]}"), "network.attached[0]: 'super' is not a peer ID" },
  { WITH ("\"network\":{\"attached\":[\"" OTHER_PEER_ID "\",\"" PEER_ID "\"]}"),
    "network.attached[1]: peer IDs must be sorted and listed once" },
  { WITH ("\"network\":{\"attached\":[\"" PEER_ID "\",\"" PEER_ID "\"]}"),
    "network.attached[1]: peer IDs must be sorted and listed once" },
  { WITH ("\"network\":{\"attached\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}"),
    "network.attached: 9 super peers, at most 8" },
};

/* The super peers a standard peer is attached to: a set, kept sorted, so
 * that equal capabilities still have one form. */
static void
test_attached (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  g_autoptr(PlexusCapabilities) parsed = NULL;
  g_autoptr(PlexusCapabilities) other = plexus_capabilities_new (PEER_ID);
  const gchar *unsorted[] = { OTHER_PEER_ID, PEER_ID, NULL };
  g_autofree gchar *text = NULL;

  g_assert_cmpuint (g_strv_length ((gchar **) plexus_capabilities_get_attached (caps)), ==, 0);
  text = plexus_capabilities_to_string (caps);
  g_assert_null (strstr (text, "\"network\""));
  g_clear_pointer (&text, g_free);

  plexus_capabilities_set_attached (caps, unsorted);
  g_assert_cmpstr (plexus_capabilities_get_attached (caps)[0], ==, PEER_ID);
  g_assert_cmpstr (plexus_capabilities_get_attached (caps)[1], ==, OTHER_PEER_ID);
  g_assert_null (plexus_capabilities_get_attached (caps)[2]);
  g_assert_false (plexus_capabilities_equal (caps, other));
  text = plexus_capabilities_to_string (caps);
  g_assert_nonnull (strstr (text, "\"network\":{\"attached\":[\"" PEER_ID "\",\"" OTHER_PEER_ID "\"]}"));
  parsed = parse_ok (text);
  g_assert_true (plexus_capabilities_equal (parsed, caps));
  assert_round_trip (caps);

  plexus_capabilities_set_attached (caps, NULL);
  g_assert_true (plexus_capabilities_equal (caps, other));
}

/* The NAT STUN found, and what it means for the super role. */
static void
test_nat (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  const struct {
    const gchar *nat;
    gboolean     eligible;
  } cases[] = {
    { NULL, FALSE },
    { "none", TRUE },
    { "endpoint-independent", TRUE },
    { "address-dependent", FALSE },
    { "blocked", FALSE },
  };

  g_assert_null (plexus_capabilities_get_nat (caps));
  g_assert_false (plexus_capabilities_nat_is_valid ("unknown"));
  g_assert_false (plexus_capabilities_nat_is_valid (NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree gchar *text = NULL;

    plexus_capabilities_set_nat (caps, cases[i].nat);
    g_assert_cmpstr (plexus_capabilities_get_nat (caps), ==, cases[i].nat);
    g_assert_cmpint (plexus_capabilities_is_super_eligible (caps), ==, cases[i].eligible);
    text = plexus_capabilities_to_string (caps);
    /* Unknown is left out, not written as a value. */
    g_assert_cmpint (strstr (text, "\"network\"") != NULL, ==, cases[i].nat != NULL);
    assert_round_trip (caps);
  }
}

static void
test_invalid (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (invalid_cases); i++) {
    g_autoptr(PlexusCapabilities) caps = NULL;
    g_autoptr(GError) error = NULL;

    g_test_message ("case %u: %s", i, invalid_cases[i].json);
    caps = plexus_capabilities_new_from_string (invalid_cases[i].json, -1, &error);
    g_assert_null (caps);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_test_message ("  -> %s", error->message);
    g_assert_nonnull (strstr (error->message, invalid_cases[i].message));
  }
}

static void
test_too_many_services (void)
{
  g_autoptr(GString) json = g_string_new ("{" HEAD ",\"services\":{");
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;

  /* Refused for the count, before any name is looked at. */
  for (guint i = 0; i < 33; i++)
    g_string_append_printf (json, "%s\"service-%u\":{}", i > 0 ? "," : "", i);
  g_string_append (json, "}}");

  caps = plexus_capabilities_new_from_string (json->str, -1, &error);
  g_assert_null (caps);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "services: 33 services, at most 32"));
}

static void
test_long_names_quoted_briefly (void)
{
  g_autofree gchar *name = g_strnfill (10000, 'x');
  g_autofree gchar *json = g_strdup_printf ("{" HEAD ",\"services\":{\"%s\":{}}}", name);
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;

  caps = plexus_capabilities_new_from_string (json, -1, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_true (g_str_has_prefix (error->message, "services: unknown service 'xxx"));
  g_assert_cmpuint (strlen (error->message), <, 200);
}

static void
test_not_json (void)
{
  const gchar *cases[] = { "", "   \n", "{", "[1", "{\"peer_id\":}", "nul" };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(PlexusCapabilities) caps = NULL;
    g_autoptr(GError) error = NULL;

    caps = plexus_capabilities_new_from_string (cases[i], -1, &error);
    g_assert_null (caps);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_test_message ("'%s' -> %s", cases[i], error->message);
    g_assert_true (g_str_has_prefix (error->message, "capabilities are not valid JSON: "));
  }

  /* The length is honoured: the text after it is not read. */
  {
    g_autoptr(PlexusCapabilities) caps = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree gchar *text = NULL;
    g_autofree gchar *padded = NULL;
    g_autoptr(PlexusCapabilities) base = plexus_capabilities_new (PEER_ID);

    text = plexus_capabilities_to_string (base);
    padded = g_strconcat (text, "garbage", NULL);
    caps = plexus_capabilities_new_from_string (padded, (gssize) strlen (text), &error);
    g_assert_no_error (error);
    g_assert_true (plexus_capabilities_equal (caps, base));
  }
}

/* Found by fuzzing: messages reach D-Bus, so they are UTF-8 whatever the
 * input holds. */
static void
test_not_utf8 (void)
{
  static const gchar with_nul[] = "{\"peer_id\":\"a\0\"}";
  /* Valid UTF-8, but json-glib's message quotes the string cut after the
   * first byte of the é that \u00e9 stands for. */
  static const gchar cut[] =
    "{\"peer_id\":\"79b5562e8fe654f9rol:t&uelin \\u00e91}},\"extra\":}";
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;

  caps = plexus_capabilities_new_from_string ("{\"peer_id\":\"\377\"}", -1, &error);
  g_assert_null (caps);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "capabilities are not valid JSON: not valid UTF-8 at byte 13");
  g_clear_error (&error);

  caps = plexus_capabilities_new_from_string (with_nul, sizeof with_nul - 1, &error);
  g_assert_null (caps);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpstr (error->message, ==, "capabilities are not valid JSON: NUL character at byte 14");
  g_clear_error (&error);

  caps = plexus_capabilities_new_from_string (cut, -1, &error);
  g_assert_null (caps);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, "capabilities are not valid JSON: "));
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

/* Found by fuzzing: json-glib 1.6 writes a double printed without a '.'
 * with ".0" appended, so 1e20 came out as "1e+20.0" and 1e-8 as
 * "1e-08.0", which no peer can read. Numbers are bounded and kept to six
 * decimal places, so that whatever is accepted can be passed on. */
static void
test_numbers_pass_on (void)
{
  static const gchar extremes[] =
    "{" HEAD ",\"services\":{\"stun\":{\"available\":true,\"load\":1e-8,"
    "\"capacity\":9007199254740992,\"bandwidth_mbps\":1000000}},"
    "\"resources\":{\"uptime\":0.1234567,\"bandwidth\":{\"up\":3e-8,\"down\":1e6},"
    "\"storage\":{\"available\":9007199254740992}}}";
  g_autoptr(PlexusCapabilities) caps = parse_ok (extremes);
  g_autoptr(PlexusCapabilities) set = plexus_capabilities_new (PEER_ID);
  PlexusServiceCapability tiny = { TRUE, 1e-8, 0, 5e-7 };
  PlexusServiceCapability got = { 0 };
  gdouble up = 0, down = 0;

  g_assert_true (plexus_capabilities_get_service (caps, "stun", &got));
  g_assert_cmpfloat (got.load, ==, 0.0);
  g_assert_cmpint (got.capacity, ==, PLEXUS_CAPABILITIES_MAX_COUNT);
  g_assert_cmpfloat (got.bandwidth_mbps, ==, PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS);
  g_assert_cmpfloat (plexus_capabilities_get_uptime (caps), ==, 0.123457);
  plexus_capabilities_get_bandwidth (caps, &up, &down);
  g_assert_cmpfloat (up, ==, 0.0);
  g_assert_cmpfloat (down, ==, 1e6);
  g_assert_cmpint (plexus_capabilities_get_storage_mb (caps), ==, PLEXUS_CAPABILITIES_MAX_COUNT);
  assert_round_trip (caps);

  /* The setters keep the same precision. */
  plexus_capabilities_set_service (set, "stun", &tiny);
  plexus_capabilities_set_uptime (set, 2e-8);
  plexus_capabilities_set_bandwidth (set, 0.0000015, 1e-6);
  g_assert_true (plexus_capabilities_get_service (set, "stun", &got));
  g_assert_cmpfloat (got.load, ==, 0.0);
  g_assert_cmpfloat (got.bandwidth_mbps, ==, 1e-6);
  g_assert_cmpfloat (plexus_capabilities_get_uptime (set), ==, 0.0);
  plexus_capabilities_get_bandwidth (set, &up, &down);
  g_assert_cmpfloat (up, ==, 2e-6);
  g_assert_cmpfloat (down, ==, 1e-6);
  assert_round_trip (set);

  /* Multiples of 1e-6 are written as JSON that reads back: all those
   * below 1e-3 (those below 1e-4 are written with an exponent), and a
   * sample of the rest. */
  for (guint i = 0; i <= 1000000; i += i < 1000 ? 1 : 997) {
    g_autoptr(PlexusCapabilities) each = plexus_capabilities_new (PEER_ID);
    g_autoptr(PlexusCapabilities) again = NULL;
    g_autofree gchar *text = NULL;
    g_autoptr(GError) error = NULL;

    plexus_capabilities_set_uptime (each, i / 1e6);
    text = plexus_capabilities_to_string (each);
    again = plexus_capabilities_new_from_string (text, -1, &error);
    g_assert_no_error (error);
    g_assert_true (plexus_capabilities_equal (each, again));
  }
}

/* JSON text is one value; json-glib 1.6 would take the last of several,
 * leaking the others. They are refused before json-glib reads them, so this
 * runs in-process, under the leak checkers. */
static void
test_multiple_values (void)
{
  const gchar *cases[] = {
    "{} {}",
    "{} []",
    "1 []",
    "{\"peer_id\":\"" PEER_ID "\",\"roles\":[],\"services\":{}} {}",
    "{\"peer_id\":\"" PEER_ID "\",\"roles\":[],\"services\":{}}\n[\"more\"]",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(PlexusCapabilities) caps = NULL;
    g_autoptr(GError) error = NULL;

    caps = plexus_capabilities_new_from_string (cases[i], -1, &error);
    g_assert_null (caps);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_test_message ("'%s' -> %s", cases[i], error->message);
    g_assert_true (g_str_has_prefix (error->message,
                                     "capabilities are not valid JSON: a second value at byte "));
  }
}

/* The JSON is read as strictly as envelopes are: what json-glib 1.6 would
 * accept although it is not JSON, or read differently from other parsers,
 * is refused with a message saying where. */
static void
test_strict_json (void)
{
  static const InvalidCase cases[] = {
    /* Not JSON. */
    { "{ // comment\n" HEAD ",\"services\":{}}", "capabilities are not valid JSON: unexpected '/' at byte 2" },
    { "/* comment */ {" HEAD ",\"services\":{}}", "capabilities are not valid JSON: unexpected '/' at byte 0" },
    { "{\"peer_id\":'" PEER_ID "',\"roles\":[],\"services\":{}}",
      "capabilities are not valid JSON: unexpected ''' at byte 11" },
    { SIGNALING ("\"available\":true,\"load\":0,\"capacity\":0x10"),
      "capabilities are not valid JSON: malformed number at byte " },
    { SIGNALING ("\"available\":true,\"load\":0,\"capacity\":010"),
      "capabilities are not valid JSON: malformed number at byte " },
    { SIGNALING ("\"available\":true,\"load\":.5"),
      "capabilities are not valid JSON: unexpected '.' at byte " },
    { WITH ("\"location\":{\"region\":\"a\\x41\"}"),
      "capabilities are not valid JSON: invalid escape in a string at byte " },
    { WITH ("\"location\":{\"region\":\"tab\there\"}"),
      "capabilities are not valid JSON: control character U+0009 in a string at byte " },
    /* JSON, but not accepted. */
    { SIGNALING ("\"available\":true,\"load\":1e999"),
      "capabilities: the number '1e999' at byte " },
    { SIGNALING ("\"available\":true,\"load\":0.5,\"bandwidth_mbps\":-1e999"),
      "capabilities: the number '-1e999' at byte " },
    { WITH ("\"resources\":{\"bandwidth\":{\"up\":1,\"down\":1e400}}"),
      "capabilities: the number '1e400' at byte " },
    { WITH ("\"resources\":{\"storage\":{\"available\":18446744073709551617}}"),
      "capabilities: the integer '18446744073709551617' at byte " },
    { WITH ("\"location\":{\"region\":\"us\\u0000-west\"}"),
      "capabilities: a string at byte " },
    { WITH ("\"location\":{\"region\":\"\\udc00\"}"),
      "capabilities: a string at byte " },
    { "{" HEAD ",\"services\":{},\"roles\":[\"super\"]}",
      "capabilities: the member name 'roles' appears twice in one object" },
    { WITH ("\"location\":{\"region\":\"a\",\"region\":\"b\"}"),
      "capabilities: the member name 'region' appears twice in one object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(PlexusCapabilities) caps = NULL;
    g_autoptr(GError) error = NULL;

    g_test_message ("case %u: %s", i, cases[i].json);
    caps = plexus_capabilities_new_from_string (cases[i].json, -1, &error);
    g_assert_null (caps);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_test_message ("  -> %s", error->message);
    g_assert_true (g_str_has_prefix (error->message, cases[i].message));
  }

  /* Nesting is bounded before json-glib recurses into it. */
  {
    g_autoptr(GString) deep = g_string_new ("{" HEAD ",\"services\":{},\"resources\":");
    g_autoptr(PlexusCapabilities) caps = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 100000; i++)
      g_string_append_c (deep, '[');
    caps = plexus_capabilities_new_from_string (deep->str, -1, &error);
    g_assert_null (caps);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
    g_test_message ("%s", error->message);
    g_assert_true (g_str_has_prefix (error->message,
                                     "capabilities: containers nest more than 32 levels deep"));
  }
}

/* json-glib 1.6 writes U+001F unescaped; what is written must read back. */
static void
test_control_characters_pass_on (void)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  g_autoptr(PlexusCapabilities) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;

  plexus_capabilities_set_region (caps, "unit\x1fseparator");
  plexus_capabilities_set_timezone (caps, "\x01\x1f\x7f");
  text = plexus_capabilities_to_string (caps);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "\"region\":\"unit\\u001fseparator\""));
  g_assert_nonnull (strstr (text, "\"timezone\":\"\\u0001\\u001f\\u007f\""));
  again = plexus_capabilities_new_from_string (text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (plexus_capabilities_equal (caps, again));
}

/* Setters refuse out-of-range values as programming errors. Each case runs
 * in a subprocess, where the critical warning aborts. */
static void
call_bad_setter (guint which)
{
  g_autoptr(PlexusCapabilities) caps = plexus_capabilities_new (PEER_ID);
  PlexusServiceCapability bad_load = { TRUE, 1.5, -1, -1 };
  PlexusServiceCapability bad_capacity = { TRUE, 0.5, -2, -1 };
  PlexusServiceCapability bad_bandwidth = { TRUE, 0.5, -1, -0.5 };
  PlexusServiceCapability good = { TRUE, 0.5, -1, -1 };
  PlexusServiceCapability huge_capacity = { TRUE, 0.5, PLEXUS_CAPABILITIES_MAX_COUNT + 1, -1 };
  g_autofree gchar *long_region = g_strnfill (65, 'r');

  switch (which) {
  case 0:
    plexus_capabilities_set_service (caps, "signaling", &bad_load);
    break;
  case 1:
    plexus_capabilities_set_service (caps, "signaling", &bad_capacity);
    break;
  case 2:
    plexus_capabilities_set_service (caps, "signaling", &bad_bandwidth);
    break;
  case 3:
    plexus_capabilities_set_service (caps, "teleport", &good);
    break;
  case 4:
    plexus_capabilities_set_uptime (caps, 1.01);
    break;
  case 5:
    plexus_capabilities_set_uptime (caps, -0.5);
    break;
  case 6:
    plexus_capabilities_set_bandwidth (caps, -2, 1);
    break;
  case 7:
    plexus_capabilities_set_bandwidth (caps, 1, INFINITY);
    break;
  case 8:
    plexus_capabilities_set_storage_mb (caps, -2);
    break;
  case 9:
    plexus_capabilities_set_region (caps, "");
    break;
  case 10:
    plexus_capabilities_set_timezone (caps, long_region);
    break;
  case 11:
    plexus_capabilities_set_roles (caps, (PlexusRole) (1 << 10));
    break;
  case 12:
    {
      g_autoptr(PlexusCapabilities) none = plexus_capabilities_new ("not a peer id");
      g_assert_null (none);
    }
    break;
  case 13:
    plexus_capabilities_set_bandwidth (caps, 1, PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS + 1);
    break;
  case 14:
    plexus_capabilities_set_service (caps, "signaling", &huge_capacity);
    break;
  case 15:
    plexus_capabilities_set_storage_mb (caps, PLEXUS_CAPABILITIES_MAX_COUNT + 1);
    break;
  default:
    g_assert_not_reached ();
  }
}

#define N_BAD_SETTERS 16

static void
test_setter_refuses (gconstpointer data)
{
  if (g_test_subprocess ()) {
    call_bad_setter (GPOINTER_TO_UINT (data));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*");
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/capabilities/defaults", test_defaults);
  g_test_add_func ("/plexus/capabilities/service-names", test_service_names);
  g_test_add_func ("/plexus/capabilities/services", test_services);
  g_test_add_func ("/plexus/capabilities/round-trip/full", test_round_trip_full);
  g_test_add_func ("/plexus/capabilities/round-trip/minimal", test_round_trip_minimal);
  g_test_add_func ("/plexus/capabilities/round-trip/partial", test_round_trip_partial);
  g_test_add_func ("/plexus/capabilities/seed-example", test_seed_example);
  g_test_add_func ("/plexus/capabilities/lenient-where-allowed", test_lenient_where_allowed);
  g_test_add_func ("/plexus/capabilities/stable-serialisation", test_stable_serialisation);
  g_test_add_func ("/plexus/capabilities/negative-zero", test_negative_zero);
  g_test_add_func ("/plexus/capabilities/equal", test_equal);
  g_test_add_func ("/plexus/capabilities/nat", test_nat);
  g_test_add_func ("/plexus/capabilities/invalid", test_invalid);
  g_test_add_func ("/plexus/capabilities/invalid/too-many-services", test_too_many_services);
  g_test_add_func ("/plexus/capabilities/invalid/long-name", test_long_names_quoted_briefly);
  g_test_add_func ("/plexus/capabilities/invalid/not-json", test_not_json);
  g_test_add_func ("/plexus/capabilities/invalid/multiple-values", test_multiple_values);
  g_test_add_func ("/plexus/capabilities/invalid/not-utf8", test_not_utf8);
  g_test_add_func ("/plexus/capabilities/invalid/strict-json", test_strict_json);
  g_test_add_func ("/plexus/capabilities/control-characters-pass-on", test_control_characters_pass_on);
  g_test_add_func ("/plexus/capabilities/numbers-pass-on", test_numbers_pass_on);
  g_test_add_func ("/plexus/capabilities/attached", test_attached);
  for (guint i = 0; i < N_BAD_SETTERS; i++) {
    g_autofree gchar *path = g_strdup_printf ("/plexus/capabilities/setter-refuses/%u", i);
    g_test_add_data_func (path, GUINT_TO_POINTER (i), test_setter_refuses);
  }

  return g_test_run ();
}
