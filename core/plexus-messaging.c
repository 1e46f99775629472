/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sodium.h>
#include <json-glib/json-glib.h>

#include "plexus-broker.h"
#include "plexus-envelope.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "plexus-messaging.h"
#include "plexus-signal.h"

/* Hybrid signaling, the node's half (doc/architecture.md, "Signaling"):
 * binds the delivery engine (plexus-delivery.c) to the messenger.
 *
 * Sending: the payload is signed and sealed to the recipient
 * (plexus-signal.c); the paths come from the link table and the broker's
 * `signaling` providers, filtered by the mode (direct link and super peers
 * unless traditional, the server unless peer) and raced two at a time in
 * hybrid mode. A direct path is a `signal.deliver` to the recipient; a
 * relayed one is a `signal.relay` request to the relay (a super peer's
 * signaling-relay plugin, the server's server-fallback plugin), which
 * answers only to refuse it: silence for RELAY_TIMEOUT_MS means it took the
 * message on. A relay that takes a message on and never delivers it (one
 * frozen or dropping) is found out when another path delivers it: each
 * relay that stayed silent for it is reported to the broker then, and not
 * when no path delivers (the recipient may be offline).
 *
 * Receiving: `signal.deliver` is opened and checked; a message new from its
 * sender is given to the application once (the `received` signal), and
 * every copy is acknowledged, so that a sender whose first acknowledgement
 * was lost still completes. An acknowledgement completes the message it
 * names, feeding the broker the latency of the path it came by. */

#define MAX_PATHS 6
/* A relay refuses a message within this long or has taken it on. */
#define RELAY_TIMEOUT_MS 3000

struct _PlexusMessaging {
  GObject          parent_instance;

  PlexusContext   *context;
  PlexusMessenger *messenger;
  PlexusDelivery  *delivery;
  GHashTable      *sealed;     /* message ID → Outgoing, while in flight */
  GCancellable    *cancellable;
  guint            tick_id;
  gboolean         registered; /* signal.deliver is ours */
  gint64           started_ms; /* wall clock, when this node started */
};

