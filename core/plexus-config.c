/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <math.h>
#include <string.h>

#include "plexus-config.h"
#include "plexus-error.h"

/**
 * SECTION:plexus-config
 * @title: PlexusConfig
 * @short_description: the daemon's configuration, checked against a schema
 *
 * A #PlexusConfig holds every setting of the daemon and its plugins. Values
 * come in layers, later ones winning key by key: the system file, the user
 * file, then command-line overrides (which win however late a file is
 * loaded). Every key must be in the schema: plexus_config_new() knows the
 * core keys, plugins add theirs with plexus_config_add_key() and friends.
 *
 * Values are checked when a file is loaded or an override is set, never
 * when they are read: an unknown group or key, a value of the wrong type or
 * out of range is a %PLEXUS_ERROR_INVALID_CONFIG error whose message names
 * the file (or option), the group and the key. A file that fails changes
 * nothing.
 *
 * Files use #GKeyFile syntax and must be UTF-8. Surrounding whitespace of a
 * value, and of each item of a list, is ignored; so are empty list items. A
 * backslash in a value must start an escape sequence (`\s`, `\n`, `\t`,
 * `\r`, `\\`, and `\;` in lists).
 */

/* The text plexus_config_get_origin() returns for values nobody set. */
#define ORIGIN_DEFAULT "default"
#define ORIGIN_COMMAND_LINE "command line"

typedef struct {
  gchar    *origin;
  gchar    *text;     /* what get_string() returns; NULL for list types */
  gchar   **items;    /* list types only, never NULL for them */
  gboolean  boolean;
  gint64    integer;
  gdouble   number;
} ConfigValue;

typedef struct {
  gchar            *group;
  gchar            *key;
  PlexusConfigType  type;
  gchar            *description;
  gint64            int_min;
  gint64            int_max;
  gdouble           double_min;
  gdouble           double_max;
  gchar           **choices;        /* ENUM and ENUM_LIST */
  ConfigValue      *default_value;
  ConfigValue      *file_value;     /* from the last file that set the key */
  ConfigValue      *override_value; /* from the command line */
} ConfigKey;

struct _PlexusConfig {
  GObject     parent_instance;

  /* group name -> (key name -> ConfigKey) */
  GHashTable *groups;
};

G_DEFINE_FINAL_TYPE (PlexusConfig, plexus_config, G_TYPE_OBJECT)

/* The core schema, the contract for the whole daemon. Enum choices are the
 * strings of PlexusMode and PlexusRole (plexus-enums.h). */
static const gchar * const mode_choices[] = { "hybrid", "peer", "traditional", NULL };
static const gchar * const role_choices[] = { "standard", "super", "bootstrap", "server", NULL };

typedef struct {
  const gchar         *group;
  const gchar         *key;
  PlexusConfigType     type;
  const gchar         *default_value;
  gdouble              min;      /* INTEGER and DOUBLE; small integers are exact */
  gdouble              max;
  const gchar * const *choices;  /* ENUM and ENUM_LIST */
  const gchar         *description;
} CoreKey;

static const CoreKey core_schema[] = {
  { "node", "listen", PLEXUS_CONFIG_TYPE_ADDRESS, "0.0.0.0:0",
    .description = "Address the node listens on, HOST:PORT; port 0 lets the system choose" },
  { "node", "bootstrap", PLEXUS_CONFIG_TYPE_URI_LIST, "",
    .description = "WebSocket URIs of bootstrap nodes to join the network through" },
  { "node", "server", PLEXUS_CONFIG_TYPE_URI, "",
    .description = "WebSocket URI of the traditional server; empty for none" },
  { "node", "mode", PLEXUS_CONFIG_TYPE_ENUM, "hybrid", .choices = mode_choices,
    .description = "Which paths services may use: hybrid, peer or traditional" },
  { "node", "roles", PLEXUS_CONFIG_TYPE_ENUM_LIST, "standard", .choices = role_choices,
    .description = "Roles this node takes: standard, super, bootstrap, server" },
  { "node", "region", PLEXUS_CONFIG_TYPE_STRING, "",
    .description = "Region the node reports, for super peer placement; empty for unknown" },
  { "node", "timezone", PLEXUS_CONFIG_TYPE_STRING, "",
    .description = "Time zone the node reports; empty for the system's" },

  { "plugins", "enabled", PLEXUS_CONFIG_TYPE_STRING_LIST, "",
    .description = "Plugins to load; empty for all" },
  { "plugins", "disabled", PLEXUS_CONFIG_TYPE_STRING_LIST, "",
    .description = "Plugins never to load" },

  { "broker", "redundancy", PLEXUS_CONFIG_TYPE_INTEGER, "2", 1, 16,
    .description = "How many of the best providers of a service are kept" },
  { "broker", "hysteresis", PLEXUS_CONFIG_TYPE_DOUBLE, "0.15", 0.0, 1.0,
    .description = "How much better a provider must score to replace the current one" },

  { "stun", "listen", PLEXUS_CONFIG_TYPE_ADDRESS, "0.0.0.0:3478",
    .description = "Address the STUN server listens on, HOST:PORT" },
};

static const gchar * const type_names[] = {
  [PLEXUS_CONFIG_TYPE_STRING] = "string",
  [PLEXUS_CONFIG_TYPE_STRING_LIST] = "string-list",
  [PLEXUS_CONFIG_TYPE_BOOLEAN] = "boolean",
  [PLEXUS_CONFIG_TYPE_INTEGER] = "integer",
  [PLEXUS_CONFIG_TYPE_DOUBLE] = "double",
  [PLEXUS_CONFIG_TYPE_ENUM] = "enum",
  [PLEXUS_CONFIG_TYPE_ENUM_LIST] = "enum-list",
  [PLEXUS_CONFIG_TYPE_ADDRESS] = "address",
  [PLEXUS_CONFIG_TYPE_URI] = "uri",
  [PLEXUS_CONFIG_TYPE_URI_LIST] = "uri-list",
};

