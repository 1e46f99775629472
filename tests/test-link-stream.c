/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plexus-link-input-stream.h"
#include "plexus-link-output-stream.h"
#include "plexus-link-stream.h"
#include "plexus-poll-set.h"
#include "plexus-test-fixture.h"

/* The stream an accepted link reads through: readiness comes from the
 * context's poll set, not from a poll entry per socket. Each test uses a
 * real socket pair: one end wrapped as an accepted link's connection,
 * the other written by the test. */

#define TIMEOUT_MS 5000

typedef struct {
  GSocket   *socket;   /* the far end, which the test writes */
  GIOStream *base;     /* the near end's connection */
  GIOStream *stream;   /* the PlexusLinkStream over it */
  GSocket   *near;
} Pair;

static void
pair_init (Pair *pair)
{
  g_autoptr(GError) error = NULL;
  gint fds[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
  pair->near = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  pair->socket = g_socket_new_from_fd (fds[1], &error);
  g_assert_no_error (error);
  pair->base = G_IO_STREAM (g_socket_connection_factory_create_connection (pair->near));
  pair->stream = plexus_link_stream_new (pair->base, pair->near, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pair->stream);
}

static void
pair_clear (Pair *pair)
{
  g_clear_object (&pair->stream);
  g_clear_object (&pair->base);
  g_clear_object (&pair->near);
  if (pair->socket != NULL)
    g_socket_close (pair->socket, NULL);
  g_clear_object (&pair->socket);
}

static void
far_write (Pair *pair, const gchar *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_socket_send (pair->socket, text, strlen (text), NULL, &error), ==, strlen (text));
  g_assert_no_error (error);
}

/* A source made from the stream counts its dispatches. */
typedef struct {
  GSource *source;
  guint    dispatched;
} Reader;

static gboolean
on_readable (GObject *stream, gpointer user_data)
{
  Reader *reader = user_data;

  reader->dispatched++;
  return G_SOURCE_CONTINUE;
}

static void
reader_start (Reader *reader, Pair *pair)
{
  GPollableInputStream *input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (pair->stream));

  reader->dispatched = 0;
  reader->source = g_pollable_input_stream_create_source (input, NULL);
  g_source_set_callback (reader->source, G_SOURCE_FUNC (on_readable), reader, NULL);
  g_source_attach (reader->source, NULL);
}

static void
reader_stop (Reader *reader)
{
  g_source_destroy (reader->source);
  g_clear_pointer (&reader->source, g_source_unref);
}

static gboolean
was_dispatched (gconstpointer data)
{
  return ((const Reader *) data)->dispatched > 0;
}

/* Reads everything there is, until a read would block (or the end). */
static GString *
drain (Pair *pair, gboolean *end)
{
  GPollableInputStream *input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (pair->stream));
  GString *read = g_string_new (NULL);

  *end = FALSE;
  for (;;) {
    g_autoptr(GError) error = NULL;
    gchar buffer[7];
    gssize n = g_pollable_input_stream_read_nonblocking (input, buffer, sizeof buffer, NULL, &error);

    if (n < 0) {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      break;
    }
    if (n == 0) {
      *end = TRUE;
      break;
    }
    g_string_append_len (read, buffer, n);
  }
  return read;
}

static gboolean
context_pending (gconstpointer data)
{
  return g_main_context_pending (NULL);
}

/* A pair with a reader whose first dispatch is over: the stream starts
 * out readable (the HTTP layer may hold bytes), and the first read finds
 * nothing. */
static void
start_drained (Pair *pair, Reader *reader)
{
  g_autoptr(GString) read = NULL;
  gboolean end;

  pair_init (pair);
  reader_start (reader, pair);
  g_assert_true (plexus_test_wait_for (was_dispatched, reader, TIMEOUT_MS));
  read = drain (pair, &end);
  g_assert_cmpuint (read->len, ==, 0);
  g_assert_false (end);
}