enum {
  SIGNAL_DELIVERED,
  SIGNAL_PATH_FAILED,
  SIGNAL_FAILED,
  SIGNAL_RECEIVED,
  SIGNAL_DUPLICATE,
  SIGNAL_REFUSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (PlexusMessaging, plexus_messaging, G_TYPE_OBJECT)

/* A message in flight: what the engine's sends need. */
typedef struct {
  GBytes       *sealed;       /* attached to each envelope that carries it */
  gchar        *to;
  PlexusMode    mode;
  GCancellable *cancellable;  /* its requests to relays, done with it */
  guint         asking;       /* requests to relays not yet refused or timed out */
  GPtrArray    *refused;      /* relays that refused it (nullable) */
  GPtrArray    *answered;     /* relays that said they took it on: `held` (nullable) */
  GPtrArray    *silent;       /* relays that took it on in silence and did not deliver in time (nullable) */
  gchar        *delivered_by; /* the relay of the path that delivered it, while others trail */
} Outgoing;

/* Some relay took @outgoing on (or may yet: one is still being asked). */
static gboolean
outgoing_taken_on (const Outgoing *outgoing)
{
  return outgoing->asking > 0 || (outgoing->answered != NULL && outgoing->answered->len > 0) ||
         (outgoing->silent != NULL && outgoing->silent->len > 0);
}

static void
outgoing_free (gpointer data)
{
  Outgoing *outgoing = data;

  /* Its requests end with it, rather than each waiting out its timer. */
  g_cancellable_cancel (outgoing->cancellable);
  g_object_unref (outgoing->cancellable);
  g_clear_pointer (&outgoing->refused, g_ptr_array_unref);
  g_clear_pointer (&outgoing->answered, g_ptr_array_unref);
  g_clear_pointer (&outgoing->silent, g_ptr_array_unref);
  g_free (outgoing->delivered_by);
  g_bytes_unref (outgoing->sealed);
  g_free (outgoing->to);
  g_free (outgoing);
}

static void messaging_drain (PlexusMessaging *self);
static void attempt_failed (PlexusMessaging *self, const gchar *id, const PlexusDeliveryPath *path,
                            const gchar *reason);

static const gchar *
own_peer_id (PlexusMessaging *self)
{
  return plexus_identity_get_peer_id (plexus_context_get_identity (self->context));
}

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

static gint64
wall_ms (void)
{
  return g_get_real_time () / 1000;
}

/* "direct", "peer:ID" or "server:ID": how the sender names a path, echoed
 * in acknowledgements. */
static gchar *
path_to_label (const PlexusDeliveryPath *path)
{
  if (path->kind == PLEXUS_DELIVERY_PATH_DIRECT)
    return g_strdup ("direct");
  return g_strconcat (plexus_delivery_path_kind_to_string (path->kind), ":", path->relay, NULL);
}

static gboolean
path_from_label (const gchar *label, const gchar *to, PlexusDeliveryPath *path)
{
  const gchar *colon;

  memset (path, 0, sizeof *path);
  if (g_strcmp0 (label, "direct") == 0) {
    path->kind = PLEXUS_DELIVERY_PATH_DIRECT;
    g_strlcpy (path->relay, to, sizeof path->relay);
    return TRUE;
  }
  if (label == NULL || (colon = strchr (label, ':')) == NULL || !plexus_peer_id_is_valid (colon + 1))
    return FALSE;
  if (colon - label == 4 && strncmp (label, "peer", 4) == 0)
    path->kind = PLEXUS_DELIVERY_PATH_PEER;
  else if (colon - label == 6 && strncmp (label, "server", 6) == 0)
    path->kind = PLEXUS_DELIVERY_PATH_SERVER;
  else
    return FALSE;
  g_strlcpy (path->relay, colon + 1, sizeof path->relay);
  return TRUE;
}

static gchar *
new_message_id (void)
{
  guint8 bytes[16];
  gchar id[sodium_base64_ENCODED_LEN (sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

  randombytes_buf (bytes, sizeof bytes);
  sodium_bin2base64 (id, sizeof id, bytes, sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return g_strdup (id);
}

/* ---- the broker hears how paths do ---- */

static PlexusProvider *
path_provider (PlexusMessaging *self, const PlexusDeliveryPath *path)
{
  if (path->kind == PLEXUS_DELIVERY_PATH_DIRECT)
    return NULL;
  return plexus_broker_lookup_provider (plexus_context_get_broker (self->context), "signaling", path->relay);
}

/* ---- sending ---- */

/* The paths to @to that @mode allows, best first; @known (optional) counts
 * the relays of those kinds known at all, usable now or not. */
static guint
build_paths (PlexusMessaging *self, const gchar *to, PlexusMode mode, PlexusDeliveryPath *paths, guint *known)
{
  PlexusBroker *broker = plexus_context_get_broker (self->context);
  g_auto(GStrv) linked = plexus_messenger_list_linked_peers (self->messenger);
  g_autoptr(GPtrArray) providers = plexus_broker_list_providers (broker, "signaling");
  PlexusDeliveryPath peer_paths[MAX_PATHS], server_paths[MAX_PATHS];
  guint n = 0, n_peer = 0, n_server = 0;

  if (known != NULL) {
    *known = 0;
    for (guint i = 0; providers != NULL && i < providers->len; i++) {
      gboolean is_server = plexus_provider_get_kind (g_ptr_array_index (providers, i)) == PLEXUS_PROVIDER_KIND_SERVER;

      *known += is_server ? mode != PLEXUS_MODE_PEER : mode != PLEXUS_MODE_TRADITIONAL;
    }
  }
  if (mode != PLEXUS_MODE_TRADITIONAL && g_strv_contains ((const gchar * const *) linked, to)) {
    paths[n].kind = PLEXUS_DELIVERY_PATH_DIRECT;
    g_strlcpy (paths[n].relay, to, sizeof paths[n].relay);
    n++;
  }
  /* Best first; relays this node is linked to before others of a kind. */
  for (gint pass = 0; pass < 2; pass++) {
    for (guint i = 0; providers != NULL && i < providers->len; i++) {
      PlexusProvider *provider = g_ptr_array_index (providers, i);
      const gchar *relay = plexus_provider_get_peer_id (provider);
      gboolean is_linked = g_strv_contains ((const gchar * const *) linked, relay) ||
                           g_strcmp0 (relay, own_peer_id (self)) == 0;
      gboolean is_server = plexus_provider_get_kind (provider) == PLEXUS_PROVIDER_KIND_SERVER;

      /* Usable by its own state; the mode filter is this message's. */
      if (is_linked != (pass == 0) || g_strcmp0 (relay, to) == 0 || !plexus_provider_get_available (provider) ||
          !plexus_broker_provider_is_healthy (broker, provider))
        continue;
      if (is_server && mode != PLEXUS_MODE_PEER && n_server < MAX_PATHS) {
        server_paths[n_server].kind = PLEXUS_DELIVERY_PATH_SERVER;
        g_strlcpy (server_paths[n_server++].relay, relay, sizeof server_paths[0].relay);
      } else if (!is_server && mode != PLEXUS_MODE_TRADITIONAL && n_peer < MAX_PATHS) {
        peer_paths[n_peer].kind = PLEXUS_DELIVERY_PATH_PEER;
        g_strlcpy (peer_paths[n_peer++].relay, relay, sizeof peer_paths[0].relay);
      }
    }
  }
  /* A relay itself hands its messages on: the server in any mode but peer,
   * a super peer in any but traditional. */
  if ((plexus_context_get_roles (self->context) & PLEXUS_ROLE_SERVER) != 0 && mode != PLEXUS_MODE_PEER &&
      n_server < MAX_PATHS && plexus_broker_lookup_provider (broker, "signaling", own_peer_id (self)) == NULL) {
    server_paths[n_server].kind = PLEXUS_DELIVERY_PATH_SERVER;
    g_strlcpy (server_paths[n_server++].relay, own_peer_id (self), sizeof server_paths[0].relay);
  }
  if ((plexus_context_get_roles (self->context) & PLEXUS_ROLE_SUPER) != 0 && mode != PLEXUS_MODE_TRADITIONAL &&
      n_peer < MAX_PATHS && plexus_broker_lookup_provider (broker, "signaling", own_peer_id (self)) == NULL) {
    peer_paths[n_peer].kind = PLEXUS_DELIVERY_PATH_PEER;
    g_strlcpy (peer_paths[n_peer++].relay, own_peer_id (self), sizeof peer_paths[0].relay);
  }
  /* In hybrid mode the race pairs the best peer path with the server. */
  if (n == 0 && n_peer > 0)
    paths[n++] = peer_paths[0];
  if (n_server > 0 && n < MAX_PATHS)
    paths[n++] = server_paths[0];
  for (guint i = n > 0 && n_peer > 0 && paths[0].kind == PLEXUS_DELIVERY_PATH_PEER ? 1 : 0; i < n_peer && n < MAX_PATHS; i++)
    paths[n++] = peer_paths[i];
  for (guint i = 1; i < n_server && n < MAX_PATHS; i++)
    paths[n++] = server_paths[i];
  return n;
}

typedef struct {
  PlexusMessaging    *self;  /* strong */
  gchar              *id;
  PlexusDeliveryPath  path;
} RelayCall;

static void
relay_call_free (RelayCall *call)
{
  g_object_unref (call->self);
  g_free (call->id);
  g_free (call);
}

/* Adds @relay to the set *@relays, made when needed. */
static void
add_relay (GPtrArray **relays, const gchar *relay)
{
  if (*relays == NULL)
    *relays = g_ptr_array_new_with_free_func (g_free);
  if (!g_ptr_array_find_with_equal_func (*relays, relay, g_str_equal, NULL))
    g_ptr_array_add (*relays, g_strdup (relay));
}

static gboolean
has_relay (GPtrArray *relays, const gchar *relay)
{
  return relays != NULL && g_ptr_array_find_with_equal_func (relays, relay, g_str_equal, NULL);
}

static void
remove_relay (GPtrArray *relays, const gchar *relay)
{
  guint index;

  if (relays != NULL && g_ptr_array_find_with_equal_func (relays, relay, g_str_equal, &index))
    g_ptr_array_remove_index_fast (relays, index);
}

static void
on_relay_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RelayCall *call = user_data;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  Outgoing *outgoing;

  answer = plexus_messenger_request_finish (PLEXUS_MESSENGER (source), result, &error);
  if (call->self->delivery == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    relay_call_free (call);
    return;
  }
  outgoing = g_hash_table_lookup (call->self->sealed, call->id);
  if (outgoing != NULL && outgoing->asking > 0)
    outgoing->asking--;
  if (answer != NULL || g_error_matches (error, PLEXUS_ERROR, PLEXUS_ERROR_TIMED_OUT)) {
    /* Taken on: with an answer (`held`: the wait is the recipient's, not
     * the relay's fault), or in silence (noted when the delivery engine
     * gives up the attempt, note_silence()). Only the server holds
     * signals: from a super peer, `held` is an excuse not believed. */
    if (outgoing != NULL && answer != NULL && call->path.kind == PLEXUS_DELIVERY_PATH_SERVER &&
        g_strcmp0 (json_object_get_string_member_with_default (plexus_envelope_get_body (answer), "status", NULL),
                   "held") == 0)
      add_relay (&outgoing->answered, call->path.relay);
  } else {
    PlexusProvider *provider = path_provider (call->self, &call->path);

    /* A refusal may come after the attempt's time is up (the engine's
     * timer and the request's run alike): it was no silence. */
    if (outgoing != NULL) {
      add_relay (&outgoing->refused, call->path.relay);
      remove_relay (outgoing->silent, call->path.relay);
    }
    /* The relay's own fault (no answer, a broken request) counts against
     * it; a recipient it does not know is no fault of the relay's. */
    if (provider != NULL && strstr (error->message, ": " PLEXUS_ENVELOPE_CODE_NO_ROUTE ":") == NULL)
      plexus_broker_report_failure (plexus_context_get_broker (call->self->context), provider, error->message);
    attempt_failed (call->self, call->id, &call->path, error->message);
  }
  relay_call_free (call);
}

static void
on_deliver_sent (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RelayCall *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!plexus_messenger_send_finish (PLEXUS_MESSENGER (source), result, &error) && call->self->delivery != NULL &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    attempt_failed (call->self, call->id, &call->path, error->message);
  relay_call_free (call);
}

/* `signal.deliver` straight to @to, routed by the node. */
static void
send_deliver (PlexusMessaging *self, const gchar *to, const gchar *id, GBytes *sealed, const gchar *label,
              RelayCall *call)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) envelope = NULL;

  json_object_set_string_member (body, "id", id);
  json_object_set_string_member (body, "path", label);
  json_object_set_string_member (body, "relay", own_peer_id (self));
  envelope = plexus_envelope_new ("signal.deliver", own_peer_id (self), to, body);
  plexus_envelope_set_attachment (envelope, sealed);
  plexus_messenger_send_async (self->messenger, envelope, self->cancellable,
                               call != NULL ? on_deliver_sent : NULL, call);
}

/* `signal.relay` to a relay, which passes it on towards @to; @call
 * (nullable) hears whether the relay refused it. Without one (an
 * acknowledgement) nothing waits: a refusal is dropped when it comes. */
static void
send_relay (PlexusMessaging *self, const gchar *relay, const gchar *to, const gchar *id, GBytes *sealed,
            const gchar *label, GCancellable *cancellable, RelayCall *call)
{
  g_autoptr(JsonObject) body = json_object_new ();
  g_autoptr(PlexusEnvelope) envelope = NULL;

  json_object_set_string_member (body, "to", to);
  json_object_set_string_member (body, "id", id);
  json_object_set_string_member (body, "path", label);
  envelope = plexus_envelope_new ("signal.relay", own_peer_id (self), relay, body);
  plexus_envelope_set_attachment (envelope, sealed);
  if (call != NULL) {
    plexus_messenger_request_envelope_async (self->messenger, envelope, RELAY_TIMEOUT_MS, cancellable,
                                             on_relay_answer, call);
    return;
  }
  plexus_messenger_send_async (self->messenger, envelope, NULL, NULL, NULL);
}

static void
carry_out (PlexusMessaging *self, const PlexusDeliverySend *send)
{
  Outgoing *outgoing = g_hash_table_lookup (self->sealed, send->id);
  g_autofree gchar *label = path_to_label (&send->path);
  GBytes *sealed;
  RelayCall *call;

  if (outgoing == NULL)
    return;
  sealed = outgoing->sealed;
  call = g_new0 (RelayCall, 1);
  call->self = g_object_ref (self);
  call->id = g_strdup (send->id);
  call->path = send->path;
  /* This node relays for others: it hands the message on itself. */
  if (send->path.kind == PLEXUS_DELIVERY_PATH_DIRECT || strcmp (send->path.relay, own_peer_id (self)) == 0)
    send_deliver (self, send->to, send->id, sealed, label, call);
  else {
    outgoing->asking++;
    send_relay (self, send->path.relay, send->to, send->id, sealed, label, outgoing->cancellable, call);
  }
}

static gboolean
on_tick (gpointer user_data)
{
  PlexusMessaging *self = user_data;
  GHashTableIter iter;
  gpointer key, value;

  self->tick_id = 0;
  /* Relays come and go: each message in flight gets the paths of now. */
  g_hash_table_iter_init (&iter, self->sealed);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    Outgoing *outgoing = value;
    PlexusDeliveryPath paths[MAX_PATHS];
    guint n;

    /* Delivered, with attempts trailing: no path is tried again. */
    if (outgoing->delivered_by != NULL)
      continue;
    n = build_paths (self, outgoing->to, outgoing->mode, paths, NULL);
    plexus_delivery_set_paths (self->delivery, key, paths, n);
  }
  plexus_delivery_tick (self->delivery, now_ms ());
  messaging_drain (self);
  return G_SOURCE_REMOVE;
}