static void
config_value_free (ConfigValue *value)
{
  if (value == NULL)
    return;
  g_free (value->origin);
  g_free (value->text);
  g_strfreev (value->items);
  g_free (value);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfigValue, config_value_free)

static void
config_key_free (ConfigKey *ck)
{
  g_free (ck->group);
  g_free (ck->key);
  g_free (ck->description);
  g_strfreev (ck->choices);
  config_value_free (ck->default_value);
  config_value_free (ck->file_value);
  config_value_free (ck->override_value);
  g_free (ck);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ConfigKey, config_key_free)

static gboolean
type_is_list (PlexusConfigType type)
{
  return type == PLEXUS_CONFIG_TYPE_STRING_LIST ||
         type == PLEXUS_CONFIG_TYPE_ENUM_LIST ||
         type == PLEXUS_CONFIG_TYPE_URI_LIST;
}

static gboolean
type_is_valid (PlexusConfigType type)
{
  return (guint) type < G_N_ELEMENTS (type_names);
}

/* Shortest text that reads back as the same double, in the C locale. */
static gchar *
format_double (gdouble value)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  for (guint precision = 15; precision < 17; precision++) {
    g_autofree gchar *format = g_strdup_printf ("%%.%ug", precision);

    g_ascii_formatd (buf, sizeof buf, format, value);
    if (g_ascii_strtod (buf, NULL) == value)
      return g_strdup (buf);
  }
  return g_strdup (g_ascii_dtostr (buf, sizeof buf, value));
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (a, b);
}

/* "a, b, c" of the keys of @table, sorted so messages are stable. */
static gchar *
join_sorted_keys (GHashTable *table)
{
  GList *names = g_list_sort (g_hash_table_get_keys (table), compare_strings);
  GString *joined = g_string_new (NULL);

  for (GList *l = names; l != NULL; l = l->next) {
    if (joined->len > 0)
      g_string_append (joined, ", ");
    g_string_append (joined, l->data);
  }
  g_list_free (names);
  return g_string_free (joined, FALSE);
}

/* Checks that @text is UTF-8 without NUL bytes. GKeyFile only checks
 * values, but group and key names are quoted in messages, which reach
 * terminals, logs and D-Bus; so text that is not UTF-8 is refused before
 * GKeyFile sees it, saying where the first bad byte is (counted from 1). */
static gboolean
check_utf8 (const gchar *text, gsize length, const gchar *what, GError **error)
{
  const gchar *end = NULL;
  gsize offset;
  guint line = 1;

  if (g_utf8_validate_len (text, length, &end))
    return TRUE;
  offset = (gsize) (end - text);
  for (const gchar *p = text; p < end; p++) {
    if (*p == '\n')
      line++;
  }
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
               "%s: %s at byte %" G_GSIZE_FORMAT " (line %u); configuration must be UTF-8 text",
               what, *end == '\0' ? "NUL character" : "not valid UTF-8",
               offset + 1, line);
  return FALSE;
}

static gboolean
hostname_is_valid (const gchar *host)
{
  g_autofree gchar *ascii = NULL;
  g_auto(GStrv) labels = NULL;
  gsize len;
  guint n_labels;
  gboolean numeric = TRUE;

  /* Internationalised names are checked in their ACE form. */
  if (g_hostname_is_non_ascii (host))
    ascii = g_hostname_to_ascii (host);
  else
    ascii = g_strdup (host);
  if (ascii == NULL)
    return FALSE;

  len = strlen (ascii);
  if (len > 0 && ascii[len - 1] == '.')
    ascii[--len] = '\0';
  if (len == 0 || len > 253)
    return FALSE;

  labels = g_strsplit (ascii, ".", -1);
  n_labels = g_strv_length (labels);
  for (guint i = 0; i < n_labels; i++) {
    const gchar *label = labels[i];
    gsize label_len = strlen (label);

    if (label_len == 0 || label_len > 63)
      return FALSE;
    if (label[0] == '-' || label[label_len - 1] == '-')
      return FALSE;
    for (gsize j = 0; j < label_len; j++) {
      if (!g_ascii_isalnum (label[j]) && label[j] != '-')
        return FALSE;
    }
  }

  /* An all-numeric last label is a mistyped IPv4 address, not a name. */
  for (const gchar *p = labels[n_labels - 1]; *p != '\0'; p++) {
    if (!g_ascii_isdigit (*p))
      numeric = FALSE;
  }
  return !numeric;
}

/**
 * plexus_config_parse_address:
 * @address: `HOST:PORT`
 * @host: (out) (optional) (transfer full): the host, without brackets
 * @port: (out) (optional): the port
 * @error: return location for a #GError
 *
 * Parses an address of the form `HOST:PORT`, where HOST is an IPv4 address,
 * an IPv6 address in brackets (`[::1]:8080`) or a host name, and PORT is
 * 0..65535 (0 lets the system choose).
 *
 * Returns: %TRUE on success; on failure sets a %PLEXUS_ERROR_INVALID_ARGUMENT
 *   error saying what is wrong
 */
