#!/usr/bin/env bats
# t83-log-stream — log search views are streamed from a cursor as they
# are read (fs/logs.c logview_read, lib/logs/logstore_cursor.c): the
# daemon's memory stays bounded whatever the result, head -n 5 of a huge
# view decompresses one frame, and the text is exactly what a whole
# rendering says, however it is read.

load helper

# log_compact_level=0: segments stay at the level they were cut with, so
# `compact` only cuts the heads (fast)
setup() { obs_setup -o log_compact_level=0; }
teardown() { obs_teardown; }

# the daemon's memory may grow by less than 12 MB while it reads; not
# checked under AddressSanitizer (make asan), whose quarantine keeps freed
# memory resident
small_growth() {
	[ -n "${ASAN_OPTIONS:-}" ] && return 0
	[ "$GROWTH_KB" -lt 12288 ] || { echo "the daemon grew by $GROWTH_KB kB" >&2; return 1; }
}
frames_read() { awk '$1 == "log_frames_read" { print $2; f = 1 } END { exit !f }' "$MNT/status"; }

# gen N FIRST_EPOCH: N lines one a second from FIRST_EPOCH, RFC3339 ms
# prefix (the record's time), a level, an id
gen() {
	awk -v n="$1" -v t0="$2" 'BEGIN { for (i = 0; i < n; i++)
		printf "%s.%03dZ level=%s msg=\"request done\" id=%d\n",
			strftime("%Y-%m-%dT%H:%M:%S", t0 + i, 1), i % 1000, i % 10 == 3 ? "error" : "info", i }'
}

# write FILE into stream in K parts, cutting a segment after each but the
# last (which stays in the head)
write_parts() {
	local f=$1 stream=$2 k=$3 n i
	n=$(wc -l <"$f")
	for ((i = 0; i < k; i++)); do
		sed -n "$((i * n / k + 1)),$(((i + 1) * n / k))p" "$f" >>"$MNT/logs/$stream"
		if ((i < k - 1)); then echo compact >"$MNT/ctl"; fi
	done
}

@test "1e6 log lines: the stream and a search read with bounded daemon memory, exact text; head -n 5 reads one frame" {
	N=1000000
	gen "$N" "$(($(date +%s) - N))" >"$T/in.txt"
	touch "$MNT/logs/big"
	write_parts "$T/in.txt" big 4
	expect_eq "$(awk '$1 == "log_segments" { print $2 }' "$MNT/status")" 3

	# the plain stream: "TIME LINE" for every record, frame after frame
	awk '{ print $1, $0 }' "$T/in.txt" >"$T/want_all"
	obs_read_growth "$MNT/logs/big" "$T/got_all"
	cmp "$T/got_all" "$T/want_all"
	small_growth

	# a search matching 90% of them, over three segments and the head
	awk '$2 == "level=info" { print $1, $0 }' "$T/in.txt" >"$T/want"
	expect_eq "$(wc -l <"$T/want")" 900000
	f0=$(frames_read)
	start=$(date +%s%N)
	obs_read_growth "$MNT/logs/big@-12d?level=info" "$T/got"
	ms=$((($(date +%s%N) - start) / 1000000))
	f1=$(frames_read)
	echo "# the search: ${ms} ms, $((f1 - f0)) frames decompressed" >&3
	cmp "$T/got" "$T/want"
	small_growth
	[ $((f1 - f0)) -ge 12 ] || { echo "the whole search read only $((f1 - f0)) frames" >&2; false; }

	# head -n 5 stops after the first frame
	start=$(date +%s%N)
	head -n 5 "$MNT/logs/big@-12d?level=info" >"$T/head"
	ms=$((($(date +%s%N) - start) / 1000000))
	f2=$(frames_read)
	echo "# head -n 5: ${ms} ms, $((f2 - f1)) frames" >&3
	cmp "$T/head" <(head -n 5 "$T/want")
	[ $((f2 - f1)) -le 1 ] || { echo "head -n 5 read $((f2 - f1)) frames" >&2; false; }

	# seeks: forward skips, backwards renders again from the start
	python3 - "$MNT/logs/big@-12d?level=info" "$T/want" <<'PY'
import sys
f = open(sys.argv[1], "rb", buffering=0); want = open(sys.argv[2], "rb").read()
f.seek(40 << 20); a = f.read(1000)
f.seek(17); b = f.read(1000)
f.seek(len(want) - 10); c = f.read(1000)
assert a == want[40 << 20:(40 << 20) + 1000], "after a seek forward"
assert b == want[17:1017], "after a seek backwards"
assert c == want[-10:], "at the end"
assert f.read(10) == b"", "past the end"
PY
}