/* An attempt at @id by @path failed: refused, or not acknowledged in time.
 * A relay (not this node itself) that did not refuse took it on. */
static void
note_silence (PlexusMessaging *self, const gchar *id, const PlexusDeliveryPath *path)
{
  Outgoing *outgoing = g_hash_table_lookup (self->sealed, id);

  if (outgoing == NULL || path->kind == PLEXUS_DELIVERY_PATH_DIRECT || strcmp (path->relay, own_peer_id (self)) == 0 ||
      has_relay (outgoing->refused, path->relay) || has_relay (outgoing->answered, path->relay))
    return;
  add_relay (&outgoing->silent, path->relay);
}

/* @id was delivered by @path: each other relay that took it on and stayed
 * silent past its time failed it. */
static void
blame_silent_relays (PlexusMessaging *self, const gchar *id, const PlexusDeliveryPath *path)
{
  Outgoing *outgoing = g_hash_table_lookup (self->sealed, id);

  for (guint i = 0; outgoing != NULL && outgoing->silent != NULL && i < outgoing->silent->len; i++) {
    const gchar *relay = g_ptr_array_index (outgoing->silent, i);
    PlexusProvider *provider;
    g_autofree gchar *why = NULL;

    if (strcmp (relay, path->relay) == 0)
      continue;
    provider = plexus_broker_lookup_provider (plexus_context_get_broker (self->context), "signaling", relay);
    if (provider == NULL)
      continue;
    why = g_strdup_printf ("it took message %s on and did not deliver it within %d ms; %s did", id,
                           RELAY_TIMEOUT_MS, path->relay);
    g_message ("relay %s: %s", relay, why);
    plexus_broker_report_failure (plexus_context_get_broker (self->context), provider, why);
  }
}

