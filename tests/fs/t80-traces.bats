#!/usr/bin/env bats
# t80-traces — traces/ against a real mount, with OTLP/JSON produced by the
# real OpenTelemetry JS SDK (tests/traces-gen/gen.js; its packages are
# installed once into $OBS_BUILD/npm-traces-gen, and the SDK tests skip when
# the npm registry cannot be reached): tail sampling keeps every error and
# every slow trace and a 10 % baseline, a trace is kept or dropped whole
# (late spans follow the decision), kill -9 loses nothing write() accepted
# (also around a segment write: each span once, segments columnar),
# the waterfall text is exact, search views, logs and RED metrics; a line
# carried across writes is parsed with the lines after it, with the same
# line numbers, errors and storage-error rules as lines written whole.

load helper

setup() { obs_setup; }
teardown() { obs_teardown; }

GEN_DIR=${OBS_BUILD:-$OBS_ROOT/build}/npm-traces-gen

# need_sdk: install the SDK packages once (cached in the build dir) or skip
need_sdk() {
	if [ ! -f "$GEN_DIR/.installed" ]; then
		mkdir -p "$GEN_DIR"
		cp "$OBS_ROOT/tests/traces-gen/package.json" "$GEN_DIR/"
		command -v node >/dev/null || skip "node is not installed"
		command -v npm >/dev/null || skip "npm is not installed"
		if ! (cd "$GEN_DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error) >"$GEN_DIR/install.log" 2>&1; then
			skip "npm registry unreachable: OpenTelemetry JS SDK not installed ($(tail -1 "$GEN_DIR/install.log"))"
		fi
		touch "$GEN_DIR/.installed"
	fi
}

# gen ARGS...: OTLP/JSON from the SDK to stdout
gen() {
	NODE_PATH="$GEN_DIR/node_modules" node "$OBS_ROOT/tests/traces-gen/gen.js" "$@"
}

# wait until no trace is buffered (decisions are taken by the ticker)
wait_decided() {
	local i
	for i in $(seq 100); do
		grep -q '^traces_buffered  *0 ' "$MNT/status" && return 0
		sleep 0.1
	done
	grep '^traces_' "$MNT/status" >&2
	return 1
}

# span_count ID: lines of traces/ID (0 when the trace is not kept)
span_count() {
	if [ -e "$MNT/traces/$1" ]; then nlines "$MNT/traces/$1"; else echo 0; fi
}

@test "every error trace and every trace over the latency threshold is kept (default policies, OTel JS SDK)" {
	need_sdk
	gen --traces 300 --error-every 10 --slow-every 7 --manifest "$T/manifest" >"$T/spans.json"
	cat "$T/spans.json" >"$MNT/traces/ingest"
	wait_decided
	n=0
	while read -r id kind spans; do
		[ "$kind" = normal ] && continue
		got=$(span_count "$id")
		expect_eq "$id $kind $got" "$id $kind 4"
		n=$((n + 1))
	done <"$T/manifest"
	# 30 error traces, 300/7 = 42 slow ones minus the 4 that are also errors
	expect_eq "$n" 68
	# the error search view lists exactly the error traces
	grep ' error ' "$T/manifest" | cut -d' ' -f1 | sort >"$T/want"
	cut -d' ' -f1 "$MNT/traces/@-1h?error" | sort >"$T/got"
	cmp "$T/want" "$T/got"
}

@test "the 10% baseline keeps a share of ordinary traces within statistical bounds" {
	need_sdk
	gen --traces 2000 --error-every 1000000 --slow-every 1000000 --batch 50 --manifest "$T/manifest" >"$T/spans.json"
	cat "$T/spans.json" >"$MNT/traces/ingest"
	wait_decided
	kept=$(grep -c '' "$MNT/traces/@-1h")
	# binomial(2000, 0.1): mean 200, sd 13.4; 5 sd either side
	if [ "$kept" -lt 133 ] || [ "$kept" -gt 267 ]; then
		echo "kept $kept of 2000 at 10%" >&2
		return 1
	fi
	got=$(grep '^traces_kept ' "$MNT/status")
	expect_eq "$got" "traces_kept        $kept ($((kept * 4)) spans)"
	got=$(grep '^traces_dropped_by_policy ' "$MNT/status")
	expect_eq "$got" "traces_dropped_by_policy $((2000 - kept)) ($(((2000 - kept) * 4)) spans)"
}

# split each document: frontend and cart spans first, redis and payment later
split_docs() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
src, a, b = sys.argv[1:]
with open(src) as f, open(a, "w") as fa, open(b, "w") as fb:
    for line in f:
        if not line.strip():
            continue
        d = json.loads(line)
        first = [r for r in d["resourceSpans"] if r["resource"]["attributes"][0]["value"]["stringValue"] in ("frontend", "cart")]
        late = [r for r in d["resourceSpans"] if r not in first]
        fa.write(json.dumps({"resourceSpans": first}) + "\n")
        fb.write(json.dumps({"resourceSpans": late}) + "\n")
PY
}

