/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "plexus-link-input-stream.h"
#include "plexus-poll-set.h"
#include "plexus-pollable.h"

struct _PlexusLinkInputStream {
  GInputStream          parent_instance;

  GPollableInputStream *base;
  GSocket              *socket;
  PlexusPollSet        *poll_set;
  guint                 watch_id;
  /* Whether a read may find data: set by the poll set's edge, cleared by
   * a read that would block. Starts set, as the HTTP layer may already
   * hold bytes that came with the upgrade request. */
  gboolean              readable;
  /* The HTTP layer's buffer is empty (its read would block once): from
   * then on reads go to the socket itself, many frames at a time. */
  gboolean              direct;
  /* The peer closed or reset the connection: a read that comes back
   * short may have stopped at the end, which no further edge reports, so
   * reads are not skipped any more. */
  gboolean              hung_up;
  /* What a socket read brought beyond what its caller asked for. */
  guint8               *pending;
  gsize                 pending_start;
  gsize                 pending_end;
  GSList               *sources;   /* our live sources (they hold us) */
  GMainContext         *context;   /* where idle sources wait; NULL when
                                    * out of descriptors: they stay in the
                                    * caller's context then */
  gboolean              dispatching;      /* one of our sources' callback runs */
  gboolean              context_pushed;   /* ...and @context is the thread default */
};

typedef struct {
  GSource                source;
  PlexusLinkInputStream *stream;
  gboolean               ready;    /* a copy of stream->readable, kept here
                                    * because the main loop touches this
                                    * memory anyway on every iteration */
} LinkInputSource;

static void plexus_link_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (PlexusLinkInputStream, plexus_link_input_stream, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      plexus_link_input_stream_pollable_iface_init))

/* A read socket-side can be skipped when the socket is known drained
 * and nothing is left over from the last one. */
static gboolean
has_input (PlexusLinkInputStream *self)
{
  return self->readable || self->pending != NULL;
}

static void
set_readable (PlexusLinkInputStream *self, gboolean readable)
{
  self->readable = readable;
  for (GSList *l = self->sources; l != NULL; l = l->next)
    ((LinkInputSource *) l->data)->ready = has_input (self);
}

/* From the poll set's check: take note, and have the waiting source run. */
static void
on_socket_ready (gpointer user_data, guint32 events)
{
  PlexusLinkInputStream *self = user_data;

  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
    self->hung_up = TRUE;
  set_readable (self, TRUE);
  if (self->context != NULL)
    plexus_poll_set_schedule (self->poll_set, self->watch_id);
}

/* From the poll set's dispatch: one iteration of our context by hand,
 * without polling (it holds no descriptor). */
static void
dispatch_waiting (gpointer user_data)
{
  g_autoptr(PlexusLinkInputStream) self = g_object_ref (user_data);
  GPollFD fds[4];
  gint priority = G_MAXINT;
  gint timeout;
  gint n;

  if (self->context == NULL || !g_main_context_acquire (self->context))
    return;
  g_main_context_prepare (self->context, &priority);
  n = MIN (g_main_context_query (self->context, priority, &timeout, fds, G_N_ELEMENTS (fds)),
           (gint) G_N_ELEMENTS (fds));
  for (gint i = 0; i < n; i++)
    fds[i].revents = 0;
  if (g_main_context_check (self->context, priority, fds, n))
    g_main_context_dispatch (self->context);
  g_main_context_release (self->context);
}

/* Source ---------------------------------------------------------------- */

static gboolean
link_input_source_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return ((LinkInputSource *) source)->ready;
}

static gboolean
link_input_source_check (GSource *source)
{
  return ((LinkInputSource *) source)->ready;
}

/* See plexus-link-input-stream.h for why the thread default changes. */
static gboolean
link_input_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  PlexusLinkInputStream *stream = ((LinkInputSource *) source)->stream;
  GPollableSourceFunc func = (GPollableSourceFunc) callback;
  gboolean dispatching = stream->dispatching;
  gboolean again;

  if (func == NULL)
    return G_SOURCE_REMOVE;
  g_object_ref (stream);
  stream->dispatching = TRUE;
  again = func (G_OBJECT (stream), user_data);
  if (stream->context_pushed) {
    g_main_context_pop_thread_default (stream->context);
    stream->context_pushed = FALSE;
  }
  stream->dispatching = dispatching;
  g_object_unref (stream);
  return again;
}

static void
link_input_source_finalize (GSource *source)
{
  LinkInputSource *self = (LinkInputSource *) source;

  self->stream->sources = g_slist_remove (self->stream->sources, self);
  g_object_unref (self->stream);
}

static GSourceFuncs link_input_source_funcs = {
  link_input_source_prepare,
  link_input_source_check,
  link_input_source_dispatch,
  link_input_source_finalize,
  (GSourceFunc) plexus_pollable_closure_callback,
  NULL,
};

