/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__PLEXUS_H_INSIDE__) && !defined(PLEXUS_COMPILATION)
#error "Only <plexus.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * PLEXUS_ERROR:
 *
 * The error domain of libplexus. Each code maps to a named D-Bus error
 * `org.plexus.Plexus1.Error.<Name>` so clients see the same reason.
 */
#define PLEXUS_ERROR (plexus_error_quark ())

/**
 * PlexusError:
 * @PLEXUS_ERROR_FAILED: generic failure (`org.plexus.Plexus1.Error.Failed`)
 * @PLEXUS_ERROR_INVALID_ARGUMENT: a caller passed a bad argument (`InvalidArgument`)
 * @PLEXUS_ERROR_INVALID_CONFIG: a configuration file or option is wrong (`InvalidConfig`)
 * @PLEXUS_ERROR_INVALID_IDENTITY: the identity key is missing, unsafe or damaged (`InvalidIdentity`)
 * @PLEXUS_ERROR_INVALID_DATA: data from a file or the network does not parse or validate (`InvalidData`)
 * @PLEXUS_ERROR_PLUGIN: a plugin was refused or failed (`Plugin`)
 * @PLEXUS_ERROR_NOT_FOUND: the named thing does not exist (`NotFound`)
 * @PLEXUS_ERROR_UNKNOWN_SERVICE: the service name is not one Plexus knows (`UnknownService`)
 * @PLEXUS_ERROR_NO_PROVIDER: no provider can serve the request (`NoProvider`)
 * @PLEXUS_ERROR_EXISTS: the thing is already there (`Exists`)
 * @PLEXUS_ERROR_TIMED_OUT: a deadline passed (`TimedOut`)
 *
 * Error codes in the %PLEXUS_ERROR domain.
 */
typedef enum {
  PLEXUS_ERROR_FAILED,
  PLEXUS_ERROR_INVALID_ARGUMENT,
  PLEXUS_ERROR_INVALID_CONFIG,
  PLEXUS_ERROR_INVALID_IDENTITY,
  PLEXUS_ERROR_INVALID_DATA,
  PLEXUS_ERROR_PLUGIN,
  PLEXUS_ERROR_NOT_FOUND,
  PLEXUS_ERROR_UNKNOWN_SERVICE,
  PLEXUS_ERROR_NO_PROVIDER,
  PLEXUS_ERROR_EXISTS,
  PLEXUS_ERROR_TIMED_OUT,
  /*< private >*/
  PLEXUS_ERROR_LAST
} PlexusError;

GQuark plexus_error_quark (void);

G_END_DECLS
