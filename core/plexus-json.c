/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-json.h"

/* Private to libplexus (see plexus-json.h): the strict JSON reader and the
 * mended JSON writer that every decoder of untrusted JSON shares, so that
 * envelopes and capability documents accept exactly the same JSON.
 *
 * A failure is classified with a protocol error code: CODE_SYNTAX
 * (`bad-json`) for text that is not JSON, CODE_VALUE (`bad-envelope`) for
 * JSON that Plexus does not accept: integers beyond 64 bits, numbers too
 * large for a double, U+0000 and unpaired surrogates in strings,
 * containers nested too deep and member names repeated in one object. */

#define CODE_SYNTAX PLEXUS_ENVELOPE_CODE_BAD_JSON
#define CODE_VALUE PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE

/* How much of a bad string an error message quotes. */
#define QUOTE_MAX 64
/* How long an error message may grow when it passes on json-glib's. */
#define MESSAGE_MAX 200

/* Sets @error (PLEXUS_ERROR_INVALID_DATA) and the protocol error @code;
 * returns FALSE so callers can `return plexus_json_set_error (...)`. */
gboolean
plexus_json_set_error (const gchar **error_code, const gchar *code, GError **error,
                       const gchar *format, ...)
{
  va_list args;

  if (error_code != NULL)
    *error_code = code;
  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, format, args));
  va_end (args);
  return FALSE;
}

/* The first @max characters of UTF-8 @str, with "..." when it is longer. */
static gchar *
utf8_head (const gchar *str, glong max)
{
  g_autofree gchar *head = NULL;

  /* g_utf8_substring() must not be asked for more than there is. */
  if (g_utf8_strlen (str, -1) <= max)
    return g_strdup (str);
  head = g_utf8_substring (str, 0, max);
  return g_strconcat (head, "...", NULL);
}

/* A bounded, printable quote of a string from the network: its first
 * QUOTE_MAX bytes, escaped into ASCII (g_strescape() writes every byte
 * outside it as an octal escape), so whatever the bytes, UTF-8 or not,
 * the quote is at most 4 * QUOTE_MAX + 5 bytes of ASCII. */
gchar *
plexus_json_quote (const gchar *str)
{
  gsize length = strlen (str);
  g_autofree gchar *head = g_strndup (str, MIN (length, QUOTE_MAX));
  g_autofree gchar *escaped = g_strescape (head, NULL);

  return g_strdup_printf ("'%s%s'", escaped, length > QUOTE_MAX ? "..." : "");
}

/* The JSON grammar of RFC 8259 is left to json-glib, which follows it, but
 * json-glib 1.6 also reads much that is not JSON ('single quotes',
 * comments, 0x10, 01, .5, "\x41", raw control characters in strings) and
 * reads some JSON differently from other parsers: it wraps integers beyond
 * 64 bits around, cuts strings at "\u0000", keeps only the last of several
 * top-level values (leaking the others) and recurses without a bound. So
 * the tokens are checked before json-glib sees them: anything that is not
 * a JSON token is CODE_SYNTAX, and JSON values Plexus does not accept (see
 * doc/protocol.md) are CODE_VALUE. @text is valid UTF-8. */

typedef struct {
  const gchar *text;
  gsize        length;
  gsize        pos;
  const gchar **error_code;
  GError     **error;
} Scanner;

static gboolean
at_delimiter (Scanner *s)
{
  return s->pos >= s->length ||
         (s->text[s->pos] != '\0' && strchr (" \t\n\r,:]}", s->text[s->pos]) != NULL);
}

static gboolean
scan_hex4 (Scanner *s, gsize at, gunichar *value)
{
  *value = 0;
  if (at + 4 > s->length)
    return FALSE;
  for (gsize i = at; i < at + 4; i++) {
    if (!g_ascii_isxdigit (s->text[i]))
      return FALSE;
    *value = *value * 16 + g_ascii_xdigit_value (s->text[i]);
  }
  return TRUE;
}