gboolean
plexus_config_parse_address (const gchar  *address,
                             gchar       **host,
                             guint16      *port,
                             GError      **error)
{
  g_autofree gchar *host_part = NULL;
  g_autoptr(GError) local_error = NULL;
  const gchar *port_part;
  guint64 port_value;

  if (address == NULL || *address == '\0') {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                         "the address is empty; expected HOST:PORT");
    return FALSE;
  }
  for (const gchar *p = address; *p != '\0'; p++) {
    if (g_ascii_isspace (*p) || g_ascii_iscntrl (*p)) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' contains a space or control character; expected HOST:PORT",
                   address);
      return FALSE;
    }
  }

  if (address[0] == '[') {
    const gchar *close = strchr (address, ']');

    if (close == NULL) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' has no closing ']'; expected [IPV6]:PORT", address);
      return FALSE;
    }
    host_part = g_strndup (address + 1, close - address - 1);
    if (strchr (host_part, ':') == NULL || !g_hostname_is_ip_address (host_part)) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' is not an IPv6 address; only IPv6 addresses go in brackets",
                   host_part);
      return FALSE;
    }
    if (close[1] != ':') {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' has no port; expected [IPV6]:PORT", address);
      return FALSE;
    }
    port_part = close + 2;
  } else {
    const gchar *colon = strrchr (address, ':');

    if (colon == NULL) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' has no port; expected HOST:PORT", address);
      return FALSE;
    }
    host_part = g_strndup (address, colon - address);
    if (*host_part == '\0') {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' has no host; expected HOST:PORT", address);
      return FALSE;
    }
    if (strchr (host_part, ':') != NULL) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s': an IPv6 address needs brackets, as in [::1]:8080", address);
      return FALSE;
    }
    if (!g_hostname_is_ip_address (host_part) && !hostname_is_valid (host_part)) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' is neither an IP address nor a valid host name", host_part);
      return FALSE;
    }
    port_part = colon + 1;
  }

  if (*port_part == '\0') {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "'%s' has no port; expected HOST:PORT", address);
    return FALSE;
  }
  for (const gchar *p = port_part; *p != '\0'; p++) {
    if (!g_ascii_isdigit (*p)) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                   "'%s' is not a port number", port_part);
      return FALSE;
    }
  }
  if (!g_ascii_string_to_unsigned (port_part, 10, 0, G_MAXUINT16, &port_value, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "port %s is out of range 0..65535", port_part);
    return FALSE;
  }

  if (host != NULL)
    *host = g_steal_pointer (&host_part);
  if (port != NULL)
    *port = (guint16) port_value;
  return TRUE;
}

static gboolean
check_uri (const gchar *text, GError **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const gchar *scheme;
  const gchar *host;

  uri = g_uri_parse (text, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "'%s' is not a URI: %s", text, local_error->message);
    return FALSE;
  }
  /* GUri lower-cases the scheme, so WS:// passes too. */
  scheme = g_uri_get_scheme (uri);
  if (g_strcmp0 (scheme, "ws") != 0 && g_strcmp0 (scheme, "wss") != 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "'%s' is not a ws:// or wss:// URI", text);
    return FALSE;
  }
  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0') {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "'%s' has no host", text);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_choice (ConfigKey *ck, const gchar *text, GError **error)
{
  g_autofree gchar *choices = NULL;

  if (g_strv_contains ((const gchar * const *) ck->choices, text))
    return TRUE;
  choices = g_strjoinv (", ", ck->choices);
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
               "'%s' is not one of %s", text, choices);
  return FALSE;
}

/* Checks and converts value->text, already stripped, for a scalar key.
 * Errors carry only the reason; the caller says where. */
static gboolean
config_key_parse_scalar (ConfigKey    *ck,
                         ConfigValue  *value,
                         gboolean      is_default,
                         GError      **error)
{
  g_autoptr(GError) local_error = NULL;
  const gchar *text = value->text;

  switch (ck->type) {
  case PLEXUS_CONFIG_TYPE_STRING:
    return TRUE;

  case PLEXUS_CONFIG_TYPE_BOOLEAN:
    /* The spellings GKeyFile accepts. */
    if (g_strcmp0 (text, "true") == 0 || g_strcmp0 (text, "1") == 0) {
      value->boolean = TRUE;
    } else if (g_strcmp0 (text, "false") == 0 || g_strcmp0 (text, "0") == 0) {
      value->boolean = FALSE;
    } else {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                   "'%s' is not a boolean; use true or false", text);
      return FALSE;
    }
    g_free (value->text);
    value->text = g_strdup (value->boolean ? "true" : "false");
    return TRUE;

  case PLEXUS_CONFIG_TYPE_INTEGER: {
    gint64 number;

    if (!g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &number, &local_error)) {
      if (g_error_matches (local_error, G_NUMBER_PARSER_ERROR,
                           G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS)) {
        g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                     "%s is out of range %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                     text, ck->int_min, ck->int_max);
      } else {
        g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                     "'%s' is not an integer", text);
      }
      return FALSE;
    }
    if (number < ck->int_min || number > ck->int_max) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                   "%s is out of range %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                   text, ck->int_min, ck->int_max);
      return FALSE;
    }
    value->integer = number;
    g_free (value->text);
    value->text = g_strdup_printf ("%" G_GINT64_FORMAT, number);
    return TRUE;
  }

  case PLEXUS_CONFIG_TYPE_DOUBLE: {
    gchar *end = NULL;
    gdouble number = g_ascii_strtod (text, &end);

    if (*text == '\0' || *end != '\0' || !isfinite (number)) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                   "'%s' is not a number", text);
      return FALSE;
    }
    if (number < ck->double_min || number > ck->double_max) {
      g_autofree gchar *min = format_double (ck->double_min);
      g_autofree gchar *max = format_double (ck->double_max);

      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                   "%s is out of range %s..%s", text, min, max);
      return FALSE;
    }
    value->number = number;
    g_free (value->text);
    value->text = format_double (number);
    return TRUE;
  }

  case PLEXUS_CONFIG_TYPE_ENUM:
    return check_choice (ck, text, error);

  case PLEXUS_CONFIG_TYPE_ADDRESS:
    /* Only a default may leave an address unset: a plugin that declares
     * the key without one. A user who writes the key means an address. */
    if (is_default && *text == '\0')
      return TRUE;
    if (!plexus_config_parse_address (text, NULL, NULL, &local_error)) {
      g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                           local_error->message);
      return FALSE;
    }
    return TRUE;

  case PLEXUS_CONFIG_TYPE_URI:
    /* Empty means none, e.g. no traditional server. */
    if (*text == '\0')
      return TRUE;
    return check_uri (text, error);

  case PLEXUS_CONFIG_TYPE_STRING_LIST:
  case PLEXUS_CONFIG_TYPE_ENUM_LIST:
  case PLEXUS_CONFIG_TYPE_URI_LIST:
  default:
    g_assert_not_reached ();
  }
}

