#!/bin/sh
# run-mount.sh OBSFSD DATADIR MOUNTPOINT — mount obsfs (used by `make run`).
# Remounts when a previous daemon died (kill -9 leaves a dead mount behind);
# the data directory is recovered from its write-ahead log.
set -e
bin=$1 data=$2 mnt=$3
if mountpoint -q "$mnt" 2>/dev/null; then
	if ls "$mnt" >/dev/null 2>&1; then
		echo "obsfs is already mounted at $mnt (make stop to unmount)"
		exit 0
	fi
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
elif ! ls "$mnt" >/dev/null 2>&1; then
	# "Transport endpoint is not connected": a daemon was killed
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
fi
mkdir -p "$data" "$mnt"
"$bin" "$data" "$mnt"
cat <<MSG
obsfs is mounted at $mnt (data in $data). Try:

  echo 21.5 > $mnt/metrics/room_temp
  cat $mnt/metrics/room_temp
  printf 'up{job="node",instance="a:9100"} 1\\nnode_load1{job="node"} 0.42\\n' > $mnt/ingest
  ls $mnt/select/job=node/
  cat '$mnt/metrics/room_temp@-5m:1m:max'
  tail -f $mnt/metrics/room_temp        # and echo more values from another shell
  cat $mnt/README $mnt/status $mnt/errors
  man -l man/obsfs.7

make stop unmounts; make run mounts again and recovers everything written.
MSG
