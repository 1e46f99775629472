/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-capabilities.h"
#include "plexus-error.h"
#include "plexus-identity.h"
#include "fuzz-common.h"

/* Capabilities come from other peers, over the network and D-Bus:
 * plexus_capabilities_new_from_string() must turn any bytes into either a
 * valid object or a PLEXUS_ERROR_INVALID_DATA error, and what it accepts
 * must survive a round trip through plexus_capabilities_to_string().
 * Every input is passed on: the strict reader refuses several top-level
 * values before json-glib, which would leak all but the last, sees them. */

static void
check_accepted (PlexusCapabilities *caps)
{
  g_autoptr(PlexusCapabilities) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;
  g_auto(GStrv) services = NULL;
  gdouble uptime, up, down;

  FUZZ_CHECK (plexus_peer_id_is_valid (plexus_capabilities_get_peer_id (caps)),
              "accepted an invalid peer ID");
  FUZZ_CHECK ((plexus_capabilities_get_roles (caps) & ~PLEXUS_ROLE_ALL) == 0,
              "accepted an unknown role");

  services = plexus_capabilities_list_services (caps);
  for (guint i = 0; services[i] != NULL; i++) {
    PlexusServiceCapability capability;

    FUZZ_CHECK (plexus_service_name_is_known (services[i]), services[i]);
    FUZZ_CHECK (plexus_capabilities_get_service (caps, services[i], &capability), services[i]);
    FUZZ_CHECK (capability.load >= 0 && capability.load <= 1, services[i]);
    FUZZ_CHECK (capability.capacity >= -1 &&
                capability.capacity <= PLEXUS_CAPABILITIES_MAX_COUNT, services[i]);
    FUZZ_CHECK (capability.bandwidth_mbps == -1 ||
                (capability.bandwidth_mbps >= 0 &&
                 capability.bandwidth_mbps <= PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS),
                services[i]);
  }

  uptime = plexus_capabilities_get_uptime (caps);
  FUZZ_CHECK (uptime == -1 || (uptime >= 0 && uptime <= 1), "uptime out of range");
  plexus_capabilities_get_bandwidth (caps, &up, &down);
  FUZZ_CHECK (up == -1 || (up >= 0 && up <= PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS),
              "upload bandwidth out of range");
  FUZZ_CHECK (down == -1 || (down >= 0 && down <= PLEXUS_CAPABILITIES_MAX_BANDWIDTH_MBPS),
              "download bandwidth out of range");
  FUZZ_CHECK (plexus_capabilities_get_storage_mb (caps) >= -1 &&
              plexus_capabilities_get_storage_mb (caps) <= PLEXUS_CAPABILITIES_MAX_COUNT,
              "storage out of range");

  /* What we accept from one peer we must be able to pass on to the next. */
  text = plexus_capabilities_to_string (caps);
  FUZZ_CHECK (text != NULL && g_utf8_validate (text, -1, NULL), "bad JSON written");
  again = plexus_capabilities_new_from_string (text, -1, &error);
  if (again == NULL) {
    fprintf (stderr, "written JSON: %s\n", text);
    FUZZ_CHECK (again != NULL, error->message);
  }
  FUZZ_CHECK (plexus_capabilities_equal (caps, again), text);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init (*argv);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(PlexusCapabilities) caps = NULL;
  g_autoptr(GError) error = NULL;

  caps = plexus_capabilities_new_from_string ((const gchar *) data, (gssize) size, &error);
  if (caps == NULL) {
    /* Messages go to D-Bus callers too. */
    fuzz_check_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_DATA, TRUE);
    return 0;
  }
  FUZZ_CHECK (error == NULL, "success with an error set");
  check_accepted (caps);
  return 0;
}
