#!/bin/sh
# Install the Debian packages listed in mk/packages that are missing.
# Quiet and quick when everything is present; clear about what to do when it
# cannot install (not root, no network).
#   mk/deps.sh           install what is missing
#   mk/deps.sh --check   only report; exit 1 if something is missing
set -u
here=$(dirname "$0")
pkgs=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages")

missing=""
for p in $pkgs; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
  [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "${1:-}" = "--check" ]; then
  echo "missing Debian packages:$missing" >&2
  exit 1
fi

echo "deps: installing missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "deps: not root. Run as root:  apt-get install$missing   (or: sudo make deps)" >&2
    exit 1
  fi
else
  SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >/tmp/tb-deps.log 2>&1; then
  # The package lists may be stale or absent on a fresh machine: refresh once.
  if ! $SUDO apt-get update -q >>/tmp/tb-deps.log 2>&1 ||
     ! $SUDO apt-get install -y -q --no-install-recommends $missing >>/tmp/tb-deps.log 2>&1; then
    echo "deps: apt-get could not install:$missing" >&2
    echo "deps: see /tmp/tb-deps.log; check the network and the apt sources (Debian 12 bookworm main)." >&2
    tail -n 5 /tmp/tb-deps.log >&2
    exit 1
  fi
fi
echo "deps: done"
