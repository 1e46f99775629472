#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs each libFuzzer target for a bounded number of inputs and reports TAP.
# Each starts from its seed corpus in the source tree, which is only read;
# inputs it finds go to a temporary directory that is removed afterwards.
# A failing input is kept as tests/fuzz/fuzz-TARGET-crash-* (or -leak-,
# -timeout-) in the build tree; rerun it with `tests/fuzz/fuzz-TARGET FILE`.
#
# The random seed is fixed, so that make check tries much the same inputs
# each time (libFuzzer also weighs inputs by how long they take) unless the
# code or the seed corpus changes; finding bugs is the job of longer runs
# with other seeds.
#
# make check sets G_TEST_BUILDDIR and G_TEST_SRCDIR (the tests/ folders).
# PLEXUS_FUZZ_RUNS overrides the number of inputs per target,
# PLEXUS_FUZZ_SEED the seed (0 for a new one each run) and
# PLEXUS_FUZZ_TARGETS the targets, e.g. for a longer run by hand:
#   PLEXUS_FUZZ_RUNS=2000000 PLEXUS_FUZZ_SEED=0 PLEXUS_FUZZ_TARGETS=config \
#     G_TEST_BUILDDIR=$PWD/tests G_TEST_SRCDIR=$PWD/tests sh tests/fuzz/run-fuzzers.sh
# or run a target directly: tests/fuzz/fuzz-config -max_total_time=180 DIR
# (DIR an empty folder for new inputs, then tests/fuzz/corpus/config).

set -u

if [ -z "${G_TEST_BUILDDIR:-}" ] || [ -z "${G_TEST_SRCDIR:-}" ]; then
	echo "Bail out! G_TEST_BUILDDIR and G_TEST_SRCDIR must name the tests folders"
	exit 1
fi
builddir="$G_TEST_BUILDDIR/fuzz"
srcdir="$G_TEST_SRCDIR/fuzz"
targets="${PLEXUS_FUZZ_TARGETS:-capabilities envelope config plugin-info identity noise-handshake stun swim-message signal}"

# Inputs per target: about five seconds each on one core.
default_runs () {
	case "$1" in
	capabilities) echo 100000 ;;
	envelope) echo 100000 ;;
	stun) echo 150000 ;;
	swim-message) echo 30000 ;;
	signal) echo 6000 ;;
	plugin-info | noise-handshake) echo 40000 ;;
	identity) echo 16000 ;;
	*) echo 8000 ;;
	esac
}

# GSlice would hide leaks from LeakSanitizer (the targets would otherwise
# restart themselves with this set).
G_SLICE=always-malloc
ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export G_SLICE ASAN_OPTIONS

work=$(mktemp -d "${TMPDIR:-/tmp}/plexus-fuzz-XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086 # a list of words, split on purpose
set -- $targets
echo "1..$#"
n=0
for target in $targets; do
	n=$((n + 1))
	bin="$builddir/fuzz-$target"
	corpus="$srcdir/corpus/$target"
	runs="${PLEXUS_FUZZ_RUNS:-$(default_runs "$target")}"
	log="$work/$target.log"

	if [ ! -x "$bin" ]; then
		echo "not ok $n - fuzz-$target: $bin is missing"
		continue
	fi
	mkdir "$work/$target"
	start=$(date +%s)
	# The targets keep their files in TMPDIR, which goes with $work even
	# when they crash.
	if TMPDIR="$work" "$bin" -runs="$runs" -seed="${PLEXUS_FUZZ_SEED:-1}" \
		-max_len=8192 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$builddir/fuzz-$target-" \
		"$work/$target" "$corpus" >"$log" 2>&1; then
		seconds=$(($(date +%s) - start))
		coverage=$(sed -n 's/.*DONE *cov: \([0-9]*\) .*/\1/p' "$log" | tail -n 1)
		echo "ok $n - fuzz-$target ($runs runs, ${seconds} s, ${coverage:-?} edges)"
	else
		echo "not ok $n - fuzz-$target"
		# The report, without the bulk of libFuzzer's progress lines.
		grep -v -e '^#[0-9]' -e '^INFO: [^S]' "$log" | tail -n 80 | sed 's/^/# /'
	fi
done
exit 0
