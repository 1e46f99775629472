/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-node.h"
#include "plexus-json.h"
#include "plexus-listener.h"

/**
 * SECTION:plexus-node
 * @title: PlexusNode
 * @short_description: the daemon's node links: the listener, dialing, one link per peer
 *
 * One SoupServer per daemon. Its address is the node's identity on the
 * network (`ws://HOST:PORT/`), shown on D-Bus and by `plexusctl status`.
 * Links arrive on it and are dialed from it to every `[node] bootstrap`
 * and `[node] server` URI; a dialed URI whose link goes away is dialed
 * again with exponential backoff.
 *
 * There is at most one live link per peer. When two nodes dial each other
 * both links may complete; both nodes then keep the link dialed by the
 * node with the smaller peer ID (comparing the hex strings), so they keep
 * the same one without talking about it.
 *
 * Every frame a link carries is an envelope (doc/protocol.md, "Envelope"),
 * dispatched here: answers complete the request they name, other messages
 * go to the handler registered for their type, and what cannot be handled
 * is answered with an `error`. A peer that sends too many bad frames loses
 * its link.
 *
 * Envelopes addressed to another node are passed on (doc/protocol.md,
 * "Routing"): over the link to it, or to the neighbour a route names.
 * Routes come from plexus_messenger_add_route() (e.g. membership gossip),
 * from asking the neighbours (`route.find`) when this node sends to a
 * peer it knows no way to, and from passing traffic: an envelope from X
 * that arrived through neighbour N teaches "X via N", so answers go back
 * the way requests came.
 */

#define DUPLICATE_REASON "duplicate link to the same peer; keeping the one dialed by "

/* One configured URI and the link dialed to it. Reference-counted: a dial
 * in flight and a pending retry each hold a reference, and may outlive the
 * node. */
typedef struct {
  gint          ref_count;
  PlexusNode   *node;         /* (nullable): cleared when the node stops */
  gchar        *uri;
  guint         attempt;      /* retries since the last link; 0 while linked */
  guint         timer_id;
  GCancellable *cancellable;  /* the dial in flight, if any */
  PlexusLink   *link;         /* the link this dial produced, while open */
  gchar        *peer_id;      /* the peer it last linked to */
  gchar        *parked_on;    /* peer ID linked otherwise: redial when that link goes */
  gboolean      finished;     /* it is our own address: never dialed again */
  gboolean      configured;   /* from [node] bootstrap or server, not a plugin */
  gboolean      is_server;    /* from [node] server */
} Dialer;

struct _PlexusNode {
  GObject             parent_instance;

  gint64              started_at;   /* monotonic µs, for /health */
  PlexusContext      *context;
  SoupServer         *server;
  PlexusListener     *listener;
  SoupSession        *session;
  PlexusNoiseKeypair *static_key;
  gchar              *address;

  GHashTable         *links;      /* peer ID → live PlexusLink */
  GHashTable         *pending;    /* inbound links still in their handshake */
  GPtrArray          *dialers;    /* (element-type Dialer) */
  gboolean            stopping;

  GHashTable         *handlers;   /* message type → Handler */
  GHashTable         *requests;   /* message ID → Request awaiting its answer */
  GHashTable         *bad_frames; /* peer ID → GArray of monotonic times (gint64) */
  GHashTable         *given;      /* peer ID → neighbour's peer ID, from plugins */
  GHashTable         *routes;     /* peer ID → Route found or learned, at most MAX_ROUTES */
  GHashTable         *searches;   /* peer ID → RouteSearch in flight */
};

typedef struct {
  PlexusMessageHandler func;
  gpointer             user_data;
  GDestroyNotify       destroy;
} Handler;

/* Found or learned routes kept at most: a neighbour that invents senders
 * cannot make the table grow beyond this. */
#define MAX_ROUTES 4096

typedef enum {
  ROUTE_LEARNED,              /* from passing traffic */
  ROUTE_FOUND,                /* a neighbour said it reaches the peer */
} RouteKind;

/* A way to a peer this node has no link to: through neighbour @via. */
typedef struct {
  gchar    *via;
  gint64    expires;          /* monotonic µs */
  RouteKind kind;
} Route;

/* The neighbours asked for a route to one peer, and who waits for it. */
typedef struct {
  PlexusNode *node;           /* strong: answers arrive until the deadline */
  gchar      *peer_id;
  GPtrArray  *waiters;        /* (element-type GTask) */
  guint       outstanding;    /* `route.find` requests not answered yet */
  guint       asked;
} RouteSearch;

/* A request sent, until its answer, its deadline, its cancellation or the
 * end of its link. */
typedef struct {
  PlexusNode *node;           /* the task holds the reference */
  GTask      *task;
  gchar      *id;
  gchar      *type;
  gchar      *peer_id;
  PlexusLink *link;           /* the link it was sent on; NULL while a route is sought */
  PlexusEnvelope *envelope;   /* the request, until it is sent */
  GSource    *timeout_source;
  GSource    *cancel_source;
} Request;

enum {
  SIGNAL_LINK_ADDED,
  SIGNAL_LINK_REMOVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void plexus_node_messenger_init (PlexusMessengerInterface *iface);

G_DEFINE_TYPE_WITH_CODE (PlexusNode, plexus_node, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (PLEXUS_TYPE_MESSENGER, plexus_node_messenger_init))

static void dialer_dial (Dialer *dialer);
static void on_link_frame (PlexusLink *link, GBytes *frame, gpointer user_data);
static void fail_requests (PlexusNode *self, PlexusLink *link, const gchar *format, ...) G_GNUC_PRINTF (3, 4);
static void route_search_end (RouteSearch *search, PlexusLink *link, const GError *error);

static const gchar *
own_peer_id (PlexusNode *self)
{
  return plexus_identity_get_peer_id (plexus_context_get_identity (self->context));
}

static void
route_free (gpointer data)
{
  Route *route = data;

  g_free (route->via);
  g_free (route);
}

static gboolean
route_expired (gpointer key, gpointer value, gpointer user_data)
{
  return ((Route *) value)->expires < *(gint64 *) user_data;
}

/* Notes a found or learned route. A learned one never replaces a found
 * one: anyone can claim a sender, only a neighbour's answer finds a way. */
static void
set_route (PlexusNode *self, const gchar *peer_id, const gchar *via, RouteKind kind)
{
  Route *existing = g_hash_table_lookup (self->routes, peer_id);
  gint64 now = g_get_monotonic_time ();
  Route *route;

  if (existing != NULL && existing->kind == ROUTE_FOUND && kind == ROUTE_LEARNED && existing->expires >= now)
    return;
  if (existing == NULL && g_hash_table_size (self->routes) >= MAX_ROUTES) {
    g_hash_table_foreach_remove (self->routes, route_expired, &now);
    if (g_hash_table_size (self->routes) >= MAX_ROUTES)
      return;
  }
  route = g_new0 (Route, 1);
  route->via = g_strdup (via);
  route->kind = kind;
  route->expires = now + (gint64) PLEXUS_NODE_ROUTE_LIFETIME_SECONDS * G_USEC_PER_SEC;
  g_hash_table_replace (self->routes, g_strdup (peer_id), route);
}

/* The link an envelope to @peer_id leaves on, if this node knows a way:
 * the link to it, to the neighbour a plugin named, or to the one a route
 * found or learned names. Using a found or learned route keeps it alive. */
static PlexusLink *
route_lookup (PlexusNode *self, const gchar *peer_id)
{
  PlexusLink *link = g_hash_table_lookup (self->links, peer_id);
  const gchar *given;
  Route *route;
  gint64 now;

  if (link != NULL)
    return link;
  given = g_hash_table_lookup (self->given, peer_id);
  if (given != NULL && (link = g_hash_table_lookup (self->links, given)) != NULL)
    return link;
  route = g_hash_table_lookup (self->routes, peer_id);
  if (route == NULL)
    return NULL;
  now = g_get_monotonic_time ();
  if (route->expires < now) {
    g_hash_table_remove (self->routes, peer_id);
    return NULL;
  }
  route->expires = now + (gint64) PLEXUS_NODE_ROUTE_LIFETIME_SECONDS * G_USEC_PER_SEC;
  return g_hash_table_lookup (self->links, route->via);
}

/* The neighbour @peer_id is gone: routes found or learned through it go
 * too; those a plugin gave stay (in their own table), for when it comes
 * back. */
static void
forget_routes_via (PlexusNode *self, const gchar *peer_id)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->routes);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    Route *route = value;

    if (strcmp (route->via, peer_id) == 0)
      g_hash_table_iter_remove (&iter);
  }
}

static Dialer *
dialer_ref (Dialer *dialer)
{
  dialer->ref_count++;
  return dialer;
}

static void
dialer_unref (gpointer data)
{
  Dialer *dialer = data;

  if (--dialer->ref_count > 0)
    return;
  g_clear_object (&dialer->cancellable);
  g_clear_object (&dialer->link);
  g_free (dialer->parked_on);
  g_free (dialer->peer_id);
  g_free (dialer->uri);
  g_free (dialer);
}