static gboolean
scan_string (Scanner *s)
{
  gsize start = s->pos;

  for (s->pos++; s->pos < s->length; ) {
    guchar c = s->text[s->pos];
    gunichar value, low;

    if (c == '"') {
      s->pos++;
      return TRUE;
    }
    if (c < 0x20)
      return plexus_json_set_error (s->error_code, CODE_SYNTAX, s->error,
                        "control character U+%04X in a string at byte %" G_GSIZE_FORMAT,
                        c, s->pos);
    if (c != '\\') {
      s->pos++;
      continue;
    }
    if (s->pos + 1 < s->length && s->text[s->pos + 1] != '\0' &&
        strchr ("\"\\/bfnrt", s->text[s->pos + 1]) != NULL) {
      s->pos += 2;
      continue;
    }
    if (s->pos + 1 >= s->length || s->text[s->pos + 1] != 'u' ||
        !scan_hex4 (s, s->pos + 2, &value))
      return plexus_json_set_error (s->error_code, CODE_SYNTAX, s->error,
                        "invalid escape in a string at byte %" G_GSIZE_FORMAT,
                        s->pos);
    if (value == 0)
      return plexus_json_set_error (s->error_code, CODE_VALUE, s->error,
                        "a string at byte %" G_GSIZE_FORMAT " holds U+0000, which is not allowed",
                        s->pos);
    if (value >= 0xdc00 && value <= 0xdfff)
      return plexus_json_set_error (s->error_code, CODE_VALUE, s->error,
                        "a string at byte %" G_GSIZE_FORMAT " holds an unpaired surrogate",
                        s->pos);
    if (value >= 0xd800 && value <= 0xdbff) {
      if (s->pos + 12 > s->length || s->text[s->pos + 6] != '\\' || s->text[s->pos + 7] != 'u' ||
          !scan_hex4 (s, s->pos + 8, &low) || low < 0xdc00 || low > 0xdfff)
        return plexus_json_set_error (s->error_code, CODE_VALUE, s->error,
                          "a string at byte %" G_GSIZE_FORMAT " holds an unpaired surrogate",
                          s->pos);
      s->pos += 6;
    }
    s->pos += 6;
  }
  return plexus_json_set_error (s->error_code, CODE_SYNTAX, s->error,
                    "the string at byte %" G_GSIZE_FORMAT " does not end",
                    start);
}

static gboolean
scan_digits (Scanner *s)
{
  gsize start = s->pos;

  while (s->pos < s->length && g_ascii_isdigit (s->text[s->pos]))
    s->pos++;
  return s->pos > start;
}

static gboolean
scan_number (Scanner *s)
{
  gsize start = s->pos;
  gboolean integer = TRUE;
  g_autofree gchar *token = NULL;

  if (s->text[s->pos] == '-')
    s->pos++;
  if (s->pos < s->length && s->text[s->pos] == '0')
    s->pos++;
  else if (!scan_digits (s))
    goto malformed;
  if (s->pos < s->length && s->text[s->pos] == '.') {
    integer = FALSE;
    s->pos++;
    if (!scan_digits (s))
      goto malformed;
  }
  if (s->pos < s->length && (s->text[s->pos] == 'e' || s->text[s->pos] == 'E')) {
    integer = FALSE;
    s->pos++;
    if (s->pos < s->length && (s->text[s->pos] == '+' || s->text[s->pos] == '-'))
      s->pos++;
    if (!scan_digits (s))
      goto malformed;
  }
  if (!at_delimiter (s))
    goto malformed;

  token = g_strndup (s->text + start, s->pos - start);
  if (integer) {
    gint64 value;

    if (!g_ascii_string_to_signed (token, 10, G_MININT64, G_MAXINT64, &value, NULL)) {
      g_autofree gchar *quoted = plexus_json_quote (token);
      return plexus_json_set_error (s->error_code, CODE_VALUE, s->error,
                        "the integer %s at byte %" G_GSIZE_FORMAT " does not fit in 64 bits",
                        quoted, start);
    }
  } else if (!isfinite (g_ascii_strtod (token, NULL))) {
    g_autofree gchar *quoted = plexus_json_quote (token);
    return plexus_json_set_error (s->error_code, CODE_VALUE, s->error,
                      "the number %s at byte %" G_GSIZE_FORMAT " is too large",
                      quoted, start);
  }
  return TRUE;

malformed:
  return plexus_json_set_error (s->error_code, CODE_SYNTAX, s->error,
                    "malformed number at byte %" G_GSIZE_FORMAT, start);
}

