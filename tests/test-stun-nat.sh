#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# NAT discovery through a real NAT, made of network namespaces:
#
#   pub   203.0.113.1, 203.0.113.2: two plexusd --role server, each with a
#         STUN server on its own address; a super peer with no NAT
#   nat   203.0.113.254 towards pub, 10.0.0.1 towards priv; forwards and
#         masquerades (nftables) what leaves towards pub
#   priv  10.0.0.2: a peer behind the NAT
#
# Expected: the peer in pub finds "none" (and advertises its own STUN
# server, listening on 0.0.0.0, at its public address); the peer in priv finds
# "endpoint-independent" with the NAT's address (Linux keeps one mapping
# per source for masquerade), then "address-dependent" once the NAT
# masquerades with fully-random ports (a new mapping per destination).
#
# Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), ip and nft; skips
# otherwise. PLEXUSD names the daemon, PLEXUS_STUN_PLUGIN_DIR the folder
# with stun.so and stun.plugin. Prints TAP.

set -u
PATH="$PATH:/usr/sbin:/sbin"

skip () {
	echo "1..0 # SKIP $*"
	exit 0
}

plexusd="${PLEXUSD:-plexusd}"
plugins="${PLEXUS_STUN_PLUGIN_DIR:-}"
[ -n "$plugins" ] && [ -f "$plugins/stun.plugin" ] || skip "PLEXUS_STUN_PLUGIN_DIR does not hold stun.plugin"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) not found"
command -v nft >/dev/null 2>&1 || skip "nft (nftables) not found"
[ "$(id -u)" = 0 ] || skip "network namespaces need root"

suffix="$$"
pub="plexus-pub-$suffix"
nat="plexus-nat-$suffix"
priv="plexus-priv-$suffix"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/plexus-test-stun-nat-XXXXXX")" || skip "no temporary directory"
pids=""

cleanup () {
	for pid in $pids; do
		kill "$pid" 2>/dev/null
	done
	for pid in $pids; do
		wait "$pid" 2>/dev/null
	done
	for ns in "$pub" "$nat" "$priv"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! ip netns add "$pub" 2>/dev/null; then
	skip "cannot create network namespaces here"
fi
ip netns add "$nat" && ip netns add "$priv" || skip "cannot create network namespaces here"

setup () {
	set -e
	for ns in "$pub" "$nat" "$priv"; do
		ip -n "$ns" link set lo up
	done
	ip link add "pn$suffix" netns "$pub" type veth peer name "np$suffix" netns "$nat"
	ip link add "vn$suffix" netns "$priv" type veth peer name "nv$suffix" netns "$nat"
	ip -n "$pub" addr add 203.0.113.1/24 dev "pn$suffix"
	ip -n "$pub" addr add 203.0.113.2/24 dev "pn$suffix"
	ip -n "$pub" link set "pn$suffix" up
	ip -n "$nat" addr add 203.0.113.254/24 dev "np$suffix"
	ip -n "$nat" link set "np$suffix" up
	ip -n "$nat" addr add 10.0.0.1/24 dev "nv$suffix"
	ip -n "$nat" link set "nv$suffix" up
	ip -n "$priv" addr add 10.0.0.2/24 dev "vn$suffix"
	ip -n "$priv" link set "vn$suffix" up
	ip -n "$priv" route add default via 10.0.0.1
	ip netns exec "$nat" sysctl -q -w net.ipv4.ip_forward=1
	set +e
}
( setup ) >"$tmp/setup.log" 2>&1 || skip "cannot set the namespaces up: $(tail -n 1 "$tmp/setup.log")"

masquerade () {
	ip netns exec "$nat" nft -f - <<EOF
flush ruleset
table ip plexus_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "np$suffix" masquerade $1
	}
}
EOF
}
masquerade "" 2>"$tmp/nft.log" || skip "nftables NAT does not work here: $(tail -n 1 "$tmp/nft.log")"

# start NAME NAMESPACE ROLE CONFIG: a plexusd in NAMESPACE, logging to
# $tmp/NAME.log.
start () {
	mkdir -p "$tmp/$1"
	printf '%b' "$4" >"$tmp/$1/plexus.conf"
	ip netns exec "$2" env PLEXUS_PLUGIN_PATH="$plugins" PLEXUS_SYSTEM_CONFIG=/dev/null \
		XDG_CONFIG_HOME="$tmp/$1" G_MESSAGES_DEBUG= \
		"$plexusd" --bus none --state-dir "$tmp/$1" --listen 127.0.0.1:0 --role "$3" \
		--config "$tmp/$1/plexus.conf" >"$tmp/$1.log" 2>&1 &
	pids="$pids $!"
}

# wait_log NAME TEXT: until $tmp/NAME.log holds TEXT, for 20 s at most.
wait_log () {
	deadline=$(( $(date +%s) + 20 ))
	while ! grep -q -F "$2" "$tmp/$1.log" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "# $1 never logged \"$2\"; its log:"
			sed 's/^/#   /' "$tmp/$1.log"
			return 1
		fi
		sleep 0.1
	done
	return 0
}

echo "1..3"

start server1 "$pub" server '[stun]\nlisten=203.0.113.1:3478\n'
start server2 "$pub" server '[stun]\nlisten=203.0.113.2:3478\n'
wait_log server1 "STUN server listening on udp 203.0.113.1:3478" &&
	wait_log server2 "STUN server listening on udp 203.0.113.2:3478" ||
	{ echo "Bail out! the STUN servers did not start"; exit 1; }
servers='[stun]\nservers=203.0.113.1:3478;stun:203.0.113.2:3478\n'

# A super peer listening on every address advertises the one it found.
start public "$pub" super "$servers"'listen=0.0.0.0:3479\n'
if wait_log public "NAT: none, mapped address 203.0.113.1:" &&
	wait_log public "STUN server reachable at stun:203.0.113.1:3479"; then
	echo "ok 1 - a peer with a public address finds no NAT and advertises its STUN server there"
else
	echo "not ok 1 - a peer with a public address finds no NAT and advertises its STUN server there"
fi

start private "$priv" standard "$servers"
if wait_log private "NAT: endpoint-independent, mapped address 203.0.113.254:"; then
	echo "ok 2 - a peer behind masquerade finds an endpoint-independent mapping on the NAT's address"
else
	echo "not ok 2 - a peer behind masquerade finds an endpoint-independent mapping on the NAT's address"
fi

masquerade "fully-random"
start private-random "$priv" standard "$servers"
if wait_log private-random "NAT: address-dependent, mapped address 203.0.113.254:"; then
	echo "ok 3 - a peer behind fully random masquerade finds an address-dependent mapping"
else
	echo "not ok 3 - a peer behind fully random masquerade finds an address-dependent mapping"
fi