static gboolean
config_key_check_item (ConfigKey *ck, const gchar *item, GError **error)
{
  switch (ck->type) {
  case PLEXUS_CONFIG_TYPE_ENUM_LIST:
    return check_choice (ck, item, error);
  case PLEXUS_CONFIG_TYPE_URI_LIST:
    return check_uri (item, error);
  case PLEXUS_CONFIG_TYPE_STRING_LIST:
  default:
    return TRUE;
  }
}

/* Turns an error of GKeyFile's getters into the reason a value is refused.
 * Text is checked for UTF-8 before it gets to GKeyFile, so a value that
 * "cannot be interpreted" has a backslash that starts no escape sequence;
 * GLib's own message does not say so. */
static void
set_read_error (ConfigKey *ck, const GError *cause, GError **error)
{
  if (g_error_matches (cause, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE))
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "invalid escape sequence in the value; a backslash must start "
                 "\\s, \\n, \\t, \\r or \\\\%s",
                 type_is_list (ck->type) ? " (or \\; in a list)" : "");
  else
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG, cause->message);
}

/* Reads and checks the key's value from @key_file, where it sits under the
 * key's own group and name. */
static ConfigValue *
config_key_parse (ConfigKey    *ck,
                  GKeyFile     *key_file,
                  const gchar  *origin,
                  gboolean      is_default,
                  GError      **error)
{
  g_autoptr(ConfigValue) value = g_new0 (ConfigValue, 1);
  g_autoptr(GError) local_error = NULL;

  value->origin = g_strdup (origin);

  if (type_is_list (ck->type)) {
    g_auto(GStrv) raw = NULL;
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_free);

    /* GKeyFile splits on ';' and handles "\;" escapes. */
    raw = g_key_file_get_string_list (key_file, ck->group, ck->key, NULL, &local_error);
    if (local_error != NULL) {
      set_read_error (ck, local_error, error);
      return NULL;
    }
    for (guint i = 0; raw[i] != NULL; i++) {
      const gchar *item = g_strstrip (raw[i]);

      if (*item == '\0')
        continue;
      if (!config_key_check_item (ck, item, error))
        return NULL;
      g_ptr_array_add (items, g_strdup (item));
    }
    g_ptr_array_add (items, NULL);
    value->items = (gchar **) g_ptr_array_free (g_steal_pointer (&items), FALSE);
  } else {
    /* GLib 2.74 returns the value *and* sets the error when an escape
     * sequence is invalid ("eu\\xwest" verbatim, "eu\\" as "eu"): the error
     * decides. */
    value->text = g_key_file_get_string (key_file, ck->group, ck->key, &local_error);
    if (local_error != NULL) {
      set_read_error (ck, local_error, error);
      return NULL;
    }
    g_strstrip (value->text);
    if (!config_key_parse_scalar (ck, value, is_default, error))
      return NULL;
  }

  return g_steal_pointer (&value);
}

/* Parses @text as a file would hold it: lists split on ';', but a scalar
 * taken verbatim, since command-line values are not key file syntax. */
static ConfigValue *
config_key_parse_text (ConfigKey    *ck,
                       const gchar  *text,
                       const gchar  *origin,
                       gboolean      is_default,
                       GError      **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();

  if (type_is_list (ck->type))
    g_key_file_set_value (key_file, ck->group, ck->key, text);
  else
    g_key_file_set_string (key_file, ck->group, ck->key, text);
  return config_key_parse (ck, key_file, origin, is_default, error);
}

static void
set_key_error (GError       **error,
               const gchar   *origin,
               ConfigKey     *ck,
               const GError  *cause)
{
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
               "%s: [%s] %s: %s", origin, ck->group, ck->key, cause->message);
}

static GHashTable *
config_lookup_group (PlexusConfig  *self,
                     const gchar   *origin,
                     const gchar   *group,
                     GError       **error)
{
  GHashTable *keys = g_hash_table_lookup (self->groups, group);

  if (keys == NULL) {
    g_autofree gchar *known = join_sorted_keys (self->groups);

    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "%s: [%s]: unknown group; the known groups are %s",
                 origin, group, known);
  }
  return keys;
}

static ConfigKey *
config_lookup (PlexusConfig  *self,
               const gchar   *origin,
               const gchar   *group,
               const gchar   *key,
               GError       **error)
{
  GHashTable *keys = config_lookup_group (self, origin, group, error);
  ConfigKey *ck;

  if (keys == NULL)
    return NULL;
  ck = g_hash_table_lookup (keys, key);
  if (ck == NULL) {
    g_autofree gchar *known = join_sorted_keys (keys);

    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "%s: [%s] %s: unknown key; the keys of [%s] are %s",
                 origin, group, key, group, known);
  }
  return ck;
}

/* Group and key names as GKeyFile accepts them and a user can type. */
static gboolean
is_valid_name (const gchar *name)
{
  if (name == NULL || *name == '\0')
    return FALSE;
  for (const gchar *p = name; *p != '\0'; p++) {
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  }
  return TRUE;
}

