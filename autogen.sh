#!/bin/sh
# Regenerates the build system from a git checkout.
set -e
srcdir=$(dirname "$0")
test -n "$srcdir" || srcdir=.
cd "$srcdir"
gtkdocize --copy --flavour no-tmpl
autoreconf --force --install --verbose
if test -z "$NOCONFIGURE"; then
  exec ./configure "$@"
fi
