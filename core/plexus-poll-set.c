/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <gio/gio.h>

#include "plexus-poll-set.h"

#define EVENTS_PER_CALL 64

typedef struct {
  PlexusPollSetNoteFunc note;
  PlexusPollSetFunc dispatch;
  gpointer          user_data;
  gint              fd;
  gboolean          scheduled;
} Watch;

struct _PlexusPollSet {
  gint          ref_count;   /* under the registry's lock */
  GMainContext *context;
  gint          epoll_fd;
  GSource      *source;
  gpointer      tag;
  GHashTable   *watches;     /* watch ID -> Watch */
  guint         next_id;
  GQueue        scheduled;   /* watch IDs whose dispatch is due */
  GQueue        deferred;    /* Deferred work for the end of a dispatch */
  guint         dispatching; /* depth of our source's dispatch */
};

typedef struct {
  PlexusPollSetFunc func;
  gpointer          user_data;
  GDestroyNotify    destroy;
} Deferred;

typedef struct {
  GSource        source;
  PlexusPollSet *set;        /* borrowed: the set destroys its source first */
} PollSetSource;

/* One set per context. */
G_LOCK_DEFINE_STATIC (registry);
static GHashTable *registry;

static gboolean
has_work (PlexusPollSet *self)
{
  return !g_queue_is_empty (&self->scheduled) || !g_queue_is_empty (&self->deferred);
}

/* Scheduled watches only make the poll not wait: were this source ready
 * from prepare, GLib would skip its check, and epoll would not be read
 * while a watch keeps scheduling itself. */
static gboolean
poll_set_source_prepare (GSource *source, gint *timeout)
{
  *timeout = has_work (((PollSetSource *) source)->set) ? 0 : -1;
  return FALSE;
}

/* The epoll descriptor is read in check, not dispatch, so that what its
 * events make ready runs in this same iteration. */
static gboolean
poll_set_source_check (GSource *source)
{
  PlexusPollSet *self = ((PollSetSource *) source)->set;
  struct epoll_event events[EVENTS_PER_CALL];
  gint n;

  if ((g_source_query_unix_fd (source, self->tag) & G_IO_IN) == 0)
    return has_work (self);
  do {
    n = epoll_wait (self->epoll_fd, events, EVENTS_PER_CALL, 0);
    for (gint i = 0; i < n; i++) {
      /* Looked up by ID: a watch removed since the kernel queued its
       * event is simply gone. */
      Watch *watch = g_hash_table_lookup (self->watches, GUINT_TO_POINTER ((guint) events[i].data.u32));

      if (watch != NULL)
        watch->note (watch->user_data, events[i].events);
    }
  } while (n == EVENTS_PER_CALL || (n < 0 && errno == EINTR));
  return has_work (self);
}

static void
run_deferred (PlexusPollSet *self)
{
  guint due = g_queue_get_length (&self->deferred);

  while (due-- > 0) {
    Deferred *deferred = g_queue_pop_head (&self->deferred);

    if (deferred == NULL)
      break;
    deferred->func (deferred->user_data);
    if (deferred->destroy != NULL)
      deferred->destroy (deferred->user_data);
    g_free (deferred);
  }
}

/* Only the watches scheduled before it began: one that schedules itself
 * again runs in the next iteration, so a busy one cannot starve the
 * context. Then what they deferred (and anything deferred since the last
 * dispatch). */
static gboolean
poll_set_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  /* A dispatch may drop the last watch, and with it the set. */
  g_autoptr(PlexusPollSet) self = plexus_poll_set_ref (((PollSetSource *) source)->set);
  guint due = g_queue_get_length (&self->scheduled);

  self->dispatching++;
  while (due-- > 0) {
    guint id = GPOINTER_TO_UINT (g_queue_pop_head (&self->scheduled));
    Watch *watch = g_hash_table_lookup (self->watches, GUINT_TO_POINTER (id));

    if (watch == NULL)
      continue;
    watch->scheduled = FALSE;
    watch->dispatch (watch->user_data);
  }
  run_deferred (self);
  self->dispatching--;
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs poll_set_source_funcs = {
  poll_set_source_prepare, poll_set_source_check, poll_set_source_dispatch, NULL, NULL, NULL
};