static void
config_add (PlexusConfig        *self,
            const gchar         *group,
            const gchar         *key,
            PlexusConfigType     type,
            const gchar         *default_text,
            gint64               int_min,
            gint64               int_max,
            gdouble              double_min,
            gdouble              double_max,
            const gchar * const *choices,
            const gchar         *description)
{
  g_autoptr(ConfigKey) ck = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *fallback = NULL;
  GHashTable *keys = g_hash_table_lookup (self->groups, group);
  ConfigKey *existing = keys != NULL ? g_hash_table_lookup (keys, key) : NULL;
  ConfigKey *added;

  /* The core schema and a plugin's metadata may both declare a key, e.g.
   * [stun] listen; the first declaration, with its default, stays. */
  if (existing != NULL) {
    if (existing->type != type) {
      g_warning ("[%s] %s is already a configuration key of type %s; ignoring it as %s",
                 group, key, type_names[existing->type], type_names[type]);
    }
    return;
  }

  ck = g_new0 (ConfigKey, 1);
  ck->group = g_strdup (group);
  ck->key = g_strdup (key);
  ck->type = type;
  ck->description = g_strdup (description);
  ck->int_min = int_min;
  ck->int_max = int_max;
  ck->double_min = double_min;
  ck->double_max = double_max;
  ck->choices = g_strdupv ((gchar **) choices);

  if (default_text == NULL) {
    switch (type) {
    case PLEXUS_CONFIG_TYPE_BOOLEAN:
      fallback = g_strdup ("false");
      break;
    case PLEXUS_CONFIG_TYPE_INTEGER:
      fallback = g_strdup_printf ("%" G_GINT64_FORMAT, CLAMP (0, int_min, int_max));
      break;
    case PLEXUS_CONFIG_TYPE_DOUBLE:
      fallback = format_double (CLAMP (0.0, double_min, double_max));
      break;
    case PLEXUS_CONFIG_TYPE_ENUM:
      fallback = g_strdup (choices[0]);
      break;
    case PLEXUS_CONFIG_TYPE_STRING:
    case PLEXUS_CONFIG_TYPE_STRING_LIST:
    case PLEXUS_CONFIG_TYPE_ENUM_LIST:
    case PLEXUS_CONFIG_TYPE_ADDRESS:
    case PLEXUS_CONFIG_TYPE_URI:
    case PLEXUS_CONFIG_TYPE_URI_LIST:
    default:
      fallback = g_strdup ("");
      break;
    }
    default_text = fallback;
  }

  ck->default_value = config_key_parse_text (ck, default_text, ORIGIN_DEFAULT, TRUE, &local_error);
  if (ck->default_value == NULL) {
    g_critical ("Cannot add configuration key [%s] %s: the default: %s",
                group, key, local_error->message);
    return;
  }

  if (keys == NULL) {
    keys = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                  (GDestroyNotify) config_key_free);
    g_hash_table_insert (self->groups, g_strdup (group), keys);
  }
  added = g_steal_pointer (&ck);
  g_hash_table_insert (keys, added->key, added);
}

static void
plexus_config_finalize (GObject *object)
{
  PlexusConfig *self = PLEXUS_CONFIG (object);

  g_hash_table_unref (self->groups);

  G_OBJECT_CLASS (plexus_config_parent_class)->finalize (object);
}

static void
plexus_config_class_init (PlexusConfigClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = plexus_config_finalize;
}

static void
plexus_config_init (PlexusConfig *self)
{
  self->groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) g_hash_table_unref);
}

/**
 * plexus_config_new:
 *
 * Creates a configuration that knows the core schema (the `[node]`,
 * `[plugins]`, `[broker]` and `[stun]` keys) with every key at its default.
 *
 * Returns: (transfer full): a new #PlexusConfig
 */
PlexusConfig *
plexus_config_new (void)
{
  PlexusConfig *self = g_object_new (PLEXUS_TYPE_CONFIG, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (core_schema); i++) {
    const CoreKey *row = &core_schema[i];

    config_add (self, row->group, row->key, row->type, row->default_value,
                (gint64) row->min, (gint64) row->max, row->min, row->max,
                row->choices, row->description);
  }
  return self;
}

/**
 * plexus_config_add_key:
 * @self: a #PlexusConfig
 * @group: the group, e.g. a plugin's name
 * @key: the key
 * @type: the value's type; not %PLEXUS_CONFIG_TYPE_ENUM or
 *   %PLEXUS_CONFIG_TYPE_ENUM_LIST, which need plexus_config_add_enum_key()
 * @default_value: (nullable): the default, as a file would write it; %NULL
 *   for empty (false, 0, an unset address or URI, an empty list)
 * @description: (nullable): what the key is for
 *
 * Adds a key to the schema so files and overrides may set it. Integers
 * and doubles take any value; use plexus_config_add_integer_key() or
 * plexus_config_add_double_key() to limit them. Adding a key that already
 * exists with the same type does nothing.
 */
void
plexus_config_add_key (PlexusConfig     *self,
                       const gchar      *group,
                       const gchar      *key,
                       PlexusConfigType  type,
                       const gchar      *default_value,
                       const gchar      *description)
{
  g_return_if_fail (PLEXUS_IS_CONFIG (self));
  g_return_if_fail (is_valid_name (group));
  g_return_if_fail (is_valid_name (key));
  g_return_if_fail (type_is_valid (type));
  g_return_if_fail (type != PLEXUS_CONFIG_TYPE_ENUM && type != PLEXUS_CONFIG_TYPE_ENUM_LIST);

  config_add (self, group, key, type, default_value,
              G_MININT64, G_MAXINT64, -G_MAXDOUBLE, G_MAXDOUBLE, NULL, description);
}

/**
 * plexus_config_add_integer_key:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 * @min: the smallest value allowed
 * @max: the largest value allowed
 * @default_value: the default, within [@min, @max]
 * @description: (nullable): what the key is for
 *
 * Adds an integer key whose values must lie within [@min, @max].
 */
void
plexus_config_add_integer_key (PlexusConfig *self,
                               const gchar  *group,
                               const gchar  *key,
                               gint64        min,
                               gint64        max,
                               gint64        default_value,
                               const gchar  *description)
{
  g_autofree gchar *text = NULL;

  g_return_if_fail (PLEXUS_IS_CONFIG (self));
  g_return_if_fail (is_valid_name (group));
  g_return_if_fail (is_valid_name (key));
  g_return_if_fail (min <= max);

  text = g_strdup_printf ("%" G_GINT64_FORMAT, default_value);
  config_add (self, group, key, PLEXUS_CONFIG_TYPE_INTEGER, text,
              min, max, -G_MAXDOUBLE, G_MAXDOUBLE, NULL, description);
}

/**
 * plexus_config_add_double_key:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 * @min: the smallest value allowed
 * @max: the largest value allowed
 * @default_value: the default, within [@min, @max]
 * @description: (nullable): what the key is for
 *
 * Adds a floating-point key whose values must lie within [@min, @max].
 */