/* A source is ready when data comes, and not once it is read. */
static void
test_readiness (void)
{
  Pair pair = { 0, };
  Reader reader;
  g_autoptr(GString) read = NULL;
  gboolean end;

  pair_init (&pair);
  reader_start (&reader, &pair);

  /* The stream starts out readable (the HTTP layer may hold bytes): the
   * first read finds nothing, and then nothing is ready. */
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  read = drain (&pair, &end);
  g_assert_cmpuint (read->len, ==, 0);
  g_assert_false (end);
  g_assert_false (g_main_context_pending (NULL));

  /* Data wakes the source, more than a read's worth is all there. */
  reader.dispatched = 0;
  far_write (&pair, "hello, link stream");
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  g_string_free (read, TRUE);
  read = drain (&pair, &end);
  g_assert_cmpstr (read->str, ==, "hello, link stream");
  g_assert_false (end);
  g_assert_false (g_main_context_pending (NULL));

  /* Data that came while no source existed is seen by the next one. */
  reader_stop (&reader);
  far_write (&pair, "later");
  g_assert_true (plexus_test_wait_for (context_pending, NULL, TIMEOUT_MS));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  reader_start (&reader, &pair);
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  g_string_free (read, TRUE);
  read = drain (&pair, &end);
  g_assert_cmpstr (read->str, ==, "later");

  /* The far end hanging up wakes it too, and the read sees the end. */
  reader.dispatched = 0;
  g_socket_close (pair.socket, NULL);
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  g_string_free (read, TRUE);
  read = drain (&pair, &end);
  g_assert_true (end);

  reader_stop (&reader);
  pair_clear (&pair);
}

/* Reads take from the socket in large pieces, and hand them out in the
 * small ones the caller asks for. A piece left over keeps the source
 * ready; a read that came back short stands for the one that would find
 * the socket empty, and whatever comes after it still wakes the source. */
static void
test_batched_reads (void)
{
  Pair pair = { 0, };
  Reader reader;
  GPollableInputStream *input;
  g_autoptr(GString) sent = g_string_new (NULL);
  g_autoptr(GString) read = NULL;
  g_autoptr(GError) error = NULL;
  gchar buffer[1000];
  gboolean end;

  start_drained (&pair, &reader);
  input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (pair.stream));
  read = g_string_new (NULL);

  /* Less than a socket read's worth (the read comes back short), then
   * more than one (it does not). */
  for (guint round = 0; round < 2; round++) {
    g_string_truncate (sent, 0);
    for (guint i = 0; sent->len < (round == 0 ? 3000 : 40000); i++)
      g_string_append_printf (sent, "frame %u;", i);
    far_write (&pair, sent->str);
    reader.dispatched = 0;
    g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
    g_assert_cmpint (g_pollable_input_stream_read_nonblocking (input, buffer, sizeof buffer, NULL, &error), ==,
                     sizeof buffer);
    g_assert_no_error (error);
    g_assert_cmpmem (buffer, sizeof buffer, sent->str, sizeof buffer);

    /* Not read to the end: the source runs again, with nothing new sent. */
    reader.dispatched = 0;
    g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
    g_string_free (read, TRUE);
    read = drain (&pair, &end);
    g_assert_false (end);
    g_assert_cmpmem (read->str, read->len, sent->str + sizeof buffer, sent->len - sizeof buffer);
    reader.dispatched = 0;
    while (g_main_context_iteration (NULL, FALSE))
      ;
    g_assert_cmpuint (reader.dispatched, ==, 0);
  }

  /* Short reads from here on; each time, the next thing sent is seen. */
  for (guint i = 0; i < 3; i++) {
    g_autofree gchar *text = g_strdup_printf ("short %u", i);

    reader.dispatched = 0;
    far_write (&pair, text);
    g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
    g_string_free (read, TRUE);
    read = drain (&pair, &end);
    g_assert_cmpstr (read->str, ==, text);
  }

  reader_stop (&reader);
  pair_clear (&pair);
}

/* The peer's last words and its end come together: the read that takes
 * the words comes back short, and the end must still be seen (no later
 * edge tells of it). */
static void
test_end_after_data (void)
{
  Pair pair = { 0, };
  Reader reader;
  g_autoptr(GString) read = NULL;
  g_autoptr(GError) error = NULL;
  gboolean end;

  start_drained (&pair, &reader);
  far_write (&pair, "last words");
  g_assert_true (g_socket_shutdown (pair.socket, FALSE, TRUE, &error));
  g_assert_no_error (error);
  reader.dispatched = 0;
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  read = drain (&pair, &end);
  g_assert_cmpstr (read->str, ==, "last words");
  g_assert_true (end);
  reader_stop (&reader);
  pair_clear (&pair);
}

/* How many descriptors an iteration of the default context polls: one
 * iteration by hand, without blocking. */
