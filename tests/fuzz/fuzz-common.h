/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every fuzz target shares: libFuzzer's entry points, a GLib log
 * writer that turns warnings and criticals into crashes, and temporary
 * files for decoders that only read from a path. */

#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Decoders report bad input through GError only; a warning or critical
 * means a programming error (or a decoder that logs what it should
 * return), so crash and let libFuzzer keep the input. */
static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags   log_level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         user_data)
{
  if ((log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) != 0) {
    g_log_writer_standard_streams (log_level, fields, n_fields, user_data);
    abort ();
  }
  return G_LOG_WRITER_HANDLED;
}

/* Aborts with @what and the input's size when a property of the decoder
 * does not hold; libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond, what) \
  G_STMT_START { \
    if (G_UNLIKELY (!(cond))) { \
      fprintf (stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #cond, (what)); \
      abort (); \
    } \
  } G_STMT_END

static void
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

/* Error messages reach logs, terminals and D-Bus (whose strings must be
 * UTF-8), whatever bytes the input held. */
static void
fuzz_check_error (const GError *error, GQuark domain, gint code)
{
  FUZZ_CHECK (error != NULL, "failure without an error");
  FUZZ_CHECK (error->domain == domain && error->code == code, error->message);
  FUZZ_CHECK (error->message != NULL && *error->message != '\0', "empty error message");
  FUZZ_CHECK (g_utf8_validate (error->message, -1, NULL), "error message is not UTF-8");
}

/* A file named @name in a private directory, made once per process and
 * removed at exit. */
static gchar *fuzz_tmp_dir;
static gchar *fuzz_tmp_path;

static void
fuzz_tmp_cleanup (void)
{
  if (fuzz_tmp_path != NULL)
    g_unlink (fuzz_tmp_path);
  if (fuzz_tmp_dir != NULL)
    g_rmdir (fuzz_tmp_dir);
  g_clear_pointer (&fuzz_tmp_path, g_free);
  g_clear_pointer (&fuzz_tmp_dir, g_free);
}

static const gchar *
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

/* Replaces the temporary file's contents with the input, mode 0600. */
static void
fuzz_tmp_write (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents_full (fuzz_tmp_path, (const gchar *) data, (gssize) size,
                                 G_FILE_SET_CONTENTS_NONE, 0600, &error)) {
    fprintf (stderr, "cannot write %s: %s\n", fuzz_tmp_path, error->message);
    abort ();
  }
}
