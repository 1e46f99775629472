#!/bin/sh
# Builds Plexus twice from this checkout (plain, and with AddressSanitizer +
# UndefinedBehaviorSanitizer), warnings as errors, runs the whole test suite
# in each, the test programs of the plain build once more under valgrind,
# and ends with one line: "N passed, N failed".
#
#   tools/run-tests.sh            # both builds
#   PLEXUS_BUILDS=plain tools/run-tests.sh
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
builds=${PLEXUS_BUILDS:-"plain sanitizers"}
jobs=$(nproc 2>/dev/null || echo 2)

"$top/tools/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

cd "$top"
if [ -f config.status ]; then
  echo "run-tests: $top is configured in place; the plain and sanitizer builds" >&2
  echo "run-tests: go to _build/ and need a clean source tree: run 'make distclean' first" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
  NOCONFIGURE=1 ./autogen.sh >/dev/null 2>&1 || { echo "autogen.sh failed" >&2; echo "0 passed, 1 failed"; exit 1; }
fi

passed=0
failed=0

# count NAME LOG: adds the totals of an automake test-suite log.
count() {
  if [ ! -f "$2" ]; then
    echo "=== $1: no $2" >&2
    failed=$((failed + 1))
    return
  fi
  p=$(sed -n 's/^# PASS: *\([0-9]*\)$/\1/p' "$2" | head -n1)
  f=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *\([0-9]*\)$/\2/p' "$2" | awk '{s+=$1} END {print s+0}')
  [ "$f" -gt 0 ] && cat "$2"
  echo "=== $1: ${p:-0} passed, $f failed"
  passed=$((passed + ${p:-0}))
  failed=$((failed + f))
}
# make_failed WHAT: make exited non-zero. Failing tests are counted from
# the log; a make that failed for another reason is one failure more.
make_failed() {
  echo "=== $1 exited non-zero" >&2
  make_failures=$((make_failures + 1))
}
make_failures=0

for b in $builds; do
  dir="$top/_build/$b"
  case $b in
    plain) flags="--enable-werror --enable-gtk-doc" ;;
    sanitizers) flags="--enable-werror --enable-sanitizers" ;;
    *) echo "unknown build '$b'" >&2; echo "0 passed, 1 failed"; exit 1 ;;
  esac
  mkdir -p "$dir"
  echo "=== $b build: configure $flags"
  if ! (cd "$dir" && { [ -f Makefile ] || "$top/configure" $flags >configure.out 2>&1; } \
        && make -j"$jobs" >make.out 2>&1); then
    echo "=== $b build FAILED; the end of its log:" >&2
    tail -n 40 "$dir/configure.out" "$dir/make.out" 2>/dev/null >&2
    failed=$((failed + 1))
    continue
  fi
  echo "=== $b build: make check"
  # A stale log from an earlier run must not count: remove it first, and
  # count a failing make (a test that did not even build) as a failure.
  rm -f "$dir/test-suite.log" "$dir/test-suite-memcheck.log"
  (cd "$dir" && make -j"$jobs" check) || make_failed "$b build: make check"
  count "$b build" "$dir/test-suite.log"
  if [ "$b" = plain ]; then
    # The same test programs again under valgrind's memcheck.
    echo "=== $b build: make check-memcheck"
    (cd "$dir" && make check-memcheck) || make_failed "$b build: make check-memcheck"
    count "$b build under memcheck" "$dir/test-suite-memcheck.log"
  fi
done

# make check fails whenever a test fails; only a make failure with no
# failing test in any log is a failure of its own (a build that broke).
if [ "$failed" -eq 0 ] && [ "$make_failures" -gt 0 ]; then
  failed=$make_failures
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
