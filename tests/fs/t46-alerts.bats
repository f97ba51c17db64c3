#!/usr/bin/env bats
# t46 — alerts/: Prometheus rule files in the mount. A rule goes pending,
# fires after `for`, resolves; keep_firing_for; ALERTS and recording rules
# land in the store; a bad file is refused with EINVAL and an errors line
# and the old version stays active; rm removes; the state survives kill -9.

load helper
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() { obs_setup -o alert_interval=1s; }
teardown() { obs_teardown; }

has_entry() {   # has_entry DIR NAME
	[ -e "$1/$2" ]
}

no_entry() {
	[ ! -e "$1/$2" ]
}

rules_hot() {   # rules_hot FOR [KEEP]
	cat <<EOT
groups:
  - name: room
    rules:
      - alert: Hot
        expr: temp > 30
        for: $1
${2:+        keep_firing_for: $2}
        labels:
          severity: page
        annotations:
          summary: 'room {{ \$labels.room }} at {{ \$value }} degrees'
EOT
}

HOT='Hot{room="a",severity="page"}'

@test "alerts/ lists rules, state, firing, pending, events and the Alertmanager side" {
	run ls "$MNT/alerts"
	assert_output $'anomalies\nconfig\nevents\nfiring\nnotifications\npending\nrules\nsilences\nslos\nstate'
	expect_empty_dir "$MNT/alerts/rules"
	expect_empty_dir "$MNT/alerts/firing"
}

@test "a rule goes pending, fires after for, then resolves; events has each transition" {
	rules_hot 3s > "$T/hot.yml"
	cp "$T/hot.yml" "$MNT/alerts/rules/"
	expect_same "$T/hot.yml" "$MNT/alerts/rules/hot.yml"
	[ -e "$DATA/alerts/rules/hot.yml" ]
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	wait_for 5 has_entry "$MNT/alerts/pending" "$HOT"
	no_entry "$MNT/alerts/firing" "$HOT"
	wait_for 8 has_entry "$MNT/alerts/firing" "$HOT"
	no_entry "$MNT/alerts/pending" "$HOT"
	got=$(slurp "$MNT/alerts/firing/$HOT")
	[[ "$got" == *"state firing"* ]]
	[[ "$got" == *"value 35"* ]]
	[[ "$got" == *'labels {alertname="Hot",room="a",severity="page"}'* ]]
	[[ "$got" == *"annotation summary room a at 35 degrees"* ]]
	# since is when it went pending, fired at least 3 s later
	since=$(sed -n 's/^since //p' <<<"$got")
	fired=$(sed -n 's/^fired //p' <<<"$got")
	[ $(( $(date -d "$fired" +%s) - $(date -d "$since" +%s) )) -ge 3 ]
	expect_grep '^alert Hot \{alertname="Hot",room="a",severity="page"\} firing 35 since ' "$MNT/alerts/state"
	echo 'temp{room="a"} 20' > "$MNT/ingest"
	wait_for 5 no_entry "$MNT/alerts/firing" "$HOT"
	expect_grep ' resolved ' "$MNT/alerts/state"
	# a read at the end of events waits for the next transition: take 3 lines
	ev=$(timeout 10 head -n 3 "$MNT/alerts/events")
	run awk '{print $2, $3, $4}' <<<"$ev"
	assert_output $'pending Hot {alertname="Hot",room="a",severity="page"}\nfiring Hot {alertname="Hot",room="a",severity="page"}\nresolved Hot {alertname="Hot",room="a",severity="page"}'
	# ALERTS was written into the store
	run ls "$MNT/metrics"
	assert_line 'ALERTS{alertname="Hot",alertstate="firing",room="a",severity="page"}'
	assert_line 'ALERTS_FOR_STATE{alertname="Hot",room="a",severity="page"}'
}

@test "keep_firing_for keeps a resolved condition firing, then resolves" {
	rules_hot 0s 4s > "$MNT/alerts/rules/keep.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	wait_for 5 has_entry "$MNT/alerts/firing" "$HOT"
	echo 'temp{room="a"} 20' > "$MNT/ingest"
	sleep 2
	has_entry "$MNT/alerts/firing" "$HOT"
	expect_grep 'kept_firing_since' "$MNT/alerts/firing/$HOT"
	wait_for 6 no_entry "$MNT/alerts/firing" "$HOT"
}

