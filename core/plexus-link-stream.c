/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "plexus-link-input-stream.h"
#include "plexus-link-output-stream.h"
#include "plexus-link-stream.h"

struct _PlexusLinkStream {
  GIOStream              parent_instance;

  GIOStream              *base;
  PlexusLinkInputStream  *input;
  PlexusLinkOutputStream *output;
};

G_DEFINE_FINAL_TYPE (PlexusLinkStream, plexus_link_stream, G_TYPE_IO_STREAM)

static GInputStream *
link_stream_get_input_stream (GIOStream *stream)
{
  return G_INPUT_STREAM (PLEXUS_LINK_STREAM (stream)->input);
}

static GOutputStream *
link_stream_get_output_stream (GIOStream *stream)
{
  return G_OUTPUT_STREAM (PLEXUS_LINK_STREAM (stream)->output);
}

/* What waits to be sent goes out first (libsoup closes right after its
 * close frame), and the watch goes before the socket closes: then its
 * number may be another socket's. */
static gboolean
link_stream_close (GIOStream *stream, GCancellable *cancellable, GError **error)
{
  PlexusLinkStream *self = PLEXUS_LINK_STREAM (stream);

  if (self->output != NULL)
    plexus_link_output_stream_stop (self->output);
  if (self->input != NULL)
    plexus_link_input_stream_detach (self->input);
  /* Never made whole: the caller closes the connection itself. */
  if (self->base == NULL)
    return TRUE;
  return g_io_stream_close (self->base, cancellable, error);
}

/* Closing a socket does not block, and doing it here keeps the watch and
 * the poll set on this thread (GIOStream would use a worker thread). */
static void
link_stream_close_async (GIOStream           *stream,
                         gint                 io_priority,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (stream, cancellable, callback, user_data);
  GError *error = NULL;

  g_task_set_source_tag (task, link_stream_close_async);
  if (link_stream_close (stream, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static gboolean
link_stream_close_finish (GIOStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * plexus_link_stream_get_context:
 * @self: a link stream
 *
 * Returns: (transfer none): the context where the idle reading source waits
 */
GMainContext *
plexus_link_stream_get_context (PlexusLinkStream *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK_STREAM (self), NULL);
  return plexus_link_input_stream_get_context (self->input);
}

/**
 * plexus_link_stream_new:
 * @base: the connection, stolen from its HTTP request
 * @socket: the connection's socket
 * @error: return location for an error
 *
 * Returns: (transfer full): a new stream, or %NULL with @error set when
 *   the socket cannot be watched
 */
GIOStream *
plexus_link_stream_new (GIOStream *base, GSocket *socket, GError **error)
{
  g_autoptr(PlexusLinkStream) self = NULL;
  g_autoptr(GMainContext) context = NULL;
  g_autoptr(PlexusPollSet) poll_set = NULL;

  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);
  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  context = g_main_context_ref_thread_default ();
  poll_set = plexus_poll_set_ref_for_context (context, error);
  if (poll_set == NULL)
    return NULL;
  self = g_object_new (PLEXUS_TYPE_LINK_STREAM, NULL);
  self->base = g_object_ref (base);
  self->output = plexus_link_output_stream_new (socket, poll_set);
  self->input = plexus_link_input_stream_new (g_io_stream_get_input_stream (base), socket, error);
  if (self->input == NULL) {
    g_clear_object (&self->base);
    return NULL;
  }
  return G_IO_STREAM (g_steal_pointer (&self));
}

static void
plexus_link_stream_dispose (GObject *object)
{
  PlexusLinkStream *self = PLEXUS_LINK_STREAM (object);

  if (self->output != NULL)
    plexus_link_output_stream_stop (self->output);
  if (self->input != NULL)
    plexus_link_input_stream_detach (self->input);
  G_OBJECT_CLASS (plexus_link_stream_parent_class)->dispose (object);
}

static void
plexus_link_stream_finalize (GObject *object)
{
  PlexusLinkStream *self = PLEXUS_LINK_STREAM (object);

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->base);
  G_OBJECT_CLASS (plexus_link_stream_parent_class)->finalize (object);
}

static void
plexus_link_stream_class_init (PlexusLinkStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->dispose = plexus_link_stream_dispose;
  object_class->finalize = plexus_link_stream_finalize;
  stream_class->get_input_stream = link_stream_get_input_stream;
  stream_class->get_output_stream = link_stream_get_output_stream;
  stream_class->close_fn = link_stream_close;
  stream_class->close_async = link_stream_close_async;
  stream_class->close_finish = link_stream_close_finish;
}

static void
plexus_link_stream_init (PlexusLinkStream *self)
{
}