/* GPollableInputStream ----------------------------------------------- */

static gboolean
link_input_can_poll (GPollableInputStream *stream)
{
  return TRUE;
}

static gboolean
link_input_is_readable (GPollableInputStream *stream)
{
  PlexusLinkInputStream *self = PLEXUS_LINK_INPUT_STREAM (stream);

  return self->pending != NULL || g_pollable_input_stream_is_readable (self->base);
}

static GSource *
link_input_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  PlexusLinkInputStream *self = PLEXUS_LINK_INPUT_STREAM (stream);
  GSource *source = g_source_new (&link_input_source_funcs, sizeof (LinkInputSource));
  LinkInputSource *input = (LinkInputSource *) source;

  g_source_set_static_name (source, "PlexusLinkInputStream");
  input->stream = g_object_ref (self);
  input->ready = has_input (self);
  self->sources = g_slist_prepend (self->sources, input);
  /* Made to wait in our context (libsoup attaches it to the thread
   * default, which we set), which runs only when scheduled. */
  if (input->ready && self->watch_id != 0 && self->context != NULL &&
      g_main_context_get_thread_default () == self->context)
    plexus_poll_set_schedule (self->poll_set, self->watch_id);
  /* (A source waiting in our context sees its cancellation when the
   * socket next has something; libsoup passes none.) */
  plexus_pollable_source_add_cancellable (source, cancellable);
  return source;
}

/* A socket read's room: 16 frames of a 512-byte signal, sealed. */
#define PLEXUS_LINK_INPUT_CHUNK 16384

/* Hands out what the last socket read left over. */
static gsize
take_pending (PlexusLinkInputStream *self, void *buffer, gsize count)
{
  gsize n = MIN (count, self->pending_end - self->pending_start);

  memcpy (buffer, self->pending + self->pending_start, n);
  self->pending_start += n;
  if (self->pending_start == self->pending_end)
    g_clear_pointer (&self->pending, g_free);
  return n;
}

/* The socket is drained. Inside our source's callback, what libsoup does
 * next is make its new source, which should wait in our context. */
static void
drained (PlexusLinkInputStream *self)
{
  set_readable (self, FALSE);
  if (self->dispatching && !self->context_pushed && self->context != NULL) {
    g_main_context_push_thread_default (self->context);
    self->context_pushed = TRUE;
  }
}

/* Reads the socket with room for many frames: a busy link needs one
 * syscall for all that came since the last, not one per frame (libsoup
 * asks for 1 KiB at a time). A read that comes back short has emptied
 * the socket, and edge triggering reports whatever comes after it, so
 * the read that would only find it empty is skipped. Not once the peer
 * hung up: a read stops short at the end of the stream, and the edge
 * that told of it is gone. */
static gssize
read_socket (PlexusLinkInputStream *self, void *buffer, gsize count, GError **error)
{
  gchar chunk[PLEXUS_LINK_INPUT_CHUNK];
  gssize n;

  if (count >= sizeof chunk) {
    n = g_socket_receive_with_blocking (self->socket, buffer, count, FALSE, NULL, error);
    if (n > 0 && (gsize) n < count && !self->hung_up)
      set_readable (self, FALSE);
    return n;
  }
  n = g_socket_receive_with_blocking (self->socket, chunk, sizeof chunk, FALSE, NULL, error);
  if (n <= 0)
    return n;
  if ((gsize) n > count) {
    self->pending = g_memdup2 (chunk + count, n - count);
    self->pending_start = 0;
    self->pending_end = n - count;
  }
  /* Not drained() yet: libsoup handles these bytes first, in the
   * caller's context. */
  if ((gsize) n < sizeof chunk && !self->hung_up)
    set_readable (self, FALSE);
  memcpy (buffer, chunk, MIN ((gsize) n, count));
  return MIN ((gsize) n, count);
}

static gssize
link_input_read_nonblocking (GPollableInputStream *stream, void *buffer, gsize count, GError **error)
{
  PlexusLinkInputStream *self = PLEXUS_LINK_INPUT_STREAM (stream);
  GError *local_error = NULL;
  gssize n;

  if (self->pending != NULL)
    return take_pending (self, buffer, count);
  /* Drained, and no edge since: only a syscall would say so again. */
  if (!self->readable && self->direct) {
    drained (self);
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "no data left on the link");
    return -1;
  }
  if (self->direct)
    n = read_socket (self, buffer, count, &local_error);
  else
    n = g_pollable_input_stream_read_nonblocking (self->base, buffer, count, NULL, &local_error);
  if (n < 0) {
    /* Only a read that would block shows the socket drained; after it,
     * the next edge of the poll set says more has come. */
    if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
      self->direct = TRUE;
      drained (self);
    }
    g_propagate_error (error, local_error);
  }
  return n;
}