@test "a recording rule writes its series into the store" {
	printf 'groups:\n  - name: rec\n    rules:\n      - record: room:temp:max\n        expr: max(temp)\n' \
		> "$MNT/alerts/rules/rec.yml"
	echo 'temp{room="a"} 21' > "$MNT/ingest"
	echo 'temp{room="b"} 25' > "$MNT/ingest"
	last_is() { [ "$(tail -1 "$MNT/metrics/room:temp:max" | awk '{print $2}')" = "$1" ]; }
	wait_for 5 last_is 25
}

@test "a bad rule file is refused with EINVAL and the reason in errors; the old version stays" {
	rules_hot 0s > "$MNT/alerts/rules/hot.yml"
	printf 'groups:\n  - name: x\n    rules:\n      - alert: B\n        expr: up ==\n        forr: 1m\n' > "$T/bad.yml"
	run cp "$T/bad.yml" "$MNT/alerts/rules/hot.yml"
	expect_fail "Invalid argument"
	expect_grep 'alerts/rules/hot.yml:6: field forr not found in type rulefmt.RuleNode: +forr: 1m' "$MNT/errors"
	expect_same "$DATA/alerts/rules/hot.yml" "$MNT/alerts/rules/hot.yml"
	expect_grep 'alert: Hot' "$MNT/alerts/rules/hot.yml"
	printf 'groups:\n  - name: x\n    rules:\n      - alert: B\n        expr: up ==\n' > "$T/bad2.yml"
	run cp "$T/bad2.yml" "$MNT/alerts/rules/hot.yml"
	expect_fail "Invalid argument"
	expect_grep 'alerts/rules/hot.yml:5: "B": could not parse expression: 1:6: parse error' "$MNT/errors"
	# the old rules are still evaluated
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	wait_for 5 has_entry "$MNT/alerts/firing" "$HOT"
	expect_grep '^rule hot.yml room Hot alerting ok ' "$MNT/alerts/state"
	# a bad new file is not created
	run cp "$T/bad.yml" "$MNT/alerts/rules/new.yml"
	expect_fail "Invalid argument"
	run ls "$MNT/alerts/rules"
	assert_output "hot.yml"
}

# big_rules FILE: a valid rule file (alert Cold) padded with comment lines
# to one line past 16 MiB: its first 16 MiB are a valid rule file too
big_rules() {
	python3 - "$1" <<'EOP'
import sys
head = b"groups:\n  - name: c\n    rules:\n      - alert: Cold\n        expr: temp < 0\n"
pad = b"# " + b"x" * 1021 + b"\n"
with open(sys.argv[1], "wb") as f:
    f.write(head + pad * (16 * 1024 + 1))
EOP
}

@test "a rule file over 16 MiB is refused with EFBIG and an errors line, written or found at start" {
	rules_hot 0s > "$MNT/alerts/rules/hot.yml"
	big_rules "$T/big.yml"
	run cp "$T/big.yml" "$MNT/alerts/rules/hot.yml"
	expect_fail "File too large"
	expect_grep 'alerts/rules/hot.yml: rule file too large \(more than 16777216 bytes\)' "$MNT/errors"
	# nothing of it was installed (not even its first 16 MiB): the old version stays
	expect_same "$DATA/alerts/rules/hot.yml" "$MNT/alerts/rules/hot.yml"
	expect_grep 'alert: Hot' "$MNT/alerts/rules/hot.yml"
	run grep -c Cold "$MNT/alerts/state"
	assert_output 0
	# a new file that large is not created
	run cp "$T/big.yml" "$MNT/alerts/rules/new.yml"
	expect_fail "File too large"
	run ls "$MNT/alerts/rules"
	assert_output "hot.yml"
	# one put into the data directory behind the daemon's back: refused at start
	obs_stop
	cp "$T/big.yml" "$DATA/alerts/rules/cold.yml"
	obs_start -o alert_interval=1s
	expect_grep 'alerts/rules/cold.yml: rule file too large \(more than 16777216 bytes\)' "$MNT/errors"
	run cat "$MNT/alerts/rules/cold.yml"
	expect_fail "File too large"
	expect_grep '^rule hot.yml room Hot alerting ' "$MNT/alerts/state"
	run grep -c Cold "$MNT/alerts/state"
	assert_output 0
}

