#!/usr/bin/env bats
# t64 — obs-ship surviving the mount: the daemon drops a re-sent batch
# (#obs-batch), an agent error reaches MOUNT/errors (#obs-error); nothing is
# shipped twice after a kill -9 between the write and the position file, or
# during a replay of the spool; a daemon restart under load loses and
# duplicates nothing; with the mount gone lines and metrics are spooled (also
# across an agent restart) and replayed in order; a full spool holds a file
# back instead of losing it.

load ship_helper

# stream_is STREAM N: the stream's lines (times cut off) are exactly 1..N
stream_is() {
	local got
	got=$(cut -d' ' -f2- "$MNT/logs/$1") || return 1
	[ "$got" = "$(seq 1 "$2")" ]
}

# stream_count STREAM N: the stream has N lines
stream_count() {
	local n
	n=$(cat "$MNT/logs/$1" | wc -l) || return 1
	[ "$n" -eq "$2" ]
}

# onewrite FILE TEXT: TEXT (printf escapes) appended in one write(2), as an
# agent does (bash's printf writes line by line)
onewrite() {
	$PY -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, sys.argv[2].encode().decode("unicode_escape").encode())
os.close(fd)' "$1" "$2"
}

status_num() {
	sed -n "s/^$1 .*$2=\([0-9]*\).*/\1/p" "$T/status"
}

@test "the daemon drops an identical re-sent batch and keeps the new part of a longer one" {
	L=$MNT/logs/d
	onewrite "$L" '#obs-batch k1 0 4\na\nb\n'
	onewrite "$L" '#obs-batch k1 0 4\na\nb\n'          # identical: dropped
	onewrite "$L" '#obs-batch k1 0 6\na\nb\nc\n'       # longer: c is new
	onewrite "$L" '#obs-batch k1 6 8\nd\n'
	onewrite "$L" '#obs-batch k2 0 2\na\n'             # another key
	expect_eq "$(cut -d' ' -f2- "$L")" "$(printf 'a\nb\nc\nd\na')"
	run onewrite "$L" '#obs-batch k1 8 20\nshort\n'
	expect_fail "Invalid argument"
	expect_grep 'batch length does not match the write' "$MNT/errors"
	# not at the head of a write, or not well-formed: plain data
	onewrite "$L" 'x\n#obs-batch k1 0 2\ny\n'
	onewrite "$L" '#obs-batch k1 zero 2\nz\n'
	expect_eq "$(cut -d' ' -f2- "$L" | tail -5)" "$(printf 'x\n#obs-batch k1 0 2\ny\n#obs-batch k1 zero 2\nz')"
	onewrite "$MNT/ingest" '#obs-error scrape http://h:1/metrics connection refused\n'
	expect_grep ' scrape: connection refused: http://h:1/metrics$' "$MNT/errors"
}

@test "a daemon killed -9 after storing a batch: the batch re-sent to the next daemon is not stored twice" {
	L=$MNT/logs/dk
	onewrite "$L" '#obs-batch kk 0 4\na\nb\n'
	onewrite "$MNT/ingest" '#obs-batch km 0 11\nkm_total 1\n'
	obs_crash
	obs_start
	# the agent's write was cut by the kill as far as it knows: it sends
	# the same batches again, and a longer one of the log
	onewrite "$L" '#obs-batch kk 0 4\na\nb\n'
	onewrite "$L" '#obs-batch kk 0 6\na\nb\nc\n'
	onewrite "$MNT/ingest" '#obs-batch km 0 11\nkm_total 1\n'
	expect_eq "$(cut -d' ' -f2- "$L")" "$(printf 'a\nb\nc')"
	expect_eq "$(cat "$MNT/metrics/km_total" | wc -l)" 1
	[ -s "$DATA/agent-batches" ]
}

@test "kill -9 after the write, before the position file: nothing is shipped twice" {
	seq 1 100 > "$T/app.log"
	start_agent "$T/app.log"
	wait_for 10 stream_count app 100
	stop_agent
	cp "$T/pos" "$T/pos.old"
	seq 101 200 >> "$T/app.log"
	start_agent "$T/app.log"
	wait_for 10 stream_count app 200
	kill -9 "$AGENT"
	wait "$AGENT" || true
	AGENT=
	# as if the kill had come between the write and the position file
	cp "$T/pos.old" "$T/pos"
	seq 201 210 >> "$T/app.log"   # and the re-sent batch is longer than the first
	start_agent "$T/app.log"
	wait_for 10 stream_count app 210
	sleep 1
	stop_agent
	stream_is app 210
}