# A small stream cut into three segments plus a head, searched across
# their boundaries: the streamed text is the whole rendering's (the
# records in arrival order, here time order), read whole or in pieces.
small_stream() {
	t0=$(($(date +%s) - 7200))
	gen 900 "$t0" >"$T/in.txt"
	touch "$MNT/logs/s"
	write_parts "$T/in.txt" s 4
	# from inside the first segment to inside the head
	A=$(sed -n 100p "$T/in.txt" | cut -d' ' -f1)
	B=$(sed -n 800p "$T/in.txt" | cut -d' ' -f1)
	awk -v a="$A" -v b="$B" '$1 >= a && $1 <= b && $2 == "level=error" { print $1, $0 }' "$T/in.txt" >"$T/want"
	V="$MNT/logs/s@$A..$B?level=error"
}

@test "a search across segments and the head: the streamed text is exact, read with any buffer size" {
	small_stream
	expect_eq "$(awk '$1 == "log_segments" { print $2 }' "$MNT/status")" 3
	expect_eq "$(wc -l <"$T/want")" 70
	cat "$V" >"$T/got"
	cmp "$T/got" "$T/want"
	# arrival order is time order for this writer
	sort -c "$T/got"
	for bs in 1 7 4093 1048576; do
		dd if="$V" bs=$bs status=none >"$T/got.$bs"
		cmp "$T/got.$bs" "$T/want"
	done
	# the whole forms agree with it
	expect_eq "$(slurp "$V#count")" 70
	expect_eq "$(slurp "$MNT/logs/s@$A..$B?#by=level")" "$(printf '631 info\n70 error')"
	# a range view without a query, and a query that matches nothing
	cat "$MNT/logs/s@$A..$B" >"$T/range"
	cmp "$T/range" <(sed -n 100,800p "$T/in.txt" | awk '{ print $1, $0 }')
	expect_eq "$(slurp "$MNT/logs/s@$A..$B?id=100000")" ""
}

@test "a search view covers the records stored before its first read; a seek back gives the same bytes" {
	small_stream
	python3 - "$V" "$MNT/logs/s" "$T/want" "$A" <<'PY'
import sys
view, stream, want, a = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read(), sys.argv[4]
f = open(view, "rb", buffering=0)
first = f.read(100)
# appended after the first read, in the range and matching: not part of it
with open(stream, "a") as w:
    w.write(a + " level=error msg=late id=-1\n")
rest = b""
while True:
    b = f.read(333)
    if not b:
        break
    rest += b
assert first + rest == want, "the view changed under its reader"
f.seek(0)
assert f.read() == want, "a seek back to 0"
# a view opened now has it
assert open(view, "rb").read().count(b"msg=late") == 1, "a view opened after it"
PY
}

@test "rm of a stream between the open of a search view and its first read: ENOENT, the daemon lives" {
	small_stream
	run python3 - "$V" "$MNT/logs/s" <<'PY'
import os, sys
f = open(sys.argv[1], "rb", buffering=0)
os.unlink(sys.argv[2])
try:
    f.read(100)
    print("read it")
except OSError as e:
    print(e.strerror)
PY
	expect_eq "$output" "No such file or directory"
	obs_alive "$OBS_PID"
	[ ! -e "$V" ]
}
