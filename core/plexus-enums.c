/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-enums.h"
#include "plexus-error.h"

static const gchar *mode_names[] = { "hybrid", "peer", "traditional" };
static const gchar *role_names[] = { "standard", "super", "bootstrap", "server" };

/**
 * plexus_mode_to_string:
 * @mode: a #PlexusMode
 *
 * Returns: the mode's name, e.g. `hybrid`
 */
const gchar *
plexus_mode_to_string (PlexusMode mode)
{
  if ((guint) mode < G_N_ELEMENTS (mode_names))
    return mode_names[mode];
  return NULL;
}

/**
 * plexus_mode_from_string:
 * @str: a mode name
 * @mode: (out): where to store the mode
 * @error: return location for a #GError
 *
 * Parses `hybrid`, `peer` or `traditional`.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_mode_from_string (const gchar *str, PlexusMode *mode, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (mode_names); i++) {
    if (g_strcmp0 (str, mode_names[i]) == 0) {
      *mode = (PlexusMode) i;
      return TRUE;
    }
  }
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
               "'%s' is not a mode; expected hybrid, peer or traditional",
               str != NULL ? str : "(null)");
  return FALSE;
}

/**
 * plexus_role_to_string:
 * @role: a single #PlexusRole bit
 *
 * Returns: the role's name, or %NULL if @role is not exactly one role
 */
const gchar *
plexus_role_to_string (PlexusRole role)
{
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++) {
    if (role == (PlexusRole) (1u << i))
      return role_names[i];
  }
  return NULL;
}

/**
 * plexus_role_from_string:
 * @str: a role name
 * @role: (out): where to store the role
 * @error: return location for a #GError
 *
 * Parses `standard`, `super`, `bootstrap` or `server`.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_role_from_string (const gchar *str, PlexusRole *role, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++) {
    if (g_strcmp0 (str, role_names[i]) == 0) {
      *role = (PlexusRole) (1u << i);
      return TRUE;
    }
  }
  g_set_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT,
               "'%s' is not a role; expected standard, super, bootstrap or server",
               str != NULL ? str : "(null)");
  return FALSE;
}

/**
 * plexus_roles_to_strv:
 * @roles: a set of #PlexusRole bits
 *
 * Returns: (transfer full): the role names in canonical order
 */
gchar **
plexus_roles_to_strv (PlexusRole roles)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < G_N_ELEMENTS (role_names); i++) {
    if (roles & (1u << i))
      g_strv_builder_add (builder, role_names[i]);
  }
  return g_strv_builder_end (builder);
}

/**
 * plexus_roles_from_strv:
 * @strv: role names
 * @roles: (out): where to store the set
 * @error: return location for a #GError
 *
 * Parses a list of role names; repeats are allowed, unknown names are not.
 *
 * Returns: %TRUE on success
 */
gboolean
plexus_roles_from_strv (const gchar * const *strv, PlexusRole *roles, GError **error)
{
  PlexusRole result = PLEXUS_ROLE_NONE;

  for (guint i = 0; strv != NULL && strv[i] != NULL; i++) {
    PlexusRole role;
    if (!plexus_role_from_string (strv[i], &role, error))
      return FALSE;
    result |= role;
  }
  *roles = result;
  return TRUE;
}

/**
 * plexus_provider_kind_to_string:
 * @kind: a #PlexusProviderKind
 *
 * Returns: `local`, `peer` or `server`
 */
const gchar *
plexus_provider_kind_to_string (PlexusProviderKind kind)
{
  switch (kind) {
  case PLEXUS_PROVIDER_KIND_LOCAL:
    return "local";
  case PLEXUS_PROVIDER_KIND_PEER:
    return "peer";
  case PLEXUS_PROVIDER_KIND_SERVER:
    return "server";
  default:
    return NULL;
  }
}

/**
 * plexus_plugin_state_to_string:
 * @state: a #PlexusPluginState
 *
 * Returns: `available`, `disabled`, `loaded` or `failed`
 */
const gchar *
plexus_plugin_state_to_string (PlexusPluginState state)
{
  switch (state) {
  case PLEXUS_PLUGIN_STATE_AVAILABLE:
    return "available";
  case PLEXUS_PLUGIN_STATE_DISABLED:
    return "disabled";
  case PLEXUS_PLUGIN_STATE_LOADED:
    return "loaded";
  case PLEXUS_PLUGIN_STATE_FAILED:
    return "failed";
  default:
    return NULL;
  }
}

/**
 * plexus_daemon_state_to_string:
 * @state: a #PlexusDaemonState
 *
 * Returns: `starting`, `running` or `stopping`
 */
const gchar *
plexus_daemon_state_to_string (PlexusDaemonState state)
{
  switch (state) {
  case PLEXUS_DAEMON_STATE_STARTING:
    return "starting";
  case PLEXUS_DAEMON_STATE_RUNNING:
    return "running";
  case PLEXUS_DAEMON_STATE_STOPPING:
    return "stopping";
  default:
    return NULL;
  }
}
