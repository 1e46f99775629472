/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-pollable.h"

/* A GPollableSourceFunc called through a GClosure, as
 * g_source_set_closure() needs for sources of pollable streams. */
gboolean
plexus_pollable_closure_callback (GObject *stream, gpointer closure)
{
  GValue param = G_VALUE_INIT;
  GValue result_value = G_VALUE_INIT;
  gboolean result;

  g_value_init (&result_value, G_TYPE_BOOLEAN);
  g_value_init (&param, G_TYPE_OBJECT);
  g_value_set_object (&param, stream);
  g_closure_invoke (closure, &result_value, 1, &param, NULL);
  result = g_value_get_boolean (&result_value);
  g_value_unset (&result_value);
  g_value_unset (&param);
  return result;
}

static gboolean
cancelled_dummy (GCancellable *cancellable, gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Cancelling @cancellable (nullable) makes @source run, as for GLib's
 * pollable sources. */
void
plexus_pollable_source_add_cancellable (GSource *source, GCancellable *cancellable)
{
  g_autoptr(GSource) cancelled = NULL;

  if (cancellable == NULL)
    return;
  cancelled = g_cancellable_source_new (cancellable);
  g_source_set_callback (cancelled, G_SOURCE_FUNC (cancelled_dummy), NULL, NULL);
  g_source_add_child_source (source, cancelled);
}
