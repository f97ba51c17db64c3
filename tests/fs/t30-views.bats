#!/usr/bin/env bats
# t30-views — hidden SERIES@RANGE[:STEP[:FN]] views: range forms and every
# aggregation, against samples with known timestamps.
#
# Series "dv": 40 samples, one every 30 s from T0 (a multiple of 600 s,
# 30-40 minutes ago). Sample j of 5-minute bucket b (b = 0..3, j = 0..9) has
# value 10b + (7j mod 10) + 1: every bucket holds 10b+1 .. 10b+10 in a
# shuffled order and its last sample is 10b+4.

load helper

setup() {
	obs_setup
	T0=$(aligned_ago 1800 600)
	for b in 0 1 2 3; do
		for j in $(seq 0 9); do
			echo "$((T0 + (b * 10 + j) * 30)) $((10 * b + (7 * j) % 10 + 1))"
		done
	done >"$MNT/metrics/dv"
	DV=$MNT/metrics/dv
}
teardown() { obs_teardown; }

# buckets FN-VALUE-EXPR: expected 5-minute output, value = awk expr of b
buckets() {
	local b
	for b in 0 1 2 3; do
		echo "$(rfc3339 $((T0 + b * 300))) $(awk -v b=$b "BEGIN { printf \"%.15g\", $1 }")"
	done
}

@test "the raw series holds the 40 samples; views are not listed" {
	expect_eq "$(wc -l <"$DV")" 40
	expect_eq "$(head -1 "$DV")" "$(rfc3339 $T0) 1"
	expect_eq "$(tail -1 "$DV")" "$(rfc3339 $((T0 + 39 * 30))) 34"
	cat "$DV@-1h" >/dev/null
	expect_eq "$(ls "$MNT/metrics")" dv
}

@test "@-1h and open ranges return every sample; an old range is empty" {
	expect_same "$DV@-1h" "$DV"
	expect_same "$DV@-1h.." "$DV"
	expect_same "$DV@..now" "$DV"
	expect_file_eq "$DV@-3h..-2h" ""
	expect_file_eq "$DV@-5m" ""
}

@test "@A..B with epoch seconds is inclusive on both ends" {
	expect_file_eq "$DV@$((T0 + 300))..$((T0 + 570))" "$(sed -n '11,20p' "$DV")"
	expect_lines "$DV@$((T0 + 301))..$((T0 + 569))" 8
	expect_file_eq "$DV@$T0..$T0" "$(rfc3339 $T0) 1"
}

@test "@A..B with RFC3339 times (Z, fractions and offsets)" {
	a=$(date -u -d "@$((T0 + 600))" +%Y-%m-%dT%H:%M:%SZ)
	b=$(date -u -d "@$((T0 + 870))" +%Y-%m-%dT%H:%M:%S.000+00:00)
	expect_file_eq "$DV@$a..$b" "$(sed -n '21,30p' "$DV")"
	# a range that mixes forms
	expect_lines "$DV@$a..$((T0 + 630))" 2
}

@test ":STEP alone is avg; :STEP:avg" {
	want=$(buckets '10*b + 5.5')
	expect_file_eq "$DV@-1h:5m" "$want"
	expect_file_eq "$DV@-1h:5m:avg" "$want"
	expect_file_eq "$DV@-1h:300s:avg" "$want"
}

@test ":STEP:min :max :sum :count :last" {
	expect_file_eq "$DV@-1h:5m:min" "$(buckets '10*b + 1')"
	expect_file_eq "$DV@-1h:5m:max" "$(buckets '10*b + 10')"
	expect_file_eq "$DV@-1h:5m:sum" "$(buckets '100*b + 55')"
	expect_file_eq "$DV@-1h:5m:count" "$(buckets '10')"
	expect_file_eq "$DV@-1h:5m:last" "$(buckets '10*b + 4')"
}

@test ":STEP:p50 and :p99 interpolate between closest ranks" {
	expect_file_eq "$DV@-1h:5m:p50" "$(buckets '10*b + 5.5')"
	# p99 of 10 values: rank 8.91 between the 9th and 10th smallest
	run cat "$DV@-1h:5m:p99"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	for b in 0 1 2 3; do
		[ "${lines[$b]%% *}" = "$(rfc3339 $((T0 + b * 300)))" ]
		awk -v got="${lines[$b]##* }" -v want="$((10 * b + 9)).91" \
			'BEGIN { d = got - want; exit !(d < 1e-9 && d > -1e-9) }'
	done
	expect_eq "$(cat "$DV@-1h:5m:p90" | cut -d' ' -f2 | awk '{printf "%.6f\n", $1}')" \
		"$(printf '%s\n' 9.100000 19.100000 29.100000 39.100000)"
}

@test "one step over the whole range; a step that splits buckets" {
	expect_eq "$(cat "$DV@-1h:1h:count" | awk '{s += $2} END {print s}')" 40
	v=$(slurp "$DV@-1h:1h:sum")
	raw=$(slurp "$DV")
	expect_eq "$(awk '{s += $2} END {print s}' <<<"$v")" "$(awk '{s += $2} END {print s}' <<<"$raw")"
	[ -n "$raw" ]
	# 1-minute steps: 20 buckets of 2 samples
	run cat "$DV@-1h:1m:count"
	expect_eq "${#lines[@]}" 20
	expect_eq "$(printf '%s\n' "${lines[@]}" | cut -d' ' -f2 | sort -u)" 2
	expect_eq "${lines[0]}" "$(rfc3339 $T0) 2"
	# a range combined with a step
	expect_file_eq "$DV@$((T0 + 300))..$((T0 + 899)):5m:max" "$(rfc3339 $((T0 + 300))) 20
$(rfc3339 $((T0 + 600))) 30"
}

@test "views with RFC3339 ranges and a STEP:FN suffix" {
	a=$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)
	b=$(date -u -d "@$((T0 + 599))" +%Y-%m-%dT%H:%M:%SZ)
	expect_file_eq "$DV@$a..$b:5m:sum" "$(rfc3339 $T0) 55
$(rfc3339 $((T0 + 300))) 155"
}

@test "views through select/ and labels/ paths, and of labelled series" {
	printf 'lv{k="a"} %s %s\n' 1 "${T0}000" 3 "$((T0 + 60))000" >"$MNT/ingest"
	expect_eq "$(cat "$MNT/metrics/lv{k=\"a\"}@-1h:1h:sum" | cut -d' ' -f2)" 4
	expect_eq "$(cat "$MNT/select/k=a/lv{k=\"a\"}@-1h:1h:max" | cut -d' ' -f2)" 3
	expect_lines "$MNT/labels/k/a/lv{k=\"a\"}@-1h" 2
	expect_lines "$MNT/select/__name__=dv/dv@-1h:5m:count" 4
}

@test "bad views are ENOENT; views are read-only" {
	run cat "$DV@garbage"
	expect_fail "No such file or directory"
	[[ "$output" == *"No such file"* ]]
	run cat "$DV@-1h:5m:bogus"
	expect_fail "No such file or directory"
	run cat "$MNT/metrics/nosuch@-1h"
	expect_fail "No such file or directory"
	run bash -c "echo 1 > '$DV@-1h'"
	expect_fail "Permission denied"
	expect_eq "$(wc -l <"$DV")" 40
}

@test "time=epoch applies to views" {
	obs_remount -o time=epoch
	expect_file_eq "$DV@-1h:5m:max" "$T0 10
$((T0 + 300)) 20
$((T0 + 600)) 30
$((T0 + 900)) 40"
}
