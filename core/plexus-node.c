/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-node.h"

/**
 * SECTION:plexus-node
 * @title: PlexusNode
 * @short_description: the daemon's listener for node links
 *
 * One SoupServer per daemon. Its address is the node's identity on the
 * network (`ws://HOST:PORT/`), shown on D-Bus and by `plexusctl status`.
 */

struct _PlexusNode {
  GObject        parent_instance;

  PlexusContext *context;
  SoupServer    *server;
  gchar         *address;
};

G_DEFINE_TYPE (PlexusNode, plexus_node, G_TYPE_OBJECT)

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

/**
 * plexus_node_stop:
 * @self: a #PlexusNode
 *
 * Stops listening.
 */
void
plexus_node_stop (PlexusNode *self)
{
  g_return_if_fail (PLEXUS_IS_NODE (self));
  soup_server_disconnect (self->server);
  g_clear_pointer (&self->address, g_free);
}

static void
plexus_node_dispose (GObject *object)
{
  PlexusNode *self = PLEXUS_NODE (object);

  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_clear_object (&self->context);
  G_OBJECT_CLASS (plexus_node_parent_class)->dispose (object);
}

static void
plexus_node_finalize (GObject *object)
{
  PlexusNode *self = PLEXUS_NODE (object);

  g_free (self->address);
  G_OBJECT_CLASS (plexus_node_parent_class)->finalize (object);
}

static void
plexus_node_class_init (PlexusNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_node_dispose;
  object_class->finalize = plexus_node_finalize;
}

static void
plexus_node_init (PlexusNode *self)
{
  self->server = soup_server_new ("server-header", "plexusd/" PACKAGE_VERSION " ", NULL);
}

/**
 * plexus_node_new:
 * @context: the daemon's context
 *
 * Returns: (transfer full): a node that does not listen yet
 */
PlexusNode *
plexus_node_new (PlexusContext *context)
{
  PlexusNode *self = g_object_new (PLEXUS_TYPE_NODE, NULL);

  self->context = g_object_ref (context);
  return self;
}
