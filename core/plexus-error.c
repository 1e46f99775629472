/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>

#include "plexus-error.h"

/* Registering the domain with GDBus makes a GError raised anywhere in the
 * daemon reach D-Bus clients as a named error, and come back as the same
 * GError on the client side. */
static const GDBusErrorEntry plexus_error_entries[] = {
  { PLEXUS_ERROR_FAILED, "org.plexus.Plexus1.Error.Failed" },
  { PLEXUS_ERROR_INVALID_ARGUMENT, "org.plexus.Plexus1.Error.InvalidArgument" },
  { PLEXUS_ERROR_INVALID_CONFIG, "org.plexus.Plexus1.Error.InvalidConfig" },
  { PLEXUS_ERROR_INVALID_IDENTITY, "org.plexus.Plexus1.Error.InvalidIdentity" },
  { PLEXUS_ERROR_INVALID_DATA, "org.plexus.Plexus1.Error.InvalidData" },
  { PLEXUS_ERROR_PLUGIN, "org.plexus.Plexus1.Error.Plugin" },
  { PLEXUS_ERROR_NOT_FOUND, "org.plexus.Plexus1.Error.NotFound" },
  { PLEXUS_ERROR_UNKNOWN_SERVICE, "org.plexus.Plexus1.Error.UnknownService" },
  { PLEXUS_ERROR_NO_PROVIDER, "org.plexus.Plexus1.Error.NoProvider" },
  { PLEXUS_ERROR_EXISTS, "org.plexus.Plexus1.Error.Exists" },
  { PLEXUS_ERROR_TIMED_OUT, "org.plexus.Plexus1.Error.TimedOut" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (plexus_error_entries) == PLEXUS_ERROR_LAST);

/**
 * plexus_error_quark:
 *
 * Returns: the quark of the %PLEXUS_ERROR domain
 */
GQuark
plexus_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("plexus-error-quark",
                                      &quark,
                                      plexus_error_entries,
                                      G_N_ELEMENTS (plexus_error_entries));
  return (GQuark) quark;
}
