/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <gio/gio.h>

#include "plexus-broker.h"
#include "plexus-capabilities.h"
#include "plexus-config.h"
#include "plexus-enums.h"
#include "plexus-enum-types.h"
#include "plexus-identity.h"
#include "plexus-messenger.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_CONTEXT (plexus_context_get_type ())
G_DECLARE_FINAL_TYPE (PlexusContext, plexus_context, PLEXUS, CONTEXT, GObject)

/* What a plugin sees of the daemon. New getters are added here rather than
 * in PlexusPlugin, so the plugin ABI stays stable as the daemon grows. */
PlexusContext      *plexus_context_new (PlexusConfig   *config,
                                        PlexusIdentity *identity,
                                        PlexusBroker   *broker,
                                        const gchar    *state_dir);

PlexusConfig       *plexus_context_get_config (PlexusContext *self);
PlexusIdentity     *plexus_context_get_identity (PlexusContext *self);
PlexusBroker       *plexus_context_get_broker (PlexusContext *self);
PlexusCapabilities *plexus_context_get_capabilities (PlexusContext *self);
const gchar        *plexus_context_get_state_dir (PlexusContext *self);
PlexusMode          plexus_context_get_mode (PlexusContext *self);
void                plexus_context_set_mode (PlexusContext *self,
                                             PlexusMode     mode);
PlexusRole          plexus_context_get_roles (PlexusContext *self);
void                plexus_context_set_roles (PlexusContext *self,
                                              PlexusRole     roles);
/* The bus the daemon serves on, or NULL with --bus none. */
GDBusConnection    *plexus_context_get_connection (PlexusContext *self);
void                plexus_context_set_connection (PlexusContext   *self,
                                                   GDBusConnection *connection);
/* How plugins reach other nodes, or NULL while the node does not run. */
PlexusMessenger    *plexus_context_get_messenger (PlexusContext *self);
void                plexus_context_set_messenger (PlexusContext   *self,
                                                  PlexusMessenger *messenger);

G_END_DECLS