/* After @id was delivered, the attempt on @path trailed to its end
 * without a word: a relay that took it on (it neither refused nor said
 * it holds it) and lost it, where the path that delivered it did not. */
static void
blame_trailing_relay (PlexusMessaging *self, const gchar *id, const PlexusDeliveryPath *path)
{
  Outgoing *outgoing = g_hash_table_lookup (self->sealed, id);
  PlexusProvider *provider = path_provider (self, path);
  g_autofree gchar *why = NULL;

  /* One in silent was held against at the delivery already. */
  if (outgoing == NULL || provider == NULL || strcmp (path->relay, own_peer_id (self)) == 0 ||
      has_relay (outgoing->refused, path->relay) || has_relay (outgoing->answered, path->relay) ||
      has_relay (outgoing->silent, path->relay))
    return;
  why = g_strdup_printf ("it took message %s on and did not deliver it within %d ms; %s did", id,
                         RELAY_TIMEOUT_MS, outgoing->delivered_by != NULL ? outgoing->delivered_by : "another path");
  g_message ("relay %s: %s", path->relay, why);
  plexus_broker_report_failure (plexus_context_get_broker (self->context), provider, why);
}

/* Forgets @id once the engine has nothing more to tell of it. */
static void
forget_unless_trailing (PlexusMessaging *self, const gchar *id)
{
  if (!plexus_delivery_is_trailing (self->delivery, id))
    g_hash_table_remove (self->sealed, id);
}