void
plexus_config_add_double_key (PlexusConfig *self,
                              const gchar  *group,
                              const gchar  *key,
                              gdouble       min,
                              gdouble       max,
                              gdouble       default_value,
                              const gchar  *description)
{
  g_autofree gchar *text = NULL;

  g_return_if_fail (PLEXUS_IS_CONFIG (self));
  g_return_if_fail (is_valid_name (group));
  g_return_if_fail (is_valid_name (key));
  g_return_if_fail (isfinite (min) && isfinite (max) && min <= max);

  text = format_double (default_value);
  config_add (self, group, key, PLEXUS_CONFIG_TYPE_DOUBLE, text,
              G_MININT64, G_MAXINT64, min, max, NULL, description);
}

/**
 * plexus_config_add_enum_key:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 * @is_list: %TRUE for a list whose items are each one of @choices
 * @choices: (array zero-terminated=1): the allowed strings, at least one
 * @default_value: (nullable): the default; %NULL for the first choice, or
 *   an empty list if @is_list
 * @description: (nullable): what the key is for
 *
 * Adds a key whose value (or each item of it, if @is_list) must be one of
 * @choices.
 */
void
plexus_config_add_enum_key (PlexusConfig        *self,
                            const gchar         *group,
                            const gchar         *key,
                            gboolean             is_list,
                            const gchar * const *choices,
                            const gchar         *default_value,
                            const gchar         *description)
{
  g_return_if_fail (PLEXUS_IS_CONFIG (self));
  g_return_if_fail (is_valid_name (group));
  g_return_if_fail (is_valid_name (key));
  g_return_if_fail (choices != NULL && choices[0] != NULL);

  config_add (self, group, key,
              is_list ? PLEXUS_CONFIG_TYPE_ENUM_LIST : PLEXUS_CONFIG_TYPE_ENUM,
              default_value, G_MININT64, G_MAXINT64, -G_MAXDOUBLE, G_MAXDOUBLE,
              choices, description);
}

/**
 * plexus_config_has_key:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 *
 * Returns: %TRUE if the schema has the key
 */
gboolean
plexus_config_has_key (PlexusConfig *self,
                       const gchar  *group,
                       const gchar  *key)
{
  GHashTable *keys;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), FALSE);
  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  keys = g_hash_table_lookup (self->groups, group);
  return keys != NULL && g_hash_table_contains (keys, key);
}

/**
 * plexus_config_load_data:
 * @self: a #PlexusConfig
 * @data: key file text
 * @length: the length of @data, or -1 if it is nul-terminated
 * @origin: where @data came from, for messages and
 *   plexus_config_get_origin(), usually a file path
 * @error: return location for a #GError
 *
 * Loads a layer of configuration: each key @data sets wins over earlier
 * files. The whole text is checked before anything changes, so on failure
 * the configuration is as it was. Text that is not UTF-8 (or holds a NUL)
 * and values with an invalid escape sequence are errors too.
 *
 * Returns: %TRUE on success; on failure sets a %PLEXUS_ERROR_INVALID_CONFIG
 *   error naming @origin, and the group and key at fault
 */
gboolean
plexus_config_load_data (PlexusConfig  *self,
                         const gchar   *data,
                         gssize         length,
                         const gchar   *origin,
                         GError       **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_auto(GStrv) groups = NULL;
  g_autoptr(GPtrArray) staged_keys = g_ptr_array_new ();
  g_autoptr(GPtrArray) staged_values = g_ptr_array_new_with_free_func ((GDestroyNotify) config_value_free);

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_utf8 (data, length < 0 ? strlen (data) : (gsize) length, origin, error))
    return FALSE;
  if (!g_key_file_load_from_data (key_file, data, length < 0 ? (gsize) -1 : (gsize) length,
                                  G_KEY_FILE_NONE, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "%s: %s", origin, local_error->message);
    return FALSE;
  }

  groups = g_key_file_get_groups (key_file, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    g_auto(GStrv) keys = NULL;

    if (config_lookup_group (self, origin, groups[i], error) == NULL)
      return FALSE;

    keys = g_key_file_get_keys (key_file, groups[i], NULL, NULL);
    for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
      ConfigKey *ck = config_lookup (self, origin, groups[i], keys[j], error);
      ConfigValue *value;

      if (ck == NULL)
        return FALSE;
      value = config_key_parse (ck, key_file, origin, FALSE, &local_error);
      if (value == NULL) {
        set_key_error (error, origin, ck, local_error);
        return FALSE;
      }
      g_ptr_array_add (staged_keys, ck);
      g_ptr_array_add (staged_values, value);
    }
  }

  /* Everything checked: commit. */
  for (guint i = 0; i < staged_keys->len; i++) {
    ConfigKey *ck = g_ptr_array_index (staged_keys, i);

    config_value_free (ck->file_value);
    ck->file_value = g_steal_pointer (&g_ptr_array_index (staged_values, i));
  }
  g_debug ("Loaded configuration from %s: %u keys", origin, staged_keys->len);
  return TRUE;
}

/**
 * plexus_config_load_file:
 * @self: a #PlexusConfig
 * @path: a key file
 * @must_exist: whether a missing file is an error
 * @error: return location for a #GError
 *
 * Loads @path as a layer of configuration, like plexus_config_load_data()
 * with @path as the origin (as g_filename_display_name() shows it). A file that does not exist is skipped unless
 * @must_exist; any other problem reading it is an error.
 *
 * Returns: %TRUE on success; on failure sets a %PLEXUS_ERROR_INVALID_CONFIG
 *   error naming @path
 */
gboolean
plexus_config_load_file (PlexusConfig  *self,
                         const gchar   *path,
                         gboolean       must_exist,
                         GError       **error)
{
  g_autofree gchar *contents = NULL;
  g_autofree gchar *display_name = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize length = 0;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_file_get_contents (path, &contents, &length, &local_error)) {
    if (!must_exist && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      g_debug ("No configuration file %s", path);
      return TRUE;
    }
    /* GLib's message already names the file. */
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                         local_error->message);
    return FALSE;
  }
  /* The path names the values' origin in messages and on D-Bus. */
  display_name = g_filename_display_name (path);
  return plexus_config_load_data (self, contents, (gssize) length, display_name, error);
}

