#!/bin/sh
# stop-mount.sh MOUNTPOINT [DATADIR] — unmount obsfs (used by `make stop`);
# the daemon syncs and exits, and with DATADIR this waits until it has
# (its pid is in DATADIR/LOCK). A mount still in use (a shell's working
# directory, an open file) is not detached behind the user's back: the
# script says so, names the users when fuser(1) is there, and exits 1.
mnt=$1 data=$2
pid=
[ -n "$data" ] && [ -s "$data/LOCK" ] && pid=$(cat "$data/LOCK" 2>/dev/null)
if ! mountpoint -q "$mnt" 2>/dev/null && ls "$mnt" >/dev/null 2>&1; then
	echo "nothing mounted at $mnt"
	exit 0
fi
if ! ls "$mnt" >/dev/null 2>&1; then
	# "Transport endpoint is not connected": the daemon died; detach the corpse
	fusermount3 -uz "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	echo "unmounted $mnt (its daemon had died)"
	exit 0
fi
if ! err=$(fusermount3 -u "$mnt" 2>&1); then
	echo "cannot unmount $mnt: ${err#fusermount3: }" >&2
	if command -v fuser >/dev/null 2>&1; then
		echo "in use by:" >&2
		fuser -vm "$mnt" 2>&1 | grep -v -e '^Cannot stat' -e 'kernel mount' -e 'USER.*PID' >&2
	fi
	echo "leave it (cd out, close the files) and run make stop again" >&2
	exit 1
fi
# the daemon flushes after the unmount: wait for it, so make run can follow
if [ -n "$pid" ]; then
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "unmounted $mnt; obsfsd (pid $pid) is still flushing" >&2
		exit 1
	fi
fi
echo "unmounted $mnt"
