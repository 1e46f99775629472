/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every fuzz target shares: libFuzzer's entry points, a GLib log
 * writer that turns warnings and criticals into crashes, and temporary
 * files for decoders that only read from a path. */

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Set while fuzz_key_file_makes_glib_warn() reads a key file. */
static gboolean fuzz_in_glib_check;
static gboolean fuzz_glib_warned;

/* Decoders report bad input through GError only; a warning or critical
 * means a programming error (or a decoder that logs what it should
 * return), so crash and let libFuzzer keep the input. */
static inline GLogWriterOutput
fuzz_log_writer (GLogLevelFlags   log_level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         user_data)
{
  if (fuzz_in_glib_check && (log_level & G_LOG_LEVEL_WARNING) != 0) {
    fuzz_glib_warned = TRUE;
    return G_LOG_WRITER_HANDLED;
  }
  if ((log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) != 0) {
    g_log_writer_standard_streams (log_level, fields, n_fields, user_data);
    abort ();
  }
  return G_LOG_WRITER_HANDLED;
}

/* Aborts, saying what went wrong, when a property of the decoder does not
 * hold; libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, what) \
  G_STMT_START { \
    if (G_UNLIKELY (!(cond))) { \
      fprintf (stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #cond, (const char *) (what)); \
      abort (); \
    } \
  } G_STMT_END

static inline void
fuzz_init (char **argv)
{
  /* GSlice's magazines hide leaks from LeakSanitizer (GLib 2.74 still has
   * them). The setting is read at the first allocation, which GLib's own
   * constructors make before us, so restart with it set. */
  if (g_strcmp0 (g_getenv ("G_SLICE"), "always-malloc") != 0) {
    g_setenv ("G_SLICE", "always-malloc", TRUE);
    execv ("/proc/self/exe", argv);
    perror ("cannot restart with G_SLICE=always-malloc");
    abort ();
  }
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
}

/* Checks a decoder's error. Messages reach logs, terminals and D-Bus,
 * whose strings must be UTF-8, so with @utf8 they must be UTF-8 whatever
 * bytes the input held. */
static inline void
fuzz_check_error (const GError *error, GQuark domain, gint code, gboolean utf8)
{
  FUZZ_CHECK (error != NULL, "failure without an error");
  FUZZ_CHECK (error->domain == domain && error->code == code, error->message);
  FUZZ_CHECK (error->message != NULL && *error->message != '\0', "empty error message");
  if (utf8 && !g_utf8_validate (error->message, -1, NULL)) {
    g_autofree gchar *escaped = g_strescape (error->message, NULL);

    FUZZ_CHECK (g_utf8_validate (error->message, -1, NULL), escaped);
  }
}

/* GLib 2.74 sets a GError over another, and warns "GError set over the
 * top of a previous GError", when g_key_file_get_string() unescapes a value
 * with two invalid escapes (\q\q). That is GLib's warning, not the
 * decoder's, so inputs that make GLib warn are not passed on: these read
 * every value of a key file the way decoders do, with warnings noted
 * instead of fatal. A decoder's own warnings still abort. */
static inline gboolean
fuzz_glib_warns_on_values (GKeyFile *key_file)
{
  g_auto(GStrv) groups = g_key_file_get_groups (key_file, NULL);

  fuzz_glib_warned = FALSE;
  fuzz_in_glib_check = TRUE;
  for (guint i = 0; groups[i] != NULL; i++) {
    g_auto(GStrv) keys = g_key_file_get_keys (key_file, groups[i], NULL, NULL);

    for (guint j = 0; keys != NULL && keys[j] != NULL; j++) {
      g_autoptr(GError) error = NULL;

      g_free (g_key_file_get_string (key_file, groups[i], keys[j], &error));
    }
  }
  fuzz_in_glib_check = FALSE;
  return fuzz_glib_warned;
}

/* @flags as the decoder loads the file: with G_KEY_FILE_KEEP_TRANSLATIONS
 * it sees (and reads) the keys of every locale. */
static inline gboolean
fuzz_key_file_makes_glib_warn (const uint8_t *data, size_t size, GKeyFileFlags flags)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();

  if (!g_key_file_load_from_data (key_file, (const gchar *) data, size, flags, NULL))
    return FALSE;
  return fuzz_glib_warns_on_values (key_file);
}

/* The same for @text as the raw value of a key, as list-valued
 * command-line options are read. */
static inline gboolean
fuzz_value_makes_glib_warn (const gchar *text)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();

  g_key_file_set_value (key_file, "fuzz", "value", text);
  return fuzz_glib_warns_on_values (key_file);
}

/* A file named @name in a private directory, made once per process and
 * removed at exit. */
static gchar *fuzz_tmp_dir;
static gchar *fuzz_tmp_path;

static inline void
fuzz_tmp_cleanup (void)
{
  if (fuzz_tmp_path != NULL)
    g_unlink (fuzz_tmp_path);
  if (fuzz_tmp_dir != NULL)
    g_rmdir (fuzz_tmp_dir);
  g_clear_pointer (&fuzz_tmp_path, g_free);
  g_clear_pointer (&fuzz_tmp_dir, g_free);
}

static inline const gchar *
fuzz_tmp_file (const gchar *name)
{
  g_autoptr(GError) error = NULL;

  fuzz_tmp_dir = g_dir_make_tmp ("plexus-fuzz-XXXXXX", &error);
  if (fuzz_tmp_dir == NULL) {
    fprintf (stderr, "cannot create a temporary directory: %s\n", error->message);
    abort ();
  }
  fuzz_tmp_path = g_build_filename (fuzz_tmp_dir, name, NULL);
  atexit (fuzz_tmp_cleanup);
  return fuzz_tmp_path;
}

/* Replaces the temporary file's contents with the input; the file is
 * created with mode 0600. Not g_file_set_contents_full(), which in GLib
 * 2.74 does not truncate an existing file unless asked for a rename per
 * input; and not O_TRUNC, which makes ext4 flush the file on close: the
 * file is overwritten, then cut to size. */
static inline void
fuzz_tmp_write (const uint8_t *data, size_t size)
{
  int fd = g_open (fuzz_tmp_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  size_t done = 0;

  if (fd < 0) {
    perror (fuzz_tmp_path);
    abort ();
  }
  while (done < size) {
    ssize_t n = pwrite (fd, data + done, size - done, (off_t) done);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      perror (fuzz_tmp_path);
      abort ();
    }
    done += (size_t) n;
  }
  if (ftruncate (fd, (off_t) size) != 0) {
    perror (fuzz_tmp_path);
    abort ();
  }
  close (fd);
}