/* Command-line values are UTF-8 when GOption converted them, but the API
 * takes any string. */
static gboolean
check_override_utf8 (const gchar   *origin,
                     ConfigKey     *ck,
                     const gchar   *value,
                     GError       **error)
{
  g_autofree gchar *what = NULL;

  if (g_utf8_validate (value, -1, NULL))
    return TRUE;
  what = g_strdup_printf ("%s: [%s] %s", origin, ck->group, ck->key);
  return check_utf8 (value, strlen (value), what, error);
}

/**
 * plexus_config_set_override_from:
 * @self: a #PlexusConfig
 * @origin: what set the value, e.g. `--listen`; it names the value in
 *   errors and plexus_config_get_origin() returns it
 * @group: the group
 * @key: the key
 * @value: the value; a list type splits it on `;` as a key file would
 * @error: return location for a #GError
 *
 * Sets a command-line override, which wins over every file whenever it is
 * loaded. A scalar @value is taken as it is, not unescaped.
 *
 * Returns: %TRUE on success; on failure sets a %PLEXUS_ERROR_INVALID_CONFIG
 *   error naming @origin, @group and @key, and leaves the value as it was
 */
gboolean
plexus_config_set_override_from (PlexusConfig  *self,
                                 const gchar   *origin,
                                 const gchar   *group,
                                 const gchar   *key,
                                 const gchar   *value,
                                 GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  ConfigKey *ck;
  ConfigValue *parsed;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);
  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ck = config_lookup (self, origin, group, key, error);
  if (ck == NULL)
    return FALSE;
  if (!check_override_utf8 (origin, ck, value, error))
    return FALSE;
  parsed = config_key_parse_text (ck, value, origin, FALSE, &local_error);
  if (parsed == NULL) {
    set_key_error (error, origin, ck, local_error);
    return FALSE;
  }
  config_value_free (ck->override_value);
  ck->override_value = parsed;
  return TRUE;
}

/**
 * plexus_config_set_override:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 * @value: the value; a list type splits it on `;` as a key file would
 * @error: return location for a #GError
 *
 * plexus_config_set_override_from() with `command line` as the origin.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_config_set_override (PlexusConfig  *self,
                            const gchar   *group,
                            const gchar   *key,
                            const gchar   *value,
                            GError       **error)
{
  return plexus_config_set_override_from (self, ORIGIN_COMMAND_LINE, group, key, value, error);
}

/**
 * plexus_config_set_override_list_from:
 * @self: a #PlexusConfig
 * @origin: what set the value, e.g. `--bootstrap`
 * @group: the group
 * @key: the key
 * @values: (array zero-terminated=1): the items, taken as they are; a key
 *   that is not a list takes exactly one
 * @error: return location for a #GError
 *
 * Sets a command-line override from separate items, such as those of a
 * repeated option.
 *
 * Returns: %TRUE on success; on failure sets a %PLEXUS_ERROR_INVALID_CONFIG
 *   error naming @origin, @group and @key, and leaves the value as it was
 */
gboolean
plexus_config_set_override_list_from (PlexusConfig         *self,
                                      const gchar          *origin,
                                      const gchar          *group,
                                      const gchar          *key,
                                      const gchar * const  *values,
                                      GError              **error)
{
  g_autoptr(GKeyFile) key_file = NULL;
  g_autoptr(GError) local_error = NULL;
  ConfigKey *ck;
  ConfigValue *parsed;
  guint n_values;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), FALSE);
  g_return_val_if_fail (origin != NULL, FALSE);
  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (values != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  ck = config_lookup (self, origin, group, key, error);
  if (ck == NULL)
    return FALSE;

  n_values = g_strv_length ((gchar **) values);
  if (!type_is_list (ck->type)) {
    if (n_values != 1) {
      g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                   "%s: [%s] %s: takes one value, not %u", origin, group, key, n_values);
      return FALSE;
    }
    return plexus_config_set_override_from (self, origin, group, key, values[0], error);
  }

  for (guint i = 0; i < n_values; i++) {
    if (!check_override_utf8 (origin, ck, values[i], error))
      return FALSE;
  }
  key_file = g_key_file_new ();
  g_key_file_set_string_list (key_file, group, key, values, n_values);
  parsed = config_key_parse (ck, key_file, origin, FALSE, &local_error);
  if (parsed == NULL) {
    set_key_error (error, origin, ck, local_error);
    return FALSE;
  }
  config_value_free (ck->override_value);
  ck->override_value = parsed;
  return TRUE;
}

/**
 * plexus_config_set_override_list:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 * @values: (array zero-terminated=1): the items
 * @error: return location for a #GError
 *
 * plexus_config_set_override_list_from() with `command line` as the origin.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_config_set_override_list (PlexusConfig         *self,
                                 const gchar          *group,
                                 const gchar          *key,
                                 const gchar * const  *values,
                                 GError              **error)
{
  return plexus_config_set_override_list_from (self, ORIGIN_COMMAND_LINE, group, key, values, error);
}

/* The key a getter asks for; a key outside the schema, or read as the wrong
 * type, is a bug in the caller. */
static ConfigKey *
config_key_for_getter (PlexusConfig *self,
                       const gchar  *func,
                       const gchar  *group,
                       const gchar  *key)
{
  GHashTable *keys = g_hash_table_lookup (self->groups, group);
  ConfigKey *ck = keys != NULL ? g_hash_table_lookup (keys, key) : NULL;

  if (ck == NULL)
    g_critical ("%s: [%s] %s is not a configuration key", func, group, key);
  return ck;
}