@test "rm removes a rule file and its alerts" {
	rules_hot 0s > "$MNT/alerts/rules/hot.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	wait_for 5 has_entry "$MNT/alerts/firing" "$HOT"
	rm "$MNT/alerts/rules/hot.yml"
	expect_empty_dir "$MNT/alerts/rules"
	expect_empty_dir "$MNT/alerts/firing"
	[ ! -e "$DATA/alerts/rules/hot.yml" ]
	run grep -c '^rule ' "$MNT/alerts/state"
	assert_output 0
}

@test "touch makes an empty rule file; names starting with a dot are refused" {
	touch "$MNT/alerts/rules/empty.yml"
	run ls "$MNT/alerts/rules"
	assert_output "empty.yml"
	expect_lines "$MNT/alerts/rules/empty.yml" 0
	[ -e "$DATA/alerts/rules/empty.yml" ]
	run touch "$MNT/alerts/rules/.hidden"
	expect_fail "Invalid argument"
	run cat "$MNT/alerts/rules/.hidden"
	expect_fail "No such file or directory"
}

# alerts/events with O_NONBLOCK: what is there, then EAGAIN instead of
# waiting; prints EAGAIN and the count of pending Hot lines
events_pending_hot() {
	python3 -c 'import os,sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK); d = b""
try:
    while True:
        b = os.read(fd, 65536)
        if not b: break
        d += b
except BlockingIOError:
    print("EAGAIN")
print(d.decode().count(" pending Hot "))' "$MNT/alerts/events"
}

@test "a firing alert stays firing after kill -9 and restart, with its since time" {
	rules_hot 3s > "$MNT/alerts/rules/hot.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	obs_ctl_sync() { echo sync > "$MNT/ctl"; }
	wait_for 8 has_entry "$MNT/alerts/firing" "$HOT"
	obs_ctl_sync
	before=$(sed -n 's/^since //p' "$MNT/alerts/firing/$HOT")
	[ -n "$before" ]
	[ -e "$DATA/alerts/state" ]
	obs_crash
	obs_start -o alert_interval=1s
	# at once, before any evaluation could re-pend it
	has_entry "$MNT/alerts/firing" "$HOT"
	no_entry "$MNT/alerts/pending" "$HOT"
	after=$(sed -n 's/^since //p' "$MNT/alerts/firing/$HOT")
	expect_eq "$after" "$before"
	sleep 2
	has_entry "$MNT/alerts/firing" "$HOT"
	run events_pending_hot
	assert_output $'EAGAIN\n0'
}

@test "without its state file, a firing alert resumes from ALERTS_FOR_STATE after kill -9" {
	rules_hot 3s > "$MNT/alerts/rules/hot.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	wait_for 8 has_entry "$MNT/alerts/firing" "$HOT"
	# the evaluation that fired it wrote ALERTS_FOR_STATE = since
	wait_for 5 has_entry "$MNT/metrics" 'ALERTS{alertname="Hot",alertstate="firing",room="a",severity="page"}'
	fs=$(cat "$MNT/metrics/ALERTS_FOR_STATE{alertname=\"Hot\",room=\"a\",severity=\"page\"}" | tail -1)
	[ -n "$fs" ]
	before=$(sed -n 's/^since //p' "$MNT/alerts/firing/$HOT")
	[ -n "$before" ]
	echo sync > "$MNT/ctl"
	obs_crash
	rm "$DATA/alerts/state"   # lost (or a data directory copied without it)
	obs_start -o alert_interval=1s
	wait_for 8 has_entry "$MNT/alerts/firing" "$HOT"
	after=$(sed -n 's/^since //p' "$MNT/alerts/firing/$HOT")
	expect_eq "$after" "$before"
	run events_pending_hot
	assert_output $'EAGAIN\n0'
	expect_grep ' firing Hot ' "$MNT/alerts/events"
}