static gboolean
scan_literal (Scanner *s)
{
  static const gchar * const literals[] = { "true", "false", "null", NULL };

  for (guint i = 0; literals[i] != NULL; i++) {
    gsize len = strlen (literals[i]);

    if (s->length - s->pos >= len && memcmp (s->text + s->pos, literals[i], len) == 0) {
      s->pos += len;
      if (at_delimiter (s))
        return TRUE;
      break;
    }
  }
  return FALSE;
}

/* Also counts the members written in each object, in the order the
 * objects open (@members), for find_duplicates(). */
static gboolean
scan_tokens (const gchar *text, gsize length, guint max_depth, GArray *members,
             const gchar **error_code, GError **error)
{
  Scanner s = { text, length, 0, error_code, error };
  guint depth = 0;
  guint values = 0;
  /* Per open container: the index of its count in @members, or -1 for
   * an array. Its depth is bounded by max_depth. */
  g_autoptr(GArray) open = g_array_new (FALSE, FALSE, sizeof (gint));

  while (s.pos < s.length) {
    gchar c = text[s.pos];
    gsize start = s.pos;

    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',') {
      s.pos++;
      continue;
    }
    if (c == ':') {
      if (open->len > 0 && g_array_index (open, gint, open->len - 1) >= 0)
        g_array_index (members, guint, g_array_index (open, gint, open->len - 1))++;
      s.pos++;
      continue;
    }
    if (c == '}' || c == ']') {
      if (depth == 0)
        break;  /* json-glib reports it */
      depth--;
      g_array_set_size (open, open->len - 1);
      s.pos++;
      continue;
    }
    /* Anything else starts a value. */
    if (depth == 0 && ++values > 1)
      return plexus_json_set_error (error_code, CODE_SYNTAX, error,
                        "a second value at byte %" G_GSIZE_FORMAT, start);
    if (c == '{' || c == '[') {
      gint index = -1;

      if (++depth > max_depth)
        return plexus_json_set_error (error_code, CODE_VALUE, error,
                          "containers nest more than %u levels deep at byte %" G_GSIZE_FORMAT,
                          max_depth, start);
      if (c == '{') {
        guint zero = 0;

        index = (gint) members->len;
        g_array_append_val (members, zero);
      }
      g_array_append_val (open, index);
      s.pos++;
    } else if (c == '"') {
      if (!scan_string (&s))
        return FALSE;
    } else if (c == '-' || g_ascii_isdigit (c)) {
      if (!scan_number (&s))
        return FALSE;
    } else if (!scan_literal (&s)) {
      gunichar ch = g_utf8_get_char (text + start);

      if (g_unichar_isgraph (ch))
        return plexus_json_set_error (error_code, CODE_SYNTAX, error,
                          "unexpected '%.*s' at byte %" G_GSIZE_FORMAT,
                          (int) (g_utf8_next_char (text + start) - (text + start)),
                          text + start, start);
      return plexus_json_set_error (error_code, CODE_SYNTAX, error,
                        "unexpected U+%04X at byte %" G_GSIZE_FORMAT,
                        ch, start);
    }
  }
  if (values == 0 && s.pos >= s.length)
    return plexus_json_set_error (error_code, CODE_SYNTAX, error,
                      "the text holds no value");
  return TRUE;
}