@test "a trace's spans are all present or all absent: late spans follow the decision" {
	need_sdk
	gen --traces 300 --error-every 9 --slow-every 1000000 --manifest "$T/manifest" >"$T/spans.json"
	split_docs "$T/spans.json" "$T/first.json" "$T/late.json"
	# root and cart: every parent present, decided at once
	cat "$T/first.json" >"$MNT/traces/ingest"
	wait_decided
	cat "$T/late.json" >"$MNT/traces/ingest"
	wait_decided
	kept=0
	while read -r id kind spans; do
		got=$(span_count "$id")
		case "$got" in
		4) kept=$((kept + 1)) ;;
		0) [ "$kind" != error ] || { echo "error trace $id dropped" >&2; return 1; } ;;
		*) echo "trace $id has $got spans: neither all nor none" >&2; return 1 ;;
		esac
	done <"$T/manifest"
	[ "$kept" -ge 33 ]
	late=$(grep '^traces_late_spans ' "$MNT/status" | awk '{print $2}')
	expect_eq "$late" 600
}

@test "kill -9 loses no span write() accepted: buffered and decided spans come back" {
	need_sdk
	echo "all always_sample" >"$MNT/traces/policy"
	gen --traces 100 --manifest "$T/manifest" >"$T/spans.json"
	split_docs "$T/spans.json" "$T/first.json" "$T/late.json"
	# the children without their root: they stay buffered (no root, no decision)
	cat "$T/late.json" >"$MNT/traces/ingest"
	got=$(grep '^traces_buffered ' "$MNT/status" | awk '{print $2}')
	expect_eq "$got" 100
	obs_crash
	obs_start
	got=$(grep '^traces_buffered ' "$MNT/status" | awk '{print $2, $3}')
	expect_eq "$got" "100 (200"
	expect_file_eq "$MNT/traces/policy" "all always_sample"
	cat "$T/first.json" >"$MNT/traces/ingest"
	wait_decided
	while read -r id kind spans; do
		got=$(span_count "$id")
		expect_eq "$id $got" "$id 4"
	done <"$T/manifest"
	# and the kept traces themselves survive the next kill -9
	obs_crash
	obs_start
	while read -r id kind spans; do
		got=$(span_count "$id")
		expect_eq "$id $got" "$id 4"
	done <"$T/manifest"
}

@test "kill -9 after a segment was written and more was kept: each span comes back once, the segment is columnar (version 2)" {
	need_sdk
	echo "all always_sample" >"$MNT/traces/policy"
	gen --traces 200 --manifest "$T/m1" >"$T/a.json"
	gen --traces 100 --seed 2 --manifest "$T/m2" >"$T/b.json"
	cat "$T/a.json" >"$MNT/traces/ingest"
	wait_decided
	echo compact >"$MNT/ctl"   # a segment file; the journal is cut back
	cat "$T/b.json" >"$MNT/traces/ingest"
	wait_decided                # kept, in the open segment and the journal only
	obs_crash
	obs_start
	cat "$T/m1" "$T/m2" >"$T/manifest"
	while read -r id kind spans; do
		got=$(span_count "$id")
		expect_eq "$id $got" "$id 4"
	done <"$T/manifest"
	got=$(grep '^traces_stored ' "$MNT/status" | awk '{print $2, $3}')
	expect_eq "$got" "300 (1200"
	n=0
	for f in "$DATA"/traces/seg-*.trc; do
		v=$(od -An -tu1 -j8 -N1 "$f" | tr -d ' ')
		expect_eq "$(basename "$f") $v" "$(basename "$f") 2"
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
}

@test "the waterfall of a known trace is exact, from the mount, obs-trace -m and obs-trace on the file" {
	need_sdk
	echo "all always_sample" >"$MNT/traces/policy"
	base=$((($(date +%s) - 60) * 1000))
	gen --known --base-ms "$base" >"$T/known.json"
	cat "$T/known.json" >"$MNT/traces/ingest"
	wait_decided
	id=4bf92f3577b34da6a3ce929d0e0e4736
	want="$id $(rfc3339 $((base / 1000))) 400ms 4 spans, 2 errors
      0ns     400ms ! frontend GET /checkout |!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!| payment failed
     10ms      90ms     cart load cart       |.#########..............................|
     20ms     250us       redis GET          |..#.....................................|
    200ms   150.5ms !   payment charge       |....................!!!!!!!!!!!!!!!!....| card declined"
	expect_file_eq "$MNT/traces/$id.tree" "$want"
	got=$(obs-trace -m "$MNT" "$id")
	expect_eq "$got" "$want"
	got=$(obs-trace "$id" "$T/known.json")
	expect_eq "$got" "$want"
	# spans as JSON lines, start order, which ingest takes back
	expect_lines "$MNT/traces/$id" 4
	head -1 "$MNT/traces/$id" >"$T/first"
	expect_grep '^\{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b1","parent_span_id":"","service":"frontend","operation":"GET /checkout","kind":2,' "$T/first"
}

@test "search views and obs-trace find answer the same over the mount and over the file" {
	need_sdk
	echo "all always_sample" >"$MNT/traces/policy"
	gen --traces 120 --error-every 6 --slow-every 5 >"$T/spans.json"
	cat "$T/spans.json" >"$MNT/traces/ingest"
	wait_decided
	# every 6th trace fails, every other 5th takes 1.5 s
	a=$(obs-trace find -m "$MNT" --service payment --error --max-duration 500ms -t -1h)
	b=$(obs-trace find --service payment --error --max-duration 500ms -t -1h "$T/spans.json")
	expect_eq "$a" "$b"
	n=$(printf '%s\n' "$a" | grep -c ' 4 error$')
	expect_eq "$n" 20
	c=$(cat "$MNT/traces/@-1h?service=payment&error&duration<=500ms")
	expect_eq "$c" "$a"
	c=$(obs-trace -m "$MNT" find --service payment --error --max-duration 500ms -t -1h)
	expect_eq "$c" "$a"   # the mount may also come before find
	a=$(obs-trace find -m "$MNT" --min-duration 1s -o charge -a payment.card=visa -t -1h)
	b=$(obs-trace find --min-duration 1s -o charge -a payment.card=visa "$T/spans.json")
	expect_eq "$a" "$b"
	n=$(printf '%s\n' "$a" | grep -c ' 1.5s 4 ok$')
	expect_eq "$n" 20
	# attribute matches, a bad query, an empty result
	n=$(grep -c '' "$MNT/traces/@-1h?http.response.status_code=500")
	expect_eq "$n" 20
	run cat "$MNT/traces/@-1h?duration>5x"
	expect_fail "No such file or directory"
	run obs-trace find -m "$MNT" --service nosuch
	[ "$status" -eq 1 ]
	expect_eq "$output" ""
	got=$(ls "$MNT/traces/services" | tr '\n' ' ')
	expect_eq "$got" "cart frontend payment redis "
	got=$(ls "$MNT/traces/services/payment/operations")
	expect_eq "$got" "charge"
	n=$(grep -c '' "$MNT/traces/services/payment/operations/charge")
	expect_eq "$n" 120
}

span_line() {  # trace span parent status
	printf '{"trace_id":"%032x","span_id":"%016x","parent_span_id":"%s","service":"api","operation":"op","start_time":%s,"duration_ms":5,"status":"%s"}\n' \
		"$1" "$2" "$3" "$(($(date +%s) * 1000))" "$4"
}

@test "a malformed document is refused with its line and reason, the rest of the write kept" {
	{
		span_line 1 1 "" error
		echo '{"resourceSpans": [ {"scopeSpans": oops'
		span_line 2 1 "" error
		echo '{"trace_id":"zz","span_id":"0000000000000001","operation":"x","start_time":1,"duration_ms":1}'
	} >"$T/in"
	got=$(python3 -c 'import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    print("ok", os.write(fd, open(sys.argv[2], "rb").read()))
except OSError as e:
    print(errno.errorcode[e.errno])' "$MNT/traces/ingest" "$T/in")
	expect_eq "$got" "EINVAL"
	wait_decided
	expect_lines "$MNT/traces/00000000000000000000000000000001" 1
	expect_lines "$MNT/traces/00000000000000000000000000000002" 1
	expect_grep 'traces/ingest:2: invalid json' "$MNT/errors"
	expect_grep "traces/ingest:4: invalid trace_id 'zz' \\(want 32 hex digits\\)" "$MNT/errors"
	got=$(grep '^traces_docs_rejected' "$MNT/status")
	expect_eq "$got" "traces_docs_rejected 2"
}

@test "a bad policy is refused by write(2) with the line and reason, the old one stays" {
	run bash -c "echo 'latency threshold=5' >'$MNT/traces/policy'"
	expect_fail "Invalid argument"
	expect_grep "traces/policy: line 1: unknown parameter 'threshold' for latency" "$MNT/errors"
	got=$(head -1 "$MNT/traces/policy")
	expect_eq "$got" "errors   status_code   status_codes=ERROR"
	printf 'decision_wait=1s\nslow latency threshold_ms=50\n' >"$MNT/traces/policy"
	expect_file_eq "$MNT/traces/policy" "decision_wait=1s
slow latency threshold_ms=50"
	obs_remount
	expect_file_eq "$MNT/traces/policy" "decision_wait=1s
slow latency threshold_ms=50"
}

@test "RED metrics per service and operation reach the TSDB from every span, sampled or not" {
	echo "none span_count min_spans=1000" >"$MNT/traces/policy"
	{
		span_line 1 1 "" error
		span_line 2 1 "" ok
		span_line 3 1 "" ok
	} >"$MNT/traces/ingest"
	wait_decided
	echo sync >"$MNT/ctl"
	L='service_name="api",span_kind="SPAN_KIND_UNSPECIFIED",span_name="op"'
	got=$(cut -d' ' -f2 "$MNT/metrics/traces_span_metrics_calls_total{$L,status_code=\"STATUS_CODE_OK\"}" | tail -1)
	expect_eq "$got" 2
	got=$(cut -d' ' -f2 "$MNT/metrics/traces_span_metrics_calls_total{$L,status_code=\"STATUS_CODE_ERROR\"}" | tail -1)
	expect_eq "$got" 1
	got=$(cut -d' ' -f2 "$MNT/metrics/traces_span_metrics_duration_seconds_bucket{le=\"0.006\",$L,status_code=\"STATUS_CODE_OK\"}" | tail -1)
	expect_eq "$got" 2
	got=$(grep '^traces_kept ' "$MNT/status")
	expect_eq "$got" "traces_kept        0 (0 spans)"
}

@test "traces/ID.logs lists the log records of every stream carrying the trace id" {
	echo "all always_sample" >"$MNT/traces/policy"
	span_line 7 1 "" ok >"$MNT/traces/ingest"
	wait_decided
	id=00000000000000000000000000000007
	echo "level=error msg=declined trace_id=$id" >>"$MNT/logs/payment"
	echo "level=info msg=other trace_id=00000000000000000000000000000008" >>"$MNT/logs/payment"
	echo "{\"msg\":\"checkout\",\"trace_id\":\"$id\"}" >>"$MNT/logs/web"
	echo "ERROR job failed trace_id=$id" >>"$MNT/logs/worker"   # plain text, one pair
	run cut -d' ' -f1,3- "$MNT/traces/$id.logs"
	[ "$status" -eq 0 ]
	expect_eq "$output" "payment level=error msg=declined trace_id=$id
web {\"msg\":\"checkout\",\"trace_id\":\"$id\"}
worker ERROR job failed trace_id=$id"
	run cat "$MNT/traces/0000000000000000000000000000000f.tree"
	expect_fail "No such file or directory"
	# a trace that was never kept (sampled out, or only named by an
	# exemplar or a log line): its logs are still found; ID and ID.tree are not
	expect_eq "$(cut -d' ' -f1,3- "$MNT/traces/00000000000000000000000000000008.logs")" \
		"payment level=info msg=other trace_id=00000000000000000000000000000008"
	run cat "$MNT/traces/00000000000000000000000000000008"
	expect_fail "No such file or directory"
	expect_eq "$(cat "$MNT/traces/0000000000000000000000000000000e.logs")" ""
	run cat "$MNT/traces/0000000000000000000000000000000g.logs"
	expect_fail "No such file or directory"
}

# big_doc FIRST FILE: one OTLP/JSON document of at least 5 MiB on one line,
# without its newline: one-span traces FIRST, FIRST + 1, ...; prints how many
big_doc() {
	python3 - "$1" "$2" <<'PY'
import sys, time
first, path = int(sys.argv[1]), sys.argv[2]
t0 = (int(time.time()) - 60) * 10**9
spans, size, n = [], 0, 0
while size < 5 << 20:
    s = ('{"traceId":"%032x","spanId":"%016x","name":"op","kind":2,"startTimeUnixNano":"%d",'
         '"endTimeUnixNano":"%d","status":{"code":1},"attributes":[{"key":"pad","value":'
         '{"stringValue":"%0120d"}}]}' % (first + n, first + n, t0 + n, t0 + n + 5000000, n))
    spans.append(s)
    size += len(s) + 1
    n += 1
with open(path, "w") as f:
    f.write('{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
            '{"stringValue":"big"}}]},"scopeSpans":[{"scope":{"name":"t"},"spans":[')
    f.write(",".join(spans))
    f.write(']}]}]}')
print(n)
PY
}

# stored_is N: traces_stored in status says N traces of N spans (the
# ticker hands kept traces to the store just after it decides them)
stored_is() {
	[ "$(grep '^traces_stored ' "$MNT/status" | awk '{print $2, $3}')" = "$1 ($1" ]
}

# hold_write FILE BYTES: a writer that writes the first BYTES of FILE into
# traces/ingest 4 KiB at a time and then keeps the file open (a close, even
# of a dup, would end the document) until it is killed: HOLD_PID
hold_write() {
	rm -f "$T/held"
	python3 - "$1" "$2" "$MNT/traces/ingest" "$T/held" <<'PY' &
import os, sys, time
src, n, dst, done = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = open(src, "rb").read()[:n]
fd = os.open(dst, os.O_WRONLY)
for i in range(0, len(data), 4096):
    if os.write(fd, data[i:i + 4096]) != len(data[i:i + 4096]):
        sys.exit("short write")
open(done, "w").close()
time.sleep(600)
PY
	HOLD_PID=$!
	wait_for 60 test -e "$T/held"
}

# journal_bytes: bytes in the trace journal's segments
journal_bytes() {
	cat "$DATA"/traces/wal/*.wal | wc -c
}

@test "a 5 MiB document in 4 KiB writes: the journal grows by its size; kill -9 with it unfinished loses no span and stores none twice" {
	echo "all always_sample" >"$MNT/traces/policy"
	na=$(big_doc 1 "$T/a.json")
	nb=$(big_doc 1000001 "$T/b.json")
	size=$(stat -c %s "$T/a.json")
	j0=$(journal_bytes)
	# every byte of document a but its newline, from a writer that keeps
	# the file open: all of it is carried (journaled), nothing ingested yet
	hold_write "$T/a.json" "$size"
	stored_is 0
	grew=$(($(journal_bytes) - j0))
	if [ "$grew" -gt $((2 * size)) ] || [ "$grew" -lt "$size" ]; then
		echo "journaled $grew bytes for a $size-byte document" >&2
		return 1
	fi
	obs_crash
	kill "$HOLD_PID"
	wait "$HOLD_PID" || true
	obs_start
	wait_for 30 stored_is "$na"
	# half of document b, kill -9: the half is refused at recovery, whole
	# bytes and all; the writer sends the document again
	half=$(($(stat -c %s "$T/b.json") / 2))
	hold_write "$T/b.json" "$half"
	obs_crash
	kill "$HOLD_PID"
	wait "$HOLD_PID" || true
	obs_start
	expect_grep "traces/ingest: .*: \\{\"resourceSpans\".*\\($half bytes\\)\$" "$MNT/errors"
	{ cat "$T/b.json"; echo; } >"$MNT/traces/ingest"
	wait_for 30 stored_is $((na + nb))
	wait_decided
}

# writes PATH FILE...: one write(2) per file on one descriptor, a short count
# written again from where it stopped; prints "ok N" (or "short N" then the
# retry) or the errno name per write, then "close ok" or "close ERRNO"
writes() {
	python3 - "$@" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for f in sys.argv[2:]:
    data = open(f, "rb").read()
    try:
        n = os.write(fd, data)
        print("ok" if n == len(data) else "short", n)
        if n < len(data):
            print("rest", os.write(fd, data[n:]))
    except OSError as e:
        print(errno.errorcode[e.errno])
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close", errno.errorcode[e.errno])
PY
}

# cut_line N LINE-FILE: the first N bytes of a line to $T/head, the rest to $T/tail
cut_line() {
	head -c "$1" "$2" >"$T/head"
	tail -c +"$(($1 + 1))" "$2" >"$T/tail"
}

# stored_once N TRACE...: once decided, each trace (its number, %032x) has
# one span and N spans were ingested in all
stored_once() {
	local n=$1 id
	shift
	wait_decided
	for id in "$@"; do
		expect_lines "$MNT/traces/$(printf %032x "$id")" 1
	done
	expect_eq "$(grep '^traces_spans_ingested' "$MNT/status")" "traces_spans_ingested $n"
}

@test "a line carried over from the last write is parsed with the lines after it: line numbers and errors as written" {
	span_line 1 1 "" error >"$T/l1"
	span_line 3 1 "" error >"$T/l3"
	cut_line 50 "$T/l1"; mv "$T/head" "$T/w1"
	{ cat "$T/tail"; echo '{"resourceSpans": [ oops'; } >"$T/w2"
	cut_line 60 "$T/l3"; cat "$T/head" >>"$T/w2"
	{ cat "$T/tail"; echo '{"trace_id":"zz","span_id":"0000000000000001","operation":"x","start_time":1,"duration_ms":1}'; } >"$T/w3"
	got=$(writes "$MNT/traces/ingest" "$T/w1" "$T/w2" "$T/w3" | tr '\n' ' ')
	expect_eq "$got" "ok 50 EINVAL EINVAL close ok "
	wait_decided
	expect_lines "$MNT/traces/00000000000000000000000000000001" 1
	expect_lines "$MNT/traces/00000000000000000000000000000003" 1
	expect_grep 'traces/ingest:2: invalid json' "$MNT/errors"
	expect_grep "traces/ingest:4: invalid trace_id 'zz'" "$MNT/errors"
	got=$(grep '^traces_docs_rejected' "$MNT/status")
	expect_eq "$got" "traces_docs_rejected 2"
}

@test "a storage error on a carried line fails the write and keeps the carry: the retry stores each span once" {
	obs_stop
	OBS_FAULT=fs.consume:0:ENOSPC:1 obs_start
	span_line 1 1 "" error >"$T/l1"
	span_line 2 1 "" error >"$T/l2"
	cut_line 70 "$T/l1"
	cat "$T/tail" "$T/l2" >"$T/w2"
	got=$(writes "$MNT/traces/ingest" "$T/head" "$T/w2" "$T/w2" | tr '\n' ' ')
	expect_eq "$got" "ok 70 ENOSPC ok $(stat -c %s "$T/w2") close ok "
	stored_once 2 1 2
}

@test "a storage error after the carried line was stored: a short count, the retry stores the rest once" {
	obs_stop
	# the carried line and the line after it are one consume; a line too long
	# between them and the third line makes it two, and the second fails
	OBS_FAULT=fs.consume:1:ENOSPC:1 obs_start -o traces_max_line=400
	span_line 1 1 "" error >"$T/l1"
	span_line 3 1 "" error >"$T/l3"
	cut_line 70 "$T/l1"
	{ cat "$T/tail"; head -c 600 /dev/zero | tr '\0' x; echo; cat "$T/l3"; } >"$T/w2"
	short=$(($(stat -c %s "$T/tail") + 601))
	got=$(writes "$MNT/traces/ingest" "$T/head" "$T/w2" | tr '\n' ' ')
	expect_eq "$got" "ok 70 short $short rest $(stat -c %s "$T/l3") close EINVAL "
	stored_once 2 1 3
	expect_grep 'traces/ingest:2: line too long' "$MNT/errors"
}

@test "a carried line goes to the parser in one piece with the lines after it (a second consume would fail)" {
	obs_stop
	OBS_FAULT=fs.consume:1:ENOSPC:1 obs_start
	span_line 1 1 "" error >"$T/l1"
	cut_line 70 "$T/l1"
	{ cat "$T/tail"; span_line 2 1 "" error; span_line 3 1 "" error; } >"$T/w2"
	got=$(writes "$MNT/traces/ingest" "$T/head" "$T/w2" | tr '\n' ' ')
	expect_eq "$got" "ok 70 ok $(stat -c %s "$T/w2") close ok "
	stored_once 3 1 2 3
}