/* The attempt at @id by @path failed (refused, or could not be sent).
 * After the message was delivered that ends a trailing attempt without an
 * event, which may be the last thing the engine had to tell of it. */
static void
attempt_failed (PlexusMessaging *self, const gchar *id, const PlexusDeliveryPath *path, const gchar *reason)
{
  Outgoing *outgoing;

  plexus_delivery_path_failed (self->delivery, now_ms (), id, path, reason);
  outgoing = g_hash_table_lookup (self->sealed, id);
  if (outgoing != NULL && outgoing->delivered_by != NULL)
    forget_unless_trailing (self, id);
  messaging_drain (self);
}

static void
messaging_drain (PlexusMessaging *self)
{
  PlexusBroker *broker = plexus_context_get_broker (self->context);
  PlexusDeliverySend send;
  PlexusDeliveryEvent event;
  gint64 deadline;

  if (self->delivery == NULL)
    return;
  while (self->delivery != NULL && plexus_delivery_pop_send (self->delivery, &send)) {
    carry_out (self, &send);
    plexus_delivery_send_clear (&send);
  }
  /* A handler may shut messaging down: look again each time. */
  while (self->delivery != NULL && plexus_delivery_pop_event (self->delivery, &event)) {
    PlexusProvider *provider = path_provider (self, &event.path);
    const gchar *kind = plexus_delivery_path_kind_to_string (event.path.kind);

    switch (event.type) {
    case PLEXUS_DELIVERY_EVENT_DELIVERED: {
      Outgoing *outgoing = g_hash_table_lookup (self->sealed, event.id);

      if (provider != NULL)
        plexus_broker_report_success (broker, provider, (gdouble) event.latency_ms);
      blame_silent_relays (self, event.id, &event.path);
      if (outgoing != NULL)
        outgoing->delivered_by = g_strdup (event.path.relay);
      forget_unless_trailing (self, event.id);
      g_signal_emit (self, signals[SIGNAL_DELIVERED], 0, event.id, event.to, kind, event.path.relay,
                     (gdouble) event.latency_ms);
      break;
    }
    case PLEXUS_DELIVERY_EVENT_PATH_ACKNOWLEDGED:
      /* A race's slower path: its latency counts too. */
      if (provider != NULL)
        plexus_broker_report_success (broker, provider, (gdouble) event.latency_ms);
      forget_unless_trailing (self, event.id);
      break;
    case PLEXUS_DELIVERY_EVENT_PATH_SILENT:
      blame_trailing_relay (self, event.id, &event.path);
      forget_unless_trailing (self, event.id);
      break;
    case PLEXUS_DELIVERY_EVENT_PATH_FAILED:
      /* Not held against the relay: the recipient may be offline. But a
       * relay that did not refuse took it on; if another path delivers
       * it, this one failed it (blame_silent_relays()). */
      note_silence (self, event.id, &event.path);
      g_message ("message %s to %s: the %s path through %s failed (%s); trying another",
                 event.id, event.to, kind, event.path.relay, event.reason);
      g_signal_emit (self, signals[SIGNAL_PATH_FAILED], 0, event.id, event.to, kind, event.path.relay, event.reason);
      break;
    case PLEXUS_DELIVERY_EVENT_FAILED:
    default: {
      /* No relay ever took it on (each refused it): none knows the
       * recipient. One asked lately that has not refused yet counts as
       * having taken it on. */
      Outgoing *outgoing = g_hash_table_lookup (self->sealed, event.id);
      gboolean unknown = outgoing == NULL || !outgoing_taken_on (outgoing);
      g_autofree gchar *reason = unknown ? g_strdup_printf ("no relay knows %s; %s", event.to, event.reason)
                                         : g_strdup (event.reason);

      g_hash_table_remove (self->sealed, event.id);
      g_message ("message %s to %s failed: %s", event.id, event.to, reason);
      g_signal_emit (self, signals[SIGNAL_FAILED], 0, event.id, event.to,
                     unknown ? "org.plexus.Plexus1.Error.NotFound" : "org.plexus.Plexus1.Error.TimedOut", reason);
      break;
    }
    }
    plexus_delivery_event_clear (&event);
  }
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->delivery == NULL)
    return;
  deadline = plexus_delivery_next_deadline (self->delivery);
  if (deadline >= 0)
    self->tick_id = g_timeout_add ((guint) CLAMP (deadline - now_ms (), 0, 60000), on_tick, self);
}

