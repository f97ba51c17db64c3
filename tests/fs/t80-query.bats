#!/usr/bin/env bats
# t80-query — PromQL in the tree: the query transaction file (exec idiom,
# obs-query, instant/range, text/JSON, several requests on one descriptor,
# errors with positions, limits) and saved queries (save, list, evaluate
# at now and over a range, #json, xattr, restart persistence, rm, bad
# expressions).
#
# Series qv{job="a"} = i and qv{job="b"} = 2i, i = 0..20, one sample every
# 30 s from T0 (a multiple of 600 s, 20 minutes ago).

load helper

setup() {
	obs_setup
	T0=$(aligned_ago 1200 600)
	for i in $(seq 0 20); do
		echo "qv{job=\"a\"} $i $(((T0 + i * 30) * 1000))"
		echo "qv{job=\"b\"} $((2 * i)) $(((T0 + i * 30) * 1000))"
	done >"$MNT/ingest"
	PATH=$OBS_BUILD/bin:$PATH
}
teardown() { obs_teardown; }

# txn REQUEST [nonl]: write REQUEST and a newline (none with nonl) on a
# read-write descriptor of query, then read the answer from the same
# descriptor; prints "write ok|ERRNO" then the answer
txn() {
	python3 - "$MNT/query" "$@" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    os.write(fd, (sys.argv[2] + ("\n" if len(sys.argv) < 4 else "")).encode())
    print("write ok")
except OSError as e:
    print("write", errno.errorcode[e.errno])
out = b""
while True:
    b = os.read(fd, 65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
os.close(fd)
PY
}

@test "query: the exec idiom answers on the same descriptor" {
	T=$((T0 + 300))
	exec 5<>"$MNT/query"   # (bats owns descriptor 3)
	echo "qv @$T" >&5
	got=$(cat <&5)
	exec 5>&-
	expect_eq "$got" "qv{job=\"a\"} $(rfc3339 $T) 10
qv{job=\"b\"} $(rfc3339 $T) 20"
}

@test "query: several requests on one descriptor, each answered in turn" {
	got=$(python3 - "$MNT/query" "$T0" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
t0 = int(sys.argv[2])
for q in ("sum(qv) @%d" % (t0 + 60), "max(qv) @%d" % (t0 + 90)):
    os.write(fd, (q + "\n").encode())
    out = b""
    while True:
        b = os.read(fd, 4096)
        if not b:
            break
        out += b
    print(out.decode(), end="")
PY
)
	expect_eq "$got" "{} $(rfc3339 $((T0 + 60))) 6
{} $(rfc3339 $((T0 + 90))) 6"
}

@test "query: range requests and #json give Prometheus' data object" {
	run txn "sum by (job) (qv) @$T0..$((T0 + 60)):30s #json"
	[ "$status" -eq 0 ]
	expect_eq "$output" "write ok
{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"job\":\"a\"},\"values\":[[$T0,\"0\"],[$((T0 + 30)),\"1\"],[$((T0 + 60)),\"2\"]]},{\"metric\":{\"job\":\"b\"},\"values\":[[$T0,\"0\"],[$((T0 + 30)),\"2\"],[$((T0 + 60)),\"4\"]]}]}"
	run txn "scalar(sum(qv)) @$((T0 + 30)) #json"
	expect_eq "$output" "write ok
{\"resultType\":\"scalar\",\"result\":[$((T0 + 30)),\"3\"]}"
}

@test "query: a bad expression fails the write with EINVAL, the read says why, errors has the position" {
	run txn 'sum(rate(qv[5m])))'
	[ "$status" -eq 0 ]
	expect_eq "$output" 'write EINVAL
error: 1:18: parse error: unexpected ")"'
	expect_grep 'query: 1:18: parse error: unexpected "\)": sum\(rate\(qv\[5m\]\)\)\)' "$MNT/errors"
	# without a newline the request ends at the read: no write fails, the answer tells
	run txn 'sum(' nonl
	expect_eq "$output" 'write ok
error: 1:5: parse error: unexpected end of input'
	run obs-query -m "$MNT" 'sum(rate(qv[5m])))'
	[ "$status" -eq 1 ]
	expect_eq "$output" 'obs-query: 1:18: parse error: unexpected ")"'
}

@test "obs-query: instant and range queries, text and json, piped into obs-spark" {
	run obs-query -m "$MNT" --time "$((T0 + 600))" 'qv{job="b"} / 2'
	[ "$status" -eq 0 ]
	expect_eq "$output" "{job=\"b\"} $(rfc3339 $((T0 + 600))) 20"
	run obs-query -m "$MNT" --time "$(rfc3339 $((T0 + 600)))" -o json 'count(qv)'
	expect_eq "$output" "{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[$((T0 + 600)),\"2\"]}]}"
	OBS_MOUNT=$MNT run obs-query --start "$T0" --end "$((T0 + 120))" --step 1m 'qv{job="a"}'
	[ "$status" -eq 0 ]
	expect_eq "$output" "qv{job=\"a\"} $(rfc3339 $T0) 0
qv{job=\"a\"} $(rfc3339 $((T0 + 60))) 2
qv{job=\"a\"} $(rfc3339 $((T0 + 120))) 4"
	obs-query -m "$MNT" --start "$T0" --end "$((T0 + 600))" --step 30s 'rate(qv[2m])' >"$T/rates"
	expect_lines "$T/rates" 40   # at T0 the 2 m windows hold one sample: no rate
	run obs-spark "$T/rates"
	[ "$status" -eq 0 ]
	expect_grep 'job="a"' <(printf '%s\n' "$output")
	expect_grep 'job="b"' <(printf '%s\n' "$output")
	# obs-alert keys on the series: job b (2i) crosses 15 at i = 8, job a (i) at i = 16
	obs-query -m "$MNT" --start "$T0" --end "$((T0 + 600))" --step 30s 'qv' >"$T/qv"
	run obs-alert '>15' "$T/qv"
	[ "$status" -eq 1 ]   # a series ended firing
	expect_eq "$output" "qv{job=\"a\"} $(rfc3339 $((T0 + 480))) firing 16
qv{job=\"b\"} $(rfc3339 $((T0 + 240))) firing 16"
}

@test "query: the sample limit and timeout are mount options with Prometheus' messages" {
	obs_remount -o query_max_samples=10
	run txn "max_over_time(qv[10m]) @$((T0 + 600))"
	expect_eq "$output" 'write EINVAL
error: query processing would load too many samples into memory in query execution'
	obs_remount -o query_timeout=1ms
	run txn "max_over_time(sum(rate(qv[5m]))[30d:1s]) @$((T0 + 600))"
	expect_eq "$output" 'write EINVAL
error: query timed out in query execution'
	obs_stop
	run "$OBSFSD" -o query_timeout=soon "$DATA" "$MNT"
	[ "$status" -eq 2 ]
	expect_grep "invalid duration 'soon' for query_timeout" <(printf '%s\n' "$output")
	run "$OBSFSD" -o query_max_samples=-1 "$DATA" "$MNT"
	[ "$status" -eq 2 ]
	expect_grep "invalid number '-1' for query_max_samples" <(printf '%s\n' "$output")
	obs_start
}

@test "queries: save, list, evaluate at now and over a range, #json, the expression as xattr" {
	echo 'sum by (job) (qv)' >"$MNT/queries/total"
	expect_eq "$(ls "$MNT/queries")" total
	# at now the newest sample is 10 minutes old: the 5 m lookback sees nothing
	expect_file_eq "$MNT/queries/total" ''
	expect_file_eq "$MNT/queries/total@$T0..$((T0 + 60)):30s" "{job=\"a\"} $(rfc3339 $T0) 0
{job=\"a\"} $(rfc3339 $((T0 + 30))) 1
{job=\"a\"} $(rfc3339 $((T0 + 60))) 2
{job=\"b\"} $(rfc3339 $T0) 0
{job=\"b\"} $(rfc3339 $((T0 + 30))) 2
{job=\"b\"} $(rfc3339 $((T0 + 60))) 4"
	expect_file_eq "$MNT/queries/total@$((T0 + 30))#json" "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"job\":\"a\"},\"value\":[$((T0 + 30)),\"1\"]},{\"metric\":{\"job\":\"b\"},\"value\":[$((T0 + 30)),\"2\"]}]}"
	got=$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.obs.expr").decode())' "$MNT/queries/total")
	expect_eq "$got" 'sum by (job) (qv)'
	# a fresh sample: now answers
	echo "qv{job=\"a\"} 5" >"$MNT/ingest"
	got=$(slurp "$MNT/queries/total")
	expect_eq "$(printf '%s\n' "$got" | awk '{print $1, $3}')" '{job="a"} 5'
	# a relative range: at now - 1h there was nothing yet, at now job a only
	got=$(slurp "$MNT/queries/total@-1h:1h")
	expect_eq "$(printf '%s\n' "$got" | awk '{print $1, $3}')" '{job="a"} 5'
}

@test "queries: saved queries survive a restart; rm deletes them for good" {
	echo 'max(qv)' >"$MNT/queries/peak"
	printf 'min(\n  qv\n)\n' >"$MNT/queries/low"
	obs_remount
	expect_eq "$(ls "$MNT/queries")" "low
peak"
	expect_file_eq "$MNT/queries/peak@$((T0 + 600))" "{} $(rfc3339 $((T0 + 600))) 40"
	expect_file_eq "$MNT/queries/low@$((T0 + 600))" "{} $(rfc3339 $((T0 + 600))) 20"
	[ -f "$DATA/queries/peak" ]
	echo 'min(qv) * 2' >"$MNT/queries/peak"
	expect_file_eq "$MNT/queries/peak@$((T0 + 600))" "{} $(rfc3339 $((T0 + 600))) 40"
	rm "$MNT/queries/peak"
	expect_eq "$(ls "$MNT/queries")" low
	run cat "$MNT/queries/peak"
	expect_fail 'No such file or directory'
	obs_remount
	expect_eq "$(ls "$MNT/queries")" low
}

@test "queries: a bad expression or name is refused with EINVAL and saves nothing" {
	run bash -c "echo 'sum(rate(qv[5m])))' > '$MNT/queries/bad'"
	expect_fail 'Invalid argument'
	expect_grep 'queries/bad: 1:18: parse error: unexpected "\)"' "$MNT/errors"
	expect_empty_dir "$MNT/queries"
	[ ! -e "$DATA/queries/bad" ]
	# cut off at its end: refused by close(2), as more lines could have come
	got=$(python3 - "$MNT/queries/cut" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
os.write(fd, b"sum(rate(qv[5m])\n")
try:
    os.close(fd)
    print("close ok")
except OSError as e:
    print("close", errno.errorcode[e.errno])
PY
)
	expect_eq "$got" 'close EINVAL'
	expect_grep 'queries/cut: 1:17: parse error: unexpected end of input in aggregation' "$MNT/errors"
	expect_empty_dir "$MNT/queries"
	run bash -c "echo up > '$MNT/queries/.hidden'"
	expect_fail 'Invalid argument'
	run bash -c "echo up > '$MNT/queries/x@-1h:1m'"
	[ "$status" -ne 0 ]
	expect_empty_dir "$MNT/queries"
	# an expression that fails when evaluated: EINVAL on read, the reason in errors
	echo 'qv + on(job) group_left qv' >"$MNT/queries/ok"
	echo 'label_replace(qv, "job", "x", "job", ".*")' >"$MNT/queries/dup"
	run cat "$MNT/queries/dup@$((T0 + 60))"
	expect_fail 'Invalid argument'
	expect_grep 'queries/dup: vector cannot contain metrics with the same labelset' "$MNT/errors"
}
