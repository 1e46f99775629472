#!/bin/sh
# Installs the Debian 12 packages Plexus needs to build and test, and only
# those that are missing. Needs root (or sudo).
set -eu

packages="
  build-essential autoconf automake autoconf-archive libtool autopoint gettext pkg-config
  libglib2.0-dev libglib2.0-dev-bin libglib2.0-bin libsoup-3.0-dev libjson-glib-dev libsodium-dev
  dbus-daemon gtk-doc-tools docbook-xml docbook-xsl xsltproc
  clang libclang-rt-dev valgrind
  zlib1g-dev coturn nftables iproute2
"

missing=
for p in $packages; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: every package is already installed"
  exit 0
fi

echo "install-deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
  sudo=
elif command -v sudo >/dev/null 2>&1; then
  sudo=sudo
else
  echo "install-deps: missing packages and not root; install them:$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing
