#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The plugin SDK as a third party sees it: install Plexus into a temporary
# DESTDIR, build doc/examples/example-plugin outside the source tree
# against the installed plexus-plugin-1.pc, install it into the plugindir
# that .pc names, and check that the installed plexusd loads it.
# Output is TAP.
#
# Needs the environment of AM_TESTS_ENVIRONMENT (G_TEST_SRCDIR,
# G_TEST_BUILDDIR), a C compiler, pkg-config, nm, gdbus and dbus-daemon.

set -u

top_srcdir=$(cd "${G_TEST_SRCDIR:?run me from make check}/.." && pwd)
top_builddir=$(cd "${G_TEST_BUILDDIR:?run me from make check}/.." && pwd)
: "${MAKE:=make}"
: "${CC:=cc}"
: "${PKG_CONFIG:=pkg-config}"
: "${DBUS_DAEMON:=dbus-daemon}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plexus-test-sdk-XXXXXX") || exit 99
root=$tmp/root
plexusd_pid=
bus_pid=

cleanup () {
  if [ -n "$plexusd_pid" ]; then kill "$plexusd_pid" 2>/dev/null; wait "$plexusd_pid" 2>/dev/null; fi
  if [ -n "$bus_pid" ]; then kill "$bus_pid" 2>/dev/null; wait "$bus_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

n=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); echo "not ok $n - $1"; }
# Shows a log as TAP comments.
show () { [ -f "$1" ] && sed 's/^/# /' "$1"; }
# The remaining steps build on this one: stop here.
bail () { echo "Bail out! $1"; exit 1; }

# Every symbol a module defines for the dynamic linker must be one the
# loader looks for (the test plugin missing-symbol lacks one on purpose).
exports_only_plugin_symbols () {
  nm -D --defined-only "$1" | awk '{ print $NF }' > "$tmp/symbols" || return 1
  if ! grep -q '^plexus_plugin_abi_major$' "$tmp/symbols"; then
    echo "# $1 does not export plexus_plugin_abi_major"
    return 1
  fi
  if grep -v '^plexus_plugin_' "$tmp/symbols" > "$tmp/extra"; then
    sed "s|^|# $1 exports |" "$tmp/extra"
    return 1
  fi
  return 0
}

echo "1..10"

# 1. Install. The nested make must not try to join the jobserver of the
# make running this test.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
     "$MAKE" -C "$top_builddir" install DESTDIR="$root" > "$tmp/install.log" 2>&1; then
  ok "make install DESTDIR=..."
else
  show "$tmp/install.log"
  bail "make install DESTDIR=... failed"
fi

# 2. The installed .pc describes the configured prefix; the SDK sits under
# DESTDIR, so point its absolute paths there (PKG_CONFIG_SYSROOT_DIR would
# also move GLib's, which are not under DESTDIR).
pc=$(find "$root" -name plexus-plugin-1.pc | head -n 1)
if [ -z "$pc" ]; then
  bail "plexus-plugin-1.pc is not installed"
fi
mkdir "$tmp/pkgconfig"
sed -E "s#^(prefix|exec_prefix|libdir|includedir|plugindir)=/#\\1=$root/#" "$pc" \
  > "$tmp/pkgconfig/plexus-plugin-1.pc"
PKG_CONFIG_PATH=$tmp/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
plugindir=$("$PKG_CONFIG" --variable=plugindir plexus-plugin-1)
libdir=$("$PKG_CONFIG" --variable=libdir plexus-plugin-1)
includedir=$("$PKG_CONFIG" --variable=includedir plexus-plugin-1)
case $plugindir in
  "$libdir"/plexus/plugins-[0-9]*)
    if [ -f "$includedir/plexus-1/plexus.h" ] && [ -f "$includedir/plexus-1/plexus-version.h" ]; then
      ok "plexus-plugin-1.pc: plugindir $plugindir, headers installed"
    else
      bail "headers missing under $includedir/plexus-1"
    fi
    ;;
  *)
    bail "plexus-plugin-1.pc: plugindir '$plugindir' is not \$libdir/plexus/plugins-ABI"
    ;;
esac

# 3. Build the example out of tree: a copy, so nothing from the source or
# build tree can leak in.
cp -R "$top_srcdir/doc/examples/example-plugin" "$tmp/example"
chmod -R u+w "$tmp/example"
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
     "$MAKE" -C "$tmp/example" CC="$CC" PKG_CONFIG="$PKG_CONFIG" \
     CFLAGS="-g -O2 -Wall -Werror" > "$tmp/example-build.log" 2>&1 &&
   [ -f "$tmp/example/example.so" ]; then
  ok "example plugin builds against the installed SDK"
else
  show "$tmp/example-build.log"
  bail "the example plugin does not build"
fi

# 4. Nothing but the loader's symbols leaks out of a plugin: the example,
# the installed plugins and the test plugins.
leaks=0
if ! nm -D --defined-only "$tmp/example/example.so" | grep -q ' plexus_plugin_query_type$'; then
  echo "# example.so does not export plexus_plugin_query_type"
  leaks=1