@test "daemon restart under load: no line lost or duplicated" {
	: > "$T/load.log"
	start_agent "$T/load.log"
	( for i in $(seq 1 3000); do echo "$i" >> "$T/load.log"; [ $((i % 20)) -eq 0 ] && sleep 0.02; done ) &
	writer=$!
	PEERS+=($writer)
	wait_for 10 test -s "$MNT/logs/load"
	obs_stop
	sleep 1
	obs_start
	wait "$writer"
	wait_for 30 stream_count load 3000
	sleep 1
	stop_agent
	stream_is load 3000
	spooled=$(status_num spool spooled)
	[ "$spooled" -ge 1 ] || { echo "nothing was spooled: the restart was not under load" >&2; false; }
	expect_grep '^spool depth_bytes=0 ' "$T/status"
}

@test "with the mount gone: spooled across an agent restart, replayed in order, metrics too" {
	obs_stop
	seq 1 50 > "$T/app.log"
	start_agent --statsd 127.0.0.1:0 --flush 1s "$T/app.log"
	wait_for 10 status_has '^spool depth_bytes=[1-9]'
	wait_for 10 status_has '^statsd listen=127.0.0.1:[1-9]'
	port=$(sed -n 's/^statsd listen=127.0.0.1:\([0-9]*\) .*/\1/p' "$T/status")
	$PY -c "import statsd; statsd.StatsClient('127.0.0.1', $port).gauge('while_down', 42)"
	wait_for 10 status_has '^statsd .* flushes=[1-9]'
	sleep 1.2
	expect_empty_dir "$MNT"   # nothing written into the bare mount point
	stop_agent
	seq 51 60 >> "$T/app.log"
	start_agent --statsd 127.0.0.1:0 --flush 1s "$T/app.log"
	sleep 1
	obs_start
	wait_for 15 stream_count app 60
	stream_is app 60
	wait_for 10 value_is "$MNT/metrics/while_down" 42
	wait_for 5 status_has '^spool depth_bytes=0 '
	[ "$(status_num spool replayed)" -ge 2 ]
	stop_agent
}

@test "kill -9 during a replay: the spool replayed again sends nothing twice" {
	obs_stop
	seq 1 40 > "$T/app.log"
	start_agent "$T/app.log"
	wait_for 10 status_has '^file path=.* offset=[1-9]'
	stop_agent
	cp -a "$T/spool" "$T/spool.old"
	obs_start
	start_agent "$T/app.log"
	wait_for 10 stream_count app 40
	stop_agent
	# as if killed after the replayed writes, before queue.pos
	rm -rf "$T/spool"
	mv "$T/spool.old" "$T/spool"
	start_agent "$T/app.log"
	wait_for 10 status_has '^spool depth_bytes=0 '
	[ "$(status_num spool replayed)" -ge 1 ]
	stop_agent
	stream_is app 40
}

@test "a full spool holds a followed file back: nothing is lost" {
	obs_stop
	seq 1 2000 > "$T/big.log"
	start_agent --spool-max 2k "$T/big.log"
	wait_for 10 status_has '^spool .* full_drops=[1-9]'
	depth=$(status_num spool depth_bytes)
	[ "$depth" -le 2048 ]
	obs_start
	wait_for 20 stream_count big 2000
	stop_agent
	stream_is big 2000
}

@test "a torn record at the spool's tail is cut at start; the records before it are replayed" {
	obs_stop
	seq 1 20 > "$T/app.log"
	start_agent "$T/app.log"
	wait_for 10 status_has '^spool depth_bytes=[1-9]'
	stop_agent
	# an append cut by a crash: a header and part of its data
	printf '@ 8 0 100 0 0badc0de logs/app\npartial' >> "$T/spool/queue"
	obs_start
	start_agent "$T/app.log"
	wait_for 10 stream_count app 20
	wait_for 5 status_has '^spool depth_bytes=0 '
	stop_agent
	stream_is app 20
	expect_grep "spool '.*/queue': cutting 37 bytes of a torn record at [0-9]+" "$T/agent.err"
}

@test "fault points: killed right after a write, or right after a replayed write, nothing arrives twice" {
	seq 1 30 > "$T/app.log"
	# SIGKILL after the first batch was written, before the position file
	OBS_FAULT=ship.after_write:0:EIO start_agent "$T/app.log"
	rc=0
	wait "$AGENT" || rc=$?
	AGENT=
	expect_eq "$rc" 137
	stream_is app 30
	seq 31 40 >> "$T/app.log"
	start_agent "$T/app.log"          # sends 1..40 again from its old position
	wait_for 10 stream_count app 40
	sleep 1
	stop_agent
	stream_is app 40
	# the same for the spool: lines spooled while the mount was gone, the
	# agent killed after replaying the first record, before queue.pos
	obs_stop
	seq 41 60 >> "$T/app.log"
	start_agent "$T/app.log"
	wait_for 10 status_has '^spool depth_bytes=[1-9]'
	stop_agent
	obs_start
	OBS_FAULT=ship.after_replay:0:EIO start_agent "$T/app.log"
	rc=0
	wait "$AGENT" || rc=$?
	AGENT=
	expect_eq "$rc" 137
	stream_is app 60
	start_agent "$T/app.log"
	wait_for 10 status_has '^spool depth_bytes=0 '
	stop_agent
	stream_is app 60
}
