/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>

#include "plexus-link-output-stream.h"
#include "plexus-pollable.h"

struct _PlexusLinkOutputStream {
  GOutputStream  parent_instance;

  GSocket       *socket;
  PlexusPollSet *poll_set;
  GMainContext  *context;     /* the poll set's */
  GByteArray    *queued;      /* written to us, not yet to the socket */
  gboolean       flush_due;   /* a deferred flush is on its way */
  GSource       *room;        /* waits for the socket to take more */
  GError        *error;       /* the socket's, for the next write */
  gboolean       stopped;
  GSList        *sources;     /* our pollable sources (they hold us) */
};

typedef struct {
  GSource                 source;
  PlexusLinkOutputStream *stream;
} LinkOutputSource;

static void plexus_link_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PlexusLinkOutputStream, plexus_link_output_stream, G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      plexus_link_output_stream_pollable_iface_init))

static gboolean
has_room (PlexusLinkOutputStream *self)
{
  return self->error != NULL || self->stopped ||
         self->queued == NULL || self->queued->len < PLEXUS_LINK_OUTPUT_HIGH_WATER;
}

static gboolean on_room (GSocket *socket, GIOCondition condition, gpointer user_data);

/* Sends what waits, as far as the socket takes it. */
static void
flush (PlexusLinkOutputStream *self)
{
  gboolean had_room = has_room (self);

  while (self->queued != NULL && self->error == NULL) {
    GError *error = NULL;
    gssize n = g_socket_send_with_blocking (self->socket, (const gchar *) self->queued->data, self->queued->len,
                                            FALSE, NULL, &error);

    if (n < 0) {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
        self->error = error;
        g_clear_pointer (&self->queued, g_byte_array_unref);
        break;
      }
      g_error_free (error);
      if (self->room == NULL && !self->stopped) {
        self->room = g_socket_create_source (self->socket, G_IO_OUT, NULL);
        g_source_set_callback (self->room, G_SOURCE_FUNC (on_room), self, NULL);
        g_source_set_static_name (self->room, "PlexusLinkOutputStream room");
        g_source_attach (self->room, self->context);
      }
      break;
    }
    if ((gsize) n == self->queued->len)
      g_clear_pointer (&self->queued, g_byte_array_unref);
    else
      g_byte_array_remove_range (self->queued, 0, n);
  }
  if (self->queued == NULL && self->room != NULL) {
    g_source_destroy (self->room);
    g_clear_pointer (&self->room, g_source_unref);
  }
  /* Sources waiting for room run from their own context's next
   * iteration; one elsewhere must be woken to see it. */
  if (!had_room && has_room (self)) {
    for (GSList *l = self->sources; l != NULL; l = l->next) {
      GMainContext *context = g_source_get_context (l->data);

      if (context != NULL)
        g_main_context_wakeup (context);
    }
  }
}

static gboolean
on_room (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  PlexusLinkOutputStream *self = user_data;

  g_clear_pointer (&self->room, g_source_unref);
  flush (self);
  return G_SOURCE_REMOVE;
}

static void
deferred_flush (gpointer user_data)
{
  PlexusLinkOutputStream *self = user_data;

  self->flush_due = FALSE;
  if (!self->stopped && self->room == NULL)
    flush (self);
}

/* Source ---------------------------------------------------------------- */

static gboolean
link_output_source_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return has_room (((LinkOutputSource *) source)->stream);
}

static gboolean
link_output_source_check (GSource *source)
{
  return has_room (((LinkOutputSource *) source)->stream);
}

static gboolean
link_output_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  GPollableSourceFunc func = (GPollableSourceFunc) callback;

  if (func == NULL)
    return G_SOURCE_REMOVE;
  return func (G_OBJECT (((LinkOutputSource *) source)->stream), user_data);
}

static void
link_output_source_finalize (GSource *source)
{
  LinkOutputSource *self = (LinkOutputSource *) source;

  self->stream->sources = g_slist_remove (self->stream->sources, self);
  g_object_unref (self->stream);
}

static GSourceFuncs link_output_source_funcs = {
  link_output_source_prepare,
  link_output_source_check,
  link_output_source_dispatch,
  link_output_source_finalize,
  (GSourceFunc) plexus_pollable_closure_callback,
  NULL,
};

/* GPollableOutputStream ---------------------------------------------- */

static gboolean
link_output_can_poll (GPollableOutputStream *stream)
{
  return TRUE;
}

static gboolean
link_output_is_writable (GPollableOutputStream *stream)
{
  return has_room (PLEXUS_LINK_OUTPUT_STREAM (stream));
}

static GSource *
link_output_create_source (GPollableOutputStream *stream, GCancellable *cancellable)
{
  PlexusLinkOutputStream *self = PLEXUS_LINK_OUTPUT_STREAM (stream);
  GSource *source = g_source_new (&link_output_source_funcs, sizeof (LinkOutputSource));

  g_source_set_static_name (source, "PlexusLinkOutputStream");
  ((LinkOutputSource *) source)->stream = g_object_ref (self);
  self->sources = g_slist_prepend (self->sources, source);
  plexus_pollable_source_add_cancellable (source, cancellable);
  return source;
}