static void
dialer_detach (Dialer *dialer)
{
  dialer->node = NULL;
  g_clear_handle_id (&dialer->timer_id, g_source_remove);
  if (dialer->cancellable != NULL)
    g_cancellable_cancel (dialer->cancellable);
  g_clear_object (&dialer->link);
}

static void
dialer_park (Dialer *dialer, const gchar *peer_id)
{
  g_free (dialer->parked_on);
  dialer->parked_on = g_strdup (peer_id);
  dialer->attempt = 0;
  g_debug ("%s: peer %s is linked already; dialing again when that link goes",
           dialer->uri, peer_id);
}

static gboolean
on_dialer_timer (gpointer user_data)
{
  Dialer *dialer = user_data;

  dialer->timer_id = 0;
  if (dialer->node == NULL)
    return G_SOURCE_REMOVE;
  /* The peer may have dialed us meanwhile (it closed our link as the
   * duplicate before its own reached us): then there is nothing to do. */
  if (dialer->peer_id != NULL && g_hash_table_contains (dialer->node->links, dialer->peer_id))
    dialer_park (dialer, dialer->peer_id);
  else
    dialer_dial (dialer);
  return G_SOURCE_REMOVE;
}

/* The next attempt after 1 s, 2 s, 4 s, ... at most 60 s, each ±20% so that
 * nodes cut off together do not all come back in the same instant. */
static void
dialer_schedule_retry (Dialer *dialer)
{
  gdouble delay;

  if (dialer->node == NULL || dialer->finished || dialer->timer_id != 0)
    return;
  dialer->attempt++;
  /* 2^6 s is past the cap already; a larger shift gains nothing. */
  delay = PLEXUS_NODE_BACKOFF_INITIAL_SECONDS * (gdouble) (1u << MIN (dialer->attempt - 1, 6u));
  delay = MIN (delay, PLEXUS_NODE_BACKOFF_MAX_SECONDS);
  delay *= 1.0 + g_random_double_range (-PLEXUS_NODE_BACKOFF_JITTER, PLEXUS_NODE_BACKOFF_JITTER);
  g_message ("reconnecting to %s in %.1f s (attempt %u)", dialer->uri, delay, dialer->attempt);
  dialer->timer_id = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) (delay * 1000.0),
                                         on_dialer_timer, dialer_ref (dialer), dialer_unref);
}

/* The dialer's link closed: dial again, unless the peer is linked another
 * way (a duplicate that lost the tie-break); then wait for that link. */
static void
dialer_link_closed (Dialer *dialer, const gchar *peer_id)
{
  PlexusNode *self = dialer->node;

  g_clear_object (&dialer->link);
  if (peer_id != NULL && g_hash_table_contains (self->links, peer_id)) {
    dialer_park (dialer, peer_id);
    return;
  }
  dialer_schedule_retry (dialer);
}

/* Which node dialed @link: the tie-break between duplicates. */
static const gchar *
link_dialer_id (PlexusNode *self, PlexusLink *link)
{
  return plexus_link_get_direction (link) == PLEXUS_LINK_DIRECTION_OUTBOUND
         ? own_peer_id (self) : plexus_link_get_peer_id (link);
}

static const gchar *
direction_to_string (PlexusLink *link)
{
  return plexus_link_get_direction (link) == PLEXUS_LINK_DIRECTION_OUTBOUND ? "outbound" : "inbound";
}

static void
on_link_closed (PlexusLink *link, gint code, const gchar *reason, gpointer user_data)
{
  PlexusNode *self = PLEXUS_NODE (user_data);
  g_autoptr(PlexusLink) keep = g_object_ref (link);
  const gchar *peer_id = plexus_link_get_peer_id (link);
  gboolean removed = FALSE;

  g_signal_handlers_disconnect_by_data (link, self);
  g_hash_table_remove (self->pending, link);
  if (peer_id != NULL && g_hash_table_lookup (self->links, peer_id) == link) {
    g_message ("link to %s closed: %s (%d)", peer_id, reason != NULL ? reason : "", code);
    g_hash_table_remove (self->links, peer_id);
    g_hash_table_remove (self->bad_frames, peer_id);
    forget_routes_via (self, peer_id);
    removed = TRUE;
    g_signal_emit (self, signals[SIGNAL_LINK_REMOVED], 0, link);
    g_signal_emit_by_name (self, "peer-unlinked", peer_id);
  }
  fail_requests (self, link, "the link to %s closed before the answer came: %s (%d)",
                 peer_id != NULL ? peer_id : "the peer", reason != NULL ? reason : "", code);
  if (self->stopping)
    return;

  for (guint i = 0; i < self->dialers->len; i++) {
    Dialer *dialer = g_ptr_array_index (self->dialers, i);

    if (dialer->link == link)
      dialer_link_closed (dialer, peer_id);
    else if (removed && dialer->parked_on != NULL && g_strcmp0 (dialer->parked_on, peer_id) == 0) {
      g_clear_pointer (&dialer->parked_on, g_free);
      dialer_schedule_retry (dialer);
    }
  }
}

/* A link is ready: make it the peer's link, or close it as a duplicate. */
static void
plexus_node_add_link (PlexusNode *self, PlexusLink *link)
{
  const gchar *peer_id = plexus_link_get_peer_id (link);
  PlexusLink *existing;
  g_autoptr(PlexusLink) loser = NULL;
  g_autofree gchar *reason = NULL;
  const gchar *winner_dialer;

  if (g_strcmp0 (peer_id, own_peer_id (self)) == 0) {
    plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_NORMAL, "a node does not link to itself");
    return;
  }

  existing = g_hash_table_lookup (self->links, peer_id);
  if (existing == NULL) {
    g_hash_table_insert (self->links, g_strdup (peer_id), g_object_ref (link));
    g_signal_connect (link, "frame", G_CALLBACK (on_link_frame), self);
    g_message ("linked to %s (%s, %s)", peer_id, direction_to_string (link),
               plexus_link_get_remote_address (link) != NULL ? plexus_link_get_remote_address (link) : "");
    g_signal_emit (self, signals[SIGNAL_LINK_ADDED], 0, link);
    g_signal_emit_by_name (self, "peer-linked", peer_id);
    return;
  }

  /* Keep the link dialed by the smaller peer ID; between two dialed by
   * the same node, the older one. Both ends decide alike. */
  if (strcmp (link_dialer_id (self, existing), link_dialer_id (self, link)) <= 0) {
    winner_dialer = link_dialer_id (self, existing);
    reason = g_strconcat (DUPLICATE_REASON, winner_dialer, NULL);
    g_message ("closing a second link to %s (%s): %s", peer_id, direction_to_string (link), reason);
    plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_NORMAL, reason);
    return;
  }

  loser = g_object_ref (existing);
  winner_dialer = link_dialer_id (self, link);
  reason = g_strconcat (DUPLICATE_REASON, winner_dialer, NULL);
  g_message ("replacing the link to %s (%s) by an %s one: %s", peer_id,
             direction_to_string (loser), direction_to_string (link), reason);
  g_hash_table_replace (self->links, g_strdup (peer_id), g_object_ref (link));
  g_signal_connect (link, "frame", G_CALLBACK (on_link_frame), self);
  /* Requests sent on the loser are answered on the new link (the peer
   * keeps the same one): they must not fail when the loser closes. */
  {
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init (&iter, self->requests);
    while (g_hash_table_iter_next (&iter, NULL, &value)) {
      Request *request = value;

      if (request->link == loser)
        g_set_object (&request->link, link);
    }
  }
  g_signal_emit (self, signals[SIGNAL_LINK_REMOVED], 0, loser);
  g_signal_emit (self, signals[SIGNAL_LINK_ADDED], 0, link);
  /* No longer in the table: closing it only tells its dialer, if any. */
  plexus_link_close (loser, SOUP_WEBSOCKET_CLOSE_NORMAL, reason);
}

static void
on_inbound_ready (PlexusLink *link, gpointer user_data)
{
  PlexusNode *self = PLEXUS_NODE (user_data);
  g_autoptr(PlexusLink) keep = g_object_ref (link);

  g_hash_table_remove (self->pending, link);
  plexus_node_add_link (self, link);
}

static void
on_link_accepted (PlexusLink *link, gpointer user_data)
{
  PlexusNode *self = PLEXUS_NODE (user_data);

  if (self->stopping)
    return;
  g_hash_table_add (self->pending, g_object_ref (link));
  g_signal_connect (link, "ready", G_CALLBACK (on_inbound_ready), self);
  g_signal_connect (link, "closed", G_CALLBACK (on_link_closed), self);
}

