#!/usr/bin/env bats
# t45 — obs-alert test / check: Prometheus' rule unit tests and rule-file
# checks, with the verdict (and, where wording is ours too, the report)
# compared against Debian's promtool (prometheus 2.42) on the same files.

load common
load ../fs/helper

D=$BATS_TEST_DIRNAME/data/alert

have_promtool() {
	command -v promtool >/dev/null 2>&1
}

# run_both KIND FILE: run obs-alert and promtool KIND rules on FILE in its
# directory; sets o_rc/o_out/o_err and p_rc/p_out/p_err (p_rc=skip without promtool)
run_both() {
	local kind=$1 f=$2
	o_rc=0
	(cd "$D" && obs-alert "$kind" "$f" >"$T/o.out" 2>"$T/o.err") || o_rc=$?
	if have_promtool; then
		p_rc=0
		(cd "$D" && promtool "$kind" rules "$f" >"$T/p.out" 2>"$T/p.err") || p_rc=$?
	else
		p_rc=skip
	fi
}

same_verdict() {
	if [ "$p_rc" != skip ] && [ "$p_rc" != "$o_rc" ]; then
		echo "verdicts differ on $2: obs-alert $o_rc, promtool $p_rc" >&2
		cat "$T/o.err" "$T/p.err" >&2
		return 1
	fi
	if [ "$o_rc" != "$1" ]; then
		echo "obs-alert exit $o_rc on $2, expected $1" >&2
		cat "$T/o.out" "$T/o.err" >&2
		return 1
	fi
}

# the same lines in any order (promtool walks Go maps: labels, annotations)
same_report_sorted() {
	[ "$p_rc" = skip ] && return 0
	diff -u <(sort "$T/p.err") <(sort "$T/o.err") && diff -u "$T/p.out" "$T/o.out"
}

same_report() {
	[ "$p_rc" = skip ] && return 0
	diff -u "$T/p.out" "$T/o.out" && diff -u "$T/p.err" "$T/o.err"
}

@test "passing unit test files: SUCCESS and exit 0, like promtool" {
	for f in test-node-pass.yml test-flap-pass.yml test-order-pass.yml; do
		run_both test "$f"
		same_verdict 0 "$f"
		same_report
		expect_eq "$(head -2 "$T/o.out")" "Unit Testing:  $f
  SUCCESS"
	done
}

@test "failing unit test files: FAILED with promtool's report, exit 1" {
	for f in test-node-fail.yml test-order-fail.yml test-unknown-field-fail.yml test-noalertname-fail.yml; do
		run_both test "$f"
		same_verdict 1 "$f"
		same_report
		expect_grep '^  FAILED:$' "$T/o.err"
	done
}

@test "a failing alert test shows exp and got alerts with labels and annotations" {
	run_both test test-node-fail.yml
	same_verdict 1 test-node-fail.yml
	expect_grep '^    alertname: InstanceDown, time: 5m, $' "$T/o.err"
	expect_grep 'Labels:\{alertname="InstanceDown", instance="web1:9100", job="node", severity="warning"\}' "$T/o.err"
	expect_grep 'Annotations:\{description="web1:9100 has been down for more than 2 minutes \(value 0\).", summary="Instance web1:9100 of node down"\}' "$T/o.err"
	expect_grep '^        got: \{\} 1E\+00$' "$T/o.err"
}

@test "group_eval_order decides whether a recording rule feeds an alert in the same evaluation" {
	run_both test test-order-pass.yml
	same_verdict 0 test-order-pass.yml
	run_both test test-order-fail.yml
	same_verdict 1 test-order-fail.yml
	expect_grep '^        got:\[\]$' "$T/o.err"
}

@test "a rule file that does not load fails the test with its errors" {
	run_both test test-badrules-fail.yml
	same_verdict 1 test-badrules-fail.yml
	expect_grep 'bad-expr.rules.yml: 5:15: group "bad", rule 1, "X": could not parse expression: 1:35: parse error' "$T/o.err"
	expect_grep 'bad-expr.rules.yml: 7:17: group "bad", rule 2, "job:bad name": invalid recording rule name: job:bad name' "$T/o.err"
}

@test "exit status is 1 when any file fails, 0 only when all pass" {
	cd "$D"
	run obs-alert test test-flap-pass.yml test-order-fail.yml
	assert_failure 1
	run obs-alert test test-flap-pass.yml test-order-pass.yml
	assert_success
	run obs-alert test
	assert_failure 2
}

@test "rule_files are relative to the test file, not the working directory" {
	run obs-alert test "$D/test-flap-pass.yml"
	assert_success
	assert_line "Unit Testing:  $D/test-flap-pass.yml"
}

@test "check: valid rule files pass with the rule count, like promtool check rules" {
	for f in node.rules.yml flap.rules.yml order.rules.yml; do
		run_both check "$f"
		same_verdict 0 "$f"
		same_report
	done
	expect_eq "$(cat "$T/o.out")" "Checking order.rules.yml
  SUCCESS: 2 rules found"
}

@test "check: bad rule files are refused with line and reason, like promtool" {
	for f in bad-expr.rules.yml bad-fields.rules.yml bad-dup-group.rules.yml bad-template.rules.yml \
		 bad-recording.rules.yml bad-duration.rules.yml bad-yaml.rules.yml; do
		run_both check "$f"
		same_verdict 1 "$f"
		expect_grep '^  FAILED:$' "$T/o.err"
	done
	run_both check bad-fields.rules.yml
	expect_grep '^bad-fields.rules.yml: line 6: field forr not found in type rulefmt.RuleNode$' "$T/o.err"
	run_both check bad-dup-group.rules.yml
	same_report
	expect_grep '6:5: groupname: "g" is repeated in the same file' "$T/o.err"
	run_both check bad-template.rules.yml
	same_report_sorted
	expect_grep 'annotation "summary": template: __alert_A:1: function "humanizeBytes" not defined' "$T/o.err"
	run_both check bad-recording.rules.yml
	same_report
	expect_grep "invalid field 'for' in recording rule" "$T/o.err"
	run_both check bad-duration.rules.yml
	expect_grep 'not a valid duration string: "1.5m"' "$T/o.err"
	run_both check bad-yaml.rules.yml
	expect_grep 'yaml: line [0-9]+: ' "$T/o.err"
}

@test "check: a missing file is an error, exit 1" {
	run obs-alert check "$T/nope.yml"
	assert_failure 1
	assert_output --partial "No such file or directory"
}

@test "check: a rule file over 16 MiB is refused as too large, exit 1" {
	head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr '\0' '#' > "$T/big.yml"
	run obs-alert check "$T/big.yml"
	assert_failure 1
	assert_output --partial "big.yml: File too large"
}
