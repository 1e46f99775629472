/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>

#include "plexus-context.h"
#include "plexus-delivery.h"
#include "plexus-messenger.h"

G_BEGIN_DECLS

#define PLEXUS_TYPE_MESSAGING (plexus_messaging_get_type ())
G_DECLARE_FINAL_TYPE (PlexusMessaging, plexus_messaging, PLEXUS, MESSAGING, GObject)

PlexusMessaging *plexus_messaging_new (PlexusContext   *context,
                                       PlexusMessenger *messenger,
                                       GError         **error);
gchar           *plexus_messaging_send (PlexusMessaging *self,
                                        const gchar     *to,
                                        GBytes          *payload,
                                        PlexusMode       mode,
                                        GError         **error);
void             plexus_messaging_shutdown (PlexusMessaging *self);

G_END_DECLS