static void
on_dialed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Dialer *dialer = user_data;
  PlexusNode *self = dialer->node;
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusLink) link = plexus_link_connect_finish (SOUP_SESSION (source), result, &error);

  g_clear_object (&dialer->cancellable);
  if (self == NULL) {
    if (link != NULL)
      plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "node shutting down");
    dialer_unref (dialer);
    return;
  }
  if (link == NULL) {
    g_message ("%s", error->message);
    dialer_schedule_retry (dialer);
  } else if (plexus_link_get_state (link) != PLEXUS_LINK_STATE_READY) {
    /* Closed between the handshake and now: nothing will tell us again. */
    g_message ("link to %s closed right after its handshake: %s", dialer->uri,
               plexus_link_get_close_reason (link) != NULL ? plexus_link_get_close_reason (link) : "");
    dialer_schedule_retry (dialer);
  } else if (g_strcmp0 (plexus_link_get_peer_id (link), own_peer_id (self)) == 0) {
    /* A bootstrap list shared by every node names this one too. */
    g_message ("not linking to %s: it is this node's own address (peer %s); not dialing it again",
               dialer->uri, own_peer_id (self));
    dialer->finished = TRUE;
    plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_NORMAL, "a node does not link to itself");
  } else {
    dialer->attempt = 0;
    dialer->link = g_object_ref (link);
    g_free (dialer->peer_id);
    dialer->peer_id = g_strdup (plexus_link_get_peer_id (link));
    g_signal_connect (link, "closed", G_CALLBACK (on_link_closed), self);
    plexus_node_add_link (self, link);
  }
  dialer_unref (dialer);
}

static void
dialer_dial (Dialer *dialer)
{
  PlexusNode *self = dialer->node;

  g_clear_pointer (&dialer->parked_on, g_free);
  dialer->cancellable = g_cancellable_new ();
  plexus_link_connect_async (self->session, dialer->uri,
                             plexus_context_get_identity (self->context), self->static_key,
                             NULL, dialer->cancellable, on_dialed, dialer_ref (dialer));
}

static Dialer *
plexus_node_find_dialer (PlexusNode *self, const gchar *uri)
{
  for (guint i = 0; i < self->dialers->len; i++) {
    if (g_strcmp0 (((Dialer *) g_ptr_array_index (self->dialers, i))->uri, uri) == 0)
      return g_ptr_array_index (self->dialers, i);
  }
  return NULL;
}

static Dialer *
plexus_node_add_dialer (PlexusNode *self, const gchar *uri)
{
  Dialer *dialer;

  if (uri == NULL || uri[0] == '\0')
    return NULL;
  if ((dialer = plexus_node_find_dialer (self, uri)) != NULL)
    return dialer;
  dialer = g_new0 (Dialer, 1);
  dialer->ref_count = 1;
  dialer->node = self;
  dialer->uri = g_strdup (uri);
  g_ptr_array_add (self->dialers, dialer);
  g_message ("linking to %s", uri);
  dialer_dial (dialer);
  return dialer;
}

/**
 * plexus_node_start:
 * @self: a #PlexusNode
 *
 * Dials every `[node] bootstrap` URI and the `[node] server` URI. Each is
 * dialed again, with exponential backoff, whenever its link fails or
 * closes, until plexus_node_stop(); a URI that turns out to be this node's
 * own address is not dialed again.
 */
void
plexus_node_start (PlexusNode *self)
{
  PlexusConfig *config;
  g_auto(GStrv) bootstrap = NULL;
  g_autofree gchar *server = NULL;
  Dialer *dialer;

  g_return_if_fail (PLEXUS_IS_NODE (self));

  config = plexus_context_get_config (self->context);
  bootstrap = plexus_config_get_string_list (config, "node", "bootstrap");
  server = plexus_config_get_string (config, "node", "server");
  for (guint i = 0; bootstrap != NULL && bootstrap[i] != NULL; i++) {
    if ((dialer = plexus_node_add_dialer (self, bootstrap[i])) != NULL)
      dialer->configured = TRUE;
  }
  if ((dialer = plexus_node_add_dialer (self, server)) != NULL) {
    dialer->configured = TRUE;
    dialer->is_server = TRUE;
  }
}

/**
 * plexus_node_get_links:
 * @self: a #PlexusNode
 *
 * Returns: (transfer container) (element-type PlexusLink): the live links,
 *   one per peer
 */
GPtrArray *
plexus_node_get_links (PlexusNode *self)
{
  GPtrArray *links;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PLEXUS_IS_NODE (self), NULL);

  links = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (links, g_object_ref (value));
  return links;
}

/**
 * plexus_node_get_link:
 * @self: a #PlexusNode
 * @peer_id: a peer ID
 *
 * Returns: (transfer none) (nullable): the live link to @peer_id, if any
 */
PlexusLink *
plexus_node_get_link (PlexusNode *self, const gchar *peer_id)
{
  g_return_val_if_fail (PLEXUS_IS_NODE (self), NULL);
  g_return_val_if_fail (peer_id != NULL, NULL);
  return g_hash_table_lookup (self->links, peer_id);
}

static GInetAddress *
resolve_host (const gchar *host, GError **error)
{
  g_autoptr(GResolver) resolver = NULL;
  g_autolist(GInetAddress) addresses = NULL;
  GInetAddress *address = g_inet_address_new_from_string (host);

  if (address != NULL)
    return address;
  /* A name: the first address it resolves to. Bind addresses are local,
   * so this is /etc/hosts, not the network. */
  resolver = g_resolver_get_default ();
  addresses = g_resolver_lookup_by_name (resolver, host, NULL, error);
  if (addresses == NULL)
    return NULL;
  return g_object_ref (addresses->data);
}

/**
 * plexus_node_listen:
 * @self: a #PlexusNode
 * @host_port: `HOST:PORT`
 * @error: return location for a #GError
 *
 * Starts listening for node links.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_node_listen (PlexusNode *self, const gchar *host_port, GError **error)
{
  g_autofree gchar *host = NULL;
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *bound_host = NULL;
  GInetSocketAddress *bound;
  guint16 port;

  g_return_val_if_fail (PLEXUS_IS_NODE (self), FALSE);
  g_return_val_if_fail (self->address == NULL, FALSE);

  if (!plexus_config_parse_address (host_port, &host, &port, error))
    return FALSE;
  inet = resolve_host (host, &local_error);
  if (inet == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG,
                 "cannot listen on %s: %s", host_port, local_error->message);
    return FALSE;
  }
  socket_address = g_inet_socket_address_new (inet, port);
  self->listener = plexus_listener_new (self->server, socket_address, &local_error);
  if (self->listener == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot listen on %s: %s", host_port, local_error->message);
    return FALSE;
  }
  bound = G_INET_SOCKET_ADDRESS (plexus_listener_get_address (self->listener));
  bound_host = g_inet_address_to_string (g_inet_socket_address_get_address (bound));
  self->address = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
                  ? g_strdup_printf ("ws://[%s]:%u/", bound_host, g_inet_socket_address_get_port (bound))
                  : g_strdup_printf ("ws://%s:%u/", bound_host, g_inet_socket_address_get_port (bound));
  g_message ("listening on %s", self->address);
  return TRUE;
}

/**
 * plexus_node_get_address:
 * @self: a #PlexusNode
 *
 * Returns: (nullable): `ws://HOST:PORT/`, or %NULL before plexus_node_listen()
 */
const gchar *
plexus_node_get_address (PlexusNode *self)
{
  g_return_val_if_fail (PLEXUS_IS_NODE (self), NULL);
  return self->address;
}

/**
 * plexus_node_get_server:
 * @self: a #PlexusNode
 *
 * Returns: (transfer none): the HTTP/WebSocket server links arrive on
 */
SoupServer *
plexus_node_get_server (PlexusNode *self)
{
  g_return_val_if_fail (PLEXUS_IS_NODE (self), NULL);
  return self->server;
}

/* Ends every dial and link. With @wait, #PlexusNode::link-removed is
 * emitted for each live link and cancelled dials are let finish; not from
 * dispose, where nobody listens. */
static void
plexus_node_shutdown (PlexusNode *self, gboolean wait)
{
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) dialers = g_ptr_array_new_with_free_func (dialer_unref);
  GHashTableIter iter;
  gpointer value;
  gint64 deadline;

  self->stopping = TRUE;
  g_clear_object (&self->listener);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_pointer (&self->address, g_free);

  for (guint i = 0; i < self->dialers->len; i++) {
    Dialer *dialer = g_ptr_array_index (self->dialers, i);

    dialer_detach (dialer);
    g_ptr_array_add (dialers, dialer_ref (dialer));
  }
  g_ptr_array_set_size (self->dialers, 0);

  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (links, g_object_ref (value));
  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, &value, NULL))
    g_ptr_array_add (links, g_object_ref (value));
  for (guint i = 0; i < links->len; i++) {
    PlexusLink *link = g_ptr_array_index (links, i);
    const gchar *peer_id = plexus_link_get_peer_id (link);

    g_signal_handlers_disconnect_by_data (link, self);
    plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "node shutting down");
    /* A link still in its handshake has no peer ID yet. */
    if (wait && peer_id != NULL && g_hash_table_lookup (self->links, peer_id) == link) {
      g_signal_emit (self, signals[SIGNAL_LINK_REMOVED], 0, link);
      g_signal_emit_by_name (self, "peer-unlinked", plexus_link_get_peer_id (link));
    }
  }
  g_hash_table_remove_all (self->links);
  g_hash_table_remove_all (self->routes);
  g_hash_table_remove_all (self->given);
  g_hash_table_remove_all (self->pending);
  g_hash_table_remove_all (self->bad_frames);
  if (g_hash_table_size (self->searches) > 0) {
    g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func (g_free);
    g_autoptr(GError) stopped = g_error_new_literal (PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                                                     "the node stopped before a route was found");
    gpointer key;

    /* Copies of the keys: ending one search may end others. */
    g_hash_table_iter_init (&iter, self->searches);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (peers, g_strdup (key));
    for (guint i = 0; i < peers->len; i++) {
      RouteSearch *search = g_hash_table_lookup (self->searches, g_ptr_array_index (peers, i));

      if (search != NULL)
        route_search_end (search, NULL, stopped);
    }
  }
  fail_requests (self, NULL, "the node stopped before the answer came");

  /* Cancelled dials still complete from the main loop; let them, so that
   * nothing they hold outlives the daemon. A moment at most, and not from
   * dispose, where running the main loop would surprise the caller. */
  if (!wait)
    return;
  deadline = g_get_monotonic_time () + G_USEC_PER_SEC / 2;
  while (g_get_monotonic_time () < deadline) {
    gboolean in_flight = FALSE;

    for (guint i = 0; i < dialers->len; i++)
      in_flight |= ((Dialer *) g_ptr_array_index (dialers, i))->cancellable != NULL;
    if (!in_flight)
      break;
    g_main_context_iteration (NULL, FALSE);
  }
}