/**
 * plexus_messaging_send:
 * @self: a #PlexusMessaging
 * @to: the recipient's peer ID
 * @payload: the application's bytes, at most %PLEXUS_SIGNAL_MAX_PAYLOAD
 * @mode: which paths may be used
 * @error: return location for a #GError
 *
 * Sends a message; #PlexusMessaging::delivered or #PlexusMessaging::failed
 * tells how it went.
 *
 * Returns: (transfer full): the message ID, or %NULL with @error set:
 *   %PLEXUS_ERROR_INVALID_ARGUMENT for a malformed or own peer ID or a
 *   payload too large, %PLEXUS_ERROR_NO_PROVIDER when the mode leaves no
 *   path, %PLEXUS_ERROR_FAILED when too many messages are in flight
 */
gchar *
plexus_messaging_send (PlexusMessaging *self, const gchar *to, GBytes *payload, PlexusMode mode, GError **error)
{
  PlexusDeliveryPath paths[MAX_PATHS];
  g_autoptr(PlexusSignal) signal = NULL;
  g_autofree gchar *id = NULL;
  g_autofree gchar *sealed = NULL;
  Outgoing *outgoing;
  guint n, known;

  g_return_val_if_fail (PLEXUS_IS_MESSAGING (self), NULL);
  g_return_val_if_fail (payload != NULL, NULL);

  if (self->delivery == NULL) {
    g_set_error_literal (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, "the node is shutting down");
    return NULL;
  }
  if (!plexus_peer_id_is_valid (to)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "'%s' is not a peer ID (64 lower-case hex digits)", to);
    return NULL;
  }
  if (strcmp (to, own_peer_id (self)) == 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT, "%s is this node itself", to);
    return NULL;
  }
  if (g_bytes_get_size (payload) > PLEXUS_SIGNAL_MAX_PAYLOAD) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                 "a payload of %" G_GSIZE_FORMAT " bytes is larger than the %d allowed",
                 g_bytes_get_size (payload), PLEXUS_SIGNAL_MAX_PAYLOAD);
    return NULL;
  }
  n = build_paths (self, to, mode, paths, &known);
  /* Nothing usable right now (a relay restarting) is worth waiting for;
   * no relay at all and no link is not. */
  if (n == 0 && known == 0) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_NO_PROVIDER,
                 "no path to %s in %s mode: no link to it and no %s relay known", to, plexus_mode_to_string (mode),
                 mode == PLEXUS_MODE_PEER ? "super peer" : mode == PLEXUS_MODE_TRADITIONAL ? "server" : "super peer or server");
    return NULL;
  }
  id = new_message_id ();
  signal = plexus_signal_new (PLEXUS_SIGNAL_KIND_MESSAGE, own_peer_id (self), to, id, wall_ms (), payload);
  sealed = plexus_signal_seal (signal, plexus_context_get_identity (self->context), error);
  if (sealed == NULL)
    return NULL;
  if (!plexus_delivery_submit (self->delivery, now_ms (), id, to, paths, n,
                               mode == PLEXUS_MODE_HYBRID ? 2 : 1, error))
    return NULL;
  outgoing = g_new0 (Outgoing, 1);
  outgoing->sealed = g_bytes_new_take (sealed, strlen (sealed));
  sealed = NULL;
  outgoing->to = g_strdup (to);
  outgoing->mode = mode;
  outgoing->cancellable = g_cancellable_new ();
  g_hash_table_insert (self->sealed, g_strdup (id), outgoing);
  messaging_drain (self);
  return g_steal_pointer (&id);
}

