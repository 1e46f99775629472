/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-identity.h"

#define PEER_ID "379041925989a8200b2d1347eb4ed9430df0bda402ff15c5debe3f06ad09f394"
#define OTHER_PEER_ID "b0743156505b173489e76788e22ff3428f932c4e90e1169cd558c567cae8d862"

/* A valid envelope up to its body, so that cases can vary one member. */
#define HEAD_AFTER_V \
  "\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1764064000000"
#define HEAD "{\"v\":1," HEAD_AFTER_V
#define VALID HEAD ",\"body\":{}}"
/* The same with one member left out. */
#define WITHOUT(member) WITHOUT_ ## member
#define WITHOUT_type "{\"v\":1,\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}"
#define WITHOUT_id "{\"v\":1,\"type\":\"ping\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}"
#define WITHOUT_from "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}"
#define WITHOUT_to "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"ttl\":8,\"ts\":1,\"body\":{}}"
#define WITHOUT_ttl "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ts\":1,\"body\":{}}"
#define WITHOUT_ts "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"body\":{}}"
#define WITHOUT_body HEAD "}"
/* A valid envelope whose member @name is @value (raw JSON). */
#define WITH(name, value) \
  "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\"," \
  "\"ttl\":8,\"ts\":1,\"body\":{},\"" name "\":" value "}"
#define WITH_BODY(body) HEAD ",\"body\":" body "}"

static PlexusEnvelope *
decode_text (const gchar *text, const gchar **code, GError **error)
{
  return plexus_envelope_decode ((const guint8 *) text, strlen (text), code, error);
}

static PlexusEnvelope *
decode_ok (const gchar *text)
{
  g_autoptr(GError) error = NULL;
  const gchar *code = "unset";
  PlexusEnvelope *envelope = decode_text (text, &code, &error);

  g_assert_no_error (error);
  g_assert_nonnull (envelope);
  g_assert_null (code);
  return envelope;
}

static gchar *
encode_ok (PlexusEnvelope *envelope)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = plexus_envelope_encode (envelope, &error);
  gsize size;
  const gchar *data;

  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  data = g_bytes_get_data (bytes, &size);
  g_assert_true (g_utf8_validate (data, (gssize) size, NULL));
  return g_strndup (data, size);
}

/* Decoding fails with @expected_code and a message fit to send back. */
static void
assert_decode_fails_len (const gchar *text, gsize length, const gchar *expected_code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusEnvelope) envelope = NULL;
  g_autofree gchar *escaped = g_strescape (length < 200 ? text : "(long)", NULL);
  const gchar *code = NULL;

  envelope = plexus_envelope_decode ((const guint8 *) text, length, &code, &error);
  g_test_message ("%s -> %s: %s", escaped, code, error != NULL ? error->message : "(none)");
  g_assert_null (envelope);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpstr (code, ==, expected_code);
  g_assert_true (g_strv_contains (plexus_envelope_error_codes (), code));
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_cmpuint (strlen (error->message), >, 0);
  g_assert_cmpuint (strlen (error->message), <, 512);
}

static void
assert_decode_fails (const gchar *text, const gchar *expected_code)
{
  assert_decode_fails_len (text, strlen (text), expected_code);
}

static PlexusEnvelope *
make_full (void)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonObject) nested = json_object_new ();
  g_autoptr(JsonArray) array = json_array_new ();
  PlexusEnvelope *envelope;

  json_array_add_int_element (array, G_MININT64);
  json_array_add_int_element (array, G_MAXINT64);
  json_array_add_double_element (array, 0.1 + 0.2);
  json_array_add_double_element (array, -2.5e-300);
  json_array_add_boolean_element (array, FALSE);
  json_array_add_null_element (array);
  json_object_set_string_member (nested, "sdp", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n");
  json_object_set_array_member (nested, "values", g_steal_pointer (&array));
  json_object_set_string_member (body, "text", "Grüße \"quoted\" \\ / \u2603 \xf0\x9f\x98\x80");
  json_object_set_object_member (body, "nested", g_steal_pointer (&nested));
  json_object_set_boolean_member (body, "flag", TRUE);

  envelope = plexus_envelope_new ("signaling.offer", PEER_ID, OTHER_PEER_ID, body);
  plexus_envelope_set_ttl (envelope, 3);
  plexus_envelope_set_ts (envelope, 1764064000123);
  plexus_envelope_set_re (envelope, "Request_ID-1");
  return envelope;
}

static void
assert_same (PlexusEnvelope *a, PlexusEnvelope *b)
{
  g_assert_cmpstr (plexus_envelope_get_message_type (a), ==, plexus_envelope_get_message_type (b));
  g_assert_cmpstr (plexus_envelope_get_id (a), ==, plexus_envelope_get_id (b));
  g_assert_cmpstr (plexus_envelope_get_from (a), ==, plexus_envelope_get_from (b));
  g_assert_cmpstr (plexus_envelope_get_to (a), ==, plexus_envelope_get_to (b));
  g_assert_cmpuint (plexus_envelope_get_ttl (a), ==, plexus_envelope_get_ttl (b));
  g_assert_cmpint (plexus_envelope_get_ts (a), ==, plexus_envelope_get_ts (b));
  g_assert_cmpstr (plexus_envelope_get_re (a), ==, plexus_envelope_get_re (b));
  g_assert_true (json_object_equal (plexus_envelope_get_body (a), plexus_envelope_get_body (b)));
  g_assert_true ((plexus_envelope_get_attachment (a) == NULL) == (plexus_envelope_get_attachment (b) == NULL));
  g_assert_true (plexus_envelope_get_attachment (a) == NULL ||
                 g_bytes_equal (plexus_envelope_get_attachment (a), plexus_envelope_get_attachment (b)));
}

/* Encodes, decodes, and checks nothing changed, down to the bytes. */
static void
assert_round_trip (PlexusEnvelope *envelope)
{
  g_autofree gchar *text = encode_ok (envelope);
  g_autoptr(PlexusEnvelope) decoded = decode_ok (text);
  g_autofree gchar *text_again = encode_ok (decoded);

  g_test_message ("%s", text);
  assert_same (envelope, decoded);
  g_assert_cmpstr (text_again, ==, text);
}

/* IDs come from a pool of random bytes; a forked child must not name
 * its next envelope as its parent names its own. */
static void
test_ids_after_fork (void)
{
  g_autoptr(PlexusEnvelope) first = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_autoptr(PlexusEnvelope) parent_next = NULL;
  gchar child_id[PLEXUS_ENVELOPE_MAX_ID_LENGTH + 1] = { 0 };
  int fds[2];
  int status;
  pid_t pid;

  g_assert_nonnull (first);
  g_assert_cmpint (pipe (fds), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    PlexusEnvelope *child_next = plexus_envelope_new ("ping", PEER_ID, "", NULL);
    const gchar *id = plexus_envelope_get_id (child_next);
    gboolean written = write (fds[1], id, strlen (id)) == (gssize) strlen (id);

    /* _exit() skips the cleanups: what the child holds goes first. */
    g_object_unref (child_next);
    g_clear_object (&first);
    _exit (written ? 0 : 1);
  }
  close (fds[1]);
  parent_next = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_assert_cmpint (read (fds[0], child_id, sizeof child_id - 1), >, 0);
  close (fds[0]);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_true (plexus_envelope_id_is_valid (child_id));
  g_assert_cmpstr (child_id, !=, plexus_envelope_get_id (parent_next));
}

