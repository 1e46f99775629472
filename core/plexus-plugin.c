/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-error.h"
#include "plexus-plugin.h"

/**
 * SECTION:plexus-plugin
 * @title: PlexusPlugin
 * @short_description: The base class of daemon plugins
 *
 * A plugin is a shared object holding one subclass of #PlexusPlugin. The
 * daemon creates one instance with its #PlexusContext and
 * #PlexusPluginInfo, calls plexus_plugin_setup() once, and
 * plexus_plugin_shutdown() once when it stops. A minimal plugin:
 *
 * |[<!-- language="C" -->
 * #define G_LOG_DOMAIN "example"
 * #include <plexus.h>
 *
 * struct _ExamplePlugin { PlexusPlugin parent_instance; };
 * G_DECLARE_FINAL_TYPE (ExamplePlugin, example_plugin, EXAMPLE, PLUGIN, PlexusPlugin)
 * G_DEFINE_TYPE (ExamplePlugin, example_plugin, PLEXUS_TYPE_PLUGIN)
 * PLEXUS_PLUGIN_DEFINE (ExamplePlugin, example_plugin)
 * ]|
 *
 * with `example_plugin_class_init()` setting the @setup and @shutdown
 * virtual functions of #PlexusPluginClass.
 */

typedef struct {
  PlexusContext    *context;
  PlexusPluginInfo *info;
  gboolean          setup_called;
  gboolean          shutdown_called;
} PlexusPluginPrivate;

enum {
  PROP_0,
  PROP_CONTEXT,
  PROP_INFO,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE_WITH_PRIVATE (PlexusPlugin, plexus_plugin, G_TYPE_OBJECT)

static void
plexus_plugin_dispose (GObject *object)
{
  PlexusPluginPrivate *priv = plexus_plugin_get_instance_private (PLEXUS_PLUGIN (object));

  g_clear_object (&priv->context);
  g_clear_object (&priv->info);

  G_OBJECT_CLASS (plexus_plugin_parent_class)->dispose (object);
}

static void
plexus_plugin_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  PlexusPluginPrivate *priv = plexus_plugin_get_instance_private (PLEXUS_PLUGIN (object));

  switch (prop_id) {
  case PROP_CONTEXT:
    g_value_set_object (value, priv->context);
    break;
  case PROP_INFO:
    g_value_set_object (value, priv->info);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_plugin_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  PlexusPluginPrivate *priv = plexus_plugin_get_instance_private (PLEXUS_PLUGIN (object));

  switch (prop_id) {
  case PROP_CONTEXT:
    priv->context = g_value_dup_object (value);
    break;
  case PROP_INFO:
    priv->info = g_value_dup_object (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
plexus_plugin_class_init (PlexusPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = plexus_plugin_dispose;
  object_class->get_property = plexus_plugin_get_property;
  object_class->set_property = plexus_plugin_set_property;

  /**
   * PlexusPlugin:context:
   *
   * What the plugin sees of the daemon: configuration, identity, broker.
   */
  props[PROP_CONTEXT] =
    g_param_spec_object ("context", "Context", "What the plugin sees of the daemon",
                         PLEXUS_TYPE_CONTEXT,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * PlexusPlugin:info:
   *
   * The plugin's metadata.
   */
  props[PROP_INFO] =
    g_param_spec_object ("info", "Info", "The plugin's metadata",
                         PLEXUS_TYPE_PLUGIN_INFO,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
plexus_plugin_init (PlexusPlugin *self)
{
}

/**
 * plexus_plugin_get_context:
 * @self: a #PlexusPlugin
 *
 * Returns: (transfer none): the daemon's context
 */
PlexusContext *
plexus_plugin_get_context (PlexusPlugin *self)
{
  PlexusPluginPrivate *priv;

  g_return_val_if_fail (PLEXUS_IS_PLUGIN (self), NULL);
  priv = plexus_plugin_get_instance_private (self);
  return priv->context;
}

/**
 * plexus_plugin_get_info:
 * @self: a #PlexusPlugin
 *
 * Returns: (transfer none): the plugin's metadata
 */
PlexusPluginInfo *
plexus_plugin_get_info (PlexusPlugin *self)
{
  PlexusPluginPrivate *priv;

  g_return_val_if_fail (PLEXUS_IS_PLUGIN (self), NULL);
  priv = plexus_plugin_get_instance_private (self);
  return priv->info;
}

/**
 * plexus_plugin_get_name:
 * @self: a #PlexusPlugin
 *
 * Returns: (nullable): the plugin's name from its metadata, which is also
 *   the name of its configuration group; %NULL without #PlexusPlugin:info
 */
const gchar *
plexus_plugin_get_name (PlexusPlugin *self)
{
  PlexusPluginPrivate *priv;

  g_return_val_if_fail (PLEXUS_IS_PLUGIN (self), NULL);
  priv = plexus_plugin_get_instance_private (self);
  if (priv->info == NULL)
    return NULL;
  return plexus_plugin_info_get_name (priv->info);
}

/**
 * plexus_plugin_setup:
 * @self: a #PlexusPlugin
 * @error: return location for a #GError
 *
 * Runs the plugin's #PlexusPluginClass.setup, if it has one. Called once by
 * the daemon after loading the plugin.
 *
 * Returns: %TRUE if the plugin is ready, %FALSE with @error set if it
 *   refused
 */
gboolean
plexus_plugin_setup (PlexusPlugin *self, GError **error)
{
  PlexusPluginClass *klass;
  PlexusPluginPrivate *priv;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (PLEXUS_IS_PLUGIN (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  priv = plexus_plugin_get_instance_private (self);
  g_return_val_if_fail (!priv->setup_called, FALSE);
  priv->setup_called = TRUE;

  klass = PLEXUS_PLUGIN_GET_CLASS (self);
  if (klass->setup == NULL)
    return TRUE;
  if (klass->setup (self, &local_error)) {
    /* A plugin that succeeds but leaves an error behind has a bug; say so
     * rather than leak it. */
    if (local_error != NULL)
      g_warning ("plugin %s: setup succeeded but set an error: %s",
                 plexus_plugin_get_name (self), local_error->message);
    return TRUE;
  }
  /* The daemon shows the reason to the user; never leave it empty. */
  if (local_error == NULL)
    local_error = g_error_new_literal (PLEXUS_ERROR, PLEXUS_ERROR_PLUGIN,
                                       "setup failed without giving a reason");
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

/**
 * plexus_plugin_shutdown:
 * @self: a #PlexusPlugin
 *
 * Runs the plugin's #PlexusPluginClass.shutdown, if it has one; later calls
 * do nothing. Called by the daemon when it stops, in reverse load order.
 */
void
plexus_plugin_shutdown (PlexusPlugin *self)
{
  PlexusPluginClass *klass;
  PlexusPluginPrivate *priv;

  g_return_if_fail (PLEXUS_IS_PLUGIN (self));

  priv = plexus_plugin_get_instance_private (self);
  if (priv->shutdown_called)
    return;
  priv->shutdown_called = TRUE;

  klass = PLEXUS_PLUGIN_GET_CLASS (self);
  if (klass->shutdown != NULL)
    klass->shutdown (self);
}