@test "alerts/events: 64 readers wait for the next transition, the mount still answers" {
	for i in $(seq 64); do
		cat "$MNT/alerts/events" > "$T/ev.$i" &
	done
	sleep 2
	# every reader is parked, none holds a FUSE thread
	wait_for 10 expect_grep '^fs_reads_waiting +64$' "$MNT/status"
	t0=$(date +%s%N)
	ls "$MNT/alerts" > /dev/null
	cat "$MNT/status" > /dev/null
	t1=$(date +%s%N)
	[ $(( (t1 - t0) / 1000000 )) -lt 2000 ]
	rules_hot 1h > "$MNT/alerts/rules/hot.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	for i in $(seq 64); do
		wait_for 10 grep -q ' pending Hot ' "$T/ev.$i"
	done
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
}

# ---- log alerts: log_count_over_time() over logs/ ------------------------------

APPERR='AppErrors{severity="page",stream="app"}'

@test "log_count_over_time answers from logs/ in saved queries and the query file" {
	printf 'level=error msg=a\nlevel=info msg=b\nlevel=fatal msg=c\n' >> "$MNT/logs/app"
	printf 'level=error status=500\n' >> "$MNT/logs/web"
	echo 'log_count_over_time("app?level>=error", 1h)' > "$MNT/queries/apperr"
	run awk '{print $1, $3}' "$MNT/queries/apperr"
	assert_output '{stream="app"} 2'
	echo 'sum(log_count_over_time("*?level=error", 1h))' > "$MNT/queries/allerr"
	run awk '{print $1, $3}' "$MNT/queries/allerr"
	assert_output '{} 2'
	# the query file answers it on the same descriptor
	exec 5<>"$MNT/query"
	echo 'log_count_over_time("web?status>=500", 1h)' >&5
	got=$(cat <&5)
	exec 5>&-
	run awk '{print $1, $3}' <<<"$got"
	assert_output '{stream="web"} 1'
	# a bad log query is an error line naming the function, the read fails
	echo 'log_count_over_time("app?(level=error", 1h)' > "$MNT/queries/bad"
	run cat "$MNT/queries/bad"
	expect_fail 'Invalid argument'
	expect_grep 'queries/bad: log_count_over_time: bad log query' "$MNT/errors"
}

@test "a log rule on error lines fires after for and resolves when the window passes" {
	cat > "$MNT/alerts/rules/logs.yml" <<'EOT'
groups:
  - name: logs
    rules:
      - alert: AppErrors
        expr: log_count_over_time("app?level>=error", 8s) > 2
        for: 2s
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.stream }}: {{ $value }} errors'
EOT
	printf 'level=info msg=ok\n' >> "$MNT/logs/app"
	sleep 1.5
	no_entry "$MNT/alerts/pending" "$APPERR"
	printf 'level=error msg=a\nlevel=error msg=b\nlevel=fatal msg=c\nlevel=info msg=d\n' >> "$MNT/logs/app"
	wait_for 4 has_entry "$MNT/alerts/pending" "$APPERR"
	no_entry "$MNT/alerts/firing" "$APPERR"
	wait_for 5 has_entry "$MNT/alerts/firing" "$APPERR"
	got=$(slurp "$MNT/alerts/firing/$APPERR")
	[[ "$got" == *"value 3"* ]]
	[[ "$got" == *"annotation summary app: 3 errors"* ]]
	# no new errors: the lines leave the 8 s window and the alert resolves
	wait_for 10 no_entry "$MNT/alerts/firing" "$APPERR"
	no_entry "$MNT/alerts/pending" "$APPERR"
	# events waits at its end: take the three transitions
	ev=$(timeout 10 head -n 3 "$MNT/alerts/events")
	run awk '{print $2, $3}' <<<"$ev"
	assert_output $'pending AppErrors\nfiring AppErrors\nresolved AppErrors'
}
