#!/bin/sh
# install-deps.sh PACKAGE... — install the Debian packages that are missing
# (apt-get; sudo when not root). Quiet when everything is there.
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
	$SUDO apt-get update >/dev/null 2>&1
	$SUDO apt-get install -y --no-install-recommends $missing >&2
}
