/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "plexus.h"
#include "plexus-node.h"
#include "plexus-plugin-loader.h"

G_BEGIN_DECLS

/**
 * PlexusDaemonOptions:
 * @config_file: --config: used instead of the user's config file
 * @state_dir: --state-dir: where the identity and plugin state live
 * @roles: --role, already split on commas
 * @mode: --mode
 * @listen: --listen HOST:PORT
 * @bootstrap: --bootstrap URI, repeatable
 * @server: --server URI
 * @bus: --bus: %G_BUS_TYPE_SESSION, %G_BUS_TYPE_SYSTEM or %G_BUS_TYPE_NONE
 *
 * What plexusd was started with; %NULL members were not given.
 */
typedef struct {
  gchar   *config_file;
  gchar   *state_dir;
  gchar  **roles;
  gchar   *mode;
  gchar   *listen;
  gchar  **bootstrap;
  gchar   *server;
  GBusType bus;
} PlexusDaemonOptions;

#define PLEXUS_TYPE_DAEMON (plexus_daemon_get_type ())
G_DECLARE_FINAL_TYPE (PlexusDaemon, plexus_daemon, PLEXUS, DAEMON, GObject)

PlexusDaemon      *plexus_daemon_new (void);
/* Reads configuration and identity and loads plugins; any error here means
 * plexusd must not start. */
gboolean           plexus_daemon_setup (PlexusDaemon              *self,
                                        const PlexusDaemonOptions *options,
                                        GError                   **error);
/* Serves until SIGINT/SIGTERM or plexus_daemon_stop(); returns the exit
 * status for main(). */
int                plexus_daemon_run (PlexusDaemon *self);
void               plexus_daemon_stop (PlexusDaemon *self,
                                       int           exit_status);

PlexusDaemonState  plexus_daemon_get_state (PlexusDaemon *self);
PlexusContext     *plexus_daemon_get_context (PlexusDaemon *self);

/* The default state directory: $XDG_DATA_HOME/plexus. */
gchar             *plexus_daemon_default_state_dir (void);

G_END_DECLS