static void
test_new (void)
{
  gint64 before = g_get_real_time () / 1000;
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_autoptr(PlexusEnvelope) other = plexus_envelope_new ("ping", PEER_ID, OTHER_PEER_ID, NULL);
  gint64 after = g_get_real_time () / 1000;
  const gchar *id = plexus_envelope_get_id (envelope);

  g_assert_cmpstr (plexus_envelope_get_message_type (envelope), ==, "ping");
  g_assert_cmpstr (plexus_envelope_get_from (envelope), ==, PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_to (envelope), ==, "");
  g_assert_cmpstr (plexus_envelope_get_to (other), ==, OTHER_PEER_ID);
  g_assert_cmpuint (plexus_envelope_get_ttl (envelope), ==, PLEXUS_ENVELOPE_DEFAULT_TTL);
  g_assert_cmpint (plexus_envelope_get_ts (envelope), >=, before);
  g_assert_cmpint (plexus_envelope_get_ts (envelope), <=, after);
  g_assert_null (plexus_envelope_get_re (envelope));
  g_assert_nonnull (plexus_envelope_get_body (envelope));
  g_assert_cmpuint (json_object_get_size (plexus_envelope_get_body (envelope)), ==, 0);

  /* 16 random bytes in URL-safe base64 without padding. */
  g_assert_cmpuint (strlen (id), ==, 22);
  g_assert_true (plexus_envelope_id_is_valid (id));
  g_assert_cmpstr (id, !=, plexus_envelope_get_id (other));
}

static void
test_setters (void)
{
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_autoptr(JsonObject) body = json_object_new ();

  plexus_envelope_set_message_type (envelope, "pong");
  plexus_envelope_set_id (envelope, "abc_DEF-123");
  plexus_envelope_set_from (envelope, OTHER_PEER_ID);
  plexus_envelope_set_to (envelope, PEER_ID);
  plexus_envelope_set_ttl (envelope, PLEXUS_ENVELOPE_MAX_TTL);
  plexus_envelope_set_ts (envelope, 0);
  plexus_envelope_set_re (envelope, "xyz");
  json_object_set_int_member (body, "n", 1);
  plexus_envelope_set_body (envelope, body);

  g_assert_cmpstr (plexus_envelope_get_message_type (envelope), ==, "pong");
  g_assert_cmpstr (plexus_envelope_get_id (envelope), ==, "abc_DEF-123");
  g_assert_cmpstr (plexus_envelope_get_from (envelope), ==, OTHER_PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_to (envelope), ==, PEER_ID);
  g_assert_cmpuint (plexus_envelope_get_ttl (envelope), ==, PLEXUS_ENVELOPE_MAX_TTL);
  g_assert_cmpint (plexus_envelope_get_ts (envelope), ==, 0);
  g_assert_cmpstr (plexus_envelope_get_re (envelope), ==, "xyz");
  /* A reference, not a copy. */
  g_assert_true (plexus_envelope_get_body (envelope) == body);

  plexus_envelope_set_re (envelope, NULL);
  g_assert_null (plexus_envelope_get_re (envelope));
  plexus_envelope_set_body (envelope, NULL);
  g_assert_cmpuint (json_object_get_size (plexus_envelope_get_body (envelope)), ==, 0);
  assert_round_trip (envelope);
}

static void
test_round_trip (void)
{
  g_autoptr(PlexusEnvelope) full = make_full ();
  g_autoptr(PlexusEnvelope) minimal = plexus_envelope_new ("a", PEER_ID, "", NULL);
  g_autoptr(PlexusEnvelope) zero = plexus_envelope_new ("x.y-z9", OTHER_PEER_ID, PEER_ID, NULL);

  plexus_envelope_set_ttl (zero, 0);
  plexus_envelope_set_ts (zero, 0);
  assert_round_trip (full);
  assert_round_trip (minimal);
  assert_round_trip (zero);
}

/* Members in a fixed order, compact, so equal envelopes are equal bytes. */
static void
test_stable_encoding (void)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) envelope = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *text_reversed = NULL;

  json_object_set_string_member (body, "b", "2");
  json_object_set_int_member (body, "a", 1);
  envelope = plexus_envelope_new ("ping", PEER_ID, OTHER_PEER_ID, body);
  plexus_envelope_set_id (envelope, "m1");
  plexus_envelope_set_ts (envelope, 1764064000000);
  plexus_envelope_set_re (envelope, "m0");
  text = encode_ok (envelope);
  g_assert_cmpstr (text, ==,
                   "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\","
                   "\"to\":\"" OTHER_PEER_ID "\",\"ttl\":8,\"ts\":1764064000000,"
                   "\"re\":\"m0\",\"body\":{\"b\":\"2\",\"a\":1}}");

  /* Setting members in another order changes nothing. */
  plexus_envelope_set_re (envelope, NULL);
  plexus_envelope_set_ts (envelope, 5);
  plexus_envelope_set_id (envelope, "m2");
  plexus_envelope_set_re (envelope, "m0");
  plexus_envelope_set_ts (envelope, 1764064000000);
  plexus_envelope_set_id (envelope, "m1");
  text_reversed = encode_ok (envelope);
  g_assert_cmpstr (text_reversed, ==, text);
}

/* json-glib 1.6 writes U+001F raw and 1e20 as "1e+20.0"; the encoder
 * mends both, so what it writes is JSON and reads back the same. */
static void
test_json_glib_output_mended (void)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonArray) numbers = json_array_new ();
  g_autoptr(PlexusEnvelope) envelope = NULL;
  g_autoptr(PlexusEnvelope) decoded = NULL;
  g_autofree gchar *text = NULL;
  JsonArray *decoded_numbers;
  const gdouble values[] = { 1e20, -1e20, 1e-7, 1e-8, 2e22, 1.5e300, 0.5, -0.0, 5e-324 };

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    json_array_add_double_element (numbers, values[i]);
  json_object_set_array_member (body, "numbers", g_steal_pointer (&numbers));
  json_object_set_string_member (body, "unit\x1fseparator", "a\x1f" "b\x01" "c\x7f");
  json_object_set_string_member (body, "e", "1e+20.0 stays as it is in a string");
  envelope = plexus_envelope_new ("ping", PEER_ID, "", body);

  text = encode_ok (envelope);
  g_test_message ("%s", text);
  g_assert_null (strchr (text, '\x1f'));
  g_assert_nonnull (strstr (text, "\"unit\\u001fseparator\":\"a\\u001fb\\u0001c\\u007f\""));
  g_assert_nonnull (strstr (text, "[1e+20,-1e+20,9.9999999999999995e-08,1e-08,2e+22,"));
  g_assert_nonnull (strstr (text, "\"1e+20.0 stays as it is in a string\""));

  decoded = decode_ok (text);
  decoded_numbers = json_object_get_array_member (plexus_envelope_get_body (decoded), "numbers");
  g_assert_cmpuint (json_array_get_length (decoded_numbers), ==, G_N_ELEMENTS (values));
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    g_assert_cmpfloat (json_array_get_double_element (decoded_numbers, i), ==, values[i]);
  g_assert_true (signbit (json_array_get_double_element (decoded_numbers, 7)));
  assert_round_trip (envelope);
}