static gboolean
config_key_check_type (ConfigKey        *ck,
                       const gchar      *func,
                       PlexusConfigType  type)
{
  if (ck->type == type)
    return TRUE;
  g_critical ("%s: [%s] %s is of type %s, not %s",
              func, ck->group, ck->key, type_names[ck->type], type_names[type]);
  return FALSE;
}

static const ConfigValue *
config_key_effective (ConfigKey *ck)
{
  if (ck->override_value != NULL)
    return ck->override_value;
  if (ck->file_value != NULL)
    return ck->file_value;
  return ck->default_value;
}

/**
 * plexus_config_get_string:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: a key that is not a list
 *
 * Gets the effective value as text. For a string, URI or address that is
 * unset the text is empty; booleans read `true` or `false`, numbers as
 * digits.
 *
 * Returns: (transfer full): the value
 */
gchar *
plexus_config_get_string (PlexusConfig *self,
                          const gchar  *group,
                          const gchar  *key)
{
  ConfigKey *ck;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), NULL);
  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  ck = config_key_for_getter (self, G_STRFUNC, group, key);
  if (ck == NULL)
    return NULL;
  if (type_is_list (ck->type)) {
    g_critical ("%s: [%s] %s is a list; use plexus_config_get_string_list()",
                G_STRFUNC, group, key);
    return NULL;
  }
  return g_strdup (config_key_effective (ck)->text);
}

/**
 * plexus_config_get_string_list:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: a key of a list type
 *
 * Gets the effective items of a list.
 *
 * Returns: (transfer full) (array zero-terminated=1): the items, an empty
 *   array if there are none
 */
gchar **
plexus_config_get_string_list (PlexusConfig *self,
                               const gchar  *group,
                               const gchar  *key)
{
  ConfigKey *ck;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), NULL);
  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  ck = config_key_for_getter (self, G_STRFUNC, group, key);
  if (ck == NULL)
    return NULL;
  if (!type_is_list (ck->type)) {
    g_critical ("%s: [%s] %s is not a list; use plexus_config_get_string()",
                G_STRFUNC, group, key);
    return NULL;
  }
  return g_strdupv (config_key_effective (ck)->items);
}

/**
 * plexus_config_get_boolean:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: a boolean key
 *
 * Returns: the effective value
 */
gboolean
plexus_config_get_boolean (PlexusConfig *self,
                           const gchar  *group,
                           const gchar  *key)
{
  ConfigKey *ck;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), FALSE);
  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  ck = config_key_for_getter (self, G_STRFUNC, group, key);
  if (ck == NULL || !config_key_check_type (ck, G_STRFUNC, PLEXUS_CONFIG_TYPE_BOOLEAN))
    return FALSE;
  return config_key_effective (ck)->boolean;
}

/**
 * plexus_config_get_integer:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: an integer key
 *
 * Returns: the effective value
 */
gint64
plexus_config_get_integer (PlexusConfig *self,
                           const gchar  *group,
                           const gchar  *key)
{
  ConfigKey *ck;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), 0);
  g_return_val_if_fail (group != NULL, 0);
  g_return_val_if_fail (key != NULL, 0);

  ck = config_key_for_getter (self, G_STRFUNC, group, key);
  if (ck == NULL || !config_key_check_type (ck, G_STRFUNC, PLEXUS_CONFIG_TYPE_INTEGER))
    return 0;
  return config_key_effective (ck)->integer;
}

/**
 * plexus_config_get_double:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: a double key
 *
 * Returns: the effective value
 */
gdouble
plexus_config_get_double (PlexusConfig *self,
                          const gchar  *group,
                          const gchar  *key)
{
  ConfigKey *ck;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), 0.0);
  g_return_val_if_fail (group != NULL, 0.0);
  g_return_val_if_fail (key != NULL, 0.0);

  ck = config_key_for_getter (self, G_STRFUNC, group, key);
  if (ck == NULL || !config_key_check_type (ck, G_STRFUNC, PLEXUS_CONFIG_TYPE_DOUBLE))
    return 0.0;
  return config_key_effective (ck)->number;
}

/**
 * plexus_config_get_origin:
 * @self: a #PlexusConfig
 * @group: the group
 * @key: the key
 *
 * Says where the effective value came from.
 *
 * Returns: the path of the file that set it, `command line` (or the origin
 *   given to plexus_config_set_override_from()), or `default`
 */
const gchar *
plexus_config_get_origin (PlexusConfig *self,
                          const gchar  *group,
                          const gchar  *key)
{
  ConfigKey *ck;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (self), NULL);
  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);

  ck = config_key_for_getter (self, G_STRFUNC, group, key);
  if (ck == NULL)
    return NULL;
  return config_key_effective (ck)->origin;
}

/**
 * plexus_config_type_to_string:
 * @type: a #PlexusConfigType
 *
 * Returns: the type's name as plugin metadata writes it, e.g. `address`,
 *   or %NULL if @type is not a type
 */
const gchar *
plexus_config_type_to_string (PlexusConfigType type)
{
  if (!type_is_valid (type))
    return NULL;
  return type_names[type];
}

/**
 * plexus_config_type_from_string:
 * @str: a type name, e.g. `string-list`
 * @type: (out): where to store the type
 * @error: return location for a #GError
 *
 * Parses the name of a #PlexusConfigType as the `[Config]` group of plugin
 * metadata writes it.
 *
 * Returns: %TRUE on success; on failure sets a
 *   %PLEXUS_ERROR_INVALID_ARGUMENT error listing the names
 */
gboolean
plexus_config_type_from_string (const gchar       *str,
                                PlexusConfigType  *type,
                                GError           **error)
{
  g_autoptr(GString) names = g_string_new (NULL);

  g_return_val_if_fail (type != NULL, FALSE);

  for (guint i = 0; i < G_N_ELEMENTS (type_names); i++) {
    if (g_strcmp0 (str, type_names[i]) == 0) {
      *type = (PlexusConfigType) i;
      return TRUE;
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (type_names); i++)
    g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", type_names[i]);
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
               "'%s' is not a configuration type; expected one of %s",
               str != NULL ? str : "(null)", names->str);
  return FALSE;
}
