/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#define __PLEXUS_H_INSIDE__

#include <plexus-version.h>
#include <plexus-error.h>
#include <plexus-enums.h>
#include <plexus-enum-types.h>
#include <plexus-config.h>
#include <plexus-identity.h>
#include <plexus-capabilities.h>
#include <plexus-envelope.h>
#include <plexus-provider.h>
#include <plexus-broker.h>
#include <plexus-messenger.h>
#include <plexus-context.h>
#include <plexus-plugin-info.h>
#include <plexus-plugin.h>

#undef __PLEXUS_H_INSIDE__