/**
 * plexus_node_stop:
 * @self: a #PlexusNode
 *
 * Stops listening and dialing, and closes every link (going away).
 * #PlexusNode::link-removed is emitted for each live link.
 */
void
plexus_node_stop (PlexusNode *self)
{
  g_return_if_fail (PLEXUS_IS_NODE (self));
  plexus_node_shutdown (self, TRUE);
}

/* Dispatch ------------------------------------------------------------------ */

static void
handler_free (gpointer data)
{
  Handler *handler = data;

  if (handler->destroy != NULL)
    handler->destroy (handler->user_data);
  g_free (handler);
}

static PlexusEnvelope *
handle_ping (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope,
             gpointer user_data)
{
  return plexus_envelope_new_reply (envelope, "pong", own_peer_id (PLEXUS_NODE (messenger)), NULL);
}

/* `route.find`: does this node reach body.peer directly, or through a
 * route a plugin gave? Routes found or learned are not offered: they
 * could lead back to the asker. */
static PlexusEnvelope *
handle_route_find (PlexusMessenger *messenger, const gchar *link_peer_id, PlexusEnvelope *envelope,
                   gpointer user_data)
{
  PlexusNode *self = PLEXUS_NODE (messenger);
  JsonNode *member = json_object_get_member (plexus_envelope_get_body (envelope), "peer");
  const gchar *from = plexus_envelope_get_from (envelope);
  const gchar *peer_id;
  g_autoptr(JsonObject) body = NULL;
  g_autofree gchar *message = NULL;
  gboolean reaches = FALSE;

  if (member == NULL || json_node_get_value_type (member) != G_TYPE_STRING
      || !plexus_peer_id_is_valid (json_node_get_string (member)))
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_BAD_ENVELOPE,
                                      "a route.find body needs 'peer', a peer ID");
  peer_id = json_node_get_string (member);
  if (strcmp (peer_id, from) != 0) {
    const gchar *given = g_hash_table_lookup (self->given, peer_id);

    reaches = g_hash_table_contains (self->links, peer_id)
              || (given != NULL && strcmp (given, from) != 0 && g_hash_table_contains (self->links, given));
  }
  if (!reaches) {
    message = g_strdup_printf ("no route to %s", peer_id);
    return plexus_envelope_new_error (envelope, own_peer_id (self), PLEXUS_ENVELOPE_CODE_NO_ROUTE, message);
  }
  body = json_object_new ();
  json_object_set_string_member (body, "peer", peer_id);
  return plexus_envelope_new_reply (envelope, "route.found", own_peer_id (self), body);
}

/**
 * plexus_node_register_handler:
 * @self: a #PlexusNode
 * @type: a message type, see plexus_envelope_type_is_valid()
 * @func: (scope notified): answers envelopes of @type
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data when the handler is replaced or
 *   the node goes away
 *
 * Has envelopes of @type that arrive on any link handled by @func, in
 * place of any handler registered for @type before (the built-in `ping`
 * handler among them). Envelopes that answer a request, and `error`
 * envelopes, never reach handlers.
 */
void
plexus_node_register_handler (PlexusNode           *self,
                              const gchar          *type,
                              PlexusMessageHandler  func,
                              gpointer              user_data,
                              GDestroyNotify        destroy)
{
  Handler *handler;

  g_return_if_fail (PLEXUS_IS_NODE (self));
  g_return_if_fail (plexus_envelope_type_is_valid (type));
  g_return_if_fail (func != NULL);

  handler = g_new0 (Handler, 1);
  handler->func = func;
  handler->user_data = user_data;
  handler->destroy = destroy;
  g_hash_table_replace (self->handlers, g_strdup (type), handler);
}

static void
send_envelope (PlexusLink *link, PlexusEnvelope *envelope)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = plexus_envelope_encode_with (envelope, plexus_link_get_envelope_encoding (link), &error);
  if (bytes == NULL) {
    g_warning ("cannot send a '%s' message to %s: %s", plexus_envelope_get_message_type (envelope),
               plexus_link_get_peer_id (link), error->message);
    return;
  }
  if (!plexus_link_send (link, bytes, &error))
    g_debug ("cannot send a '%s' message to %s: %s", plexus_envelope_get_message_type (envelope),
             plexus_link_get_peer_id (link), error->message);
}

/* Notes one more bad frame from @link's peer. Past the limit the link is
 * closed and %TRUE returned: the frame is then not answered. */
static gboolean
count_bad_frame (PlexusNode *self, PlexusLink *link)
{
  const gchar *peer_id = plexus_link_get_peer_id (link);
  GArray *times = g_hash_table_lookup (self->bad_frames, peer_id);
  gint64 now = g_get_monotonic_time ();
  gint64 since = now - (gint64) PLEXUS_NODE_BAD_MESSAGE_WINDOW_SECONDS * G_USEC_PER_SEC;
  guint old = 0;

  if (times == NULL) {
    times = g_array_new (FALSE, FALSE, sizeof (gint64));
    g_hash_table_insert (self->bad_frames, g_strdup (peer_id), times);
  }
  while (old < times->len && g_array_index (times, gint64, old) < since)
    old++;
  g_array_remove_range (times, 0, old);
  g_array_append_val (times, now);
  if (times->len <= PLEXUS_NODE_MAX_BAD_MESSAGES)
    return FALSE;

  g_message ("closing the link to %s: more than %d bad messages within %d s", peer_id,
             PLEXUS_NODE_MAX_BAD_MESSAGES, PLEXUS_NODE_BAD_MESSAGE_WINDOW_SECONDS);
  plexus_link_close (link, PLEXUS_NODE_CLOSE_TOO_MANY_BAD_MESSAGES, "too many bad messages");
  return TRUE;
}

/* The ID of a frame that did not decode, if it can be read at all: the
 * frame is JSON we accept, an object whose `id` is a valid message ID. */
