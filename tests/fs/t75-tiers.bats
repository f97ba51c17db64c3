#!/usr/bin/env bats
# t75-tiers: downsampling tiers. Merged blocks get 1m/5m/1h rollups; a
# :STEP:FN view whose STEP a tier divides is served from the coarsest such
# tier and agrees with the same view computed from raw samples.

load helper

setup() { obs_setup -o block_span=0,retention=0; }
teardown() { obs_teardown; }

# a year of one series at 10 s resolution, written in four parts, each cut
# into a block: the fourth compaction merges them into a level-2 block
ingest_year() {
	local start=$(( $(date +%s) - (365 + ${1:-0}) * 86400 ))
	for q in 0 1 2 3; do
		awk -v s="$start" -v q="$q" 'BEGIN { n = 3153600 / 4
			for (i = q * n; i < (q + 1) * n; i++)
				printf "year_test %.2f %.0f\n", 50 + 30 * sin(i / 8640 * 6.283) + (i % 17) * 0.1, (s + i * 10) * 1000 }' > "$MNT/ingest"
		echo compact > "$MNT/ctl"
	done
}

# interior OUT VIEW: lines 2..700 of VIEW into OUT; fails when the view
# cannot be read or is shorter (an empty pair would compare equal)
interior() {
	slurp "$2" > "$T/all" || return 1
	sed -n '2,700p' "$T/all" > "$1"
	expect_eq "$(wc -l < "$1")" 699
}

# raw_agg OUT FN: the same buckets computed from the raw samples by obs-agg
raw_agg() {
	slurp "$MNT/metrics/year_test@-30d" > "$T/rawall" || return 1
	obs-agg 1h "$2" < "$T/rawall" > "$T/agg" || return 1
	sed -n '2,700p' "$T/agg" > "$1"
	expect_eq "$(wc -l < "$1")" 699
}

@test "a year at 10 s resolution is served at 1h steps from the rollups" {
	ingest_year
	grep -q '^blocks  *1 (level 1: 0, 2: 1' "$MNT/status"
	grep -q '^rollup_files  *1m 1, 5m 1, 1h 1$' "$MNT/status"
	ls "$DATA"/rollups/1h/ | grep -q '^2_'
	run cat "$MNT/metrics/year_test@-30d:1h:avg"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 719 ]
	[ "${#lines[@]}" -le 722 ]
	grep -q '^rollup_reads  *[1-9]' "$MNT/status"
	# interior buckets equal the raw computation (edges are whole tier buckets)
	interior "$T/tier" "$MNT/metrics/year_test@-30d:1h:avg"
	raw_agg "$T/raw" avg
	paste -d' ' "$T/tier" "$T/raw" | awk '
		$1 != $3 { print "time mismatch: " $0; bad = 1 }
		{ d = $2 - $4; if (d < 0) d = -d; if (d > 1e-9 * ($4 < 0 ? -$4 : $4) + 1e-9) { print "value mismatch: " $0; bad = 1 } }
		END { exit bad }'
	# max and min are exact; p99 is within the sketch's 1% relative error
	interior "$T/tmax" "$MNT/metrics/year_test@-30d:1h:max"
	raw_agg "$T/rmax" max
	diff "$T/tmax" "$T/rmax"
	interior "$T/tp99" "$MNT/metrics/year_test@-30d:1h:p99"
	raw_agg "$T/rp99" p99
	paste -d' ' "$T/tp99" "$T/rp99" | awk '{ d = ($2 - $4) / $4; if (d < 0) d = -d; if (d > 0.0101) { print; bad = 1 } } END { exit bad }'
}

@test "rollups survive a restart and a view spanning rollups and the head is complete" {
	ingest_year
	obs_remount -o block_span=0,retention=0
	grep -q '^rollup_sets  *1$' "$MNT/status"
	echo "year_test 77" > "$MNT/ingest"
	run cat "$MNT/metrics/year_test@-400d:1h:last"
	[ "$status" -eq 0 ]
	[ "${lines[-1]##* }" = 77 ]
	[ "${#lines[@]}" -ge 8759 ]
}

@test "raw retention drops blocks while the 1h tier still answers" {
	ingest_year 30   # the year ends 30 days ago
	obs_remount -o block_span=0,retention=7d
	echo "year_test 1" > "$MNT/ingest"
	echo compact > "$MNT/ctl"
	grep -q '^blocks_retired  *1$' "$MNT/status"
	expect_lines "$MNT/metrics/year_test@-300d..-200d" 0
	n=$(nlines "$MNT/metrics/year_test@-300d..-200d:1h:avg")
	[ "$n" -ge 2399 ]
}
