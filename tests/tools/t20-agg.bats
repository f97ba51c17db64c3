#!/usr/bin/env bats
# t20 — obs-agg: aligned buckets, every function, --by, --merge, --moving.

load common

gauge() {  # epoch seconds; buckets of 1m start at 1795255200 (2026-11-21T10:00Z)
	printf '1795255195 100\n1795255200 2\n1795255210 4\n1795255220 4\n1795255230 4\n'
	printf '1795255240 5\n1795255250 5\n1795255255 7\n1795255259.999 9\n1795255330 1\n'
}

@test "buckets are aligned to multiples of the step and stamped with their start" {
	run obs-agg 1m count < <(gauge)
	assert_success
	assert_output $'1795255140 1\n1795255200 8\n1795255320 1'
}

@test "avg, min, max, sum, first, last" {
	run obs-agg 1m avg < <(gauge);   assert_output $'1795255140 100\n1795255200 5\n1795255320 1'
	run obs-agg 1m min < <(gauge);   assert_output $'1795255140 100\n1795255200 2\n1795255320 1'
	run obs-agg 1m max < <(gauge);   assert_output $'1795255140 100\n1795255200 9\n1795255320 1'
	run obs-agg 1m sum < <(gauge);   assert_output $'1795255140 100\n1795255200 40\n1795255320 1'
	run obs-agg 1m first < <(gauge); assert_output $'1795255140 100\n1795255200 2\n1795255320 1'
	run obs-agg 1m last < <(gauge);  assert_output $'1795255140 100\n1795255200 9\n1795255320 1'
}

@test "stddev and stdvar are the population figures" {
	# 2 4 4 4 5 5 7 9: mean 5, variance 4
	run obs-agg 1m stddev < <(gauge)
	assert_output $'1795255140 0\n1795255200 2\n1795255320 0'
	run obs-agg 1m stdvar < <(gauge)
	assert_line -n 1 '1795255200 4'
}

@test "quantiles interpolate between the closest ranks" {
	seq 1 10 | awk '{ print 1795255200 + $1, $1 }' >q.txt
	run obs-agg 1m p90 q.txt;    assert_output '1795255200 9.1'
	run obs-agg 1m p50 q.txt;    assert_output '1795255200 5.5'
	run obs-agg 1m median q.txt; assert_output '1795255200 5.5'
	run obs-agg 1m p0 q.txt;     assert_output '1795255200 1'
	run obs-agg 1m p100 q.txt;   assert_output '1795255200 10'
	run obs-agg 1m p75 q.txt;    assert_output '1795255200 7.75'
	run obs-agg 1m p12.5 q.txt;  assert_output '1795255200 2.125'
}

@test "NaN: skipped by min, max and quantiles, poisons avg and sum, counted" {
	in=$'0 NaN\n1 3\n2 1\n3 NaN'
	run obs-agg 1m min <<<"$in";   assert_output '0 1'
	run obs-agg 1m max <<<"$in";   assert_output '0 3'
	run obs-agg 1m p50 <<<"$in";   assert_output '0 2'
	run obs-agg 1m avg <<<"$in";   assert_output '0 NaN'
	run obs-agg 1m count <<<"$in"; assert_output '0 4'
	run obs-agg 1m min <<<$'0 NaN\n1 NaN'; assert_output '0 NaN'
}

@test "RFC3339 input gives RFC3339 bucket starts; 1h buckets from epoch multiples" {
	run obs-agg 1h sum <<<$'2026-11-21T10:59:59.999Z 1\n2026-11-21T11:00:00Z 2\n2026-11-21T11:30:00+01:00 4'
	# the third sample (10:30Z) is older than the second: reported, not bucketed
	assert_failure 1
	assert_line "obs-agg: stdin:3: out-of-order sample '2026-11-21T11:30:00+01:00 4'"
	assert_line '2026-11-21T10:00:00.000Z 1'
	assert_line '2026-11-21T11:00:00.000Z 2'
}

@test "series stay apart; each bucket is printed when its series moves on" {
	run obs-agg 10s sum <<<$'a 0 1\nb 0 10\na 5 2\nb 12 20\na 15 3'
	# at the end the open buckets are printed in order of first appearance
	assert_output $'b 0 10\na 0 3\na 10 3\nb 10 20'
}

@test "--by sum adds the series' results per bucket" {
	printf '0 1\n5 3\n10 5\n' >a
	printf '0 10\n10 20\n15 40\n' >b
	run bash -c 'grep . a b | obs-agg --by sum 10s avg'
	assert_success
	assert_output $'0 12\n10 35'
	run bash -c 'grep . a b | obs-agg 10s max -b max'
	assert_output $'0 10\n10 40'
	run bash -c 'grep . a b | obs-agg -b count 10s avg'
	assert_output $'0 2\n10 2'
}

@test "--merge pools every series' samples per bucket" {
	printf '0 1\n5 3\n10 5\n' >a
	printf '0 10\n10 20\n15 40\n' >b
	run bash -c 'grep . a b | obs-agg -m 10s avg'
	assert_output $'0 4.666666666666667\n10 21.666666666666668'
	run bash -c 'grep . a b | obs-agg -m 10s p50'
	assert_output $'0 3\n10 20'
}

@test "--moving N: the last N samples at every sample" {
	run obs-agg -M 3 avg <<<$'0 3\n1 6\n2 9\n3 12\n4 NaN'
	assert_output $'0 3\n1 4.5\n2 6\n3 9\n4 NaN'
	run obs-agg -M 2 max <<<$'0 3\n1 6\n2 1\n3 0'
	assert_output $'0 3\n1 6\n2 6\n3 1'
}

@test "--moving DURATION: the samples in [t-d, t]" {
	run obs-agg --moving 10s sum <<<$'0 1\n5 2\n10 4\n21 8\n31 16'
	assert_output $'0 1\n5 3\n10 7\n21 8\n31 24'
}

@test "usage errors exit 2" {
	run obs-agg 1m </dev/null;           assert_failure 2
	run obs-agg 1m nosuch </dev/null;    assert_failure 2; assert_output --partial "invalid function 'nosuch'"
	run obs-agg 0 avg </dev/null;        assert_failure 2; assert_output --partial "invalid step '0'"
	run obs-agg -b prod 1m avg </dev/null; assert_failure 2
	run obs-agg -m -b sum 1m avg </dev/null; assert_failure 2
	run obs-agg 1m p101 </dev/null;      assert_failure 2
}

@test "empty input prints nothing" {
	run obs-agg 1m avg </dev/null
	assert_success
	assert_output ''
	run obs-agg -m 1m avg </dev/null
	assert_success
	assert_output ''
}

@test "a staleness marker line (stale, as export writes it) is no sample; a bucket of only markers has no line" {
	printf '1795255200 2\n1795255210 stale\n1795255220 4\n1795255270 stale\n1795255330 1\n' >st.txt
	run obs-agg 1m count st.txt
	assert_success
	assert_output $'1795255200 2\n1795255320 1'
	run obs-agg 1m avg st.txt
	assert_output $'1795255200 3\n1795255320 1'
	run obs-rate st.txt
	assert_success
	assert_line -n 0 '1795255220 0.1'
	run obs-rate st.txt
	refute_output --partial 'invalid'
}