static gchar *
read_message_id (const guint8 *data, gsize length)
{
  g_autoptr(JsonNode) root = NULL;
  const guint8 *nul = length > 0 ? memchr (data, '\0', length) : NULL;
  JsonNode *id;

  /* The JSON ends at the first NUL byte; an attachment follows. */
  if (nul != NULL)
    length = (gsize) (nul - data);
  if (length == 0 || !g_utf8_validate ((const gchar *) data, (gssize) length, NULL))
    return NULL;
  root = plexus_json_parse_strict ((const gchar *) data, length, PLEXUS_ENVELOPE_MAX_DEPTH, NULL, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  id = json_object_get_member (json_node_get_object (root), "id");
  if (id == NULL || json_node_get_value_type (id) != G_TYPE_STRING
      || !plexus_envelope_id_is_valid (json_node_get_string (id)))
    return NULL;
  return g_strdup (json_node_get_string (id));
}

/* Answers a frame that could not be decoded, naming its ID if readable. */
static void
refuse_frame (PlexusNode   *self,
              PlexusLink   *link,
              const guint8 *data,
              gsize         length,
              const gchar  *code,
              const gchar  *message)
{
  g_autofree gchar *re = NULL;
  g_autoptr(JsonObject) body = NULL;
  g_autoptr(PlexusEnvelope) answer = NULL;

  g_debug ("bad frame from %s: %s: %s", plexus_link_get_peer_id (link), code, message);
  if (count_bad_frame (self, link))
    return;
  body = json_object_new ();
  json_object_set_string_member (body, "code", code);
  json_object_set_string_member (body, "message", message);
  answer = plexus_envelope_new ("error", own_peer_id (self), plexus_link_get_peer_id (link), body);
  re = read_message_id (data, length);
  if (re != NULL)
    plexus_envelope_set_re (answer, re);
  send_envelope (link, answer);
}

/* Answers @envelope with an error, unless it is an answer itself: nodes
 * never answer answers, so that two of them cannot loop. The answer goes
 * back on @link, towards the sender. The refusal counts against @link's
 * peer only when that peer wrote the envelope, and it is not an answer: a
 * relay is not to blame for what it passes on. */
static void
refuse_envelope (PlexusNode     *self,
                 PlexusLink     *link,
                 PlexusEnvelope *envelope,
                 const gchar    *code,
                 const gchar    *message)
{
  g_autoptr(PlexusEnvelope) answer = NULL;
  gboolean is_answer = plexus_envelope_get_re (envelope) != NULL
                       || g_strcmp0 (plexus_envelope_get_message_type (envelope), "error") == 0;

  g_debug ("refusing a '%s' message from %s (through %s): %s: %s",
           plexus_envelope_get_message_type (envelope), plexus_envelope_get_from (envelope),
           plexus_link_get_peer_id (link), code, message);
  if (is_answer)
    return;
  if (g_strcmp0 (plexus_envelope_get_from (envelope), plexus_link_get_peer_id (link)) == 0
      && count_bad_frame (self, link))
    return;
  answer = plexus_envelope_new_error (envelope, own_peer_id (self), code, message);
  send_envelope (link, answer);
}

static void
request_free (Request *request)
{
  if (request->timeout_source != NULL) {
    g_source_destroy (request->timeout_source);
    g_source_unref (request->timeout_source);
  }
  if (request->cancel_source != NULL) {
    g_source_destroy (request->cancel_source);
    g_source_unref (request->cancel_source);
  }
  g_clear_object (&request->link);
  g_clear_object (&request->envelope);
  g_clear_object (&request->task);
  g_free (request->peer_id);
  g_free (request->type);
  g_free (request->id);
  g_free (request);
}

/* Ends @request with @answer or, if that is %NULL, @error (taken). */
static void
request_complete (Request *request, PlexusEnvelope *answer, GError *error)
{
  g_autoptr(GTask) task = g_object_ref (request->task);

  g_hash_table_remove (request->node->requests, request->id);
  request_free (request);
  /* Last, as the callback may run now and call back into the node. */
  if (answer != NULL)
    g_task_return_pointer (task, g_object_ref (answer), g_object_unref);
  else
    g_task_return_error (task, error);
}

static void
fail_requests (PlexusNode *self, PlexusLink *link, const gchar *format, ...)
{
  g_autoptr(GPtrArray) failed = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *message = NULL;
  GHashTableIter iter;
  gpointer key, value;
  va_list args;

  /* By ID, looked up again before each: a callback may stop the node and
   * complete the others itself. */
  g_hash_table_iter_init (&iter, self->requests);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    if (link == NULL || ((Request *) value)->link == link)
      g_ptr_array_add (failed, g_strdup (key));
  }
  if (failed->len == 0)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  for (guint i = 0; i < failed->len; i++) {
    Request *request = g_hash_table_lookup (self->requests, g_ptr_array_index (failed, i));

    if (request != NULL && (link == NULL || request->link == link))
      request_complete (request, NULL, g_error_new_literal (PLEXUS_ERROR, PLEXUS_ERROR_FAILED, message));
  }
}

/* @answer names @request in `re`: an `error` fails it, anything else is
 * its answer. */
static void
request_answered (Request *request, PlexusEnvelope *answer)
{
  JsonObject *body;
  const gchar *code = NULL;
  const gchar *message = NULL;
  JsonNode *node;

  if (g_strcmp0 (plexus_envelope_get_message_type (answer), "error") != 0) {
    request_complete (request, answer, NULL);
    return;
  }
  body = plexus_envelope_get_body (answer);
  node = json_object_get_member (body, "code");
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_STRING)
    code = json_node_get_string (node);
  node = json_object_get_member (body, "message");
  if (node != NULL && json_node_get_value_type (node) == G_TYPE_STRING)
    message = json_node_get_string (node);
  /* A node on the way lost its link to the addressee: the next request
   * looks for a new way instead of taking this one again. */
  if (g_strcmp0 (code, PLEXUS_ENVELOPE_CODE_NO_ROUTE) == 0)
    g_hash_table_remove (request->node->routes, request->peer_id);
  request_complete (request, NULL,
                    g_error_new (PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                                 "%s refused the '%s' request to %s: %s: %s",
                                 plexus_envelope_get_from (answer), request->type, request->peer_id,
                                 code != NULL ? code : PLEXUS_ENVELOPE_CODE_INTERNAL,
                                 message != NULL ? message : "no explanation given"));
}

/* An envelope from @from arrived through neighbour @via: answers to
 * @from go back that way, unless a link or a plugin's route says better. */
static void
learn_route (PlexusNode *self, const gchar *from, const gchar *via)
{
  if (strcmp (from, via) == 0 || g_hash_table_contains (self->links, from)
      || g_hash_table_contains (self->given, from))
    return;
  set_route (self, from, via, ROUTE_LEARNED);
}

/* @envelope arrived on @link for another node: pass it on, one hop
 * closer, or tell its sender why not. */
static void
forward_envelope (PlexusNode *self, PlexusLink *link, PlexusEnvelope *envelope)
{
  const gchar *to = plexus_envelope_get_to (envelope);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *message = NULL;
  PlexusLink *next;

  /* A signal sent in peer mode (its path label names a super peer) never
   * crosses the server: the sender asked for peers only, and its other
   * super peers are the way round. */
  if ((plexus_context_get_roles (self->context) & PLEXUS_ROLE_SERVER) != 0 &&
      g_strcmp0 (plexus_envelope_get_message_type (envelope), "signal.deliver") == 0 &&
      g_str_has_prefix (json_object_get_string_member_with_default (plexus_envelope_get_body (envelope), "path", ""),
                        "peer:")) {
    refuse_envelope (self, link, envelope, PLEXUS_ENVELOPE_CODE_NO_ROUTE,
                     "the server does not carry signals sent through super peers");
    return;
  }
  next = route_lookup (self, to);
  /* Never back where it came from: that is a loop. */
  if (next == NULL || next == link) {
    message = g_strdup_printf ("no route to %s", to);
    refuse_envelope (self, link, envelope, PLEXUS_ENVELOPE_CODE_NO_ROUTE, message);
    return;
  }
  if (!plexus_envelope_decrement_ttl (envelope, &error)) {
    refuse_envelope (self, link, envelope, PLEXUS_ENVELOPE_CODE_EXPIRED, error->message);
    return;
  }
  /* A compact signal near the size limit is larger as JSON, and JSON is
   * all a link of version 1 carries. */
  bytes = plexus_envelope_encode_with (envelope, plexus_link_get_envelope_encoding (next), &error);
  if (bytes == NULL) {
    message = g_strdup_printf ("cannot pass it on to %s: %s", plexus_link_get_peer_id (next), error->message);
    refuse_envelope (self, link, envelope, PLEXUS_ENVELOPE_CODE_TOO_LARGE, message);
    return;
  }
  /* Only what is passed on teaches the way back: refused envelopes with
   * made-up senders do not fill the table. */
  learn_route (self, plexus_envelope_get_from (envelope), plexus_link_get_peer_id (link));
  if (!plexus_link_send (next, bytes, &error))
    g_debug ("cannot pass a '%s' message on to %s: %s", plexus_envelope_get_message_type (envelope),
             plexus_link_get_peer_id (next), error->message);
}

/* doc/protocol.md, "Envelope", "Dispatch", "Routing", is what this
 * implements. */
