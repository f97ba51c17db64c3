#!/usr/bin/env bats
# t58 — alerts/anomalies/: anomaly rules against a real mount with
# backfilled data (8 days every 5 minutes, written oldest first). A spike in
# a quiet hour fires, the usual level of a daily peak hour does not, a
# series with two days of history is cold and never fires; the file reads
# back with its state; a bad file is refused with EINVAL and an errors
# line; the definition survives a restart; rm removes the rule group.

load helper
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

setup() { obs_setup -o alert_interval=1s; }
teardown() { obs_teardown; }

# backfill SERIES DAYS PEAK: one sample every 5 minutes for DAYS days up to
# 10 minutes ago: 10 (+-1), or 100 (+-5) within an hour of the time of day
# of now when PEAK is 1
backfill() {
	awk -v days="$2" -v peak="$3" -v now="$(date +%s)" 'BEGIN {
		end = now - 600; start = end - days * 86400
		tod = now % 86400
		for (t = start - start % 300; t <= end; t += 300) {
			noise = sin(t * 7.13) 
			d = (t % 86400) - tod; if (d < 0) d = -d; if (d > 43200) d = 86400 - d
			if (peak && d <= 3600) v = 100 + 5 * noise; else v = 10 + noise
			printf "%d %.3f\n", t, v
		}
	}' > "$T/$1.txt"
	cat "$T/$1.txt" > "$MNT/metrics/$1"
}

state_has() {   # state_has NAME REGEX
	grep -Eq "$2" "$MNT/alerts/anomalies/$1"
}

firing() {   # firing NAME: an Anomaly alert with anomaly=NAME is firing
	ls "$MNT/alerts/firing" | grep -q "^Anomaly{anomaly=\"$1\""
}

@test "a spike in a quiet hour fires; the daily peak's usual level does not; a cold series never does" {
	backfill quiet_ms 8 0
	backfill peak_ms 8 1
	backfill young_ms 2 0
	for n in quiet peak young; do
		printf 'expr: %s_ms\nthreshold: 4\n' "$n" > "$MNT/alerts/anomalies/$n"
	done
	run ls "$MNT/alerts/anomalies"
	assert_output $'peak\nquiet\nyoung'
	now=$(date +%s)
	for n in quiet peak young; do echo "$now 100" > "$MNT/metrics/${n}_ms"; done
	wait_for 20 firing quiet
	wait_for 10 state_has quiet '^# series quiet_ms value 100 mean (9\.[89][0-9]*|10(\.[0-9]+)?) stddev [0-9.]+ z [0-9.e+]+ weeks 1\.[0-9] ok$'
	wait_for 10 state_has peak '^# series peak_ms value 100 mean (9[5-9]|10[0-5])(\.[0-9]+)? stddev [0-9.]+ z -?[0-3](\.[0-9]+)? weeks 1\.[0-9] ok$'
	wait_for 10 state_has young '^# series young_ms value 100 mean ([0-9.]+|-) stddev ([0-9.]+|-) z - weeks 0\.[0-9] cold history 2\.[0-9]d < min_history 7\.0d$'
	# evaluations go on: still only the quiet one
	sleep 2
	run firing peak
	assert_failure
	run firing young
	assert_failure
	firing quiet
	# the file reads back as written, then the state
	run head -2 "$MNT/alerts/anomalies/quiet"
	assert_output $'expr: quiet_ms\nthreshold: 4'
	grep -q '^# anomaly quiet threshold 4 for 0s min_history 7.0d baseline_at 20' "$MNT/alerts/anomalies/quiet"
	# its rule group is in the rule manager
	grep -q '^rule anomaly:quiet anomaly:quiet Anomaly alerting ok' "$MNT/alerts/state"
}

@test "a bad anomaly file is refused with EINVAL and an errors line; the old one stays" {
	printf 'expr: x_ms\n' > "$MNT/alerts/anomalies/x"
	printf 'expr: x_ms\nthreshold: -2\n' > "$T/bad"
	run cp "$T/bad" "$MNT/alerts/anomalies/x"
	expect_fail "Invalid argument"
	grep -q 'alerts/anomalies/x.*2.*invalid threshold' "$MNT/errors"
	run head -1 "$MNT/alerts/anomalies/x"
	assert_output 'expr: x_ms'
	# a new file that is refused does not appear
	echo 'bogus: 1' > "$T/bad2"
	run cp "$T/bad2" "$MNT/alerts/anomalies/y"
	expect_fail "Invalid argument"
	[ ! -e "$MNT/alerts/anomalies/y" ]
}

@test "anomaly files survive a restart; rm removes the rule group" {
	printf 'expr: r_ms\nfor: 5m\nlabels:\n  team: web\n' > "$MNT/alerts/anomalies/r"
	grep -q '^rule anomaly:r ' "$MNT/alerts/state"
	obs_remount -o alert_interval=1s
	run head -4 "$MNT/alerts/anomalies/r"
	assert_output $'expr: r_ms\nfor: 5m\nlabels:\n  team: web'
	grep -q '^rule anomaly:r ' "$MNT/alerts/state"
	rm "$MNT/alerts/anomalies/r"
	[ ! -e "$MNT/alerts/anomalies/r" ]
	run grep -q '^rule anomaly:r ' "$MNT/alerts/state"
	assert_failure
	[ ! -e "$DATA/alerts/anomalies/r" ]
}