static void
plexus_link_input_stream_pollable_iface_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = link_input_can_poll;
  iface->is_readable = link_input_is_readable;
  iface->create_source = link_input_create_source;
  iface->read_nonblocking = link_input_read_nonblocking;
}

/* GInputStream -------------------------------------------------------- */

static gssize
link_input_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable, GError **error)
{
  PlexusLinkInputStream *self = PLEXUS_LINK_INPUT_STREAM (stream);

  if (self->pending != NULL)
    return take_pending (self, buffer, count);
  return g_input_stream_read (G_INPUT_STREAM (self->base), buffer, count, cancellable, error);
}

/* The connection's stream closes the socket; this half only stops
 * watching it. */
static gboolean
link_input_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  plexus_link_input_stream_detach (PLEXUS_LINK_INPUT_STREAM (stream));
  return TRUE;
}

/**
 * plexus_link_input_stream_detach:
 * @self: a link input stream
 *
 * Stops watching the socket. Sources made from @self stay as they are;
 * a read tells whether data is left. Idempotent.
 */
void
plexus_link_input_stream_detach (PlexusLinkInputStream *self)
{
  g_return_if_fail (PLEXUS_IS_LINK_INPUT_STREAM (self));

  if (self->watch_id == 0)
    return;
  plexus_poll_set_remove (self->poll_set, self->watch_id, !g_socket_is_closed (self->socket));
  self->watch_id = 0;
}

/**
 * plexus_link_input_stream_get_context:
 * @self: a link input stream
 *
 * Returns: (transfer none) (nullable): the context where idle sources
 *   wait, or %NULL if they stay in the caller's
 */
GMainContext *
plexus_link_input_stream_get_context (PlexusLinkInputStream *self)
{
  g_return_val_if_fail (PLEXUS_IS_LINK_INPUT_STREAM (self), NULL);
  return self->context;
}

/* A context costs an eventfd, and GLib aborts when it cannot make one.
 * A relay out of descriptors keeps the link and walks its source. (Another
 * thread could take the probed descriptor before GLib does: a window of
 * two syscalls, only when the process is at its limit.) */
static GMainContext *
own_context_new (void)
{
  gint probe = eventfd (0, EFD_CLOEXEC);

  if (probe < 0)
    return NULL;
  close (probe);
  return g_main_context_new ();
}

/**
 * plexus_link_input_stream_new:
 * @base: the connection's input stream, pollable
 * @socket: the connection's socket
 * @error: return location for an error
 *
 * Returns: (transfer full): a new stream, or %NULL with @error set when
 *   the socket cannot be watched
 */
PlexusLinkInputStream *
plexus_link_input_stream_new (GInputStream *base, GSocket *socket, GError **error)
{
  g_autoptr(PlexusLinkInputStream) self = NULL;
  g_autoptr(GMainContext) context = NULL;

  g_return_val_if_fail (G_IS_POLLABLE_INPUT_STREAM (base), NULL);
  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  self = g_object_new (PLEXUS_TYPE_LINK_INPUT_STREAM, NULL);
  self->context = own_context_new ();
  self->base = G_POLLABLE_INPUT_STREAM (g_object_ref (base));
  self->socket = g_object_ref (socket);
  context = g_main_context_ref_thread_default ();
  self->poll_set = plexus_poll_set_ref_for_context (context, error);
  if (self->poll_set == NULL)
    return NULL;
  self->watch_id = plexus_poll_set_add (self->poll_set, g_socket_get_fd (socket),
                                        on_socket_ready, dispatch_waiting, self, error);
  if (self->watch_id == 0)
    return NULL;
  return g_steal_pointer (&self);
}

/* GObject -------------------------------------------------------------- */

static void
plexus_link_input_stream_dispose (GObject *object)
{
  PlexusLinkInputStream *self = PLEXUS_LINK_INPUT_STREAM (object);

  if (self->poll_set != NULL)
    plexus_link_input_stream_detach (self);
  G_OBJECT_CLASS (plexus_link_input_stream_parent_class)->dispose (object);
}

static void
plexus_link_input_stream_finalize (GObject *object)
{
  PlexusLinkInputStream *self = PLEXUS_LINK_INPUT_STREAM (object);

  g_assert (self->sources == NULL);
  g_free (self->pending);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->poll_set, plexus_poll_set_unref);
  g_clear_object (&self->socket);
  g_clear_object (&self->base);
  G_OBJECT_CLASS (plexus_link_input_stream_parent_class)->finalize (object);
}

static void
plexus_link_input_stream_class_init (PlexusLinkInputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  object_class->dispose = plexus_link_input_stream_dispose;
  object_class->finalize = plexus_link_input_stream_finalize;
  stream_class->read_fn = link_input_read;
  stream_class->close_fn = link_input_close;
}

static void
plexus_link_input_stream_init (PlexusLinkInputStream *self)
{
  self->readable = TRUE;
}