static void
on_link_frame (PlexusLink *link, GBytes *frame, gpointer user_data)
{
  PlexusNode *self = PLEXUS_NODE (user_data);
  g_autoptr(PlexusNode) keep_self = g_object_ref (self);
  g_autoptr(PlexusLink) keep = g_object_ref (link);
  const gchar *peer_id = plexus_link_get_peer_id (link);
  g_autoptr(PlexusEnvelope) envelope = NULL;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *message = NULL;
  const gchar *code = NULL;
  const gchar *type;
  const gchar *from;
  const gchar *to;
  const gchar *re;
  Handler *handler;
  gsize length;
  const guint8 *data = g_bytes_get_data (frame, &length);

  envelope = plexus_envelope_decode_with (data, length, plexus_link_get_envelope_encoding (link), &code, &error);
  if (envelope == NULL) {
    refuse_frame (self, link, data, length, code, error->message);
    return;
  }
  type = plexus_envelope_get_message_type (envelope);
  from = plexus_envelope_get_from (envelope);

  if (!plexus_envelope_check_fresh (envelope, g_get_real_time () / 1000,
                                    PLEXUS_NODE_MAX_CLOCK_SKEW_MS, &error)) {
    refuse_envelope (self, link, envelope, PLEXUS_ENVELOPE_CODE_EXPIRED, error->message);
    return;
  }
  /* Our own ID as sender: a loop or a forgery; answering would feed it. */
  if (strcmp (from, own_peer_id (self)) == 0) {
    g_debug ("dropping a '%s' message from %s that claims to come from this node", type, peer_id);
    count_bad_frame (self, link);
    return;
  }
  to = plexus_envelope_get_to (envelope);
  if (to[0] != '\0' && strcmp (to, own_peer_id (self)) != 0) {
    forward_envelope (self, link, envelope);
    return;
  }

  re = plexus_envelope_get_re (envelope);
  if (re != NULL) {
    Request *request = g_hash_table_lookup (self->requests, re);

    /* Only the peer asked may answer; a node on the way may only refuse
     * (it lost the route, the hops ran out). A late answer is dropped. */
    if (request != NULL && (g_strcmp0 (request->peer_id, from) == 0 || strcmp (type, "error") == 0)) {
      learn_route (self, from, peer_id);
      request_answered (request, envelope);
    } else
      g_debug ("dropping a '%s' message from %s answering %s: no such request pending",
               type, from, re);
    return;
  }
  if (strcmp (type, "error") == 0) {
    /* It answers a frame of ours that the peer could not read. Only
     * logged for debugging: the peer decides how often it arrives. */
    g_debug ("%s could not read a message from this node: %s", from,
               json_object_get_string_member_with_default (plexus_envelope_get_body (envelope),
                                                           "message", "no explanation given"));
    return;
  }

  handler = g_hash_table_lookup (self->handlers, type);
  if (handler == NULL) {
    message = g_strdup_printf ("this node does not handle '%s' messages", type);
    refuse_envelope (self, link, envelope, PLEXUS_ENVELOPE_CODE_UNKNOWN_TYPE, message);
    return;
  }
  learn_route (self, from, peer_id);
  answer = handler->func (PLEXUS_MESSENGER (self), peer_id, envelope, handler->user_data);
  /* Back on the arrival link: each node on the way learned the way back. */
  if (answer != NULL && plexus_link_get_state (link) == PLEXUS_LINK_STATE_READY)
    send_envelope (link, answer);
}

/* Requests ------------------------------------------------------------------ */

static gboolean
on_request_timeout (gpointer user_data)
{
  Request *request = user_data;

  request_complete (request, NULL,
                    g_error_new (PLEXUS_ERROR, PLEXUS_ERROR_TIMED_OUT,
                                 "peer %s did not answer the '%s' request in time",
                                 request->peer_id, request->type));
  return G_SOURCE_REMOVE;
}

static gboolean
on_request_cancelled (GCancellable *cancellable, gpointer user_data)
{
  Request *request = user_data;

  request_complete (request, NULL,
                    g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the request was cancelled"));
  return G_SOURCE_REMOVE;
}

/* Route search -------------------------------------------------------------- */

static void
route_search_free (RouteSearch *search)
{
  g_ptr_array_unref (search->waiters);
  g_object_unref (search->node);
  g_free (search->peer_id);
  g_free (search);
}

/* Completes everyone waiting on @search with @link or, if that is %NULL,
 * @error. The search itself lives on until its last answer arrives. */
static void
route_search_end (RouteSearch *search, PlexusLink *link, const GError *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&search->waiters);

  search->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  if (g_hash_table_lookup (search->node->searches, search->peer_id) == search)
    g_hash_table_remove (search->node->searches, search->peer_id);
  for (guint i = 0; i < waiters->len; i++) {
    GTask *task = g_ptr_array_index (waiters, i);

    if (link != NULL)
      g_task_return_pointer (task, g_object_ref (link), g_object_unref);
    else
      g_task_return_error (task, g_error_copy (error));
  }
}

static void
on_route_find_answered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RouteSearch *search = user_data;
  PlexusNode *self = search->node;
  g_autoptr(PlexusEnvelope) answer = NULL;
  g_autoptr(GError) error = NULL;
  gboolean searching = g_hash_table_lookup (self->searches, search->peer_id) == search;

  answer = plexus_node_request_finish (self, result, &error);
  search->outstanding--;
  if (answer != NULL && searching
      && g_strcmp0 (plexus_envelope_get_message_type (answer), "route.found") == 0
      && g_strcmp0 (json_object_get_string_member_with_default (plexus_envelope_get_body (answer),
                                                                "peer", NULL),
                    search->peer_id) == 0) {
    const gchar *via = plexus_envelope_get_from (answer);
    PlexusLink *link = g_hash_table_lookup (self->links, via);

    if (link != NULL) {
      g_debug ("route to %s: through %s", search->peer_id, via);
      set_route (self, search->peer_id, via, ROUTE_FOUND);
      route_search_end (search, link, NULL);
      searching = FALSE;
    }
  } else if (answer == NULL) {
    g_debug ("no route to %s through a neighbour: %s", search->peer_id, error->message);
  }
  if (search->outstanding > 0)
    return;
  if (searching) {
    g_autoptr(GError) none = g_error_new (PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND,
                                          "no route to peer %s: none of the %u linked peers reaches it",
                                          search->peer_id, search->asked);

    route_search_end (search, NULL, none);
  }
  route_search_free (search);
}

/* Finds the link an envelope to @peer_id leaves on: at once when this
 * node knows a way, else by asking every neighbour (`route.find`) and
 * taking the first that reaches it. One search per peer at a time. */
static void
route_search_async (PlexusNode          *self,
                    const gchar         *peer_id,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);
  g_autoptr(JsonObject) body = NULL;
  RouteSearch *search;
  PlexusLink *link;
  GHashTableIter iter;
  gpointer key;

  g_task_set_source_tag (task, route_search_async);
  if (strcmp (peer_id, own_peer_id (self)) == 0) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             "%s is this node's own peer ID", peer_id);
    return;
  }
  link = route_lookup (self, peer_id);
  if (link != NULL) {
    g_task_return_pointer (task, g_object_ref (link), g_object_unref);
    return;
  }
  if (self->stopping) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                             "no route to peer %s: the node is stopping", peer_id);
    return;
  }
  search = g_hash_table_lookup (self->searches, peer_id);
  if (search != NULL) {
    g_ptr_array_add (search->waiters, g_steal_pointer (&task));
    return;
  }
  if (g_hash_table_size (self->links) == 0) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_NOT_FOUND,
                             "no route to peer %s: this node is linked to no peer", peer_id);
    return;
  }

  search = g_new0 (RouteSearch, 1);
  search->node = g_object_ref (self);
  search->peer_id = g_strdup (peer_id);
  search->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (search->waiters, g_steal_pointer (&task));
  g_hash_table_insert (self->searches, search->peer_id, search);

  body = json_object_new ();
  json_object_set_string_member (body, "peer", peer_id);
  g_hash_table_iter_init (&iter, self->links);
  search->outstanding = g_hash_table_size (self->links);
  search->asked = search->outstanding;
  /* The count is set first: an answer cannot complete the search while
   * later neighbours are still being asked. */
  while (g_hash_table_iter_next (&iter, &key, NULL))
    plexus_node_request_async (self, key, "route.find", body, PLEXUS_NODE_ROUTE_FIND_TIMEOUT_MS,
                               NULL, on_route_find_answered, search);
}

static PlexusLink *
route_search_finish (PlexusNode *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == route_search_async, NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Requests ------------------------------------------------------------------ */

/* Puts @request on @link; the answer will name it. */
static void
request_send (Request *request, PlexusLink *link)
{
  g_autoptr(PlexusEnvelope) envelope = g_steal_pointer (&request->envelope);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  /* Sending writes at once; a write that fails closes the link then and
   * there, and the node lets go of it before this returns. */
  g_autoptr(PlexusLink) keep = g_object_ref (link);

  bytes = plexus_envelope_encode_with (envelope, plexus_link_get_envelope_encoding (link), &error);
  if (bytes == NULL || !plexus_link_send (link, bytes, &error)) {
    g_prefix_error (&error, "cannot send the '%s' request to %s: ", request->type, request->peer_id);
    request_complete (request, NULL, g_steal_pointer (&error));
    return;
  }
  if (plexus_link_get_state (link) == PLEXUS_LINK_STATE_CLOSED) {
    g_set_error (&error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED, "cannot send the '%s' request to %s: the link closed",
                 request->type, request->peer_id);
    request_complete (request, NULL, g_steal_pointer (&error));
    return;
  }
  request->link = g_object_ref (link);
}

static void
on_request_route (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PlexusNode *self = PLEXUS_NODE (source);
  g_autofree gchar *id = user_data;
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(GError) error = NULL;
  Request *request;

  link = route_search_finish (self, result, &error);
  /* Gone: it timed out or was cancelled while the route was sought. */
  request = g_hash_table_lookup (self->requests, id);
  if (request == NULL)
    return;
  if (link == NULL)
    request_complete (request, NULL, g_steal_pointer (&error));
  else
    request_send (request, link);
}

/**
 * plexus_node_request_async:
 * @self: a #PlexusNode
 * @peer_id: the peer to ask
 * @type: the message type of the request
 * @body: (nullable): its body; %NULL for an empty one
 * @timeout_ms: how long to wait for the answer, in milliseconds; 0 for
 *   no limit
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Sends a new @type envelope to @peer_id and waits for the envelope that
 * answers it (names it in `re`). The envelope goes over the link to
 * @peer_id or, without one, to the neighbour that reaches it, found first
 * if need be. Finish with plexus_node_request_finish().
 */
void
plexus_node_request_async (PlexusNode          *self,
                           const gchar         *peer_id,
                           const gchar         *type,
                           JsonObject          *body,
                           guint                timeout_ms,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(PlexusEnvelope) envelope = NULL;

  g_return_if_fail (PLEXUS_IS_NODE (self));
  g_return_if_fail (peer_id != NULL);
  g_return_if_fail (plexus_envelope_type_is_valid (type));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (!plexus_peer_id_is_valid (peer_id)) {
    g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

    g_task_set_source_tag (task, plexus_node_request_async);
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             "'%s' is not a peer ID", peer_id);
    return;
  }
  envelope = plexus_envelope_new (type, own_peer_id (self), peer_id, body);
  plexus_node_request_envelope_async (self, envelope, timeout_ms, cancellable, callback, user_data);
}

