#!/bin/sh
# The main job: builds Plexus and runs a small local hybrid network on
# loopback: one plexusd in the server role and three peers, each on its own
# private D-Bus session bus with its own state directory. Shows
# `plexusctl status` for each node, then runs until Ctrl-C and shuts every
# node down cleanly.
#
#   tools/run-demo.sh [NUMBER_OF_PEERS]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
peers=${1:-3}
build="$top/_build/plain"

"$top/tools/install-deps.sh"
cd "$top"
[ -x configure ] || NOCONFIGURE=1 ./autogen.sh >/dev/null
if [ -f "$top/config.status" ]; then
  # Configured in place by hand: build there (autotools allows no second,
  # out-of-tree build of a tree configured in place).
  build=$top
else
  mkdir -p "$build"
  if [ ! -f "$build/Makefile" ]; then
    (cd "$build" && "$top/configure" --enable-werror >/dev/null)
  fi
fi
make -C "$build" -j"$(nproc)" >/dev/null

plexusd="$build/core/plexusd"
plexusctl="$build/tools/plexusctl"
work=$(mktemp -d "${TMPDIR:-/tmp}/plexus-demo-XXXXXX")
pids=
buses=
names=

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the network..."
  for pid in $pids; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in $pids; do
    if wait "$pid"; then echo "  plexusd $pid exited cleanly"; else echo "  plexusd $pid exited with $?"; fi
  done
  for pid in $buses; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup INT TERM EXIT

# start_node NAME ARGS...: a private bus, then plexusd on it; waits (with a
# deadline) until plexusctl can talk to it.
start_node() {
  name=$1; shift
  names="$names $name"
  dir="$work/$name"
  mkdir -p "$dir"
  dbus-daemon --session --fork --print-address=3 --print-pid=4 3>"$dir/bus.address" 4>"$dir/bus.pid"
  buses="$buses $(cat "$dir/bus.pid")"
  address=$(cat "$dir/bus.address")
  DBUS_SESSION_BUS_ADDRESS=$address XDG_CONFIG_HOME="$dir" \
    "$plexusd" --state-dir "$dir" --listen 127.0.0.1:0 "$@" 2>"$dir/plexusd.log" &
  pids="$pids $!"
  echo "$address" >"$dir/address"
  deadline=$(( $(date +%s) + 10 ))
  until DBUS_SESSION_BUS_ADDRESS=$address "$plexusctl" status >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$name did not start; its log:" >&2
      cat "$dir/plexusd.log" >&2
      exit 1
    fi
    sleep 0.05
  done
}

ctl() {
  name=$1; shift
  DBUS_SESSION_BUS_ADDRESS=$(cat "$work/$name/address") "$plexusctl" "$@"
}

start_node server --role server
server_uri=$(ctl server --json status | sed -n 's/.*"address" : "\(ws:[^"]*\)".*/\1/p')
i=1
while [ "$i" -le "$peers" ]; do
  if [ -n "$server_uri" ]; then
    start_node "peer$i" --server "$server_uri" --bootstrap "$server_uri"
  else
    start_node "peer$i"
  fi
  i=$((i + 1))
done

# Wait (with a deadline) until the server has a link from every peer.
if [ -n "$server_uri" ]; then
  deadline=$(( $(date +%s) + 15 ))
  until [ "$(ctl server --json peers | grep -c '"peer_id"')" -ge "$peers" ]; do
    [ "$(date +%s)" -ge "$deadline" ] && { echo "the peers did not all link to the server" >&2; break; }
    sleep 0.1
  done
fi

for name in $names; do
  echo "== $name"
  ctl "$name" status
  echo "-- linked peers"
  ctl "$name" peers
  echo
done
# Peers are linked to the server only: a ping from the first peer to the
# last crosses two hops, the server passing it on.
if [ -n "$server_uri" ] && [ "$peers" -ge 2 ]; then
  last_id=$(ctl "peer$peers" --json status | sed -n 's/.*"peer_id" : "\([0-9a-f]*\)".*/\1/p')
  echo "== peer1 pings peer$peers through the server"
  ctl peer1 ping "$last_id" || true
  echo
fi
echo "The network is running (state in $work). Press Ctrl-C to stop it."
for pid in $pids; do wait "$pid" || true; done