static gint
context_poll_fds (void)
{
  GMainContext *context = g_main_context_default ();
  GPollFD fds[256];
  gint priority, timeout;
  gint n;

  g_assert_true (g_main_context_acquire (context));
  g_main_context_prepare (context, &priority);
  n = g_main_context_query (context, priority, &timeout, fds, G_N_ELEMENTS (fds));
  g_assert_cmpint (n, <=, G_N_ELEMENTS (fds));
  g_main_context_check (context, priority, fds, n);
  g_main_context_dispatch (context);
  g_main_context_release (context);
  return n;
}

/* Idle streams add no poll entry to the context: a hundred cost what one
 * does. */
static void
test_idle_cost (void)
{
  Pair pairs[100];
  Reader readers[100];
  gint with_one = -1;
  gint with_all;
  gboolean end;

  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++) {
    g_autoptr(GString) read = NULL;

    memset (&pairs[i], 0, sizeof pairs[i]);
    pair_init (&pairs[i]);
    reader_start (&readers[i], &pairs[i]);
    read = drain (&pairs[i], &end);
    if (i == 0)
      with_one = context_poll_fds ();
  }
  with_all = context_poll_fds ();
  g_assert_cmpint (with_all, ==, with_one);
  g_assert_cmpint (with_all, <=, 2);

  /* Each still hears its own data, and only its own. */
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    readers[i].dispatched = 0;
  far_write (&pairs[42], "x");
  g_assert_true (plexus_test_wait_for (was_dispatched, &readers[42], TIMEOUT_MS));
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    if (i != 42)
      g_assert_cmpuint (readers[i].dispatched, ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++) {
    reader_stop (&readers[i]);
    pair_clear (&pairs[i]);
  }
}

/* What libsoup does: on each dispatch, read until a read would block,
 * then make a new source and attach it to the thread-default context. */
typedef struct {
  Pair         *pair;
  GSource      *source;
  GString      *read;
  guint         dispatched;
  GMainContext *attached_to;     /* where the last new source went */
  GMainContext *default_during;  /* the thread default in the read loop */
  gboolean      ended;           /* a read saw the end */
} LikeLibsoup;

static gboolean on_like_libsoup_input (GObject *stream, gpointer user_data);

static void
like_libsoup_start (LikeLibsoup *reader)
{
  GPollableInputStream *input = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (reader->pair->stream));

  reader->source = g_pollable_input_stream_create_source (input, NULL);
  g_source_set_callback (reader->source, G_SOURCE_FUNC (on_like_libsoup_input), reader, NULL);
  reader->attached_to = g_main_context_get_thread_default ();
  g_source_attach (reader->source, reader->attached_to);
}

static gboolean
on_like_libsoup_input (GObject *stream, gpointer user_data)
{
  LikeLibsoup *reader = user_data;
  GPollableInputStream *input = G_POLLABLE_INPUT_STREAM (stream);

  reader->dispatched++;
  g_source_destroy (reader->source);
  g_clear_pointer (&reader->source, g_source_unref);
  reader->default_during = g_main_context_get_thread_default ();
  for (;;) {
    g_autoptr(GError) error = NULL;
    gchar buffer[5];
    gssize n = g_pollable_input_stream_read_nonblocking (input, buffer, sizeof buffer, NULL, &error);

    if (n == 0)
      reader->ended = TRUE;
    if (n <= 0)
      break;
    g_string_append_len (reader->read, buffer, n);
    /* Where libsoup emits "message": the caller's default still. */
    if (g_main_context_get_thread_default () != NULL)
      reader->default_during = g_main_context_get_thread_default ();
  }
  like_libsoup_start (reader);
  return G_SOURCE_REMOVE;
}

static gboolean
like_libsoup_dispatched (gconstpointer data)
{
  return ((const LikeLibsoup *) data)->dispatched > 0;
}

static gboolean
like_libsoup_ended (gconstpointer data)
{
  return ((const LikeLibsoup *) data)->ended;
}

static gboolean
like_libsoup_read (gconstpointer data)
{
  const LikeLibsoup *reader = data;

  return strcmp (reader->read->str, "wake up, idle link") == 0;
}

/* An idle stream's source waits in the stream's own context, out of the
 * main loop's walk, and still runs when data comes; the work in its
 * callback happens with the caller's thread default. */
