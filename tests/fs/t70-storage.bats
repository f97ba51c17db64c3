#!/usr/bin/env bats
# t70-storage: blocks, compaction, restart from blocks + WAL, retention, and
# kill -9 in the middle of a compaction (issue 3).

load helper

setup() { obs_setup -o block_span=0; }
teardown() { obs_teardown; }

# 50 series x 400 samples, one per second ending a minute ago
gen_data() {
	local end=$(( $(date +%s) - 60 ))
	awk -v end="$end" -v tag="${1:-a}" 'BEGIN {
		for (s = 0; s < 50; s++)
			for (i = 0; i < 400; i++)
				printf "store_test{tag=\"%s\",s=\"%d\"} %.4f %.0f\n", tag, s, s * 1000 + i * 0.25 + (i % 7) * 0.001, (end - 400 + i) * 1000
	}'
}

# every series file, name then content; fails on a read error or no series
export_all() {
	local f n=0
	for f in "$MNT"/metrics/*; do
		[ -e "$f" ] || continue
		printf '%s\n' "${f##*/}"
		cat "$f" || return 1
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || { echo "export_all: no series in $MNT/metrics" >&2; return 1; }
}

@test "compact cuts the head into a block; every sample reads back the same" {
	gen_data > "$T/in.prom"
	cat "$T/in.prom" > "$MNT/ingest"
	export_all > "$T/before"
	[ "$(wc -l < "$T/before")" -eq $((50 * 401)) ]
	echo compact > "$MNT/ctl"
	grep -q '^blocks  *1 ' "$MNT/status"
	grep -q '^samples  *0$' "$MNT/status"
	ls "$DATA"/blocks/ | grep -qv '^\.'
	export_all > "$T/after"
	diff "$T/before" "$T/after"
	# the WAL was checkpointed: only segment headers remain
	[ "$(du -sb "$DATA/wal" | cut -f1)" -lt 5000 ]
}

@test "after compact and restart, data comes from the block and older samples are refused" {
	gen_data > "$MNT/ingest"
	echo compact > "$MNT/ctl"
	export_all > "$T/before"
	obs_remount -o block_span=0
	export_all > "$T/after"
	diff "$T/before" "$T/after"
	f="$MNT/metrics/store_test{s=\"1\",tag=\"a\"}"
	old=$(( $(date +%s) - 3600 ))
	run bash -c "echo '$old 5' >> '$f'"
	expect_fail "Invalid argument"
	grep -q "compacted" "$MNT/errors"
	echo 42 >> "$f"
	tail -1 "$f" | grep -q ' 42$'
}

@test "blocks merge into a higher level; nothing is lost" {
	for k in 1 2 3 4; do
		echo "merge_test $k" > "$MNT/ingest"
		echo compact > "$MNT/ctl"
	done
	grep -q '^blocks  *1 (level 1: 0, 2: 1' "$MNT/status"
	run cut -d' ' -f2 "$MNT/metrics/merge_test"
	[ "$output" = "$(printf '1\n2\n3\n4')" ]
}

@test "retention drops whole blocks older than the retention" {
	obs_remount -o block_span=0,retention=1h
	old=$(( ($(date +%s) - 3 * 3600) * 1000 ))
	printf 'ret_old 1 %s\nret_old 2 %s\n' "$old" "$((old + 1000))" > "$MNT/ingest"
	echo compact > "$MNT/ctl"
	echo "ret_new 3" > "$MNT/ingest"
	echo compact > "$MNT/ctl"
	grep -q '^blocks_retired  *1$' "$MNT/status"
	# the series is still known (its file exists), its samples are gone
	expect_file_eq "$MNT/metrics/ret_old" ""
	[ "$(cut -d' ' -f2 "$MNT/metrics/ret_new")" = 3 ]
}

@test "the head is compacted by itself once it has been filling for block_span" {
	obs_remount -o block_span=2s
	now=$(date +%s)
	printf 'span_test 1 %s000\nspan_test 2 %s000\n' $((now - 900)) $((now - 1)) > "$MNT/ingest"
	grep -q '^blocks  *0 ' "$MNT/status"
	for i in $(seq 80); do
		grep -q '^blocks  *1 ' "$MNT/status" && break
		sleep 0.1
	done
	grep -q '^blocks  *1 ' "$MNT/status"
	[ "$(cut -d' ' -f2 "$MNT/metrics/span_test" | tr '\n' ' ')" = "1 2 " ]
}

@test "kill -9 during compaction loses nothing and leaves no half block" {
	for round in 1 2 3 4 5 6; do
		gen_data "r$round" > "$MNT/ingest"
		export_all > "$T/expect"
		echo compact > "$MNT/ctl" &
		sleep "0.0$((RANDOM % 9))"
		obs_crash
		wait || true
		obs_start -o block_span=0
		export_all > "$T/got"
		diff "$T/expect" "$T/got"
		# no temporary block directory survives a restart
		ls -A "$DATA/blocks" > "$T/blocks.ls"
		expect_eq "$(grep '^\.' "$T/blocks.ls")" ""
	done
}

@test "export and export.jsonl hold every sample; export goes back in through ingest" {
	NOW=$(date +%s)
	gen_data > "$MNT/ingest"
	printf 'special{k="a\\"b"} NaN %s000\nspecial{k="a\\"b"} -Inf %s000\n' $((NOW - 30)) $((NOW - 29)) > "$MNT/ingest"
	echo compact > "$MNT/ctl"
	echo "head_only 7 $(( (NOW - 5) * 1000 ))" > "$MNT/ingest"
	[ "$(wc -l < "$MNT/export")" -eq $((50 * 400 + 3)) ]
	python3 - "$MNT/export.jsonl" <<'PY'
import json, sys
n = 0
series = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert len(d["values"]) == len(d["timestamps"]), d["metric"]
    assert d["timestamps"] == sorted(d["timestamps"])
    n += len(d["values"]); series += 1
    if d["metric"].get("k") == 'a"b':
        assert d["values"] == ["NaN", "-Inf"], d["values"]
assert (series, n) == (52, 50 * 400 + 3), (series, n)
PY
	cat "$MNT/export" > "$T/exported"
	obs_stop
	rm -rf "$DATA"
	obs_start -o block_span=0
	cat "$T/exported" > "$MNT/ingest"
	cmp <(sort "$T/exported") <(cat "$MNT/export" | sort)
}