fi
for module in "$tmp/example/example.so" "$plugindir"/*.so "$top_builddir"/tests/plugins/.libs/*.so; do
  [ -f "$module" ] || continue
  case $module in */not-a-module.so) continue ;; esac
  exports_only_plugin_symbols "$module" || leaks=1
done
if [ $leaks -eq 0 ]; then
  ok "plugins export only plexus_plugin_*"
else
  not_ok "plugins export only plexus_plugin_*"
fi

# 5. Install it where the SDK says plugins go (already under DESTDIR).
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
     "$MAKE" -C "$tmp/example" PKG_CONFIG="$PKG_CONFIG" install > "$tmp/example-install.log" 2>&1 &&
   [ -f "$plugindir/example.so" ] && [ -f "$plugindir/example.plugin" ]; then
  ok "example plugin installs into plugindir"
else
  show "$tmp/example-install.log"
  bail "the example plugin does not install"
fi

# 6. Start the installed daemon on a private bus. The bus has no service
# files, so nothing installed on this machine can be activated instead.
cat > "$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=$tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
"$DBUS_DAEMON" --config-file="$tmp/bus.conf" --nofork --print-address=3 3> "$tmp/bus-address" 2> "$tmp/bus.log" &
bus_pid=$!
# dbus-daemon writes its address once it listens; wait for that, or for it
# to die, for at most 30 s.
deadline=$(($(date +%s) + 30))
while [ ! -s "$tmp/bus-address" ]; do
  kill -0 "$bus_pid" 2>/dev/null || bail "dbus-daemon exited"
  [ "$(date +%s)" -lt "$deadline" ] || bail "dbus-daemon did not start within 30 s"
  sleep 0.05
done
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$tmp/bus-address")
export DBUS_SESSION_BUS_ADDRESS

plexusd=$(find "$root" -name plexusd -type f | head -n 1)
[ -n "$plexusd" ] || bail "plexusd is not installed"
mkdir "$tmp/state"
# Only the example: plugins installed on this machine stay out of it.
printf '[plugins]\nenabled=example\n' > "$tmp/plexus.conf"
PLEXUS_SYSTEM_CONFIG=/dev/null \
PLEXUS_PLUGIN_PATH=$plugindir \
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
G_MESSAGES_DEBUG=example \
  "$plexusd" --config "$tmp/plexus.conf" --state-dir "$tmp/state" --listen 127.0.0.1:0 \
  > "$tmp/plexusd.log" 2>&1 &
plexusd_pid=$!
# plexusd takes its bus name once the plugins are loaded.
if gdbus wait --session --timeout 60 org.plexus.Plexus1 && kill -0 "$plexusd_pid" 2>/dev/null; then
  ok "installed plexusd starts"
else
  show "$tmp/plexusd.log"
  bail "plexusd did not appear on the bus"
fi

# 7. The example is listed as loaded, from plugindir.
gdbus call --session --dest org.plexus.Plexus1 --object-path /org/plexus/Plexus1/Manager \
  --method org.plexus.Plexus1.Manager.ListPlugins > "$tmp/plugins" 2>&1
sed 's/}, {/}\n{/g' "$tmp/plugins" | grep "'name': <'example'>" > "$tmp/example-entry"
if grep -q "'state': <'loaded'>" "$tmp/example-entry" &&
   grep -q "'filename': <'$plugindir/example.plugin'>" "$tmp/example-entry"; then
  ok "ListPlugins shows the example loaded from plugindir"
else
  show "$tmp/plugins"
  show "$tmp/plexusd.log"
  not_ok "ListPlugins shows the example loaded from plugindir"
fi

# 8. Its setup ran: the broker has its provider.
gdbus call --session --dest org.plexus.Plexus1 --object-path /org/plexus/Plexus1/Broker \
  --method org.plexus.Plexus1.Broker.ListProviders contact-discovery > "$tmp/providers" 2>&1
if grep -q "'kind': <'local'>" "$tmp/providers"; then
  ok "the example's contact-discovery provider is in the broker"
else
  show "$tmp/providers"
  not_ok "the example's contact-discovery provider is in the broker"
fi

# 9. It logs under its own domain (G_MESSAGES_DEBUG=example above).
if grep -q "example-DEBUG: .*hello from the example plugin" "$tmp/plexusd.log"; then
  ok "the example logs under its own G_LOG_DOMAIN"
else
  show "$tmp/plexusd.log"
  not_ok "the example logs under its own G_LOG_DOMAIN"
fi

# 10. And it shuts down with the daemon.
kill -TERM "$plexusd_pid"
wait "$plexusd_pid"
status=$?
plexusd_pid=
if [ $status -eq 0 ]; then
  ok "plexusd stops cleanly with the example loaded"
else
  show "$tmp/plexusd.log"
  not_ok "plexusd stops cleanly with the example loaded (exit status $status)"
fi
