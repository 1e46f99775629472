/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <locale.h>
#include <sys/resource.h>
#include <glib/gi18n.h>

#include "plexus-daemon.h"

/* plexusd: the Plexus daemon. Options and exit codes are in
 * doc/architecture.md; they mirror the [node] config keys. */

static gboolean
parse_bus (const gchar *value, GBusType *bus, GError **error)
{
  if (g_strcmp0 (value, "session") == 0)
    *bus = G_BUS_TYPE_SESSION;
  else if (g_strcmp0 (value, "system") == 0)
    *bus = G_BUS_TYPE_SYSTEM;
  else if (g_strcmp0 (value, "none") == 0)
    *bus = G_BUS_TYPE_NONE;
  else {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 _("--bus: '%s' is not one of session, system, none"), value);
    return FALSE;
  }
  return TRUE;
}

/* --role takes "super,bootstrap" and may be repeated. */
static gchar **
split_roles (gchar **values)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; values != NULL && values[i] != NULL; i++) {
    g_auto(GStrv) parts = g_strsplit (values[i], ",", -1);
    for (guint j = 0; parts[j] != NULL; j++) {
      g_strstrip (parts[j]);
      if (parts[j][0] != '\0')
        g_strv_builder_add (builder, parts[j]);
    }
  }
  return g_strv_builder_end (builder);
}

/* An accepted link holds two descriptors (its socket, and the eventfd of
 * the context where its idle source waits), so a relay with a few hundred
 * links would outgrow the usual soft limit of 1024. Nothing here uses
 * select(), so the soft limit can be the hard one, as systemd advises. */
static void
raise_descriptor_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max)
    return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit (RLIMIT_NOFILE, &limit) != 0)
    g_debug ("cannot raise the descriptor limit to %llu", (unsigned long long) limit.rlim_max);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) option_context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(PlexusDaemon) daemon = NULL;
  PlexusDaemonOptions options = { 0 };
  g_auto(GStrv) roles = NULL;
  g_autofree gchar *bus = NULL;
  gboolean version = FALSE;
  int status;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &options.config_file,
      N_("Read FILE instead of the user's configuration file"), N_("FILE") },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &options.state_dir,
      N_("Keep the identity and state in DIR (default: $XDG_DATA_HOME/plexus)"), N_("DIR") },
    { "role", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &roles,
      N_("Roles to take: standard, super, bootstrap, server (comma-separated, repeatable)"), N_("ROLE[,ROLE]") },
    { "mode", 'm', 0, G_OPTION_ARG_STRING, &options.mode,
      N_("Network mode: hybrid, peer or traditional"), N_("MODE") },
    { "listen", 'l', 0, G_OPTION_ARG_STRING, &options.listen,
      N_("Accept node links on HOST:PORT (port 0: the system chooses)"), N_("HOST:PORT") },
    { "bootstrap", 'b', 0, G_OPTION_ARG_STRING_ARRAY, &options.bootstrap,
      N_("Join the network through the node at URI (repeatable)"), N_("URI") },
    { "server", 's', 0, G_OPTION_ARG_STRING, &options.server,
      N_("The traditional server's URI"), N_("URI") },
    { "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
      N_("Serve on the session bus, the system bus, or none"), N_("session|system|none") },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
      N_("Print the version and exit"), NULL },
    G_OPTION_ENTRY_NULL
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  option_context = g_option_context_new (NULL);
  g_option_context_set_summary (option_context, _("The Plexus hybrid peer-to-peer communication daemon."));
  g_option_context_add_main_entries (option_context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (option_context, &argc, &argv, &error)) {
    g_printerr ("plexusd: %s\n", error->message);
    return 2;
  }
  if (argc > 1) {
    g_printerr (_("plexusd: unexpected argument '%s'\n"), argv[1]);
    return 2;
  }
  if (version) {
    g_print ("plexusd %s\n", PACKAGE_VERSION);
    return 0;
  }

  options.bus = G_BUS_TYPE_SESSION;
  if (bus != NULL && !parse_bus (bus, &options.bus, &error)) {
    g_printerr ("plexusd: %s\n", error->message);
    return 2;
  }
  if (roles != NULL)
    options.roles = split_roles (roles);

  raise_descriptor_limit ();
  daemon = plexus_daemon_new ();
  if (!plexus_daemon_setup (daemon, &options, &error)) {
    g_printerr (_("plexusd: refusing to start: %s\n"), error->message);
    status = 1;
  } else {
    status = plexus_daemon_run (daemon);
  }

  g_free (options.config_file);
  g_free (options.state_dir);
  g_strfreev (options.roles);
  g_free (options.mode);
  g_free (options.listen);
  g_strfreev (options.bootstrap);
  g_free (options.server);
  return status;
}
