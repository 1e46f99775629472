/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A set of sockets that one GSource watches through one epoll descriptor,
 * one set per main context. A context that holds a thousand idle links
 * would otherwise poll a thousand descriptors and walk two sources for
 * each on every iteration. The set is edge-triggered: a watch's note
 * function runs when its descriptor becomes readable or hangs up, not
 * while it stays so; the watcher remembers readiness until a read would
 * block. Notes run from the source's check, so they must only take note
 * (no I/O, no changes to the set), and may schedule the watch: its
 * dispatch function then runs from the source's dispatch, in this
 * iteration or the next. Private to the daemon; Linux only. */

typedef struct _PlexusPollSet PlexusPollSet;

typedef void (*PlexusPollSetFunc) (gpointer user_data);
/* @events: what epoll reported (EPOLLIN, EPOLLRDHUP, EPOLLHUP, EPOLLERR) */
typedef void (*PlexusPollSetNoteFunc) (gpointer user_data, guint32 events);

PlexusPollSet *plexus_poll_set_ref_for_context (GMainContext  *context,
                                                GError       **error);
PlexusPollSet *plexus_poll_set_ref (PlexusPollSet *self);
void           plexus_poll_set_unref (PlexusPollSet *self);

guint          plexus_poll_set_add (PlexusPollSet     *self,
                                    gint               fd,
                                    PlexusPollSetNoteFunc note,
                                    PlexusPollSetFunc  dispatch,
                                    gpointer           user_data,
                                    GError           **error);
void           plexus_poll_set_schedule (PlexusPollSet *self,
                                         guint          watch_id);
void           plexus_poll_set_defer (PlexusPollSet     *self,
                                      PlexusPollSetFunc  func,
                                      gpointer           user_data,
                                      GDestroyNotify     destroy);
void           plexus_poll_set_remove (PlexusPollSet *self,
                                       guint          watch_id,
                                       gboolean       fd_still_open);
guint          plexus_poll_set_get_size (PlexusPollSet *self);
gboolean       plexus_poll_set_is_dispatching (PlexusPollSet *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PlexusPollSet, plexus_poll_set_unref)

G_END_DECLS