/* RFC 8259 leaves a member name that appears twice in an object to each
 * parser; json-glib keeps the last. So an object json-glib read with a
 * name twice holds fewer members than its text has: the scan counted
 * those, per object in the order they open, which is the order of a walk
 * that visits an object before its members. The first object short of
 * its count is the first with a name twice (those before it are whole). */
static gboolean
objects_match_counts (JsonNode *node, GArray *members, guint *next)
{
  if (JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *object = json_node_get_object (node);
    JsonObjectIter iter;
    const gchar *name;
    JsonNode *member;

    if (*next >= members->len || json_object_get_size (object) != g_array_index (members, guint, *next))
      return FALSE;
    (*next)++;
    json_object_iter_init_ordered (&iter, object);
    while (json_object_iter_next_ordered (&iter, &name, &member))
      if (!objects_match_counts (member, members, next))
        return FALSE;
  } else if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *array = json_node_get_array (node);

    for (guint i = 0; i < json_array_get_length (array); i++)
      if (!objects_match_counts (json_array_get_element (array, i), members, next))
        return FALSE;
  }
  return TRUE;
}

/* Which name appears twice, for the error: json-glib says each member as
 * it reads it, and the object does not grow with the second. Only for
 * text known to hold one. */
typedef struct {
  GHashTable *counts;     /* JsonObject * → members read so far */
  gchar      *duplicate;  /* the first name seen twice */
} DuplicateCheck;

static void
on_object_member (JsonParser *parser, JsonObject *object, const gchar *name, gpointer user_data)
{
  DuplicateCheck *check = user_data;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (check->counts, object)) + 1;

  g_hash_table_insert (check->counts, object, GUINT_TO_POINTER (count));
  if (check->duplicate == NULL && count > json_object_get_size (object))
    check->duplicate = g_strdup (name);
}

static gchar *
find_duplicate_name (const gchar *data, gsize length)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GHashTable) counts = g_hash_table_new (NULL, NULL);
  DuplicateCheck check = { counts, NULL };

  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &check);
  json_parser_load_from_data (parser, data, (gssize) length, NULL);
  return check.duplicate != NULL ? check.duplicate : g_strdup ("?");
}

/* FIXME: json-glib 1.6's generator writes two things that are not JSON:
 * the control character U+001F unescaped in strings, and a double whose
 * shortest form has an exponent but no '.' with ".0" appended (1e20 comes
 * out as "1e+20.0"). Both are mended here, on the generator's output,
 * whose shape is known: a byte 0x1F can only be that character in a string
 * (UTF-8 never uses it inside a sequence), and outside strings an 'e'
 * after a digit starts an exponent, which ends at the first byte that is
 * neither a sign nor a digit. */
static gchar *
mend_generated_json (const gchar *text)
{
  GString *out = g_string_sized_new (strlen (text) + 16);
  gboolean in_string = FALSE;
  gboolean in_exponent = FALSE;

  for (const gchar *p = text; *p != '\0'; p++) {
    if (in_string) {
      if (*p == '\\' && p[1] != '\0') {
        g_string_append_c (out, *p++);
        g_string_append_c (out, *p);
      } else if (*p == '\x1f') {
        g_string_append (out, "\\u001f");
      } else {
        if (*p == '"')
          in_string = FALSE;
        g_string_append_c (out, *p);
      }
      continue;
    }
    if (in_exponent) {
      if (*p == '.' && p[1] == '0') {
        in_exponent = FALSE;
        p++;  /* drop ".0" */
        continue;
      }
      if (*p != '+' && *p != '-' && !g_ascii_isdigit (*p))
        in_exponent = FALSE;
    }
    if (*p == '"')
      in_string = TRUE;
    else if (*p == 'e' && p > text && g_ascii_isdigit (p[-1]))
      in_exponent = TRUE;
    g_string_append_c (out, *p);
  }
  return g_string_free (out, FALSE);
}

/* One parser per thread, used again for every document: making and
 * finalizing a JsonParser was a tenth of reading an envelope. Nothing is
 * connected to its signals. */