/* ---- receiving ---- */

/* @relay: the neighbour that handed the message over */
static void
send_ack (PlexusMessaging *self, const PlexusSignal *message, const gchar *label, const gchar *relay)
{
  g_autoptr(PlexusSignal) ack = plexus_signal_new (PLEXUS_SIGNAL_KIND_ACK, own_peer_id (self), message->from,
                                                   message->id, wall_ms (), NULL);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = plexus_signal_seal (ack, plexus_context_get_identity (self->context), &error);
  g_autoptr(GBytes) sealed = NULL;

  if (text == NULL) {
    g_warning ("cannot acknowledge message %s: %s", message->id, error->message);
    return;
  }
  sealed = g_bytes_new_take (text, strlen (text));
  text = NULL;
  /* Back the way it came: straight to the sender, or to the relay that
   * handed it over, which passes it on like any message. */
  if (g_str_equal (label, "direct") || relay == NULL || g_strcmp0 (relay, message->from) == 0) {
    send_deliver (self, message->from, message->id, sealed, label, NULL);
    return;
  }
  send_relay (self, relay, message->from, message->id, sealed, label, NULL, NULL);
}

static PlexusEnvelope *
on_deliver (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope, gpointer user_data)
{
  PlexusMessaging *self = user_data;
  JsonObject *body = plexus_envelope_get_body (envelope);
  const gchar *id = json_object_get_string_member_with_default (body, "id", NULL);
  GBytes *attachment = plexus_envelope_get_attachment (envelope);
  const gchar *label = json_object_get_string_member_with_default (body, "path", NULL);
  const gchar *relay = json_object_get_string_member_with_default (body, "relay", NULL);
  g_autofree gchar *sealed = NULL;
  g_autoptr(PlexusSignal) signal = NULL;
  PlexusDeliveryArrival arrival;
  g_autoptr(GError) error = NULL;
  PlexusDeliveryPath path;

  if (self->delivery == NULL)
    return NULL;
  if (attachment != NULL) {
    gsize length;
    const gchar *data = g_bytes_get_data (attachment, &length);

    /* The sealed text: base64, so no NUL byte in it. */
    if (memchr (data, '\0', length) == NULL)
      sealed = g_strndup (data, length);
  }
  if (!plexus_envelope_id_is_valid (id) || sealed == NULL || label == NULL ||
      (relay != NULL && !plexus_peer_id_is_valid (relay)))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "signal.deliver needs 'id' and 'path' strings, 'relay' a peer ID and the "
                                      "sealed signal attached");
  signal = plexus_signal_open (plexus_context_get_identity (self->context), sealed, wall_ms (), &error);
  if (signal == NULL || strcmp (signal->id, id) != 0) {
    g_message ("refusing a signal from %s: %s", plexus_envelope_get_from (envelope),
               signal == NULL ? error->message : "its ID differs from the sealed one");
    g_signal_emit (self, signals[SIGNAL_REFUSED], 0, plexus_envelope_get_from (envelope),
                   signal == NULL ? error->message : "its ID differs from the sealed one");
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      signal == NULL ? error->message : "the ID differs from the sealed one");
  }
  if (signal->kind == PLEXUS_SIGNAL_KIND_ACK) {
    if (path_from_label (label, signal->from, &path))
      plexus_delivery_acknowledged (self->delivery, now_ms (), signal->id, signal->from, &path);
    messaging_drain (self);
    return NULL;
  }
  /* Made before this node started: what it delivered then is forgotten,
   * so an old copy could be given twice. */
  if (signal->timestamp_ms < self->started_ms) {
    g_signal_emit (self, signals[SIGNAL_REFUSED], 0, plexus_envelope_get_from (envelope),
                   "made before this node started");
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "the message was made before this node started");
  }
  arrival = plexus_delivery_note_received (self->delivery, now_ms (), signal->from, signal->id);
  if (arrival == PLEXUS_DELIVERY_FULL)
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_RATE_LIMITED,
                                      "too many messages arrived lately; try again");
  if (arrival == PLEXUS_DELIVERY_NEW)
    g_signal_emit (self, signals[SIGNAL_RECEIVED], 0, signal->from, signal->payload, signal->id);
  else
    g_signal_emit (self, signals[SIGNAL_DUPLICATE], 0, signal->from, signal->id);
  /* The ack goes back through the neighbour that handed the message over
   * (not whatever the unsigned body names), or straight to the sender. */
  send_ack (self, signal, label, relay != NULL && g_strcmp0 (relay, link_peer_id) == 0 ? relay : link_peer_id);
  return NULL;
}

