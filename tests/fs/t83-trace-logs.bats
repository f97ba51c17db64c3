#!/usr/bin/env bats
# t83-trace-logs — traces/ID.logs is streamed (fs/traces_logs.c): one log
# cursor per stream, the streams in name order and each stream's records
# in arrival order, "STREAM TIME LINE"; read whole or with any buffer size
# it is the same text, and a big answer keeps the daemon's memory bounded.

load helper

# log_compact_level=0: `compact` only cuts the heads (fast)
setup() { obs_setup -o log_compact_level=0; }
teardown() { obs_teardown; }

ID=4bf92f3577b34da6a3ce929d0e0e4736
OTHER=4bf92f3577b34da6a3ce929d0e0e4737

small_growth() {
	[ -n "${ASAN_OPTIONS:-}" ] && return 0
	[ "$GROWTH_KB" -lt 12288 ] || { echo "the daemon grew by $GROWTH_KB kB" >&2; return 1; }
}

# gen N FIRST_EPOCH EVERY: N lines one a second, RFC3339 ms prefix; every
# EVERY-th line (from the first) carries trace_id=$ID, the others $OTHER
gen() {
	awk -v n="$1" -v t0="$2" -v k="$3" -v id="$ID" -v other="$OTHER" 'BEGIN { for (i = 0; i < n; i++)
		printf "%s.%03dZ level=info msg=\"step %d\" trace_id=%s\n",
			strftime("%Y-%m-%dT%H:%M:%S", t0 + i, 1), i % 1000, i, i % k ? other : id }'
}

# what ID.logs must say: the streams in name order, each as written
want_of() {
	local s
	for s in "$@"; do
		awk -v s="$s" -v id="trace_id=$ID" '$NF == id { print s, $1, $0 }' "$T/$s.txt"
	done
}

@test "traces/ID.logs over three streams, segments and heads: streams in name order, the same text with any buffer size" {
	t0=$(($(date +%s) - 20000))
	gen 6000 "$t0" 2 >"$T/web.txt"
	gen 6000 "$((t0 + 1))" 3 >"$T/api.txt"
	gen 6000 "$((t0 + 2))" 5 >"$T/db.txt"
	# written in turns (each stream gets segments and a head)
	for part in 1 2 3; do
		for s in web api db; do
			sed -n "$(((part - 1) * 2000 + 1)),$((part * 2000))p" "$T/$s.txt" >>"$MNT/logs/$s"
		done
		if ((part < 3)); then echo compact >"$MNT/ctl"; fi
	done
	want_of api db web >"$T/want"
	expect_eq "$(wc -l <"$T/want")" $((3000 + 2000 + 1200))
	cat "$MNT/traces/$ID.logs" >"$T/got"
	cmp "$T/got" "$T/want"
	for bs in 1 7 4096 1048576; do
		dd if="$MNT/traces/$ID.logs" bs=$bs status=none >"$T/got.$bs"
		cmp "$T/got.$bs" "$T/want"
	done
	# a seek back gives the same bytes; an id no record carries is empty
	python3 - "$MNT/traces/$ID.logs" "$T/want" <<'PY'
import sys
f = open(sys.argv[1], "rb", buffering=0); want = open(sys.argv[2], "rb").read()
a = f.read(300000); f.seek(1000); b = f.read(5000); f.seek(len(want) - 3); c = f.read(100)
assert a == want[:300000] and b == want[1000:6000] and c == want[-3:], "seeks"
PY
	expect_eq "$(slurp "$MNT/traces/00000000000000000000000000000001.logs")" ""
}

@test "a big traces/ID.logs answer is read with bounded daemon memory" {
	t0=$(($(date +%s) - 400000))
	for s in a b c; do
		gen 120000 "$t0" 1 >"$T/$s.txt"
		cat "$T/$s.txt" >>"$MNT/logs/$s"
	done
	echo compact >"$MNT/ctl"
	want_of a b c >"$T/want"
	expect_eq "$(wc -l <"$T/want")" 360000
	obs_read_growth "$MNT/traces/$ID.logs" "$T/got"
	cmp "$T/got" "$T/want"
	small_growth
}