static void
test_waiting_source (void)
{
  Pair pair = { 0, };
  LikeLibsoup reader = { &pair, NULL, g_string_new (NULL), 0, NULL, NULL, FALSE };
  GMainContext *own;

  pair_init (&pair);
  own = plexus_link_stream_get_context (PLEXUS_LINK_STREAM (pair.stream));
  g_assert_nonnull (own);
  g_assert_true (own != g_main_context_default ());

  /* As soup_websocket_connection_new() runs. */
  g_main_context_push_thread_default (own);
  like_libsoup_start (&reader);
  g_main_context_pop_thread_default (own);
  g_assert_true (reader.attached_to == own);

  /* The stream starts out readable: the waiting source runs once. */
  g_assert_true (plexus_test_wait_for (like_libsoup_dispatched, &reader, TIMEOUT_MS));
  g_assert_cmpuint (reader.read->len, ==, 0);
  g_assert_null (reader.default_during);
  g_assert_true (reader.attached_to == own);
  g_assert_null (g_main_context_get_thread_default ());
  g_assert_false (g_main_context_pending (NULL));

  far_write (&pair, "wake up, idle link");
  g_assert_true (plexus_test_wait_for (like_libsoup_read, &reader, TIMEOUT_MS));
  g_assert_cmpuint (reader.dispatched, ==, 2);
  g_assert_null (reader.default_during);
  g_assert_true (reader.attached_to == own);
  g_assert_null (g_main_context_get_thread_default ());

  /* A hang-up wakes the waiting source too, and its read sees the end. */
  g_socket_close (pair.socket, NULL);
  g_assert_true (plexus_test_wait_for (like_libsoup_ended, &reader, TIMEOUT_MS));
  g_assert_cmpuint (reader.dispatched, ==, 3);
  g_assert_null (g_main_context_get_thread_default ());

  g_source_destroy (reader.source);
  g_clear_pointer (&reader.source, g_source_unref);
  g_string_free (reader.read, TRUE);
  pair_clear (&pair);
}

/* What the far end has received so far, without waiting. */
static GString *
far_read_all (Pair *pair)
{
  GString *read = g_string_new (NULL);

  for (;;) {
    g_autoptr(GError) error = NULL;
    gchar buffer[65536];
    gssize n = g_socket_receive_with_blocking (pair->socket, buffer, sizeof buffer, FALSE, NULL, &error);

    if (n <= 0)
      break;
    g_string_append_len (read, buffer, n);
  }
  return read;
}

static gssize
stream_write (Pair *pair, const gchar *text, gsize length, GError **error)
{
  GPollableOutputStream *output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (pair->stream));

  return g_pollable_output_stream_write_nonblocking (output, text, length, NULL, error);
}

static gboolean
flag_is_set (gconstpointer data)
{
  return *(const gboolean *) data;
}

typedef struct {
  Pair    *pair;
  GString *sent;
  gsize    seen_during;   /* what the far end had when the writes were done */
  gboolean done;
} WritingReader;

/* Runs inside the poll set's dispatch, as a relay's handling does. */
static gboolean
on_input_write (GObject *stream, gpointer user_data)
{
  WritingReader *writer = user_data;
  gchar buffer[64];
  g_autoptr(GString) received = NULL;

  while (g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream), buffer, sizeof buffer, NULL,
                                                   NULL) > 0)
    ;
  for (guint i = 0; i < 10 && !writer->done; i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *frame = g_strdup_printf ("frame %u;", i);

    g_assert_cmpint (stream_write (writer->pair, frame, strlen (frame), &error), ==, strlen (frame));
    g_assert_no_error (error);
    g_string_append (writer->sent, frame);
  }
  received = far_read_all (writer->pair);
  writer->seen_during = received->len;
  writer->done = TRUE;
  return G_SOURCE_REMOVE;
}

/* What is written during the poll set's dispatch goes out together at
 * its end, in order; nothing is sent before. A write from anywhere else
 * goes out at once. */
static void
test_coalesced_writes (void)
{
  Pair pair = { 0, };
  WritingReader writer = { &pair, g_string_new (NULL), 0, FALSE };
  g_autoptr(GString) received = NULL;
  g_autoptr(GSource) source = NULL;
  g_autoptr(GError) error = NULL;
  GMainContext *own;

  pair_init (&pair);
  own = plexus_link_stream_get_context (PLEXUS_LINK_STREAM (pair.stream));
  g_assert_nonnull (own);
  source = g_pollable_input_stream_create_source (
    G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (pair.stream)), NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_input_write), &writer, NULL);
  g_source_attach (source, own);
  far_write (&pair, "go");
  g_assert_true (plexus_test_wait_for (flag_is_set, &writer.done, TIMEOUT_MS));
  g_assert_cmpuint (writer.seen_during, ==, 0);
  received = far_read_all (&pair);
  g_assert_cmpstr (received->str, ==, writer.sent->str);

  g_assert_cmpint (stream_write (&pair, "at once", 7, &error), ==, 7);
  g_assert_no_error (error);
  g_string_free (received, TRUE);
  received = far_read_all (&pair);
  g_assert_cmpstr (received->str, ==, "at once");
  /* Gone before its context, which goes with the stream. */
  g_source_destroy (source);
  g_clear_pointer (&source, g_source_unref);
  g_string_free (writer.sent, TRUE);
  pair_clear (&pair);
}