/**
 * plexus_node_request_envelope_async:
 * @self: a #PlexusNode
 * @envelope: the request, from this node, its `to` the peer asked
 * @timeout_ms: how long to wait for the answer, in milliseconds; 0 for
 *   no limit
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Like plexus_node_request_async(), for a request the caller made (with
 * an attachment, say). Finish with plexus_node_request_finish().
 */
void
plexus_node_request_envelope_async (PlexusNode          *self,
                                    PlexusEnvelope      *envelope,
                                    guint                timeout_ms,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  PlexusLink *link;
  Request *request;

  g_return_if_fail (PLEXUS_IS_NODE (self));
  g_return_if_fail (PLEXUS_IS_ENVELOPE (envelope));
  g_return_if_fail (plexus_peer_id_is_valid (plexus_envelope_get_to (envelope)));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, plexus_node_request_async);
  if (g_task_return_error_if_cancelled (task))
    return;

  request = g_new0 (Request, 1);
  request->node = self;
  request->task = g_steal_pointer (&task);
  request->envelope = g_object_ref (envelope);
  request->id = g_strdup (plexus_envelope_get_id (envelope));
  request->type = g_strdup (plexus_envelope_get_message_type (envelope));
  request->peer_id = g_strdup (plexus_envelope_get_to (envelope));
  if (timeout_ms > 0) {
    request->timeout_source = g_timeout_source_new (timeout_ms);
    g_source_set_callback (request->timeout_source, on_request_timeout, request, NULL);
    g_source_attach (request->timeout_source, g_task_get_context (request->task));
  }
  if (cancellable != NULL) {
    request->cancel_source = g_cancellable_source_new (cancellable);
    g_source_set_callback (request->cancel_source, (GSourceFunc) G_CALLBACK (on_request_cancelled),
                           request, NULL);
    g_source_attach (request->cancel_source, g_task_get_context (request->task));
  }
  g_hash_table_insert (self->requests, request->id, request);

  link = route_lookup (self, request->peer_id);
  if (link != NULL)
    request_send (request, link);
  else
    route_search_async (self, request->peer_id, on_request_route, g_strdup (request->id));
}

/**
 * plexus_node_request_finish:
 * @self: a #PlexusNode
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Fails with %PLEXUS_ERROR_NOT_FOUND when no route to the peer was known
 * or found,
 * %PLEXUS_ERROR_TIMED_OUT when no answer came in time,
 * %PLEXUS_ERROR_FAILED when the peer answered with an `error` (the message
 * gives its code and explanation) or the link closed before the answer
 * came, and %G_IO_ERROR_CANCELLED when cancelled.
 *
 * Returns: (transfer full): the answer, or %NULL with @error set
 */