static PlexusPollSet *
poll_set_new (GMainContext *context, GError **error)
{
  gint epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  PlexusPollSet *self;

  if (epoll_fd < 0) {
    gint saved = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 _("Cannot make an epoll descriptor: %s"), g_strerror (saved));
    return NULL;
  }
  self = g_new0 (PlexusPollSet, 1);
  self->ref_count = 1;
  self->context = g_main_context_ref (context);
  self->watches = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->next_id = 1;
  g_queue_init (&self->scheduled);
  g_queue_init (&self->deferred);
  self->epoll_fd = epoll_fd;
  self->source = g_source_new (&poll_set_source_funcs, sizeof (PollSetSource));
  ((PollSetSource *) self->source)->set = self;
  g_source_set_static_name (self->source, "PlexusPollSet");
  /* GLib takes a dispatched source's descriptors out of the poll and puts
   * them back afterwards unless it may recurse, and each change writes
   * the context's wakeup: two writes, a read and an extra poll on every
   * busy iteration. Nothing in the daemon iterates the main context from
   * inside a dispatch; if something did, a nested dispatch would run the
   * watches scheduled so far, each once, and the outer one what is left. */
  g_source_set_can_recurse (self->source, TRUE);
  self->tag = g_source_add_unix_fd (self->source, self->epoll_fd, G_IO_IN);
  g_source_attach (self->source, context);
  return self;
}

/**
 * plexus_poll_set_ref_for_context:
 * @context: (nullable): a main context; %NULL for the global default
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the poll set of @context, made on first use;
 *   %NULL with @error set when the process is out of descriptors
 */
PlexusPollSet *
plexus_poll_set_ref_for_context (GMainContext *context, GError **error)
{
  PlexusPollSet *self;

  if (context == NULL)
    context = g_main_context_default ();
  G_LOCK (registry);
  if (registry == NULL)
    registry = g_hash_table_new (NULL, NULL);
  self = g_hash_table_lookup (registry, context);
  if (self != NULL) {
    self->ref_count++;
  } else {
    self = poll_set_new (context, error);
    if (self != NULL)
      g_hash_table_insert (registry, context, self);
  }
  G_UNLOCK (registry);
  return self;
}

PlexusPollSet *
plexus_poll_set_ref (PlexusPollSet *self)
{
  G_LOCK (registry);
  self->ref_count++;
  G_UNLOCK (registry);
  return self;
}

void
plexus_poll_set_unref (PlexusPollSet *self)
{
  gboolean last;

  G_LOCK (registry);
  last = --self->ref_count == 0;
  if (last)
    g_hash_table_remove (registry, self->context);
  G_UNLOCK (registry);
  if (!last)
    return;
  g_source_destroy (self->source);
  g_source_unref (self->source);
  close (self->epoll_fd);
  g_queue_clear (&self->scheduled);
  /* Each holds a reference to its owner, which holds one to the set: the
   * set cannot go while any is left. */
  g_assert (g_queue_is_empty (&self->deferred));
  g_hash_table_unref (self->watches);
  g_main_context_unref (self->context);
  g_free (self);
}

/**
 * plexus_poll_set_add:
 * @self: a poll set
 * @fd: a socket, which must stay open until plexus_poll_set_remove()
 * @note: told, with the events, when @fd becomes readable or hangs up
 * @dispatch: runs when the watch is scheduled
 * @user_data: for @note and @dispatch
 * @error: return location for an error
 *
 * Returns: the watch's ID, or 0 with @error set
 */
