#!/usr/bin/env bats
# t57 — the Alertmanager side of alerts/ on a real mount: alerts/config
# (checked at close, errors line, old one kept), silences/NAME (mute, then
# expire with rm), one notification for 100 alerts of a group, inhibition,
# slos/NAME (a rule group and a budget state). Deliveries go to an exec
# hook that appends one line per call to $T/calls.

load helper
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() {
	obs_setup -o alert_interval=1s 2>/dev/null || skip "this obsfsd has no rule manager (-o alert_interval)"
	[ -d "$MNT/alerts/silences" ] || skip "this mount has no alerts/silences (the notifier is not wired in)"
	cat > "$T/hook.sh" <<'EOF'
#!/bin/sh
names=$(python3 -c 'import json,sys; print(" ".join(sorted(a["labels"]["alertname"] + ":" + a["status"] for a in json.load(sys.stdin)["alerts"])))')
echo "$ALERT_STATUS $ALERT_COUNT $ALERT_GROUP_LABELS $names" >> "$(dirname "$0")/calls"
EOF
	chmod +x "$T/hook.sh"
}
teardown() { obs_teardown; }

calls_match() { grep -q -- "$1" "$T/calls"; }

config() {   # config EXTRA: a route to the hook, fast timings
	cat <<EOF
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    exec_configs: [{command: ['$T/hook.sh']}]
$1
EOF
}

rule() {   # rule NAME EXPR [LABELS]
	cat <<EOF
groups:
  - name: $1
    interval: 1s
    rules:
      - alert: $1
        expr: $2
        labels: {${3:-}}
EOF
}

@test "alerts/config: a bad file is refused with the line, the old one stays" {
	config > "$T/good.yml"
	cp "$T/good.yml" "$MNT/alerts/config"
	run cat "$MNT/alerts/config"
	assert_output "$(cat "$T/good.yml")"
	printf 'route:\n  receiver: hook\n  group_wait: soon\nreceivers: [{name: hook}]\n' > "$T/bad.yml"
	run cp "$T/bad.yml" "$MNT/alerts/config"
	expect_fail "Invalid argument"
	run cat "$MNT/errors"
	assert_output --partial 'alerts/config: line 3: not a valid duration string: "soon"'
	run cat "$MNT/alerts/config"
	assert_output "$(cat "$T/good.yml")"
}

@test "silences: a silence mutes the alert, rm expires it and the hook runs" {
	config > "$MNT/alerts/config"
	printf 'alertname="Always"\nuntil: 1h\nauthor: ops\ncomment: maintenance\n' > "$MNT/alerts/silences/maint"
	run ls "$MNT/alerts/silences"
	assert_output maint
	run cat "$MNT/alerts/silences/maint"
	assert_line "status: active"
	assert_line "createdBy: ops"
	assert_line 'matchers: {alertname="Always"}'
	rule Always 'vector(1)' > "$MNT/alerts/rules/always.yml"
	wait_for 10 test -e "$MNT/alerts/firing/Always"
	sleep 2
	[ ! -e "$T/calls" ]
	run cat "$MNT/alerts/firing/Always"
	assert_line --regexp '^silencedBy [0-9a-f-]{36}$'
	rm "$MNT/alerts/silences/maint"
	run ls "$MNT/alerts/silences"
	assert_output ""
	wait_for 10 calls_match "^firing 1 {alertname=\"Always\"} Always:firing$"
	run cat "$MNT/alerts/silences/.history"
	assert_line "status: expired"
	# a bad silence is refused with its reason
	printf 'team=~".*"\n' > "$T/bad"
	run cp "$T/bad" "$MNT/alerts/silences/bad"
	expect_fail "Invalid argument"
	[ ! -e "$MNT/alerts/silences/bad" ]
	run cat "$MNT/errors"
	assert_output --partial "alerts/silences/bad: at least one matcher must not match the empty string"
}

@test "grouping: 100 alerts of a group arrive as one notification" {
	config > "$MNT/alerts/config"
	# timestamped a little in the past: every evaluation sees all 100 series
	# (an untimed write could straddle an evaluation's aligned time)
	ts=$(( $(date +%s) * 1000 - 3000 ))
	for i in $(seq 100); do echo "load{host=\"h$i\"} 5 $ts"; done > "$MNT/ingest"
	rule Many 'load > 1' > "$MNT/alerts/rules/many.yml"
	wait_for 15 calls_match '^firing 100 {alertname="Many"}'
	sleep 2
	expect_lines "$T/calls" 1
	run cat "$MNT/alerts/notifications"
	assert_line "notifications 1"
	assert_line --partial '{}:{alertname="Many"} receiver=hook alerts=100'
}

@test "inhibition: a firing critical alert mutes the warning with the same cluster" {
	config 'inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [cluster]' > "$MNT/alerts/config"
	echo 'down_flag 1' > "$MNT/ingest"
	{ rule Down 'down_flag > 0' 'severity: critical, cluster: eu'; } > "$MNT/alerts/rules/down.yml"
	wait_for 10 calls_match "Down:firing"
	# the target's rule comes after the source fires (groups are evaluated
	# on their own schedules: written together, Slow could fire first and
	# be notified before anything inhibits it, in Alertmanager too)
	{ rule Slow 'vector(1)' 'severity: warning, cluster: eu'; } > "$MNT/alerts/rules/slow.yml"
	wait_for 10 grep -q 'alertname="Slow"' "$MNT/alerts/notifications"
	sleep 2
	run grep -c Slow "$T/calls"
	assert_output 0
	run cat "$MNT/alerts/notifications"
	assert_line --regexp 'suppressed \{alertname="Slow",cluster="eu",severity="warning"\} inhibitedBy=[0-9a-f]{16}'
	# the source resolves: the warning is notified
	echo 'down_flag 0' > "$MNT/ingest"
	wait_for 20 calls_match "Slow:firing"
	wait_for 10 calls_match "Down:resolved"   # its own group's next flush
}

@test "slos: an objective becomes burn-rate rules and a budget state" {
	printf 'objective: 99.9\nwindow: 30d\nerrors: sum(rate(errs_total[$window]))\ntotal: sum(rate(reqs_total[$window]))\n' > "$MNT/alerts/slos/api"
	run ls "$MNT/alerts/slos"
	assert_output api
	run cat "$MNT/alerts/slos/api"
	assert_line "slo api"
	assert_line "objective 99.9%"
	assert_line "error_budget 0.1%"
	assert_line "      - alert: SLOErrorBudgetBurn"
	wait_for 10 grep -q "slo:sli_error:ratio_rate5m" "$MNT/alerts/state"
	printf 'objective: 99.9\n' > "$T/bad"
	run cp "$T/bad" "$MNT/alerts/slos/bad"
	expect_fail "Invalid argument"
	run cat "$MNT/errors"
	assert_output --partial "alerts/slos/bad: give either error_ratio"
	rm "$MNT/alerts/slos/api"
	run ls "$MNT/alerts/slos"
	assert_output ""
}
