/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What the link streams' pollable sources share with GLib's own: the
 * callback marshal for GClosures and the cancellable as a child source.
 * Private to the daemon. */

gboolean plexus_pollable_closure_callback (GObject  *stream,
                                           gpointer  closure);
void     plexus_pollable_source_add_cancellable (GSource      *source,
                                                 GCancellable *cancellable);

G_END_DECLS