static gboolean
on_room_again (GObject *stream, gpointer user_data)
{
  (*(guint *) user_data)++;
  return G_SOURCE_REMOVE;
}

static gboolean
count_is_set (gconstpointer data)
{
  return *(const guint *) data > 0;
}

/* A peer that does not read: writes are taken until the high-water mark,
 * then would block; once the peer reads, the stream's source runs and
 * everything arrives, in order. */
static void
test_back_pressure (void)
{
  Pair pair = { 0, };
  GPollableOutputStream *output;
  g_autoptr(GString) sent = g_string_new (NULL);
  g_autoptr(GString) received = g_string_new (NULL);
  g_autoptr(GSource) source = NULL;
  gchar chunk[4096];
  guint room = 0;
  gint64 deadline;

  pair_init (&pair);
  output = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (pair.stream));
  for (guint i = 0;; i++) {
    g_autoptr(GError) error = NULL;
    gssize n;

    memset (chunk, 'a' + i % 26, sizeof chunk);
    n = stream_write (&pair, chunk, sizeof chunk, &error);
    if (n < 0) {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
      break;
    }
    g_assert_cmpint (n, ==, sizeof chunk);
    g_string_append_len (sent, chunk, n);
    /* Let the deferred sends run, so the socket's buffer fills too. */
    while (g_main_context_iteration (NULL, FALSE))
      ;
    g_assert_cmpuint (sent->len, <, 64 * 1024 * 1024);
  }
  g_assert_false (g_pollable_output_stream_is_writable (output));
  g_assert_cmpuint (sent->len, >=, PLEXUS_LINK_OUTPUT_HIGH_WATER);

  source = g_pollable_output_stream_create_source (output, NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_room_again), &room, NULL);
  g_source_attach (source, NULL);
  /* Nothing is lost: the far end reads, and the rest follows. */
  deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
  while (received->len < sent->len && g_get_monotonic_time () < deadline) {
    g_autoptr(GString) more = far_read_all (&pair);

    g_string_append_len (received, more->str, more->len);
    g_main_context_iteration (NULL, FALSE);
  }
  g_assert_true (plexus_test_wait_for (count_is_set, &room, TIMEOUT_MS));
  g_assert_true (g_pollable_output_stream_is_writable (output));
  g_assert_cmpuint (received->len, ==, sent->len);
  g_assert_true (memcmp (received->str, sent->str, sent->len) == 0);
  g_source_destroy (source);
  pair_clear (&pair);
}

/* The socket's error is told by the next write. */
static void
test_write_error (void)
{
  Pair pair = { 0, };
  g_autoptr(GError) error = NULL;

  pair_init (&pair);
  g_socket_close (pair.socket, NULL);
  g_assert_cmpint (stream_write (&pair, "lost", 4, &error), ==, 4);
  g_assert_no_error (error);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (stream_write (&pair, "told", 4, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  pair_clear (&pair);
}

static gboolean
on_input_write_and_close (GObject *stream, gpointer user_data)
{
  WritingReader *writer = user_data;
  g_autoptr(GError) error = NULL;
  gchar buffer[64];

  while (g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (stream), buffer, sizeof buffer, NULL,
                                                   NULL) > 0)
    ;
  g_assert_cmpint (stream_write (writer->pair, "goodbye", 7, &error), ==, 7);
  g_assert_true (g_io_stream_close (writer->pair->stream, NULL, &error));
  g_assert_no_error (error);
  writer->done = TRUE;
  return G_SOURCE_REMOVE;
}

/* Closing sends what waits: libsoup closes right after its close frame,
 * inside the dispatch that wrote it. */
static void
test_close_sends (void)
{
  Pair pair = { 0, };
  WritingReader writer = { &pair, NULL, 0, FALSE };
  g_autoptr(GString) received = NULL;
  GSource *source;

  pair_init (&pair);
  source = g_pollable_input_stream_create_source (
    G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (pair.stream)), NULL);
  g_source_set_callback (source, G_SOURCE_FUNC (on_input_write_and_close), &writer, NULL);
  g_source_attach (source, plexus_link_stream_get_context (PLEXUS_LINK_STREAM (pair.stream)));
  far_write (&pair, "go");
  g_assert_true (plexus_test_wait_for (flag_is_set, &writer.done, TIMEOUT_MS));
  g_source_destroy (source);
  g_source_unref (source);
  received = far_read_all (&pair);
  g_assert_cmpstr (received->str, ==, "goodbye");
  pair_clear (&pair);
}