/* Valid JSON in every shape a conforming sender may write. */
static void
test_decode_accepts (void)
{
  static const gchar * const texts[] = {
    VALID,
    " \t\r\n" VALID " \t\r\n",
    "{\n  \"v\" : 1 ,\n  \"type\" : \"ping\" ,\n  \"id\" : \"m1\" ,\n  \"from\" : \"" PEER_ID "\",\n"
    "  \"to\" : \"" OTHER_PEER_ID "\",\n  \"ttl\" : 0,\n  \"ts\" : 0,\n  \"body\" : { }\n}\n",
    /* Members in any order, escapes where plain characters would do. */
    "{\"body\":{},\"ts\":1,\"ttl\":16,\"to\":\"\",\"from\":\"" PEER_ID "\",\"id\":\"m\\u0031\","
    "\"type\":\"p\\u0069ng\",\"v\":1}",
    WITH ("re", "\"" "0123456789012345678901234567890123456789012345678901234567890123" "\""),
    WITH_BODY ("{\"n\":[-0,0.5,1E5,1e+5,2.5e-3,-1.0e0,9223372036854775807,-9223372036854775808],"
               "\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\",\"t\":true,\"f\":false,\"z\":null,"
               "\"o\":{\"a\":{\"a\":[[],{}]}}}"),
    /* Colons inside names and strings are not members of their own. */
    WITH_BODY ("{\"a:b\":1,\"a\":2,\"c\":[{\"x:\":{\"y\":[{}]}},{}],\"d\":{\"e\":\"f:g:h\"}}"),
    /* A reply, and an error with its body. */
    "{\"v\":1,\"type\":\"reply\",\"id\":\"m2\",\"from\":\"" PEER_ID "\",\"to\":\"" OTHER_PEER_ID "\","
    "\"ttl\":8,\"ts\":1,\"re\":\"m1\",\"body\":{}}",
    "{\"v\":1,\"type\":\"error\",\"id\":\"m2\",\"from\":\"" PEER_ID "\",\"to\":\"" OTHER_PEER_ID "\","
    "\"ttl\":8,\"ts\":1,\"re\":\"m1\",\"body\":{\"code\":\"no-route\",\"message\":\"no way there\"}}",
    /* An error answering a frame whose ID could not be read has no re. */
    "{\"v\":1,\"type\":\"error\",\"id\":\"m2\",\"from\":\"" PEER_ID "\",\"to\":\"" OTHER_PEER_ID "\","
    "\"ttl\":8,\"ts\":1,\"body\":{\"code\":\"bad-json\",\"message\":\"not JSON\"}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++) {
    g_autoptr(PlexusEnvelope) envelope = NULL;

    g_test_message ("%s", texts[i]);
    envelope = decode_ok (texts[i]);
    assert_round_trip (envelope);
  }
}

static void
test_decode_fields (void)
{
  g_autoptr(PlexusEnvelope) envelope = decode_ok (
    "{\"v\":1,\"type\":\"signaling.offer\",\"id\":\"Ab_-9\",\"from\":\"" PEER_ID "\","
    "\"to\":\"" OTHER_PEER_ID "\",\"ttl\":16,\"ts\":9223372036854775807,\"re\":\"q\","
    "\"body\":{\"sdp\":\"v=0\"}}");
  JsonObject *body = plexus_envelope_get_body (envelope);

  g_assert_cmpstr (plexus_envelope_get_message_type (envelope), ==, "signaling.offer");
  g_assert_cmpstr (plexus_envelope_get_id (envelope), ==, "Ab_-9");
  g_assert_cmpstr (plexus_envelope_get_from (envelope), ==, PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_to (envelope), ==, OTHER_PEER_ID);
  g_assert_cmpuint (plexus_envelope_get_ttl (envelope), ==, 16);
  g_assert_cmpint (plexus_envelope_get_ts (envelope), ==, G_MAXINT64);
  g_assert_cmpstr (plexus_envelope_get_re (envelope), ==, "q");
  g_assert_cmpuint (json_object_get_size (body), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (body, "sdp"), ==, "v=0");
}

typedef struct {
  const gchar *text;
  const gchar *code;
} BadCase;

