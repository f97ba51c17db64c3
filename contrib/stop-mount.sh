#!/bin/sh
# stop-mount.sh MOUNTPOINT — unmount obsfs; the daemon syncs and exits.
mnt=$1
if mountpoint -q "$mnt" 2>/dev/null || ! ls "$mnt" >/dev/null 2>&1; then
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	echo "unmounted $mnt"
else
	echo "nothing mounted at $mnt"
fi