guint
plexus_poll_set_add (PlexusPollSet     *self,
                     gint               fd,
                     PlexusPollSetNoteFunc note,
                     PlexusPollSetFunc  dispatch,
                     gpointer           user_data,
                     GError           **error)
{
  struct epoll_event event = { 0, };
  Watch *watch;
  guint id;

  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (fd >= 0, 0);
  g_return_val_if_fail (note != NULL, 0);
  g_return_val_if_fail (dispatch != NULL, 0);

  id = self->next_id++;
  if (self->next_id == 0)
    self->next_id = 1;
  event.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  event.data.u32 = id;
  if (epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, fd, &event) < 0) {
    gint saved = errno;

    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 _("Cannot watch socket %d: %s"), fd, g_strerror (saved));
    return 0;
  }
  watch = g_new0 (Watch, 1);
  watch->note = note;
  watch->dispatch = dispatch;
  watch->user_data = user_data;
  watch->fd = fd;
  g_hash_table_insert (self->watches, GUINT_TO_POINTER (id), watch);
  return id;
}

/**
 * plexus_poll_set_schedule:
 * @self: a poll set
 * @watch_id: from plexus_poll_set_add()
 *
 * Has the watch's dispatch function run from the set's source, once, even
 * if scheduled several times before it runs. A removed watch's never runs.
 */
void
plexus_poll_set_schedule (PlexusPollSet *self, guint watch_id)
{
  Watch *watch;

  g_return_if_fail (self != NULL);

  watch = g_hash_table_lookup (self->watches, GUINT_TO_POINTER (watch_id));
  if (watch == NULL || watch->scheduled)
    return;
  watch->scheduled = TRUE;
  g_queue_push_tail (&self->scheduled, GUINT_TO_POINTER (watch_id));
}

/**
 * plexus_poll_set_defer:
 * @self: a poll set
 * @func: the work
 * @user_data: for @func
 * @destroy: (nullable): frees @user_data after @func ran
 *
 * Runs @func once, at the end of the set's current dispatch, or in the
 * context's next iteration (without waiting in its poll) when no dispatch
 * is running. Work that many watches' dispatches produce is done once for
 * all of them: a link's writes in one iteration go out in one send().
 */
void
plexus_poll_set_defer (PlexusPollSet *self, PlexusPollSetFunc func, gpointer user_data, GDestroyNotify destroy)
{
  Deferred *deferred;

  g_return_if_fail (self != NULL);
  g_return_if_fail (func != NULL);

  deferred = g_new (Deferred, 1);
  deferred->func = func;
  deferred->user_data = user_data;
  deferred->destroy = destroy;
  g_queue_push_tail (&self->deferred, deferred);
}

/**
 * plexus_poll_set_remove:
 * @self: a poll set
 * @watch_id: from plexus_poll_set_add()
 * @fd_still_open: whether the watch's descriptor is still open. The kernel
 *   forgets a closed one by itself, and its number may already belong to
 *   another socket, which must not be taken out of the set.
 *
 * Stops a watch; neither of its functions is called again.
 */
void
plexus_poll_set_remove (PlexusPollSet *self, guint watch_id, gboolean fd_still_open)
{
  Watch *watch;

  g_return_if_fail (self != NULL);

  watch = g_hash_table_lookup (self->watches, GUINT_TO_POINTER (watch_id));
  if (watch == NULL)
    return;
  if (fd_still_open && epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL) < 0)
    g_warning ("Cannot stop watching socket %d: %s", watch->fd, g_strerror (errno));
  g_hash_table_remove (self->watches, GUINT_TO_POINTER (watch_id));
}

/**
 * plexus_poll_set_is_dispatching:
 * @self: a poll set
 *
 * Returns: whether the set's source is running its watches (work
 *   deferred now runs at the end of that)
 */
gboolean
plexus_poll_set_is_dispatching (PlexusPollSet *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->dispatching > 0;
}

/**
 * plexus_poll_set_get_size:
 * @self: a poll set
 *
 * Returns: how many descriptors @self watches
 */
guint
plexus_poll_set_get_size (PlexusPollSet *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return g_hash_table_size (self->watches);
}
