/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <plexus.h>

/* The right ABI numbers but no plexus_plugin_query_type(): the loader has
 * no way to find the plugin's type and must refuse it. */

G_MODULE_EXPORT const guint32 plexus_plugin_abi_major = PLEXUS_PLUGIN_ABI_MAJOR;
G_MODULE_EXPORT const guint32 plexus_plugin_abi_minor = PLEXUS_PLUGIN_ABI_MINOR;
