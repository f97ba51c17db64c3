#!/usr/bin/env bats
# t72-agg-view — obs-agg and the SERIES@RANGE:STEP:FN views are one
# aggregation (obs_agg_acc, lib/tsdb/downsample.c), NaN rule included:
# avg/sum propagate NaN, min/max/quantiles pass it over, count counts it.
#
# nan_mix has 18 samples t_i = T0 + 10 i s, v_i = i, except v_3 and v_12,
# which are NaN. So the 1m buckets hold i = 0..5 (a NaN), 6..11 (none),
# 12..17 (a NaN).

load common
load ../fs/helper

setup() {
	obs_setup
	T0=$(aligned_ago 600 60)
	local i v
	for i in $(seq 0 17); do
		v=$i
		if [ "$i" -eq 3 ] || [ "$i" -eq 12 ]; then v=NaN; fi
		echo "nan_mix $v $(((T0 + 10 * i) * 1000))"
	done >"$T/in.prom"
	cat "$T/in.prom" >"$MNT/ingest"
	cat "$MNT/metrics/nan_mix@-1h" >"$T/raw"
	cd "$T" || return 1
}

teardown() {
	cd /
	obs_teardown
}

t() { rfc3339 $((T0 + $1)); }

# view FN: the mount's 1m buckets; agg FN: obs-agg's on the raw samples
view() { cat "$MNT/metrics/nan_mix@-1h:1m:$1"; }
agg() { obs-agg 1m "$1" "$T/raw"; }

@test "agg-view: the raw samples read back with their NaNs" {
	expect_lines "$T/raw" 18
	run grep -c ' NaN$' "$T/raw"
	assert_output 2
}

@test "agg-view: avg propagates NaN, in the view and in obs-agg alike" {
	view avg >"$T/view"
	agg avg >"$T/agg"
	expect_eq "$(cat "$T/view")" "$(t 0) NaN
$(t 60) 8.5
$(t 120) NaN"
	expect_same "$T/view" "$T/agg"
}

@test "agg-view: sum propagates NaN; min and max pass it over" {
	view sum >"$T/view"
	agg sum >"$T/agg"
	expect_eq "$(cat "$T/view")" "$(t 0) NaN
$(t 60) 51
$(t 120) NaN"
	expect_same "$T/view" "$T/agg"
	view min >"$T/view"
	agg min >"$T/agg"
	expect_eq "$(cat "$T/view")" "$(t 0) 0
$(t 60) 6
$(t 120) 13"
	expect_same "$T/view" "$T/agg"
	view max >"$T/view"
	agg max >"$T/agg"
	expect_eq "$(cat "$T/view")" "$(t 0) 5
$(t 60) 11
$(t 120) 17"
	expect_same "$T/view" "$T/agg"
}

@test "agg-view: count counts NaN, last keeps it, p50 passes it over" {
	view count >"$T/view"
	agg count >"$T/agg"
	expect_eq "$(cat "$T/view")" "$(t 0) 6
$(t 60) 6
$(t 120) 6"
	expect_same "$T/view" "$T/agg"
	view last >"$T/view"
	agg last >"$T/agg"
	expect_same "$T/view" "$T/agg"
	view p50 >"$T/view"
	agg p50 >"$T/agg"
	expect_eq "$(cat "$T/view")" "$(t 0) 2
$(t 60) 8.5
$(t 120) 15"
	expect_same "$T/view" "$T/agg"
}