static GPrivate thread_parser = G_PRIVATE_INIT (g_object_unref);

static JsonParser *
get_thread_parser (void)
{
  JsonParser *parser = g_private_get (&thread_parser);

  if (parser == NULL) {
    parser = json_parser_new ();
    g_private_set (&thread_parser, parser);
  }
  return parser;
}

/**
 * plexus_json_parse_strict:
 * @data: (array length=length): JSON text
 * @length: the length of @data in bytes
 * @max_depth: how deep containers may nest; the top-level value is at 1
 * @error_code: (out) (optional) (transfer none): where to store the
 *   protocol error code on failure: `bad-json` for text that is not JSON,
 *   `bad-envelope` for JSON that Plexus does not accept
 * @error: return location for a #GError
 *
 * Reads exactly one JSON value (RFC 8259), refusing what json-glib 1.6
 * would otherwise accept or misread (see above). On failure @error is
 * %PLEXUS_ERROR_INVALID_DATA with a short UTF-8 message that does not say
 * "not JSON" itself: callers word that for their own documents.
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 */
JsonNode *
plexus_json_parse_strict (const gchar  *data,
                          gsize         length,
                          guint         max_depth,
                          const gchar **error_code,
                          GError      **error)
{
  JsonParser *parser;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GArray) members = NULL;
  g_autoptr(JsonNode) root = NULL;
  const gchar *end = NULL;
  guint next = 0;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (error_code != NULL)
    *error_code = NULL;

  /* Callers usually say this in their own words first; json-glib must
   * never see it. */
  if (length > 0 && !g_utf8_validate_len (data, length, &end)) {
    plexus_json_set_error (error_code, CODE_SYNTAX, error,
               "%s at byte %" G_GSIZE_FORMAT,
               *end == '\0' ? "NUL character" : "not valid UTF-8",
               (gsize) (end - data));
    return NULL;
  }
  members = g_array_new (FALSE, FALSE, sizeof (guint));
  if (!scan_tokens (data, length, max_depth, members, error_code, error))
    return NULL;

  parser = get_thread_parser ();
  if (!json_parser_load_from_data (parser, data, (gssize) length, &local_error)) {
    /* json-glib quotes the text at fault, cut at a byte count. */
    g_autofree gchar *valid = g_utf8_make_valid (local_error->message, -1);
    g_autofree gchar *message = utf8_head (valid, MESSAGE_MAX);

    plexus_json_set_error (error_code, CODE_SYNTAX, error, "%s", message);
    return NULL;
  }
  /* The scan saw a value, so there is a root. */
  root = json_parser_steal_root (parser);
  if (!objects_match_counts (root, members, &next)) {
    g_autofree gchar *duplicate_name = find_duplicate_name (data, length);
    g_autofree gchar *quoted = plexus_json_quote (duplicate_name);

    plexus_json_set_error (error_code, CODE_VALUE, error,
               "the member name %s appears twice in one object", quoted);
    return NULL;
  }
  return g_steal_pointer (&root);
}

/**
 * plexus_json_to_string:
 * @node: a JSON node
 * @length: (out) (optional): where to store the length of the text
 *
 * Writes @node as compact JSON, as json_to_string() does but mending what
 * json-glib 1.6 gets wrong (see mend_generated_json()). @node must hold
 * only finite numbers and UTF-8 strings.
 *
 * Returns: (transfer full): the JSON text
 */
gchar *
plexus_json_to_string (JsonNode *node, gsize *length)
{
  g_autofree gchar *generated = NULL;
  gchar *text;

  g_return_val_if_fail (node != NULL, NULL);

  generated = json_to_string (node, FALSE);
  /* Most text has neither fault's mark: no U+001F, no ".0" at all. */
  if (strchr (generated, '\x1f') == NULL && strstr (generated, ".0") == NULL)
    text = g_steal_pointer (&generated);
  else
    text = mend_generated_json (generated);
  if (length != NULL)
    *length = strlen (text);
  return text;
}
