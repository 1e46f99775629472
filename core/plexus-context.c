/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-context.h"

/**
 * SECTION:plexus-context
 * @title: PlexusContext
 * @short_description: What a plugin sees of the daemon
 *
 * The daemon creates one #PlexusContext and hands it to every plugin. It
 * holds the configuration, the identity, the broker and this node's
 * capabilities. Later releases add getters here, not virtual functions to
 * #PlexusPlugin, so plugins built against an older minor ABI keep working.
 */

struct _PlexusContext {
  GObject             parent_instance;

  PlexusConfig       *config;
  PlexusIdentity     *identity;
  PlexusBroker       *broker;
  PlexusCapabilities *capabilities;
  GDBusConnection    *connection;
  PlexusMessenger    *messenger;  /* weak: the node holds the context */
  gchar              *state_dir;
  PlexusMode          mode;
  PlexusRole          roles;
};

G_DEFINE_TYPE (PlexusContext, plexus_context, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MODE,
  PROP_ROLES,
  PROP_CONNECTION,
  PROP_MESSENGER,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static void
plexus_context_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  PlexusContext *self = PLEXUS_CONTEXT (object);

  switch (prop_id) {
  case PROP_MODE:
    g_value_set_enum (value, self->mode);
    break;
  case PROP_ROLES:
    g_value_set_flags (value, self->roles);
    break;
  case PROP_CONNECTION:
    g_value_set_object (value, self->connection);
    break;
  case PROP_MESSENGER:
    g_value_set_object (value, self->messenger);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_context_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  PlexusContext *self = PLEXUS_CONTEXT (object);

  switch (prop_id) {
  case PROP_MODE:
    plexus_context_set_mode (self, g_value_get_enum (value));
    break;
  case PROP_ROLES:
    plexus_context_set_roles (self, g_value_get_flags (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_context_dispose (GObject *object)
{
  PlexusContext *self = PLEXUS_CONTEXT (object);

  g_clear_weak_pointer (&self->messenger);
  g_clear_object (&self->connection);
  g_clear_object (&self->capabilities);
  g_clear_object (&self->broker);
  g_clear_object (&self->identity);
  g_clear_object (&self->config);
  G_OBJECT_CLASS (plexus_context_parent_class)->dispose (object);
}

static void
plexus_context_finalize (GObject *object)
{
  PlexusContext *self = PLEXUS_CONTEXT (object);

  g_free (self->state_dir);
  G_OBJECT_CLASS (plexus_context_parent_class)->finalize (object);
}

static void
plexus_context_class_init (PlexusContextClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = plexus_context_get_property;
  object_class->set_property = plexus_context_set_property;
  object_class->dispose = plexus_context_dispose;
  object_class->finalize = plexus_context_finalize;

  /**
   * PlexusContext:mode:
   *
   * The network mode the node runs in.
   */
  props[PROP_MODE] = g_param_spec_enum ("mode", NULL, NULL,
                                        PLEXUS_TYPE_MODE, PLEXUS_MODE_HYBRID,
                                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * PlexusContext:roles:
   *
   * The roles the node holds now.
   */
  props[PROP_ROLES] = g_param_spec_flags ("roles", NULL, NULL,
                                          PLEXUS_TYPE_ROLE, PLEXUS_ROLE_STANDARD,
                                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * PlexusContext:connection:
   *
   * The bus the daemon serves on, once it is on one. Plugins that export
   * D-Bus objects of their own wait for it with `notify::connection`.
   */
  props[PROP_CONNECTION] = g_param_spec_object ("connection", NULL, NULL,
                                                G_TYPE_DBUS_CONNECTION,
                                                G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /**
   * PlexusContext:messenger:
   *
   * How plugins reach other nodes: set once the node listens, before
   * plugins are set up, and cleared when it stops.
   */
  props[PROP_MESSENGER] = g_param_spec_object ("messenger", NULL, NULL,
                                               PLEXUS_TYPE_MESSENGER,
                                               G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
plexus_context_init (PlexusContext *self)
{
  self->mode = PLEXUS_MODE_HYBRID;
  self->roles = PLEXUS_ROLE_STANDARD;
}

/**
 * plexus_context_new:
 * @config: the effective configuration
 * @identity: this node's identity
 * @broker: the service broker
 * @state_dir: the state directory
 *
 * Returns: (transfer full): a new #PlexusContext
 */
PlexusContext *
plexus_context_new (PlexusConfig *config, PlexusIdentity *identity,
                    PlexusBroker *broker, const gchar *state_dir)
{
  PlexusContext *self;

  g_return_val_if_fail (PLEXUS_IS_CONFIG (config), NULL);
  g_return_val_if_fail (PLEXUS_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (PLEXUS_IS_BROKER (broker), NULL);

  self = g_object_new (PLEXUS_TYPE_CONTEXT, NULL);
  self->config = g_object_ref (config);
  self->identity = g_object_ref (identity);
  self->broker = g_object_ref (broker);
  self->state_dir = g_strdup (state_dir);
  self->capabilities = plexus_capabilities_new (plexus_identity_get_peer_id (identity));
  plexus_capabilities_set_roles (self->capabilities, self->roles);
  return self;
}

/**
 * plexus_context_get_config:
 * @self: a #PlexusContext
 *
 * Returns: (transfer none): the effective configuration
 */
PlexusConfig *
plexus_context_get_config (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->config;
}

/**
 * plexus_context_get_identity:
 * @self: a #PlexusContext
 *
 * Returns: (transfer none): this node's identity
 */
PlexusIdentity *
plexus_context_get_identity (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->identity;
}

/**
 * plexus_context_get_broker:
 * @self: a #PlexusContext
 *
 * Returns: (transfer none): the service broker, where plugins register providers
 */
PlexusBroker *
plexus_context_get_broker (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->broker;
}

/**
 * plexus_context_get_capabilities:
 * @self: a #PlexusContext
 *
 * Plugins fill in the services they offer here; the node advertises it.
 *
 * Returns: (transfer none): this node's capabilities
 */
PlexusCapabilities *
plexus_context_get_capabilities (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->capabilities;
}

/**
 * plexus_context_get_state_dir:
 * @self: a #PlexusContext
 *
 * Plugins keep their persistent state in subfolders named after themselves.
 *
 * Returns: the state directory
 */
const gchar *
plexus_context_get_state_dir (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->state_dir;
}

/**
 * plexus_context_get_mode:
 * @self: a #PlexusContext
 *
 * Returns: the network mode
 */
PlexusMode
plexus_context_get_mode (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), PLEXUS_MODE_HYBRID);
  return self->mode;
}

/**
 * plexus_context_set_mode:
 * @self: a #PlexusContext
 * @mode: the network mode
 *
 * Sets the mode and applies it to the broker.
 */
void
plexus_context_set_mode (PlexusContext *self, PlexusMode mode)
{
  g_return_if_fail (PLEXUS_IS_CONTEXT (self));

  if (self->mode == mode)
    return;
  self->mode = mode;
  if (self->broker != NULL)
    plexus_broker_set_mode (self->broker, mode);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MODE]);
}

/**
 * plexus_context_get_roles:
 * @self: a #PlexusContext
 *
 * Returns: the roles this node holds
 */
PlexusRole
plexus_context_get_roles (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), PLEXUS_ROLE_NONE);
  return self->roles;
}

/**
 * plexus_context_set_roles:
 * @self: a #PlexusContext
 * @roles: the roles this node holds
 *
 * Sets the roles and mirrors them into the capabilities.
 */
void
plexus_context_set_roles (PlexusContext *self, PlexusRole roles)
{
  g_return_if_fail (PLEXUS_IS_CONTEXT (self));

  if (self->roles == roles)
    return;
  self->roles = roles;
  if (self->capabilities != NULL)
    plexus_capabilities_set_roles (self->capabilities, roles);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_ROLES]);
}

/**
 * plexus_context_get_connection:
 * @self: a #PlexusContext
 *
 * Returns: (transfer none) (nullable): the bus the daemon serves on, or
 *   %NULL when it runs without one (`--bus none`)
 */
GDBusConnection *
plexus_context_get_connection (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->connection;
}

/**
 * plexus_context_set_connection:
 * @self: a #PlexusContext
 * @connection: (nullable): the bus connection
 *
 * Set by the daemon once it is on the bus.
 */
void
plexus_context_set_connection (PlexusContext *self, GDBusConnection *connection)
{
  g_return_if_fail (PLEXUS_IS_CONTEXT (self));
  if (g_set_object (&self->connection, connection))
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_CONNECTION]);
}

/**
 * plexus_context_get_messenger:
 * @self: a #PlexusContext
 *
 * Returns: (transfer none) (nullable): the node's messenger, through which
 *   plugins register message types and reach other nodes; %NULL while the
 *   node does not run
 */
PlexusMessenger *
plexus_context_get_messenger (PlexusContext *self)
{
  g_return_val_if_fail (PLEXUS_IS_CONTEXT (self), NULL);
  return self->messenger;
}

/**
 * plexus_context_set_messenger:
 * @self: a #PlexusContext
 * @messenger: (nullable): the node's messenger
 *
 * Set by the daemon; the context does not keep @messenger alive.
 */
void
plexus_context_set_messenger (PlexusContext *self, PlexusMessenger *messenger)
{
  g_return_if_fail (PLEXUS_IS_CONTEXT (self));
  g_return_if_fail (messenger == NULL || PLEXUS_IS_MESSENGER (messenger));
  if (g_set_weak_pointer (&self->messenger, messenger))
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MESSENGER]);
}