static void
test_decode_rejects (void)
{
  static const BadCase cases[] = {
    /* Not JSON. */
    { "", "bad-json" },
    { " \n\t ", "bad-json" },
    { "{", "bad-json" },
    { "}", "bad-json" },
    { "nope", "bad-json" },
    { "{\"v\":1", "bad-json" },
    { HEAD ",\"body\":{}", "bad-json" },
    { HEAD ",\"body\":{}}}", "bad-json" },
    { HEAD ",\"body\":{},}", "bad-json" },
    { HEAD ",\"body\":{\"a\":[1,]}}", "bad-json" },
    { HEAD ",\"body\":{\"a\" 1}}", "bad-json" },
    { HEAD ",\"body\":{a:1}}", "bad-json" },
    /* What json-glib reads although it is not JSON. */
    { HEAD ",\"body\":{'a':1}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":'x'}}", "bad-json" },
    { HEAD ",\"body\":{} /* comment */}", "bad-json" },
    { HEAD ",\"body\":{}} // comment", "bad-json" },
    { HEAD ",\"body\":{\"a\":01}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":.5}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":1.}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":1e}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":-}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":+1}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":0x10}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":1a}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":NaN}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":Infinity}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":True}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":nul}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":truex}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"\\x41\"}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"\\u12\"}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"\\u12g4\"}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"tab\there\"}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"new\nline\"}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"unterminated}}", "bad-json" },
    { HEAD ",\"body\":{\"a\":\"ends in a backslash\\", "bad-json" },
    { "\xef\xbb\xbf" VALID, "bad-json" },
    { VALID "\xc2\xa0", "bad-json" },
    { "{\"v\":1,\xe2\x80\x83" HEAD_AFTER_V ",\"body\":{}}", "bad-json" },
    /* JSON, but not an envelope. */
    { "[]", "bad-envelope" },
    { "1", "bad-envelope" },
    { "\"text\"", "bad-envelope" },
    { "null", "bad-envelope" },
    { "{}", "bad-envelope" },
    { WITHOUT (type), "bad-envelope" },
    { WITHOUT (id), "bad-envelope" },
    { WITHOUT (from), "bad-envelope" },
    { WITHOUT (to), "bad-envelope" },
    { WITHOUT (ttl), "bad-envelope" },
    { WITHOUT (ts), "bad-envelope" },
    { WITHOUT (body), "bad-envelope" },
    { "{" HEAD_AFTER_V ",\"body\":{}}", "bad-envelope" },
    { "{\"v\":\"1\"," HEAD_AFTER_V ",\"body\":{}}", "bad-envelope" },
    { "{\"v\":1.0," HEAD_AFTER_V ",\"body\":{}}", "bad-envelope" },
    { "{\"v\":null," HEAD_AFTER_V ",\"body\":{}}", "bad-envelope" },
    { "{\"v\":true," HEAD_AFTER_V ",\"body\":{}}", "bad-envelope" },
    { WITH ("extra", "1"), "bad-envelope" },
    { WITH ("V", "1"), "bad-envelope" },
    { WITH ("re", "1"), "bad-envelope" },
    { WITH ("re", "null"), "bad-envelope" },
    { WITH ("re", "\"\""), "bad-envelope" },
    { WITH ("re", "\"a b\""), "bad-envelope" },
    { WITH ("re", "\"" "01234567890123456789012345678901234567890123456789012345678901234" "\""), "bad-envelope" },
    { HEAD ",\"body\":[]}", "bad-envelope" },
    { HEAD ",\"body\":null}", "bad-envelope" },
    { HEAD ",\"body\":\"{}\"}", "bad-envelope" },
    /* Members with the wrong type or syntax. */
    { "{\"v\":1,\"type\":1,\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"Ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"1ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"a_b\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\\u0000\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde\",\"id\":\"m1\","
      "\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m=\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"\xc3\xa9\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":7,\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"379041925989A8200B2D1347EB4ED9430DF0BDA402FF15C5DEBE3F06AD09F394\","
      "\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":null,\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"m1\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\" \",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":[],\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":17,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":-1,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8.0,\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":\"8\",\"ts\":1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":-1,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1.5,\"body\":{}}", "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1e12,\"body\":{}}", "bad-envelope" },
    /* Answers say what they answer. */
    { "{\"v\":1,\"type\":\"reply\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":8,\"ts\":1,\"body\":{}}", "bad-envelope" },
    /* JSON that parsers read differently, which Plexus refuses. */
    { "{\"v\":1,\"v\":1," HEAD_AFTER_V ",\"body\":{}}", "bad-envelope" },
    { HEAD ",\"ts\":2,\"body\":{}}", "bad-envelope" },
    { HEAD ",\"body\":{},\"body\":{}}", "bad-envelope" },
    { WITH_BODY ("{\"a\":1,\"b\":2,\"a\":1}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":[{\"x\":{},\"x\":{}}]}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":{\"x\":1},\"b\":[[{}],{\"y\":1,\"z\":{\"q:\":1,\"q\":2},\"y\":2}]}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":[[],[{\"k\":1}],[{\"k\":[],\"k\":1}]]}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":\"x\\u0000y\"}"), "bad-envelope" },
    { WITH_BODY ("{\"\\u0000\":1}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":\"\\ud800\"}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":\"\\ud800x\"}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":\"\\ud800\\u0041\"}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":\"\\udc00\\ud800\"}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":9223372036854775808}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":-9223372036854775809}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":99999999999999999999}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":1e400}"), "bad-envelope" },
    { WITH_BODY ("{\"a\":-1.5e309}"), "bad-envelope" },
    { "{\"v\":1,\"type\":\"ping\",\"id\":\"m1\",\"from\":\"" PEER_ID "\",\"to\":\"\",\"ttl\":18446744073709551624,\"ts\":1,\"body\":{}}", "bad-envelope" },
    /* Other versions. */
    { "{\"v\":2," HEAD_AFTER_V ",\"body\":{}}", "unsupported-version" },
    { "{\"v\":0," HEAD_AFTER_V ",\"body\":{}}", "unsupported-version" },
    { "{\"v\":-1," HEAD_AFTER_V ",\"body\":{}}", "unsupported-version" },
    { "{\"v\":2,\"kind\":\"something new\"}", "unsupported-version" },
    { "{\"kind\":\"something new\",\"v\":3}", "unsupported-version" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    assert_decode_fails (cases[i].text, cases[i].code);

  {
    /* The error names the member written twice, after a whole object. */
    const gchar *text = WITH_BODY ("{\"a\":{\"x\":1},\"b\":{\"y\":1,\"yy\":[],\"y\":2}}");
    g_autoptr(GError) error = NULL;
    g_autoptr(PlexusEnvelope) envelope = plexus_envelope_decode ((const guint8 *) text, strlen (text), NULL, &error);

    g_assert_null (envelope);
    g_assert_nonnull (strstr (error->message, "the member name 'y' appears twice"));
  }
}

/* Before the 32nd level is fine, deeper is refused, whatever follows. */
static void
test_depth_limit (void)
{
  g_autoptr(GString) ok = g_string_new (HEAD ",\"body\":");
  g_autoptr(GString) deep = NULL;
  g_autoptr(PlexusEnvelope) envelope = NULL;

  /* The envelope is level 1 and the body level 2. */
  for (guint i = 2; i < PLEXUS_ENVELOPE_MAX_DEPTH; i++)
    g_string_append (ok, "{\"a\":");
  g_string_append (ok, "[]");
  for (guint i = 2; i < PLEXUS_ENVELOPE_MAX_DEPTH; i++)
    g_string_append_c (ok, '}');
  g_string_append_c (ok, '}');
  envelope = decode_ok (ok->str);
  assert_round_trip (envelope);

  deep = g_string_new (HEAD ",\"body\":");
  for (guint i = 2; i <= PLEXUS_ENVELOPE_MAX_DEPTH; i++)
    g_string_append (deep, "{\"a\":");
  g_string_append (deep, "[]");
  for (guint i = 2; i <= PLEXUS_ENVELOPE_MAX_DEPTH; i++)
    g_string_append_c (deep, '}');
  g_string_append_c (deep, '}');
  assert_decode_fails (deep->str, "bad-envelope");

  /* So deep that an unbounded recursive parser would run out of stack. */
  g_string_truncate (deep, 0);
  for (guint i = 0; i < 60000; i++)
    g_string_append_c (deep, '[');
  assert_decode_fails (deep->str, "bad-envelope");
}

static gchar *
text_of_size (gsize size)
{
  g_autoptr(GString) text = g_string_new (HEAD ",\"body\":{\"pad\":\"");
  const gchar *tail = "\"}}";

  g_assert_cmpuint (size, >=, text->len + strlen (tail));
  while (text->len < size - strlen (tail))
    g_string_append_c (text, 'x');
  g_string_append (text, tail);
  g_assert_cmpuint (text->len, ==, size);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
test_size_limit (void)
{
  g_autofree gchar *largest = text_of_size (PLEXUS_ENVELOPE_MAX_SIZE);
  g_autofree gchar *too_large = text_of_size (PLEXUS_ENVELOPE_MAX_SIZE + 1);
  g_autofree gchar *re_encoded = NULL;
  g_autoptr(PlexusEnvelope) envelope = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *body;
  gchar *pad;
  static gchar unreadable[PLEXUS_ENVELOPE_MAX_SIZE + 1];

  envelope = decode_ok (largest);
  re_encoded = encode_ok (envelope);
  g_assert_cmpstr (re_encoded, ==, largest);
  assert_decode_fails (too_large, "too-large");
  /* Refused on size alone, before it is read. */
  memset (unreadable, '{', sizeof unreadable);
  assert_decode_fails_len (unreadable, sizeof unreadable, "too-large");

  /* One byte more in the body and it cannot be sent. */
  body = plexus_envelope_get_body (envelope);
  pad = g_strconcat (json_object_get_string_member (body, "pad"), "y", NULL);
  json_object_set_string_member (body, "pad", pad);
  g_free (pad);
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_null (bytes);
}

/* An attachment travels after the JSON and a NUL byte, as it is: any
 * bytes, none of the JSON rules, counted in the size limit. */
static void
test_attachment (void)
{
  static const guint8 raw[] = { 0x00, 0xff, '{', '"', 0x80, 0x00, 'x' };
  g_autoptr(GBytes) attachment = g_bytes_new_static (raw, sizeof raw);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("signal.relay", PEER_ID, OTHER_PEER_ID, NULL);
  g_autoptr(PlexusEnvelope) decoded = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) bytes_again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *json = NULL;
  g_autofree guint8 *frame = NULL;
  g_autofree guint8 *large = NULL;
  const gchar *code = "unset";
  const guint8 *data;
  gsize length, json_length;

  g_assert_null (plexus_envelope_get_attachment (envelope));
  json = encode_ok (envelope);
  json_length = strlen (json);
  plexus_envelope_set_attachment (envelope, attachment);
  g_assert_true (plexus_envelope_get_attachment (envelope) == attachment);

  /* The JSON as without it, then a NUL byte, then the bytes. */
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (bytes, &length);
  g_assert_cmpuint (length, ==, json_length + 1 + sizeof raw);
  g_assert_cmpmem (data, json_length, json, json_length);
  g_assert_cmpint (data[json_length], ==, 0);
  g_assert_cmpmem (data + json_length + 1, sizeof raw, raw, sizeof raw);

  decoded = plexus_envelope_decode (data, length, &code, &error);
  g_assert_no_error (error);
  g_assert_null (code);
  g_assert_nonnull (plexus_envelope_get_attachment (decoded));
  g_assert_true (g_bytes_equal (plexus_envelope_get_attachment (decoded), attachment));
  bytes_again = plexus_envelope_encode (decoded, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (bytes, bytes_again));

  /* A NUL byte with nothing after it is no attachment: one encoding. */
  frame = g_malloc (json_length + 1);
  memcpy (frame, json, json_length);
  frame[json_length] = 0;
  assert_decode_fails_len ((const gchar *) frame, json_length + 1, "bad-envelope");
  /* The JSON before it is read as strictly as ever. */
  assert_decode_fails_len ("{}\0x", 4, "bad-envelope");
  assert_decode_fails_len ("{\0x", 3, "bad-json");
  assert_decode_fails_len ("\0x", 2, "bad-json");

  /* Empty is none. */
  plexus_envelope_set_attachment (envelope, empty);
  g_assert_null (plexus_envelope_get_attachment (envelope));
  plexus_envelope_set_attachment (envelope, attachment);
  plexus_envelope_set_attachment (envelope, NULL);
  g_assert_null (plexus_envelope_get_attachment (envelope));

  /* The limit is on the whole frame. */
  g_clear_pointer (&bytes, g_bytes_unref);
  large = g_malloc0 (PLEXUS_ENVELOPE_MAX_SIZE - json_length);
  {
    g_autoptr(GBytes) too_much = g_bytes_new (large, PLEXUS_ENVELOPE_MAX_SIZE - json_length);
    g_autoptr(GBytes) just_fits = g_bytes_new (large, PLEXUS_ENVELOPE_MAX_SIZE - json_length - 1);
    g_autoptr(PlexusEnvelope) fits = NULL;

    plexus_envelope_set_attachment (envelope, just_fits);
    bytes = plexus_envelope_encode (envelope, &error);
    g_assert_no_error (error);
    data = g_bytes_get_data (bytes, &length);
    g_assert_cmpuint (length, ==, PLEXUS_ENVELOPE_MAX_SIZE);
    fits = plexus_envelope_decode (data, length, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (fits);
    g_clear_pointer (&bytes, g_bytes_unref);

    plexus_envelope_set_attachment (envelope, too_much);
    bytes = plexus_envelope_encode (envelope, &error);
    g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
    g_assert_null (bytes);
  }
}

/* json-glib keeps the last of several values (and leaks the others);
 * whatever the values, the frame is refused. */
static void
test_multiple_values (void)
{
  static const gchar * const texts[] = {
    VALID VALID,
    VALID " " VALID,
    VALID "\n{}",
    VALID " 1",
    VALID " \"x\"",
    VALID " null",
    VALID " []",
    "{} " VALID,
    "[] " VALID,
    "1 " VALID,
    "\"x\" " VALID,
    "true " VALID,
    "1 2",
    "\"a\"\"b\"",
    "{}[]",
  };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    assert_decode_fails (texts[i], "bad-json");
}

static void
test_not_utf8 (void)
{
  static const gchar * const texts[] = {
    WITH_BODY ("{\"a\":\"\xff\"}"),
    WITH_BODY ("{\"a\":\"\xc3\"}"),
    WITH_BODY ("{\"a\":\"\xc0\xaf\"}"),           /* overlong '/' */
    WITH_BODY ("{\"a\":\"\xed\xa0\x80\"}"),       /* a surrogate, encoded */
    WITH_BODY ("{\"a\":\"\xf4\x90\x80\x80\"}"),   /* beyond U+10FFFF */
    WITH_BODY ("{\"\xfe\":1}"),
    VALID "\x80",
  };
  /* A NUL byte ends the JSON (an attachment follows): inside a string
   * it leaves the JSON cut short. */
  const gchar nul_inside[] = HEAD ",\"body\":{\"a\":\"x\0y\"}}";
  /* The attachment is not JSON: not UTF-8 is fine there. */
  const gchar attached[] = VALID "\0\x80\xfe";
  g_autoptr(PlexusEnvelope) envelope = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    assert_decode_fails (texts[i], "bad-json");
  assert_decode_fails_len (nul_inside, sizeof nul_inside - 1, "bad-json");
  envelope = plexus_envelope_decode ((const guint8 *) attached, sizeof attached - 1, NULL, NULL);
  g_assert_nonnull (envelope);
  g_assert_cmpuint (g_bytes_get_size (plexus_envelope_get_attachment (envelope)), ==, 2);
}

/* Compact signals ----------------------------------------------------------- */

/* A compact signal built byte by byte, as doc/protocol.md lays it out. */
static GBytes *
compact_frame (guint8 form, guint8 ttl, guint64 ts, const gchar * const *strings, const gchar *attachment,
               gssize attachment_length)
{
  GByteArray *frame = g_byte_array_new ();

  g_byte_array_append (frame, &form, 1);
  g_byte_array_append (frame, &ttl, 1);
  for (gint shift = 56; shift >= 0; shift -= 8) {
    guint8 byte = (guint8) (ts >> shift);

    g_byte_array_append (frame, &byte, 1);
  }
  for (guint i = 0; i < 7; i++) {
    guint8 length = (guint8) strlen (strings[i]);

    g_byte_array_append (frame, &length, 1);
    g_byte_array_append (frame, (const guint8 *) strings[i], length);
  }
  g_byte_array_append (frame, (const guint8 *) attachment,
                       (guint) (attachment_length < 0 ? strlen (attachment) : (gsize) attachment_length));
  return g_byte_array_free_to_bytes (frame);
}

static PlexusEnvelope *
new_relay_signal (void)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GBytes) sealed = g_bytes_new_static ("\0sealed", 7);
  PlexusEnvelope *envelope = plexus_envelope_new ("signal.relay", PEER_ID, "", NULL);

  plexus_envelope_set_id (envelope, "sig-1");
  plexus_envelope_set_ts (envelope, 1764064000123);
  plexus_envelope_set_ttl (envelope, 7);
  json_object_set_string_member (body, "to", OTHER_PEER_ID);
  json_object_set_string_member (body, "id", "sig-1");
  json_object_set_string_member (body, "path", "server:" OTHER_PEER_ID);
  plexus_envelope_set_body (envelope, body);
  plexus_envelope_set_attachment (envelope, sealed);
  return envelope;
}

static GBytes *
encode_compact_ok (PlexusEnvelope *envelope)
{
  g_autoptr(GError) error = NULL;
  GBytes *bytes = plexus_envelope_encode_with (envelope, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, &error);

  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  return bytes;
}

static PlexusEnvelope *
decode_compact_ok (GBytes *bytes)
{
  g_autoptr(GError) error = NULL;
  const gchar *code = "unset";
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  PlexusEnvelope *envelope = plexus_envelope_decode_with (data, length, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS,
                                                          &code, &error);

  g_assert_no_error (error);
  g_assert_null (code);
  return envelope;
}

static void
test_compact_round_trip (void)
{
  const gchar * const relay_strings[] = {
    "sig-1", PEER_ID, "", "", OTHER_PEER_ID, "sig-1", "server:" OTHER_PEER_ID
  };
  const gchar * const deliver_strings[] = {
    "sig-2", OTHER_PEER_ID, PEER_ID, "asked-1", "sig-1", "p\xc3\xa9", OTHER_PEER_ID
  };
  g_autoptr(PlexusEnvelope) relay = new_relay_signal ();
  g_autoptr(PlexusEnvelope) deliver = plexus_envelope_new ("signal.deliver", OTHER_PEER_ID, PEER_ID, NULL);
  g_autoptr(PlexusEnvelope) decoded = NULL;
  g_autoptr(PlexusEnvelope) from_json = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) expected = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GBytes) json = NULL;
  g_autoptr(GBytes) sealed = g_bytes_new_static ("x", 1);
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(GError) error = NULL;
  const gchar *code = NULL;
  const guint8 *data;
  gsize length;

  /* Byte for byte as specified; the attachment holds a NUL byte, which
   * does not matter there. */
  bytes = encode_compact_ok (relay);
  expected = compact_frame (PLEXUS_ENVELOPE_COMPACT_RELAY, 7, 1764064000123, relay_strings, "\0sealed", 7);
  g_assert_true (g_bytes_equal (bytes, expected));
  decoded = decode_compact_ok (bytes);
  assert_same (relay, decoded);
  again = encode_compact_ok (decoded);
  g_assert_true (g_bytes_equal (bytes, again));
  g_clear_object (&decoded);
  g_clear_pointer (&again, g_bytes_unref);

  /* With `re`, a recipient and a label that is not ASCII. */
  plexus_envelope_set_id (deliver, "sig-2");
  plexus_envelope_set_ts (deliver, 0);
  plexus_envelope_set_ttl (deliver, 16);
  plexus_envelope_set_re (deliver, "asked-1");
  json_object_set_string_member (body, "id", "sig-1");
  json_object_set_string_member (body, "path", "p\xc3\xa9");
  json_object_set_string_member (body, "relay", OTHER_PEER_ID);
  plexus_envelope_set_body (deliver, body);
  plexus_envelope_set_attachment (deliver, sealed);
  g_clear_pointer (&bytes, g_bytes_unref);
  g_clear_pointer (&expected, g_bytes_unref);
  bytes = encode_compact_ok (deliver);
  expected = compact_frame (PLEXUS_ENVELOPE_COMPACT_DELIVER, 16, 0, deliver_strings, "x", -1);
  g_assert_true (g_bytes_equal (bytes, expected));
  decoded = decode_compact_ok (bytes);
  assert_same (deliver, decoded);
  again = encode_compact_ok (decoded);
  g_assert_true (g_bytes_equal (bytes, again));

  /* Links of version 1 carry the same as JSON, and a reader of version 2
   * takes that too. */
  json = plexus_envelope_encode (deliver, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (json, &length);
  g_assert_cmpint (data[0], ==, '{');
  from_json = decode_compact_ok (json);
  assert_same (deliver, from_json);

  /* A reader of version 1 does not take the compact form. */
  data = g_bytes_get_data (bytes, &length);
  g_assert_null (plexus_envelope_decode (data, length, &code, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpstr (code, ==, PLEXUS_ENVELOPE_CODE_BAD_JSON);
}

/* What has no compact form is written as JSON, on any link. */
static void
test_compact_only_for_signals (void)
{
  g_autofree gchar *long_label = g_strnfill (256, 'l');
  g_autofree gchar *longest_label = g_strnfill (255, 'l');
  g_autoptr(GBytes) sealed = g_bytes_new_static ("x", 1);

  for (guint i = 0; i < 8; i++) {
    g_autoptr(PlexusEnvelope) envelope = new_relay_signal ();
    g_autoptr(JsonObject) body = json_object_new ();
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(PlexusEnvelope) decoded = NULL;
    gboolean compact = FALSE;

    switch (i) {
    case 0:   /* the usual shape, for comparison */
      compact = TRUE;
      break;
    case 1:   /* no attachment */
      plexus_envelope_set_attachment (envelope, NULL);
      break;
    case 2:   /* members in another order */
      json_object_set_string_member (body, "id", "sig-1");
      json_object_set_string_member (body, "to", OTHER_PEER_ID);
      json_object_set_string_member (body, "path", "direct");
      plexus_envelope_set_body (envelope, body);
      break;
    case 3:   /* one more member */
      json_object_set_string_member (plexus_envelope_get_body (envelope), "extra", "");
      break;
    case 4:   /* not a string */
      json_object_set_int_member (plexus_envelope_get_body (envelope), "path", 1);
      break;
    case 5:   /* longer than a length byte holds */
      json_object_set_string_member (plexus_envelope_get_body (envelope), "path", long_label);
      break;
    case 6:   /* the longest that fits */
      json_object_set_string_member (plexus_envelope_get_body (envelope), "path", longest_label);
      compact = TRUE;
      break;
    case 7:   /* another type with the same body */
      plexus_envelope_set_message_type (envelope, "signal.other");
      break;
    default:
      g_assert_not_reached ();
    }
    bytes = encode_compact_ok (envelope);
    g_test_message ("case %u: first byte %u", i, *(const guint8 *) g_bytes_get_data (bytes, NULL));
    g_assert_cmpint (*(const guint8 *) g_bytes_get_data (bytes, NULL) == '{', !=, compact);
    decoded = decode_compact_ok (bytes);
    assert_same (envelope, decoded);
  }

  /* A `held` answer to a signal.relay is JSON. */
  {
    g_autoptr(PlexusEnvelope) request = new_relay_signal ();
    g_autoptr(JsonObject) body = json_object_new ();
    g_autoptr(PlexusEnvelope) held = NULL;
    g_autoptr(GBytes) bytes = NULL;

    json_object_set_string_member (body, "status", "held");
    held = plexus_envelope_new_reply (request, "signal.relay", OTHER_PEER_ID, body);
    plexus_envelope_set_attachment (held, sealed);
    bytes = encode_compact_ok (held);
    g_assert_cmpint (*(const guint8 *) g_bytes_get_data (bytes, NULL), ==, '{');
  }
}

static void
assert_compact_fails (GBytes *bytes, const gchar *expected_code, const gchar *expected_text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusEnvelope) envelope = NULL;
  const gchar *code = NULL;
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  envelope = plexus_envelope_decode_with (data, length, PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS, &code, &error);
  g_test_message ("%" G_GSIZE_FORMAT " bytes -> %s: %s", length, code, error != NULL ? error->message : "(none)");
  g_assert_null (envelope);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpstr (code, ==, expected_code);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  g_assert_cmpuint (strlen (error->message), <, 512);
  g_assert_nonnull (strstr (error->message, expected_text));
}

static void
test_compact_rejects (void)
{
  static const struct {
    guint8       form;
    guint8       ttl;
    guint64      ts;
    const gchar *strings[7];
    const gchar *attachment;
    const gchar *why;
  } cases[] = {
    { 1, 17, 1, { "m1", PEER_ID, "", "", "t", "m1", "p" }, "x", "ttl: 17 is out of range" },
    { 1, 8, G_GUINT64_CONSTANT (1) << 63, { "m1", PEER_ID, "", "", "t", "m1", "p" }, "x", "ts:" },
    { 1, 8, 1, { "m 1", PEER_ID, "", "", "t", "m1", "p" }, "x", "id: 'm 1' is not a valid message ID" },
    { 1, 8, 1, { "", PEER_ID, "", "", "t", "m1", "p" }, "x", "id: '' is not" },
    { 1, 8, 1, { "m1", "nobody", "", "", "t", "m1", "p" }, "x", "from: 'nobody' is not a valid peer ID" },
    { 2, 8, 1, { "m1", PEER_ID, "nobody", "", "i", "p", "r" }, "x", "to: 'nobody' is not" },
    { 2, 8, 1, { "m1", PEER_ID, "", "a.b", "i", "p", "r" }, "x", "re: 'a.b' is not" },
    { 2, 8, 1, { "m1", PEER_ID, "", "", "i", "\xff", "r" }, "x", "body.path is not valid UTF-8" },
    { 1, 8, 1, { "m1", PEER_ID, "", "", "t", "m1", "p" }, "", "it has no attachment" },
    /* Header strings that are not ASCII, or not UTF-8, are quoted escaped. */
    { 1, 8, 1, { "\xfc", PEER_ID, "", "", "t", "m1", "p" }, "x", "id: '\\374' is not" },
    { 1, 8, 1, { "m1", PEER_ID, "\xc0\xc0", "", "t", "m1", "p" }, "x", "to: '\\300\\300' is not" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr(GBytes) bytes = compact_frame (cases[i].form, cases[i].ttl, cases[i].ts, cases[i].strings,
                                             cases[i].attachment, -1);

    assert_compact_fails (bytes, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, cases[i].why);
  }

  /* Cut short anywhere: in the header, before or inside a string. */
  {
    const gchar * const strings[] = { "m1", PEER_ID, "", "", "t", "m1", "p" };
    g_autoptr(GBytes) whole = compact_frame (1, 8, 1, strings, "x", -1);
    gsize length = g_bytes_get_size (whole);

    for (gsize cut = 1; cut < length - 1; cut++) {
      g_autoptr(GBytes) part = g_bytes_new_from_bytes (whole, 0, cut);

      assert_compact_fails (part, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                            cut < 10 ? "shorter than its header" : "ends inside");
    }
  }

  /* The longest strings of bytes outside ASCII make a short message. */
  {
    g_autofree gchar *long_bad = g_strnfill (255, '\xf0');
    g_autofree gchar *long_ok = g_strnfill (255, 'a');
    const gchar * const bad_id[] = { long_bad, PEER_ID, "", "", "t", "m1", "p" };
    const gchar * const bad_re[] = { "m1", PEER_ID, "", long_bad, "t", "m1", "p" };
    const gchar * const long_id[] = { long_ok, PEER_ID, "", "", "t", "m1", "p" };
    g_autoptr(GBytes) bytes_id = compact_frame (1, 8, 1, bad_id, "x", -1);
    g_autoptr(GBytes) bytes_re = compact_frame (1, 8, 1, bad_re, "x", -1);
    g_autoptr(GBytes) bytes_long = compact_frame (1, 8, 1, long_id, "x", -1);

    assert_compact_fails (bytes_id, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, "...' is not a valid message ID");
    assert_compact_fails (bytes_re, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, "re: '\\360");
    assert_compact_fails (bytes_long, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, "id: 'aaaa");
  }

  /* A NUL byte inside a string. */
  {
    static const guint8 with_nul[] = { 1, 8, 0, 0, 0, 0, 0, 0, 0, 1, 3, 'm', 0, '1' };

    g_autoptr(GBytes) bytes = g_bytes_new_static (with_nul, sizeof with_nul);
    assert_compact_fails (bytes, PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE, "id holds a NUL byte");
  }

  /* The size limit holds as for JSON, checked first. */
  {
    g_autofree guint8 *large = g_malloc0 (PLEXUS_ENVELOPE_MAX_SIZE + 1);
    g_autoptr(GBytes) bytes = NULL;

    large[0] = PLEXUS_ENVELOPE_COMPACT_RELAY;
    bytes = g_bytes_new (large, PLEXUS_ENVELOPE_MAX_SIZE + 1);
    assert_compact_fails (bytes, PLEXUS_ENVELOPE_CODE_TOO_LARGE, "more than the");
  }
}

/* The code out parameter is optional, and reset on success. */
static void
test_error_code_optional (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusEnvelope) envelope = NULL;
  const gchar *code = "stale";

  envelope = decode_text ("[]", NULL, &error);
  g_assert_null (envelope);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_null (decode_text ("[]", NULL, NULL));

  envelope = decode_text (VALID, &code, NULL);
  g_assert_nonnull (envelope);
  g_assert_null (code);
}

static void
test_check_fresh (void)
{
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  const gint64 ts = 1764064000000;
  const gint64 skew = 30000;
  g_autoptr(GError) error = NULL;

  plexus_envelope_set_ts (envelope, ts);
  g_assert_true (plexus_envelope_check_fresh (envelope, ts, skew, NULL));
  g_assert_true (plexus_envelope_check_fresh (envelope, ts + skew, skew, NULL));
  g_assert_true (plexus_envelope_check_fresh (envelope, ts - skew, skew, NULL));
  g_assert_true (plexus_envelope_check_fresh (envelope, ts, 0, NULL));

  g_assert_false (plexus_envelope_check_fresh (envelope, ts + skew + 1, skew, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* From the future: it would otherwise stay valid longer than receivers
   * remember message IDs. */
  g_assert_false (plexus_envelope_check_fresh (envelope, ts - skew - 1, skew, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  /* Extremes do not overflow. */
  plexus_envelope_set_ts (envelope, 0);
  g_assert_false (plexus_envelope_check_fresh (envelope, G_MAXINT64, G_MAXINT64 - 1, NULL));
  g_assert_true (plexus_envelope_check_fresh (envelope, G_MAXINT64, G_MAXINT64, NULL));
  plexus_envelope_set_ts (envelope, G_MAXINT64);
  g_assert_false (plexus_envelope_check_fresh (envelope, 0, skew, NULL));
}

static void
test_decrement_ttl (void)
{
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("ping", PEER_ID, OTHER_PEER_ID, NULL);
  g_autoptr(GError) error = NULL;

  plexus_envelope_set_ttl (envelope, 2);
  g_assert_true (plexus_envelope_decrement_ttl (envelope, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (plexus_envelope_get_ttl (envelope), ==, 1);
  g_assert_true (plexus_envelope_decrement_ttl (envelope, NULL));
  g_assert_cmpuint (plexus_envelope_get_ttl (envelope), ==, 0);

  /* Deliverable, but not forwardable. */
  g_assert_false (plexus_envelope_decrement_ttl (envelope, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA);
  g_assert_cmpuint (plexus_envelope_get_ttl (envelope), ==, 0);
  assert_round_trip (envelope);
}

static void
test_reply (void)
{
  g_autoptr(PlexusEnvelope) request = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_autoptr(PlexusEnvelope) reply = NULL;
  g_autoptr(PlexusEnvelope) pong = NULL;
  g_autoptr(JsonObject) body = json_object_new ();

  json_object_set_int_member (body, "rtt", 12);
  reply = plexus_envelope_new_reply (request, "reply", OTHER_PEER_ID, body);
  g_assert_cmpstr (plexus_envelope_get_message_type (reply), ==, "reply");
  g_assert_cmpstr (plexus_envelope_get_from (reply), ==, OTHER_PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_to (reply), ==, PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_re (reply), ==, plexus_envelope_get_id (request));
  g_assert_cmpstr (plexus_envelope_get_id (reply), !=, plexus_envelope_get_id (request));
  g_assert_cmpuint (plexus_envelope_get_ttl (reply), ==, PLEXUS_ENVELOPE_DEFAULT_TTL);
  g_assert_true (plexus_envelope_get_body (reply) == body);
  assert_round_trip (reply);

  pong = plexus_envelope_new_reply (request, "pong", OTHER_PEER_ID, NULL);
  g_assert_cmpstr (plexus_envelope_get_re (pong), ==, plexus_envelope_get_id (request));
  g_assert_cmpuint (json_object_get_size (plexus_envelope_get_body (pong)), ==, 0);
  assert_round_trip (pong);
}

static void
test_error_reply (void)
{
  g_autoptr(PlexusEnvelope) request = plexus_envelope_new ("signaling.offer", PEER_ID, OTHER_PEER_ID, NULL);
  g_autoptr(PlexusEnvelope) error_reply = NULL;
  g_autoptr(PlexusEnvelope) decoded = NULL;
  g_autofree gchar *text = NULL;
  g_autofree gchar *expected_tail = NULL;
  JsonObject *body;

  error_reply = plexus_envelope_new_error (request, OTHER_PEER_ID, PLEXUS_ENVELOPE_CODE_NO_ROUTE,
                                           "no route to the peer \"x\"");
  g_assert_cmpstr (plexus_envelope_get_message_type (error_reply), ==, "error");
  g_assert_cmpstr (plexus_envelope_get_from (error_reply), ==, OTHER_PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_to (error_reply), ==, PEER_ID);
  g_assert_cmpstr (plexus_envelope_get_re (error_reply), ==, plexus_envelope_get_id (request));
  body = plexus_envelope_get_body (error_reply);
  g_assert_cmpuint (json_object_get_size (body), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (body, "code"), ==, "no-route");
  g_assert_cmpstr (json_object_get_string_member (body, "message"), ==, "no route to the peer \"x\"");

  text = encode_ok (error_reply);
  expected_tail = g_strdup_printf (",\"re\":\"%s\",\"body\":{\"code\":\"no-route\","
                                   "\"message\":\"no route to the peer \\\"x\\\"\"}}",
                                   plexus_envelope_get_id (request));
  g_assert_true (g_str_has_suffix (text, expected_tail));
  decoded = decode_ok (text);
  assert_same (decoded, error_reply);
}

static void
test_encode_refuses (void)
{
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(JsonObject) deep = json_object_new ();
  JsonObject *inner = deep;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  /* An error need not say what it answers (the frame may have been
   * unreadable); a reply must. */
  plexus_envelope_set_message_type (envelope, "error");
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_clear_pointer (&bytes, g_bytes_unref);
  plexus_envelope_set_message_type (envelope, "reply");
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_null (bytes);
  g_clear_error (&error);
  plexus_envelope_set_re (envelope, "m1");
  g_clear_pointer (&bytes, g_bytes_unref);
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_clear_pointer (&bytes, g_bytes_unref);

  /* A body json-glib would write as something that is not JSON. */
  plexus_envelope_set_body (envelope, body);
  json_object_set_double_member (body, "n", NAN);
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "body.n: a number that is not finite cannot be sent");
  g_assert_null (bytes);
  g_clear_error (&error);

  json_object_set_double_member (body, "n", -INFINITY);
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  json_object_remove_member (body, "n");
  json_object_set_string_member (body, "s", "\xff");
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "body.s: the string is not valid UTF-8");
  g_clear_error (&error);

  /* The place is named through arrays and objects. */
  json_object_remove_member (body, "s");
  {
    g_autoptr(JsonArray) list = json_array_new ();
    g_autoptr(JsonObject) item = json_object_new ();

    json_array_add_int_element (list, 1);
    json_object_set_string_member (item, "b", "\xc3(");
    json_array_add_object_element (list, g_steal_pointer (&item));
    json_object_set_array_member (body, "a", g_steal_pointer (&list));
  }
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "body.a[1].b: the string is not valid UTF-8");
  g_clear_error (&error);
  json_object_remove_member (body, "a");

  json_object_remove_member (body, "s");
  json_object_set_int_member (body, "\xc3", 1);
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Nested deeper than a receiver reads: the body is level 2. */
  for (guint i = 3; i < PLEXUS_ENVELOPE_MAX_DEPTH; i++) {
    JsonObject *next = json_object_new ();

    json_object_set_object_member (inner, "a", next);
    inner = next;
  }
  plexus_envelope_set_body (envelope, deep);
  json_object_set_array_member (inner, "a", json_array_new ());
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_clear_pointer (&bytes, g_bytes_unref);
  json_object_set_object_member (inner, "a", json_object_new ());
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_no_error (error);
  g_clear_pointer (&bytes, g_bytes_unref);
  json_object_set_array_member (json_object_get_object_member (inner, "a"), "b", json_array_new ());
  bytes = plexus_envelope_encode (envelope, &error);
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_null (bytes);
}

static void
test_syntax (void)
{
  static const gchar * const good_types[] = {
    "a", "ping", "signaling.offer", "x-y.z9", "a012345678901234567890123456789012345678901234567890123456789.-z",
    NULL
  };
  static const gchar * const bad_types[] = {
    "", "Ping", "0ping", ".ping", "-ping", "pi ng", "pi_ng", "ping\xc3\xa9",
    "a012345678901234567890123456789012345678901234567890123456789.-z9",
    NULL
  };
  static const gchar * const good_ids[] = {
    "a", "-", "_", "AZaz09_-", "0123456789012345678901234567890123456789012345678901234567890123",
    NULL
  };
  static const gchar * const bad_ids[] = {
    "", " ", "a b", "a+b", "a/b", "a=", "\xc3\xa9",
    "01234567890123456789012345678901234567890123456789012345678901234",
    NULL
  };

  for (guint i = 0; good_types[i] != NULL; i++)
    g_assert_true (plexus_envelope_type_is_valid (good_types[i]));
  for (guint i = 0; bad_types[i] != NULL; i++)
    g_assert_false (plexus_envelope_type_is_valid (bad_types[i]));
  g_assert_false (plexus_envelope_type_is_valid (NULL));
  for (guint i = 0; good_ids[i] != NULL; i++)
    g_assert_true (plexus_envelope_id_is_valid (good_ids[i]));
  for (guint i = 0; bad_ids[i] != NULL; i++)
    g_assert_false (plexus_envelope_id_is_valid (bad_ids[i]));
  g_assert_false (plexus_envelope_id_is_valid (NULL));
}

static void
test_error_codes (void)
{
  static const gchar * const expected[] = {
    "bad-json", "bad-envelope", "too-large", "unsupported-version", "unknown-type",
    "expired", "no-route", "rate-limited", "timed-out", "internal", NULL
  };
  const gchar * const *codes = plexus_envelope_error_codes ();

  g_assert_true (g_strv_equal (codes, expected));
  /* Codes can be the code of an error answer. */
  for (guint i = 0; codes[i] != NULL; i++)
    g_assert_true (plexus_envelope_type_is_valid (codes[i]));
}

/* Programming errors are refused with a critical, not stored. */
enum {
  BAD_NEW_TYPE,
  BAD_NEW_FROM,
  BAD_NEW_TO,
  BAD_TTL,
  BAD_TS,
  BAD_ID,
  BAD_RE,
  BAD_TO,
  BAD_TYPE,
  BAD_ERROR_CODE,
  BAD_ERROR_MESSAGE,
  N_BAD_CALLS
};

static void
make_bad_call (guint which)
{
  g_autoptr(PlexusEnvelope) envelope = plexus_envelope_new ("ping", PEER_ID, "", NULL);
  g_autoptr(PlexusEnvelope) made = NULL;

  switch (which) {
  case BAD_NEW_TYPE:
    made = plexus_envelope_new ("Ping", PEER_ID, "", NULL);
    break;
  case BAD_NEW_FROM:
    made = plexus_envelope_new ("ping", "", "", NULL);
    break;
  case BAD_NEW_TO:
    made = plexus_envelope_new ("ping", PEER_ID, "nobody", NULL);
    break;
  case BAD_TTL:
    plexus_envelope_set_ttl (envelope, PLEXUS_ENVELOPE_MAX_TTL + 1);
    break;
  case BAD_TS:
    plexus_envelope_set_ts (envelope, -1);
    break;
  case BAD_ID:
    plexus_envelope_set_id (envelope, "a b");
    break;
  case BAD_RE:
    plexus_envelope_set_re (envelope, "");
    break;
  case BAD_TO:
    plexus_envelope_set_to (envelope, NULL);
    break;
  case BAD_TYPE:
    plexus_envelope_set_message_type (envelope, "");
    break;
  case BAD_ERROR_CODE:
    made = plexus_envelope_new_error (envelope, PEER_ID, "No Route", "message");
    break;
  case BAD_ERROR_MESSAGE:
    made = plexus_envelope_new_error (envelope, PEER_ID, "internal", "\xff");
    break;
  default:
    g_assert_not_reached ();
  }
}

static void
test_bad_call_refused (gconstpointer data)
{
  if (g_test_subprocess ()) {
    make_bad_call (GPOINTER_TO_UINT (data));
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

  g_test_add_func ("/plexus/envelope/new", test_new);
  g_test_add_func ("/plexus/envelope/ids-after-fork", test_ids_after_fork);
  g_test_add_func ("/plexus/envelope/setters", test_setters);
  g_test_add_func ("/plexus/envelope/round-trip", test_round_trip);
  g_test_add_func ("/plexus/envelope/stable-encoding", test_stable_encoding);
  g_test_add_func ("/plexus/envelope/json-glib-output-mended", test_json_glib_output_mended);
  g_test_add_func ("/plexus/envelope/decode/accepts", test_decode_accepts);
  g_test_add_func ("/plexus/envelope/decode/fields", test_decode_fields);
  g_test_add_func ("/plexus/envelope/decode/rejects", test_decode_rejects);
  g_test_add_func ("/plexus/envelope/decode/depth-limit", test_depth_limit);
  g_test_add_func ("/plexus/envelope/decode/size-limit", test_size_limit);
  g_test_add_func ("/plexus/envelope/attachment", test_attachment);
  g_test_add_func ("/plexus/envelope/compact/round-trip", test_compact_round_trip);
  g_test_add_func ("/plexus/envelope/compact/only-for-signals", test_compact_only_for_signals);
  g_test_add_func ("/plexus/envelope/compact/rejects", test_compact_rejects);
  g_test_add_func ("/plexus/envelope/decode/multiple-values", test_multiple_values);
  g_test_add_func ("/plexus/envelope/decode/not-utf8", test_not_utf8);
  g_test_add_func ("/plexus/envelope/decode/error-code-optional", test_error_code_optional);
  g_test_add_func ("/plexus/envelope/check-fresh", test_check_fresh);
  g_test_add_func ("/plexus/envelope/decrement-ttl", test_decrement_ttl);
  g_test_add_func ("/plexus/envelope/reply", test_reply);
  g_test_add_func ("/plexus/envelope/error-reply", test_error_reply);
  g_test_add_func ("/plexus/envelope/encode-refuses", test_encode_refuses);
  g_test_add_func ("/plexus/envelope/syntax", test_syntax);
  g_test_add_func ("/plexus/envelope/error-codes", test_error_codes);
  for (guint i = 0; i < N_BAD_CALLS; i++) {
    g_autofree gchar *path = g_strdup_printf ("/plexus/envelope/bad-call-refused/%u", i);
    g_test_add_data_func (path, GUINT_TO_POINTER (i), test_bad_call_refused);
  }

  return g_test_run ();
}
