/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * PlexusMode:
 * @PLEXUS_MODE_HYBRID: use peer paths and the server together; races both
 * @PLEXUS_MODE_PEER: never touch the server
 * @PLEXUS_MODE_TRADITIONAL: never use peers, only the server
 *
 * The network mode, a policy switch over which paths a service may use.
 * Its strings are `hybrid`, `peer` and `traditional`.
 */
typedef enum {
  PLEXUS_MODE_HYBRID,
  PLEXUS_MODE_PEER,
  PLEXUS_MODE_TRADITIONAL,
} PlexusMode;

/**
 * PlexusRole:
 * @PLEXUS_ROLE_NONE: no role
 * @PLEXUS_ROLE_STANDARD: messaging, file transfer, contact discovery
 * @PLEXUS_ROLE_SUPER: relays signaling, holds part of the room DHT, answers STUN
 * @PLEXUS_ROLE_BOOTSTRAP: entry point for new peers, bridge to the server
 * @PLEXUS_ROLE_SERVER: the traditional server, fallback for everything
 *
 * The roles a node holds. Their strings are `standard`, `super`,
 * `bootstrap` and `server`.
 */
typedef enum /*< flags >*/ {
  PLEXUS_ROLE_NONE = 0,
  PLEXUS_ROLE_STANDARD = 1 << 0,
  PLEXUS_ROLE_SUPER = 1 << 1,
  PLEXUS_ROLE_BOOTSTRAP = 1 << 2,
  PLEXUS_ROLE_SERVER = 1 << 3,
} PlexusRole;

/**
 * PLEXUS_ROLE_ALL:
 *
 * Every role bit.
 */
#define PLEXUS_ROLE_ALL (PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER | PLEXUS_ROLE_BOOTSTRAP | PLEXUS_ROLE_SERVER)

/**
 * PlexusProviderKind:
 * @PLEXUS_PROVIDER_KIND_LOCAL: a plugin in this daemon
 * @PLEXUS_PROVIDER_KIND_PEER: another peer, learned from capability gossip
 * @PLEXUS_PROVIDER_KIND_SERVER: the traditional server
 *
 * Where a service provider lives. Strings: `local`, `peer`, `server`.
 */
typedef enum {
  PLEXUS_PROVIDER_KIND_LOCAL,
  PLEXUS_PROVIDER_KIND_PEER,
  PLEXUS_PROVIDER_KIND_SERVER,
} PlexusProviderKind;

/**
 * PlexusEnvelopeEncoding:
 * @PLEXUS_ENVELOPE_ENCODING_JSON: every envelope is JSON, as links of
 *   protocol version 1 carry them
 * @PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS: signals (`signal.relay` and
 *   `signal.deliver` of the usual shape) travel in the compact binary
 *   form, everything else as JSON, as links of version 2 carry them
 *
 * The wire forms a link's version allows (doc/protocol.md, "Envelope").
 */
typedef enum {
  PLEXUS_ENVELOPE_ENCODING_JSON,
  PLEXUS_ENVELOPE_ENCODING_COMPACT_SIGNALS,
} PlexusEnvelopeEncoding;

/**
 * PlexusPluginState:
 * @PLEXUS_PLUGIN_STATE_AVAILABLE: found on disk, not loaded (yet)
 * @PLEXUS_PLUGIN_STATE_DISABLED: turned off by configuration
 * @PLEXUS_PLUGIN_STATE_LOADED: loaded and set up
 * @PLEXUS_PLUGIN_STATE_FAILED: refused or failed; see its error
 *
 * The state of a plugin. Strings: `available`, `disabled`, `loaded`, `failed`.
 */
typedef enum {
  PLEXUS_PLUGIN_STATE_AVAILABLE,
  PLEXUS_PLUGIN_STATE_DISABLED,
  PLEXUS_PLUGIN_STATE_LOADED,
  PLEXUS_PLUGIN_STATE_FAILED,
} PlexusPluginState;

/**
 * PlexusDaemonState:
 * @PLEXUS_DAEMON_STATE_STARTING: loading configuration and plugins
 * @PLEXUS_DAEMON_STATE_RUNNING: serving
 * @PLEXUS_DAEMON_STATE_STOPPING: shutting down
 *
 * The daemon's life cycle. Strings: `starting`, `running`, `stopping`.
 */
typedef enum {
  PLEXUS_DAEMON_STATE_STARTING,
  PLEXUS_DAEMON_STATE_RUNNING,
  PLEXUS_DAEMON_STATE_STOPPING,
} PlexusDaemonState;

const gchar *plexus_mode_to_string (PlexusMode mode);
gboolean     plexus_mode_from_string (const gchar *str,
                                      PlexusMode  *mode,
                                      GError     **error);

const gchar *plexus_role_to_string (PlexusRole role);
gboolean     plexus_role_from_string (const gchar *str,
                                      PlexusRole  *role,
                                      GError     **error);
gchar      **plexus_roles_to_strv (PlexusRole roles);
gboolean     plexus_roles_from_strv (const gchar * const *strv,
                                     PlexusRole          *roles,
                                     GError             **error);

const gchar *plexus_provider_kind_to_string (PlexusProviderKind kind);
const gchar *plexus_plugin_state_to_string (PlexusPluginState state);
const gchar *plexus_daemon_state_to_string (PlexusDaemonState state);

G_END_DECLS