/* Closing the stream stops the watch before the socket closes, and the
 * poll set goes with the last stream. */
static void
test_close (void)
{
  Pair pair = { 0, };
  g_autoptr(PlexusPollSet) set = plexus_poll_set_ref_for_context (NULL, NULL);
  g_autoptr(GError) error = NULL;
  guint before = plexus_poll_set_get_size (set);

  pair_init (&pair);
  g_assert_cmpuint (plexus_poll_set_get_size (set), ==, before + 1);
  g_assert_true (g_io_stream_close (pair.stream, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (plexus_poll_set_get_size (set), ==, before);
  g_assert_true (g_socket_is_closed (pair.near));
  pair_clear (&pair);
}

static void
on_closed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (g_io_stream_close_finish (G_IO_STREAM (source), result, &error));
  g_assert_no_error (error);
  *(gboolean *) user_data = TRUE;
}

/* libsoup closes asynchronously; that happens on this thread too. */
static void
test_close_async (void)
{
  Pair pair = { 0, };
  g_autoptr(PlexusPollSet) set = plexus_poll_set_ref_for_context (NULL, NULL);
  guint before = plexus_poll_set_get_size (set);
  gboolean closed = FALSE;

  pair_init (&pair);
  g_io_stream_close_async (pair.stream, G_PRIORITY_DEFAULT, NULL, on_closed, &closed);
  g_assert_cmpuint (plexus_poll_set_get_size (set), ==, before);
  g_assert_true (plexus_test_wait_for (flag_is_set, &closed, TIMEOUT_MS));
  g_assert_true (g_socket_is_closed (pair.near));
  pair_clear (&pair);
}

/* A socket closed behind the stream's back, its number taken by a new
 * one: dropping the old stream must not stop the new one's watch. */
static void
test_reused_descriptor (void)
{
  Pair old = { 0, };
  Pair new = { 0, };
  Reader reader;
  gint old_fd;
  gboolean end;
  g_autoptr(GString) read = NULL;

  pair_init (&old);
  old_fd = g_socket_get_fd (old.near);
  g_assert_true (g_io_stream_close (old.base, NULL, NULL));
  g_socket_close (old.socket, NULL);
  pair_init (&new);
  /* The lowest free number is the one just closed. */
  g_assert_cmpint (g_socket_get_fd (new.near), ==, old_fd);
  pair_clear (&old);

  reader_start (&reader, &new);
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  g_string_free (drain (&new, &end), TRUE);
  reader.dispatched = 0;
  far_write (&new, "still watched");
  g_assert_true (plexus_test_wait_for (was_dispatched, &reader, TIMEOUT_MS));
  read = drain (&new, &end);
  g_assert_cmpstr (read->str, ==, "still watched");
  reader_stop (&reader);
  pair_clear (&new);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/plexus/link-stream/readiness", test_readiness);
  g_test_add_func ("/plexus/link-stream/batched-reads", test_batched_reads);
  g_test_add_func ("/plexus/link-stream/end-after-data", test_end_after_data);
  g_test_add_func ("/plexus/link-stream/idle-cost", test_idle_cost);
  g_test_add_func ("/plexus/link-stream/waiting-source", test_waiting_source);
  g_test_add_func ("/plexus/link-stream/coalesced-writes", test_coalesced_writes);
  g_test_add_func ("/plexus/link-stream/back-pressure", test_back_pressure);
  g_test_add_func ("/plexus/link-stream/write-error", test_write_error);
  g_test_add_func ("/plexus/link-stream/close-sends", test_close_sends);
  g_test_add_func ("/plexus/link-stream/close", test_close);
  g_test_add_func ("/plexus/link-stream/close-async", test_close_async);
  g_test_add_func ("/plexus/link-stream/reused-descriptor", test_reused_descriptor);

  return g_test_run ();
}
