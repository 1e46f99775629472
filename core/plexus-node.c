/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-node.h"

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
} Dialer;

struct _PlexusNode {
  GObject             parent_instance;

  PlexusContext      *context;
  SoupServer         *server;
  SoupSession        *session;
  PlexusNoiseKeypair *static_key;
  gchar              *address;

  GHashTable         *links;      /* peer ID → live PlexusLink */
  GHashTable         *pending;    /* inbound links still in their handshake */
  GPtrArray          *dialers;    /* (element-type Dialer) */
  gboolean            stopping;
};

enum {
  SIGNAL_LINK_ADDED,
  SIGNAL_LINK_REMOVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PlexusNode, plexus_node, G_TYPE_OBJECT)

static void dialer_dial (Dialer *dialer);

static const gchar *
own_peer_id (PlexusNode *self)
{
  return plexus_identity_get_peer_id (plexus_context_get_identity (self->context));
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
    removed = TRUE;
    g_signal_emit (self, signals[SIGNAL_LINK_REMOVED], 0, link);
  }
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
    g_message ("linked to %s (%s, %s)", peer_id, direction_to_string (link),
               plexus_link_get_remote_address (link) != NULL ? plexus_link_get_remote_address (link) : "");
    g_signal_emit (self, signals[SIGNAL_LINK_ADDED], 0, link);
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

static void
plexus_node_add_dialer (PlexusNode *self, const gchar *uri)
{
  Dialer *dialer;

  if (uri == NULL || uri[0] == '\0')
    return;
  for (guint i = 0; i < self->dialers->len; i++) {
    if (g_strcmp0 (((Dialer *) g_ptr_array_index (self->dialers, i))->uri, uri) == 0)
      return;
  }
  dialer = g_new0 (Dialer, 1);
  dialer->ref_count = 1;
  dialer->node = self;
  dialer->uri = g_strdup (uri);
  g_ptr_array_add (self->dialers, dialer);
  g_message ("linking to %s", uri);
  dialer_dial (dialer);
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

  g_return_if_fail (PLEXUS_IS_NODE (self));

  config = plexus_context_get_config (self->context);
  bootstrap = plexus_config_get_string_list (config, "node", "bootstrap");
  server = plexus_config_get_string (config, "node", "server");
  for (guint i = 0; bootstrap != NULL && bootstrap[i] != NULL; i++)
    plexus_node_add_dialer (self, bootstrap[i]);
  plexus_node_add_dialer (self, server);
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
  g_autoslist(GUri) uris = NULL;
  g_autofree gchar *bound_host = NULL;
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
  if (!soup_server_listen (self->server, socket_address, 0, &local_error)) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot listen on %s: %s", host_port, local_error->message);
    return FALSE;
  }

  uris = soup_server_get_uris (self->server);
  if (uris == NULL) {
    g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_FAILED,
                 "cannot listen on %s: the server reports no address", host_port);
    return FALSE;
  }
  /* soup reports http://; the node's address is the WebSocket URI. */
  bound_host = g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6
               ? g_strdup_printf ("[%s]", g_uri_get_host (uris->data))
               : g_strdup (g_uri_get_host (uris->data));
  self->address = g_strdup_printf ("ws://%s:%d/", bound_host, g_uri_get_port (uris->data));
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

    g_signal_handlers_disconnect_by_data (link, self);
    plexus_link_close (link, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "node shutting down");
    if (wait && g_hash_table_lookup (self->links, plexus_link_get_peer_id (link)) == link)
      g_signal_emit (self, signals[SIGNAL_LINK_REMOVED], 0, link);
  }
  g_hash_table_remove_all (self->links);
  g_hash_table_remove_all (self->pending);

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

static void
plexus_node_dispose (GObject *object)
{
  PlexusNode *self = PLEXUS_NODE (object);

  if (self->links != NULL)
    plexus_node_shutdown (self, FALSE);
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
  return self;
}