static gssize
link_output_write_nonblocking (GPollableOutputStream *stream, const void *buffer, gsize count, GError **error)
{
  PlexusLinkOutputStream *self = PLEXUS_LINK_OUTPUT_STREAM (stream);

  if (self->error != NULL) {
    g_propagate_error (error, g_error_copy (self->error));
    return -1;
  }
  if (self->stopped) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the link's connection is closed");
    return -1;
  }
  if (!has_room (self)) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "the peer is not taking more");
    return -1;
  }
  if (self->queued == NULL)
    self->queued = g_byte_array_sized_new (MAX (count, 4096));
  g_byte_array_append (self->queued, buffer, count);
  if (self->room != NULL)
    return count;
  /* Outside the poll set's dispatch (a timer, D-Bus, a shutdown that
   * runs no further iteration) nothing else is coming to share the send. */
  if (!plexus_poll_set_is_dispatching (self->poll_set))
    flush (self);
  else if (!self->flush_due) {
    self->flush_due = TRUE;
    plexus_poll_set_defer (self->poll_set, deferred_flush, g_object_ref (self), g_object_unref);
  }
  return count;
}

static void
plexus_link_output_stream_pollable_iface_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = link_output_can_poll;
  iface->is_writable = link_output_is_writable;
  iface->create_source = link_output_create_source;
  iface->write_nonblocking = link_output_write_nonblocking;
}

/* GOutputStream -------------------------------------------------------- */

/* Blocking: what waits goes first, then @buffer, both whole. */
static gssize
link_output_write (GOutputStream *stream, const void *buffer, gsize count, GCancellable *cancellable,
                   GError **error)
{
  PlexusLinkOutputStream *self = PLEXUS_LINK_OUTPUT_STREAM (stream);
  gsize sent = 0;

  if (self->error != NULL) {
    g_propagate_error (error, g_error_copy (self->error));
    return -1;
  }
  while (self->queued != NULL) {
    gssize n = g_socket_send_with_blocking (self->socket, (const gchar *) self->queued->data, self->queued->len,
                                            TRUE, cancellable, error);

    if (n < 0)
      return -1;
    g_byte_array_remove_range (self->queued, 0, n);
    if (self->queued->len == 0)
      g_clear_pointer (&self->queued, g_byte_array_unref);
  }
  while (sent < count) {
    gssize n = g_socket_send_with_blocking (self->socket, (const gchar *) buffer + sent, count - sent, TRUE,
                                            cancellable, error);

    if (n < 0)
      return -1;
    sent += n;
  }
  return count;
}

/* The connection's stream closes the socket; this half only sends what
 * it can. */
static gboolean
link_output_close (GOutputStream *stream, GCancellable *cancellable, GError **error)
{
  plexus_link_output_stream_stop (PLEXUS_LINK_OUTPUT_STREAM (stream));
  return TRUE;
}

/**
 * plexus_link_output_stream_stop:
 * @self: a link output stream
 *
 * Sends what waits, as far as the socket takes it without blocking (a
 * peer that stopped reading loses the rest), and takes no more writes.
 * Call it before the socket closes. Idempotent.
 */
void
plexus_link_output_stream_stop (PlexusLinkOutputStream *self)
{
  g_return_if_fail (PLEXUS_IS_LINK_OUTPUT_STREAM (self));

  if (self->stopped)
    return;
  if (!g_socket_is_closed (self->socket))
    flush (self);
  self->stopped = TRUE;
  g_clear_pointer (&self->queued, g_byte_array_unref);
  if (self->room != NULL) {
    g_source_destroy (self->room);
    g_clear_pointer (&self->room, g_source_unref);
  }
}

/**
 * plexus_link_output_stream_get_queued:
 * @self: a link output stream
 *
 * Returns: how many bytes wait to be sent
 */
gsize
plexus_link_output_stream_get_queued (PlexusLinkOutputStream *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK_OUTPUT_STREAM (self), 0);
  return self->queued != NULL ? self->queued->len : 0;
}

/**
 * plexus_link_output_stream_new:
 * @socket: the connection's socket
 * @poll_set: the poll set of the thread-default context, where the
 *   stream waits for room when the socket refuses more
 *
 * Returns: (transfer full): a new stream
 */
PlexusLinkOutputStream *
plexus_link_output_stream_new (GSocket *socket, PlexusPollSet *poll_set)
{
  PlexusLinkOutputStream *self;

  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);
  g_return_val_if_fail (poll_set != NULL, NULL);

  self = g_object_new (PLEXUS_TYPE_LINK_OUTPUT_STREAM, NULL);
  self->socket = g_object_ref (socket);
  self->poll_set = plexus_poll_set_ref (poll_set);
  self->context = g_main_context_ref_thread_default ();
  return self;
}

/* GObject -------------------------------------------------------------- */

static void
plexus_link_output_stream_finalize (GObject *object)
{
  PlexusLinkOutputStream *self = PLEXUS_LINK_OUTPUT_STREAM (object);

  g_assert (self->sources == NULL);
  if (self->room != NULL) {
    g_source_destroy (self->room);
    g_source_unref (self->room);
  }
  g_clear_pointer (&self->queued, g_byte_array_unref);
  g_clear_error (&self->error);
  g_clear_pointer (&self->poll_set, plexus_poll_set_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_object (&self->socket);
  G_OBJECT_CLASS (plexus_link_output_stream_parent_class)->finalize (object);
}

static void
plexus_link_output_stream_class_init (PlexusLinkOutputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  object_class->finalize = plexus_link_output_stream_finalize;
  stream_class->write_fn = link_output_write;
  stream_class->close_fn = link_output_close;
}

static void
plexus_link_output_stream_init (PlexusLinkOutputStream *self)
{
}