/* ---- the object ---- */

/**
 * plexus_messaging_new:
 * @context: the daemon's context
 * @messenger: the node's messenger
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the node's messaging, handling
 *   `signal.deliver`; %NULL if that type is taken
 */
PlexusMessaging *
plexus_messaging_new (PlexusContext *context, PlexusMessenger *messenger, GError **error)
{
  g_autoptr(PlexusMessaging) self = g_object_new (PLEXUS_TYPE_MESSAGING, NULL);

  self->context = g_object_ref (context);
  self->messenger = g_object_ref (messenger);
  if (!plexus_messenger_register_handler (messenger, "signal.deliver", on_deliver, self, NULL, error))
    return NULL;
  self->registered = TRUE;
  return g_steal_pointer (&self);
}

/**
 * plexus_messaging_shutdown:
 * @self: a #PlexusMessaging
 *
 * Stops handling messages and cancels what is in flight, silently.
 */
void
plexus_messaging_shutdown (PlexusMessaging *self)
{
  g_return_if_fail (PLEXUS_IS_MESSAGING (self));

  g_cancellable_cancel (self->cancellable);
  /* Cancels each message's requests too. */
  g_hash_table_remove_all (self->sealed);
  g_clear_handle_id (&self->tick_id, g_source_remove);
  if (self->messenger != NULL && self->registered)
    plexus_messenger_unregister_handler (self->messenger, "signal.deliver");
  self->registered = FALSE;
  g_clear_object (&self->delivery);
}

static void
plexus_messaging_dispose (GObject *object)
{
  PlexusMessaging *self = PLEXUS_MESSAGING (object);

  if (self->delivery != NULL)
    plexus_messaging_shutdown (self);
  g_clear_object (&self->messenger);
  g_clear_object (&self->context);
  G_OBJECT_CLASS (plexus_messaging_parent_class)->dispose (object);
}

static void
plexus_messaging_finalize (GObject *object)
{
  PlexusMessaging *self = PLEXUS_MESSAGING (object);

  g_hash_table_unref (self->sealed);
  g_object_unref (self->cancellable);
  G_OBJECT_CLASS (plexus_messaging_parent_class)->finalize (object);
}

static void
plexus_messaging_class_init (PlexusMessagingClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_messaging_dispose;
  object_class->finalize = plexus_messaging_finalize;

  /**
   * PlexusMessaging::delivered:
   * @id: the message
   * @to: its recipient
   * @kind: the kind of path that delivered it: direct, peer or server
   * @relay: the relay (the recipient, for direct)
   * @latency_ms: from the attempt on that path to the acknowledgement
   */
  signals[SIGNAL_DELIVERED] =
    g_signal_new ("delivered", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 5,
                  G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_DOUBLE);
  /**
   * PlexusMessaging::path-failed:
   * @id: the message
   * @to: its recipient
   * @kind: the kind of path that failed
   * @relay: its relay
   * @reason: why
   *
   * A failover: the message goes on by another path.
   */
  signals[SIGNAL_PATH_FAILED] =
    g_signal_new ("path-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 5,
                  G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * PlexusMessaging::failed:
   * @id: the message
   * @to: its recipient
   * @error_name: the D-Bus error name: `org.plexus.Plexus1.Error.NotFound`
   *   when no relay knew the recipient, `...TimedOut` otherwise
   * @reason: why it was given up
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                  G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  /**
   * PlexusMessaging::received:
   * @from: the sender, proven by its signature
   * @payload: the application's bytes
   * @id: the message ID
   *
   * A message arrived, for the first time.
   */
  signals[SIGNAL_RECEIVED] =
    g_signal_new ("received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3,
                  G_TYPE_STRING, G_TYPE_BYTES, G_TYPE_STRING);
  /**
   * PlexusMessaging::duplicate:
   * @from: the sender
   * @id: the message ID
   *
   * A copy of a message already received arrived (another path, a retry,
   * a replay); it was acknowledged, not given again.
   */
  signals[SIGNAL_DUPLICATE] =
    g_signal_new ("duplicate", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_STRING, G_TYPE_STRING);
  /**
   * PlexusMessaging::refused:
   * @link_peer: the node that handed it over
   * @reason: why it was refused
   *
   * A signal was not for this node, forged, altered or stale.
   */
  signals[SIGNAL_REFUSED] =
    g_signal_new ("refused", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                  G_TYPE_STRING, G_TYPE_STRING);
}

static void
plexus_messaging_init (PlexusMessaging *self)
{
  self->delivery = plexus_delivery_new (NULL);
  self->sealed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, outgoing_free);
  self->cancellable = g_cancellable_new ();
  self->started_ms = wall_ms ();
}
