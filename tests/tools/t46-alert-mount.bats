#!/usr/bin/env bats
# t46 — obs-alert rules|state -m MNT: the rule manager of a live mount from
# the shell. rules lists every loaded group and rule with health, last
# evaluation and alert counts (exit 1 when a rule fails); state prints
# alerts/state, filtered by --state and amtool matchers (exit 1 when no
# alert matched); MNT also from OBS_MOUNT; usage errors exit 2.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
: "${OBS_BUILD:=$BATS_TEST_DIRNAME/../../build}"
PATH="$OBS_BUILD/bin:$PATH"
load ../fs/helper

setup() {
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	obs_setup -o alert_interval=1s
}

teardown() {
	obs_teardown
}

has_entry() { [ -e "$1/$2" ]; }

load_rules() {
	cat > "$MNT/alerts/rules/room.yml" <<'EOT'
groups:
  - name: room temps
    rules:
      - alert: Hot
        expr: temp > 30
        labels: {severity: page}
      - alert: Warm
        expr: temp > 20
        for: 1h
        labels: {severity: ticket}
      - record: room:temp:max
        expr: max(temp)
EOT
	: > "$MNT/alerts/rules/empty.yml"
	echo 'temp{room="a"} 35' > "$MNT/ingest"
	echo 'temp{room="b"} 25' > "$MNT/ingest"
	wait_for 5 has_entry "$MNT/alerts/firing" 'Hot{room="a",severity="page"}'
	wait_for 5 has_entry "$MNT/alerts/pending" 'Warm{room="b",severity="ticket"}'
}

@test "rules lists every group and rule with health and alert counts" {
	load_rules
	run obs-alert rules -m "$MNT"
	assert_success
	assert_line --index 0 --regexp '^FILE +GROUP +NAME +TYPE +HEALTH +LAST EVALUATION +DURATION +FIRING +PENDING +ERROR$'
	assert_line --regexp '^room\.yml +room temps +Hot +alerting +ok +20[0-9-]+T[0-9:.]+Z +[0-9.]+ms +1 +0 *$'
	assert_line --regexp '^room\.yml +room temps +Warm +alerting +ok +[^ ]+ +[^ ]+ +0 +2 *$'
	assert_line --regexp '^room\.yml +room temps +room:temp:max +recording +ok '
	assert_line --regexp '^empty\.yml +- +- +- +- +- +- +- +-$'
	[ "${#lines[@]}" -eq 5 ]
	run obs-alert rules -q -m "$MNT"
	assert_success
	assert_output $'Hot\nWarm\nroom:temp:max'
	# the mount from OBS_MOUNT
	OBS_MOUNT=$MNT run obs-alert rules -q
	assert_success
	assert_output $'Hot\nWarm\nroom:temp:max'
}

@test "rules exits 1 when a rule's evaluation fails, with its error" {
	printf 'groups:\n  - name: g\n    rules:\n      - alert: Broken\n        expr: log_count_over_time("app?(x", 1m) > 0\n' \
		> "$MNT/alerts/rules/broken.yml"
	broken() { grep -q '^rule broken.yml g Broken alerting err ' "$MNT/alerts/state"; }
	wait_for 5 broken
	run obs-alert rules -m "$MNT"
	assert_failure 1
	assert_line --regexp '^broken\.yml +g +Broken +alerting +err .*log_count_over_time: bad log query'
}

@test "state prints alerts/state, filtered by --state and matchers" {
	load_rules
	run obs-alert state -m "$MNT"
	assert_success
	# the file as it is (it moves with every evaluation: compare its shape)
	[ "${#lines[@]}" -eq 6 ]
	assert_line --index 0 --regexp '^rule room\.yml room temps Hot alerting ok [^ ]+ [0-9.]+ms$'
	assert_line --regexp '^rule room\.yml room temps room:temp:max recording ok '
	[ "$(grep -c '^alert ' <<<"$output")" -eq 3 ]
	run obs-alert state -m "$MNT" --state firing
	assert_success
	assert_output --regexp '^alert Hot \{alertname="Hot",room="a",severity="page"\} firing 35 since [^ ]+ fired [^ ]+$'
	run obs-alert state -m "$MNT" -s pending
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	assert_line --regexp '^alert Warm \{alertname="Warm",room="a",severity="ticket"\} pending 35 since '
	assert_line --regexp '^alert Warm \{alertname="Warm",room="b",severity="ticket"\} pending 25 since '
	# amtool matchers: a bare first word is the alertname, regexes are anchored
	run obs-alert state -m "$MNT" Warm 'room=~"b|c"'
	assert_success
	assert_output --regexp '^alert Warm \{alertname="Warm",room="b",severity="ticket"\} pending 25 since [^ ]+$'
	run obs-alert state -m "$MNT" severity=page
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	OBS_MOUNT=$MNT run obs-alert state -s firing alertname=Hot
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	# nothing matches: no output, exit 1
	run obs-alert state -m "$MNT" -s firing severity=ticket
	assert_failure 1
	assert_output ''
	run obs-alert state -m "$MNT" -s inactive
	assert_failure 1
}

@test "state shows resolved alerts as inactive" {
	load_rules
	echo 'temp{room="a"} 10' > "$MNT/ingest"
	gone() { [ ! -e "$MNT/alerts/firing/Hot{room=\"a\",severity=\"page\"}" ]; }
	wait_for 5 gone
	run obs-alert state -m "$MNT" -s inactive Hot
	assert_success
	assert_output --regexp '^alert Hot \{alertname="Hot",room="a",severity="page"\} inactive [^ ]+ since [^ ]+ fired [^ ]+ resolved [^ ]+$'
}

@test "usage errors exit 2 with a message" {
	run env -u OBS_MOUNT obs-alert state
	assert_failure 2
	assert_output --partial 'no mount: give -m MNT or set OBS_MOUNT'
	run env -u OBS_MOUNT obs-alert rules
	assert_failure 2
	run obs-alert state -m "$MNT" -s resolved
	assert_failure 2
	assert_output --partial "invalid state 'resolved' (firing, pending, inactive)"
	run obs-alert state -m "$MNT" 'room=~"('
	assert_failure 2
	assert_output --partial 'invalid matchers'
	run obs-alert state -m "$T/nowhere"
	assert_failure 2
	assert_output --partial "cannot read '$T/nowhere/alerts/state': No such file or directory"
	run obs-alert rules -m "$MNT" extra
	assert_failure 2
}
