/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "plexus-dbus-generated.h"

G_BEGIN_DECLS

/* A real plexusd on its own private D-Bus daemon, with its own state
 * directory. Everything is torn down by plexus_test_fixture_free(). */
typedef struct {
  gchar             *name;         /* "node0", ... */
  gchar             *state_dir;
  gchar             *bus_address;
  GSubprocess       *bus;
  GSubprocess       *daemon;
  GDBusConnection   *connection;   /* the test's connection to the node's bus */
  PlexusDBusManager *manager;
  PlexusDBusBroker  *broker;
  GString           *log;          /* everything plexusd wrote to stderr */
  GCancellable      *cancellable;
  gboolean           exited;
  gboolean           log_closed;   /* its stderr reached end of file */
  gint               exit_status;
  GStrv              args;         /* the extra arguments it was started with */
  gchar             *listen;       /* HOST:PORT it listens on once restarted */
} PlexusTestNode;

typedef struct {
  gchar     *tmpdir;
  GPtrArray *nodes;                /* (element-type PlexusTestNode) */
  guint      timeout_ms;           /* deadline for every wait */
} PlexusTestFixture;

PlexusTestFixture *plexus_test_fixture_new (void);
void               plexus_test_fixture_free (PlexusTestFixture *fixture);

/* Starts a private bus and a plexusd on it with --state-dir and
 * --listen 127.0.0.1:0 plus @args, and waits until the daemon owns
 * org.plexus.Plexus1 (its readiness event). */
PlexusTestNode    *plexus_test_fixture_add_node (PlexusTestFixture   *fixture,
                                                 const gchar * const *args,
                                                 GError             **error);
/* Like add_node, but only starts the processes: for daemons expected to
 * refuse to start. */
PlexusTestNode    *plexus_test_fixture_spawn_node (PlexusTestFixture   *fixture,
                                                   const gchar * const *args,
                                                   GError             **error);

/* Starts plexusd again for a node whose daemon exited (or was killed):
 * the same bus, state directory (so the same identity), arguments and
 * listening port, and waits until it owns its name again. */
gboolean           plexus_test_node_restart (PlexusTestFixture *fixture,
                                             PlexusTestNode    *node,
                                             GError           **error);

/* Sends @signum and waits for the process to exit; returns FALSE with an
 * error when it does not exit within @timeout_ms. */
gboolean           plexus_test_node_stop (PlexusTestNode *node,
                                          int             signum,
                                          guint           timeout_ms,
                                          GError        **error);
gboolean           plexus_test_node_wait_exit (PlexusTestNode *node,
                                               guint           timeout_ms,
                                               GError        **error);
/* Waits until plexusd's stderr contains @needle. */
gboolean           plexus_test_node_wait_for_log (PlexusTestNode *node,
                                                  const gchar    *needle,
                                                  guint           timeout_ms);
/* Runs plexusctl against the node's bus; returns its stdout. */
gchar             *plexus_test_node_run_ctl (PlexusTestNode      *node,
                                             const gchar * const *args,
                                             gint                *exit_status,
                                             gchar              **stderr_text,
                                             GError             **error);

/* Runs `plexusctl --json ARGS...` and returns the document it printed;
 * asserts that it exited 0 with valid JSON (showing its stderr if not). */
JsonNode          *plexus_test_node_run_ctl_json (PlexusTestNode      *node,
                                                  const gchar * const *args);

/* Iterates the default main context until @done is TRUE or @timeout_ms
 * passes; returns @done. The one way tests wait. */
gboolean           plexus_test_wait (gboolean *done,
                                     guint     timeout_ms);
/* The same for any condition on @data. */
typedef gboolean (*PlexusTestCondition) (gconstpointer data);
gboolean           plexus_test_wait_for (PlexusTestCondition condition,
                                         gconstpointer       data,
                                         guint               timeout_ms);

/* One line from @lines within @timeout_ms, without its end; NULL if the
 * stream ended or the time ran out (no read is left in flight). */
gchar             *plexus_test_read_line (GDataInputStream *lines,
                                          guint             timeout_ms);

void               plexus_test_remove_tree (const gchar *path);
GSubprocessLauncher *plexus_test_daemon_launcher_new (const gchar     *bus_address,
                                                      const gchar     *config_home,
                                                      GSubprocessFlags flags);

G_END_DECLS
