#!/usr/bin/env bats
# t47-am-config.bats — obs-alert check-config: Alertmanager's configuration
# validated like `amtool check-config`; the same files get the same verdict
# from Debian's amtool (0.25) when it is installed.
load common
bats_require_minimum_version 1.5.0

w() { printf '%b' "$2" > "$1.yml"; }

configs() {
	w bad_cont 'route: {receiver: a, continue: true}\nreceivers: [{name: a}]\n'
	w bad_dup 'route: {receiver: a, group_by: [x, x]}\nreceivers: [{name: a}]\n'
	w bad_dur 'route:\n  receiver: a\n  group_wait: 30\nreceivers: [{name: a}]\n'
	w bad_eqname 'route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules: [{equal: ["1a"]}]\n'
	w bad_field 'route:\n  receiver: a\n  bogus: 1\nreceivers: [{name: a}]\n'
	w bad_gi0 'route: {receiver: a, group_interval: 0s}\nreceivers: [{name: a}]\n'
	w bad_lname 'route: {receiver: a, group_by: [1x]}\nreceivers: [{name: a}]\n'
	w bad_md 'route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ["0"]}]}]\n'
	w bad_noname 'route: {receiver: a}\nreceivers: [{name: a}, {webhook_configs: [{url: "http://x/"}]}]\n'
	w bad_norecv 'route: {group_by: [a]}\nreceivers: [{name: a}]\n'
	w bad_noroute 'receivers: [{name: a}]\n'
	w bad_nourl 'route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{send_resolved: true}]}]\n'
	w bad_rdup 'route: {receiver: a}\nreceivers: [{name: a}, {name: a}]\n'
	w bad_re 'route: {receiver: a, routes: [{matchers: ["x=~\\"(\\""]}]}\nreceivers: [{name: a}]\n'
	w bad_recv 'route:\n  receiver: b\nreceivers: [{name: a}]\n'
	w bad_rep 'route: {receiver: a, repeat_interval: 0s}\nreceivers: [{name: a}]\n'
	w bad_rootm 'route: {receiver: a, matchers: [x=y]}\nreceivers: [{name: a}]\n'
	w bad_rootmute 'route: {receiver: a, mute_time_intervals: [t]}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}]\n'
	w bad_scheme 'route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: "ftp://x"}]}]\n'
	w bad_ti 'route: {receiver: a, routes: [{mute_time_intervals: [w]}]}\nreceivers: [{name: a}]\n'
	w bad_tidup 'route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}]\nmute_time_intervals: [{name: t}]\n'
	w bad_time 'route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{times: [{start_time: "17:00", end_time: "09:00"}]}]}]\n'
	w bad_top 'route: {receiver: a}\nreceivers: [{name: a}]\nfoo: 1\n'
	w bad_wd 'route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: [funday]}]}]\n'
	w bad_wdorder 'route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{weekdays: ["saturday:sunday"]}]}]\n'
	w bad_wild 'route: {receiver: a, group_by: ["...", x]}\nreceivers: [{name: a}]\n'
	w bad_yaml 'route: [receiver: a\n'
	w ok1 'route:\n  receiver: a\n  group_by: [alertname]\n  routes:\n    - matchers: ["team=\\"db\\""]\n      receiver: b\n      continue: true\n    - match_re: {service: "a|b"}\n      receiver: a\n      mute_time_intervals: [wk]\nreceivers:\n  - name: a\n  - name: b\n    webhook_configs: [{url: "http://127.0.0.1:5001/", send_resolved: false, max_alerts: 3}]\ninhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster]\n  - source_match: {a: b}\n    target_match_re: {c: "d.*"}\ntime_intervals:\n  - name: wk\n    time_intervals:\n      - weekdays: [saturday, sunday]\n        times: [{start_time: "09:00", end_time: "24:00"}]\n        days_of_month: ["1:5", "-3:-1"]\n        months: ["january:march", "12"]\n        years: ["2024:2030"]\n        location: UTC\n'
	w ok2 'global:\n  resolve_timeout: 1m\n  smtp_smarthost: "x:25"\nroute:\n  receiver: a\n  group_by: ["..."]\n  group_wait: 1s\n  group_interval: 1m\n  repeat_interval: 1h\nreceivers:\n  - name: a\nmute_time_intervals:\n  - name: n\n    time_intervals: [{weekdays: ["monday:friday"]}]\n'
	w ok_empty_child 'route:\n  receiver: a\n  routes:\n    - receiver: a\n      group_wait: 0s\nreceivers: [{name: a}]\n'
}

@test "check-config: valid files pass, invalid ones fail with status 1" {
	configs
	for f in ok*.yml; do
		run --separate-stderr obs-alert check-config "$f"
		[ "$status" -eq 0 ] || { echo "$f: $output"; return 1; }
		assert_line --index 0 "Checking '$f'  SUCCESS"
	done
	for f in bad*.yml; do
		run --separate-stderr obs-alert check-config "$f"
		[ "$status" -eq 1 ] || { echo "$f accepted: $output"; return 1; }
		[[ "${lines[0]}" == "Checking '$f'  FAILED: "* ]] || { echo "$f: $output"; return 1; }
	done
}

@test "check-config: the reason names the line" {
	configs
	run --separate-stderr obs-alert check-config bad_dur.yml
	assert_failure 1
	assert_line --index 0 "Checking 'bad_dur.yml'  FAILED: line 3: not a valid duration string: \"30\""
	run --separate-stderr obs-alert check-config bad_field.yml
	assert_line --index 0 --partial "FAILED: line 3: field bogus not found"
	run --separate-stderr obs-alert check-config bad_recv.yml
	assert_line --index 0 --partial "undefined receiver \"b\" used in route"
	run --separate-stderr obs-alert check-config ok1.yml
	assert_success
	assert_line " - 2 inhibit rules"
	assert_line " - 2 receivers"
	run --separate-stderr obs-alert check-config missing.yml
	assert_failure 1
	assert_line --index 0 --partial "FAILED: open missing.yml"
}

@test "check-config: the same verdict as amtool check-config" {
	command -v amtool >/dev/null || skip "amtool is not installed"
	configs
	n=0
	for f in *.yml; do
		amtool check-config "$f" >/dev/null 2>&1 && a=0 || a=$?
		obs-alert check-config "$f" >/dev/null 2>&1 && o=0 || o=$?
		[ "$a" = "$o" ] || { echo "$f: amtool $a, obs-alert $o"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 25 ]
}

@test "check-config: obsfs's extensions (exec_configs, alerting) are reported" {
	printf 'route: {receiver: x}\nreceivers:\n  - name: x\n    exec_configs: [{command: [/bin/true]}]\nalerting:\n  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:9093"]}]}]\n' > ext.yml
	run --separate-stderr obs-alert check-config ext.yml
	assert_success
	assert_line " - 1 alertmanagers to forward to"
	assert_line --partial " - exec receivers"
}