PlexusEnvelope *
plexus_node_request_finish (PlexusNode *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (PLEXUS_IS_NODE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == plexus_node_request_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* PlexusMessenger ------------------------------------------------------------ */

static gboolean
messenger_register_handler (PlexusMessenger      *messenger,
                            const gchar          *type,
                            PlexusMessageHandler  func,
                            gpointer              user_data,
                            GDestroyNotify        destroy,
                            GError              **error)
{
  PlexusNode *self = PLEXUS_NODE (messenger);

  if (g_hash_table_contains (self->handlers, type)) {
    if (destroy != NULL)
      destroy (user_data);
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_EXISTS,
                 "'%s' messages already have a handler", type);
    return FALSE;
  }
  plexus_node_register_handler (self, type, func, user_data, destroy);
  return TRUE;
}

static void
messenger_unregister_handler (PlexusMessenger *messenger, const gchar *type)
{
  /* The node's own types are not a plugin's to remove. */
  if (g_strcmp0 (type, "ping") == 0 || g_strcmp0 (type, "route.find") == 0) {
    g_warning ("a plugin tried to unregister the node's own '%s' messages", type);
    return;
  }
  g_hash_table_remove (PLEXUS_NODE (messenger)->handlers, type);
}

/* Encodes @envelope and writes it to @link. */
static gboolean
send_on_link (PlexusLink *link, PlexusEnvelope *envelope, GError **error)
{
  g_autoptr(GBytes) bytes = plexus_envelope_encode_with (envelope, plexus_link_get_envelope_encoding (link),
                                                          error);

  if (bytes == NULL || !plexus_link_send (link, bytes, error)) {
    g_prefix_error (error, "cannot send the '%s' message to %s: ",
                    plexus_envelope_get_message_type (envelope), plexus_envelope_get_to (envelope));
    return FALSE;
  }
  return TRUE;
}

static void
on_send_route (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  PlexusEnvelope *envelope = g_task_get_task_data (task);
  g_autoptr(PlexusLink) link = NULL;
  g_autoptr(GError) error = NULL;

  if (g_task_return_error_if_cancelled (task))
    return;
  link = route_search_finish (PLEXUS_NODE (source), result, &error);
  if (link == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (!send_on_link (link, envelope, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_task_return_boolean (task, TRUE);
}

static void
messenger_send_async (PlexusMessenger     *messenger,
                      PlexusEnvelope      *envelope,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  PlexusNode *self = PLEXUS_NODE (messenger);
  g_autoptr(GTask) task = NULL;
  const gchar *to = plexus_envelope_get_to (envelope);
  PlexusLink *link;

  /* Nobody to tell and a route known: no task, whose completion would
   * cost an idle source and another pass over every source. */
  if (callback == NULL && plexus_peer_id_is_valid (to) && strcmp (to, own_peer_id (self)) != 0 &&
      !g_cancellable_is_cancelled (cancellable) && (link = route_lookup (self, to)) != NULL) {
    g_autoptr(GError) error = NULL;

    if (!send_on_link (link, envelope, &error))
      g_debug ("%s", error->message);
    return;
  }
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, messenger_send_async);
  g_task_set_task_data (task, g_object_ref (envelope), g_object_unref);
  if (!plexus_peer_id_is_valid (to)) {
    g_task_return_new_error (task, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
                             "a message sent through the messenger needs a peer ID in 'to'");
    return;
  }
  /* A known route is used now rather than from the main loop's next
   * iteration, where a GTask made in this one completes: a relay passes a
   * signal on within the iteration that brought it. */
  if (strcmp (to, own_peer_id (self)) != 0 && (link = route_lookup (self, to)) != NULL) {
    g_autoptr(GError) error = NULL;

    if (g_task_return_error_if_cancelled (task))
      return;
    if (send_on_link (link, envelope, &error))
      g_task_return_boolean (task, TRUE);
    else
      g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  route_search_async (self, to, on_send_route, g_steal_pointer (&task));
}

static gboolean
messenger_send_finish (PlexusMessenger *messenger, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, messenger), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == messenger_send_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
messenger_request_async (PlexusMessenger     *messenger,
                         const gchar         *peer_id,
                         const gchar         *type,
                         JsonObject          *body,
                         guint                timeout_ms,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  plexus_node_request_async (PLEXUS_NODE (messenger), peer_id, type, body, timeout_ms,
                             cancellable, callback, user_data);
}

static void
messenger_request_envelope_async (PlexusMessenger     *messenger,
                                  PlexusEnvelope      *envelope,
                                  guint                timeout_ms,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  plexus_node_request_envelope_async (PLEXUS_NODE (messenger), envelope, timeout_ms, cancellable, callback,
                                      user_data);
}

static PlexusEnvelope *
messenger_request_finish (PlexusMessenger *messenger, GAsyncResult *result, GError **error)
{
  return plexus_node_request_finish (PLEXUS_NODE (messenger), result, error);
}

static void
messenger_add_route (PlexusMessenger *messenger, const gchar *peer_id, const gchar *via_peer_id)
{
  PlexusNode *self = PLEXUS_NODE (messenger);

  if (strcmp (peer_id, via_peer_id) == 0 || strcmp (peer_id, own_peer_id (self)) == 0)
    return;
  g_hash_table_replace (self->given, g_strdup (peer_id), g_strdup (via_peer_id));
}

static void
messenger_remove_route (PlexusMessenger *messenger, const gchar *peer_id)
{
  g_hash_table_remove (PLEXUS_NODE (messenger)->given, peer_id);
  g_hash_table_remove (PLEXUS_NODE (messenger)->routes, peer_id);
}

static gint
compare_strings (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

static gchar **
messenger_list_linked_peers (PlexusMessenger *messenger)
{
  PlexusNode *self = PLEXUS_NODE (messenger);
  g_autofree const gchar **keys = (const gchar **) g_hash_table_get_keys_as_array (self->links, NULL);
  gchar **peers = g_strdupv ((gchar **) keys);

  g_qsort_with_data (peers, (gint) g_strv_length (peers), sizeof (gchar *), compare_strings, NULL);
  return peers;
}

static gchar *
messenger_get_peer_address (PlexusMessenger *messenger, const gchar *peer_id)
{
  PlexusLink *link = g_hash_table_lookup (PLEXUS_NODE (messenger)->links, peer_id);

  return link != NULL ? g_strdup (plexus_link_get_remote_address (link)) : NULL;
}

static gchar *
messenger_get_server_peer_id (PlexusMessenger *messenger)
{
  PlexusNode *self = PLEXUS_NODE (messenger);

  for (guint i = 0; i < self->dialers->len; i++) {
    Dialer *dialer = g_ptr_array_index (self->dialers, i);

    /* Linked by this dial, or by the server dialing here first. */
    if (dialer->is_server && dialer->link != NULL)
      return g_strdup (dialer->peer_id);
    if (dialer->is_server && dialer->parked_on != NULL && g_hash_table_contains (self->links, dialer->parked_on))
      return g_strdup (dialer->parked_on);
  }
  return NULL;
}

static void
messenger_connect (PlexusMessenger *messenger, const gchar *uri)
{
  PlexusNode *self = PLEXUS_NODE (messenger);
  guint waiting;
  Dialer *dialer;

  if (self->stopping)
    return;
  dialer = plexus_node_find_dialer (self, uri);
  if (dialer == NULL) {
    plexus_node_add_dialer (self, uri);
    return;
  }
  /* The caller knows the peer is back: no need to sit out the backoff. */
  if (dialer->timer_id == 0 || dialer->finished)
    return;
  waiting = dialer->attempt;
  g_clear_handle_id (&dialer->timer_id, g_source_remove);
  g_message ("%s is back; dialing it now instead of waiting (attempt %u)", uri, waiting);
  dialer_dial (dialer);
}

static void
messenger_disconnect (PlexusMessenger *messenger, const gchar *uri)
{
  PlexusNode *self = PLEXUS_NODE (messenger);

  for (guint i = 0; i < self->dialers->len; i++) {
    Dialer *dialer = g_ptr_array_index (self->dialers, i);
    g_autoptr(PlexusLink) link = NULL;

    if (g_strcmp0 (dialer->uri, uri) != 0 || dialer->configured)
      continue;
    g_message ("no longer linking to %s", uri);
    link = dialer->link != NULL ? g_object_ref (dialer->link) : NULL;
    dialer_detach (dialer);
    g_ptr_array_remove_index (self->dialers, i);
    if (link != NULL)
      plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_NORMAL, "no longer wanted");
    return;
  }
}

static void
plexus_node_messenger_init (PlexusMessengerInterface *iface)
{
  iface->connect = messenger_connect;
  iface->disconnect = messenger_disconnect;
  iface->get_peer_address = messenger_get_peer_address;
  iface->get_server_peer_id = messenger_get_server_peer_id;
  iface->register_handler = messenger_register_handler;
  iface->unregister_handler = messenger_unregister_handler;
  iface->send_async = messenger_send_async;
  iface->send_finish = messenger_send_finish;
  iface->request_async = messenger_request_async;
  iface->request_finish = messenger_request_finish;
  iface->request_envelope_async = messenger_request_envelope_async;
  iface->add_route = messenger_add_route;
  iface->remove_route = messenger_remove_route;
  iface->list_linked_peers = messenger_list_linked_peers;
}

static void
plexus_node_dispose (GObject *object)
{
  PlexusNode *self = PLEXUS_NODE (object);

  if (self->links != NULL)
    plexus_node_shutdown (self, FALSE);
  /* Handler data may hold references to the node. */
  if (self->handlers != NULL)
    g_hash_table_remove_all (self->handlers);
  g_clear_object (&self->listener);
  g_clear_object (&self->server);
  g_clear_object (&self->session);
  g_clear_object (&self->context);
  G_OBJECT_CLASS (plexus_node_parent_class)->dispose (object);
}

static void
plexus_node_finalize (GObject *object)
{
  PlexusNode *self = PLEXUS_NODE (object);

  g_free (self->address);
  g_clear_pointer (&self->links, g_hash_table_unref);
  g_clear_pointer (&self->pending, g_hash_table_unref);
  g_clear_pointer (&self->dialers, g_ptr_array_unref);
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->requests, g_hash_table_unref);
  g_clear_pointer (&self->bad_frames, g_hash_table_unref);
  g_clear_pointer (&self->routes, g_hash_table_unref);
  g_clear_pointer (&self->given, g_hash_table_unref);
  g_clear_pointer (&self->searches, g_hash_table_unref);
  g_clear_pointer (&self->static_key, plexus_noise_keypair_free);
  G_OBJECT_CLASS (plexus_node_parent_class)->finalize (object);
}

static void
plexus_node_class_init (PlexusNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_node_dispose;
  object_class->finalize = plexus_node_finalize;

  /**
   * PlexusNode::link-added:
   * @node: the node
   * @link: the link, ready
   *
   * A peer is now linked, through @link.
   */
  signals[SIGNAL_LINK_ADDED] =
    g_signal_new ("link-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, PLEXUS_TYPE_LINK);
  /**
   * PlexusNode::link-removed:
   * @node: the node
   * @link: the link
   *
   * @link is no longer the link to its peer: it closed, or a duplicate
   * replaced it (then #PlexusNode::link-added follows with the new one).
   */
  signals[SIGNAL_LINK_REMOVED] =
    g_signal_new ("link-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, PLEXUS_TYPE_LINK);
}

/* GET /health: for operators and their monitoring, plain HTTP beside the
 * node links on the same port. */
static void
on_health (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  PlexusNode *self = user_data;
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_auto(GStrv) roles = NULL;
  gchar *text;
  gsize length;
  const char *method = soup_server_message_get_method (msg);

  if (g_strcmp0 (method, SOUP_METHOD_GET) != 0 && g_strcmp0 (method, SOUP_METHOD_HEAD) != 0) {
    soup_server_message_set_status (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "GET, HEAD");
    return;
  }
  roles = plexus_roles_to_strv (plexus_context_get_roles (self->context));
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, self->stopping ? "stopping" : "ok");
  json_builder_set_member_name (builder, "version");
  json_builder_add_string_value (builder, PACKAGE_VERSION);
  json_builder_set_member_name (builder, "peer_id");
  json_builder_add_string_value (builder, plexus_identity_get_peer_id (plexus_context_get_identity (self->context)));
  json_builder_set_member_name (builder, "roles");
  json_builder_begin_array (builder);
  for (guint i = 0; roles[i] != NULL; i++)
    json_builder_add_string_value (builder, roles[i]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "uptime_s");
  json_builder_add_int_value (builder, (g_get_monotonic_time () - self->started_at) / G_USEC_PER_SEC);
  json_builder_set_member_name (builder, "connected_peers");
  json_builder_add_int_value (builder, g_hash_table_size (self->links));
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  text = plexus_json_to_string (root, &length);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control", "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, length);
}

static void
plexus_node_init (PlexusNode *self)
{
  self->server = soup_server_new ("server-header", "plexusd/" PACKAGE_VERSION " ", NULL);
  self->session = soup_session_new ();
  /* A fresh Noise static key per process: the Ed25519 identity signs it in
   * each handshake, so it need not persist. */
  self->static_key = plexus_noise_keypair_new ();
  self->links = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->pending = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->dialers = g_ptr_array_new_with_free_func (dialer_unref);
  self->handlers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, handler_free);
  /* Requests are completed, not just dropped: the table does not own them. */
  self->requests = g_hash_table_new (g_str_hash, g_str_equal);
  self->bad_frames = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_array_unref);
  self->routes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, route_free);
  self->given = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* Searches end themselves: the table does not own them. */
  self->searches = g_hash_table_new (g_str_hash, g_str_equal);
  plexus_node_register_handler (self, "ping", handle_ping, NULL, NULL);
  plexus_node_register_handler (self, "route.find", handle_route_find, NULL, NULL);
}

/**
 * plexus_node_new:
 * @context: the daemon's context
 *
 * Returns: (transfer full): a node that does not listen yet, but accepts
 *   links once it does
 */
PlexusNode *
plexus_node_new (PlexusContext *context)
{
  PlexusNode *self = g_object_new (PLEXUS_TYPE_NODE, NULL);

  self->context = g_object_ref (context);
  plexus_link_server_add_handler (self->server, "/", plexus_context_get_identity (context),
                                  self->static_key, on_link_accepted, self, NULL);
  soup_server_add_handler (self->server, "/health", on_health, self, NULL);
  self->started_at = g_get_monotonic_time ();
  return self;
}
