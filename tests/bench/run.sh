#!/usr/bin/env bash
# tests/bench/run.sh BUILD — `make bench`: obsfs against the peers on dataset A,
# in the same invocation. Prints "name value" lines, then ratios.
#
# What makes a ratio here fair (the rules this script keeps):
#   - obsfs runs with its DEFAULT mount options (obsfs.mount_options says so;
#     OBSFS_OPTS=a=b,... changes them and is then printed there instead).
#     The peers run with the flags of their scripts, printed as *.options.
#   - like work: obsfs ingest = write to MOUNT/ingest + close (WAL fdatasync,
#     default sync=close) + `sync` to ctl; VictoriaMetrics ingest = HTTP import
#     + /internal/force_flush (vm.ingest_s and vm.ingest_samples_per_s are
#     rewritten to include the flush; VM's own import-only figures are kept as
#     vm.ingest_no_flush_*). Prometheus' ingest is an offline backfill
#     (promtool writes a block), so it is compared with obsfs ingest + compact
#     into a block (obsfs.ingest_to_block_s), never with obsfs ingest alone.
#   - one statistic: every timed figure is the median of REPEAT runs (default
#     3, each obsfs run on a fresh data directory), and the peers get the same
#     REPEAT in this invocation; every ratio divides medians by medians.
#     Figures not measured in this run are printed as quoted.* and enter no ratio.
#   - nothing is lost: obsfs must hold, export and serve every sample of the
#     dataset, VictoriaMetrics every finite one (it drops NaN by design), and
#     Prometheus every one; else the bench fails.
# The long-series and RSS-per-series figures are one run (no peer, no ratio).
#
# Env: REPEAT=N (3); BENCH_PEERS=0, BENCH_LOGS=0, BENCH_TOOLS=0, BENCH_QUERY=0 skip a part on
# purpose; TOOLS_REPEAT=N (REPEAT); DATA_A, DATA_LOGS_A, OBS_SHARED (../shared).
# Exit status:
#   0  every part ran and every check held; the figures are on stdout
#   1  a bench failed: samples lost, a helper did not build, obsfs or a peer did
#      not start or failed; a "bench: FAILED: ..." line on stderr, NO figures
#   2  dataset A is absent: nothing measured
#   3  figures printed, but a part was skipped because its data or its peer is
#      absent ("skipped.PART reason" lines say which)
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$ROOT/$BUILD ;; esac
BIN="$BDIR/bin"
SHARED=${OBS_SHARED:-$ROOT/../shared}
DATA_A=${DATA_A:-$SHARED/data/metrics-A.prom.zst}
DATA_LOGS=${DATA_LOGS_A:-$SHARED/data/logs-A.log.zst}
PEERS="$SHARED/bench/peers"
REPEAT=${REPEAT:-3}
export LC_ALL=C REPEAT
T=$(mktemp -d /tmp/obs-bench.XXXXXX)
MNT=$T/mnt
RES=$T/results
PID=
SKIPPED=0
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	if [ -n "$PID" ]; then
		for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bench: FAILED: %s\n' "$*" >&2; exit 1; }
out() { printf '%-40s %s\n' "$1" "$2" >> "$RES"; }
skip() { SKIPPED=1; out "skipped.$1" "$2"; log "SKIPPED $1: $2"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b==0) print "nan"; else printf "%.3f", a/b }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN{ if (s==0) print "nan"; else printf "%.0f", n/s }'; }
med() { printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{ if (NR==0) {print "nan"; exit}
	if (NR%2) print v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'; }
stat_of() { awk -v k="$1" '$1==k {print $2; exit}' "$MNT/status"; }
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12+$13)/hz }' "/proc/$1/stat"; }
peer_val() { awk -v k="$2" '$1==k {print $2; exit}' "$1"; }
jsonl_samples() { python3 -c 'import json,sys; print(sum(len(json.loads(l)["values"]) for l in open(sys.argv[1]) if l.strip()))' "$1"; }

OPTS=()
OPT_DESC=default
if [ -n "${OBSFS_OPTS:-}" ]; then OPTS=(-o "$OBSFS_OPTS"); OPT_DESC="changed:$OBSFS_OPTS"; fi
# mount_obs DATADIR: start obsfsd (it daemonizes once it serves); sets PID
mount_obs() {
	mkdir -p "$MNT"
	"$BIN/obsfsd" "${OPTS[@]}" "$1" "$MNT" 2>>"$T/obsfsd.err" ||
		die "obsfsd did not start on $1: $(tail -3 "$T/obsfsd.err")"
	PID=$(head -1 "$1/LOCK")
	kill -0 "$PID" 2>/dev/null || die "obsfsd (pid '$PID' from $1/LOCK) is not running"
}
# umount_obs: unmount and wait until the daemon has exited, so sizes are taken
# of a stopped store (as the peers' are, after a graceful stop)
umount_obs() {
	fusermount3 -u "$MNT" || die "cannot unmount $MNT"
	for _ in $(seq 600); do kill -0 "$PID" 2>/dev/null || { PID=; return 0; }; sleep 0.1; done
	die "obsfsd $PID did not exit within 60 s of its unmount"
}
# must_have N WHAT EXPECTED: fail when a count differs from the dataset's
must_have() { [ "$1" = "$3" ] || die "$2: $1 samples, the dataset has $3 (samples lost or duplicated)"; }

[ -x "$BIN/obsfsd" ] || die "$BIN/obsfsd missing (make all first)"
[ -r "$DATA_A" ] || { echo "bench: dataset '$DATA_A' not found: nothing measured (exit 2)" >&2; exit 2; }
log "decompressing $DATA_A"
zstd -dqc "$DATA_A" > "$T/A.prom"
SAMPLES=$(wc -l < "$T/A.prom")
NAN=$(awk '$(NF-1)=="NaN"{n++} END{print n+0}' "$T/A.prom")
: > "$RES"

# ---- obsfs: REPEAT runs, each on a fresh data directory ----------------------
ing=() cpu=() rss1=() exph=() catall=() comp=() blk=() disk=() dblk=() rst=() rss2=() exp=() expj=() one=()
for ((r = 1; r <= REPEAT; r++)); do
	log "obsfs run $r/$REPEAT: ingest through the mount (1 MiB writes), default options: $OPT_DESC"
	rm -rf "$T/data"
	mount_obs "$T/data"
	c0=$(cpu_s "$PID")
	t0=$(now)
	dd if="$T/A.prom" of="$MNT/ingest" bs=1M status=none ||
		die "writing dataset A to MOUNT/ingest failed: $(head -5 "$MNT/errors" 2>/dev/null)"
	echo sync > "$MNT/ctl"
	t1=$(now)
	c1=$(cpu_s "$PID")
	ing+=("$(secs "$t0" "$t1")"); cpu+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')")
	rss1+=("$(rss_kb "$PID")")
	must_have "$(stat_of samples)" "obsfs status after ingest (rejected $(stat_of samples_rejected))" "$SAMPLES"
	SERIES=$(stat_of series)
	HEAD_BPS=$(stat_of head_bytes_per_sample); WAL_BPS=$(stat_of wal_bytes_per_sample)

	t0=$(now); cat "$MNT/export" > "$T/export.txt"; t1=$(now)
	exph+=("$(secs "$t0" "$t1")")
	EXPORT_LINES=$(wc -l < "$T/export.txt")
	must_have "$EXPORT_LINES" "obsfs MOUNT/export from the head" "$SAMPLES"
	t0=$(now); cat "$MNT"/metrics/* > "$T/export.txt"; t1=$(now)
	catall+=("$(secs "$t0" "$t1")")
	must_have "$(wc -l < "$T/export.txt")" "obsfs cat metrics/*" "$SAMPLES"

	t0=$(now); echo compact > "$MNT/ctl"; t1=$(now)
	comp+=("$(secs "$t0" "$t1")")
	blk+=("$(awk -v a="${ing[-1]}" -v b="${comp[-1]}" 'BEGIN{printf "%.4f", a+b}')")
	umount_obs
	disk+=("$(find "$T/data" -type f -printf '%s %b\n' | awk '{a=$2*512; s+=($1<a?$1:a)} END{printf "%.0f", s}')")
	dblk+=("$(find "$T/data/blocks" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f", s}')")

	t0=$(now); mount_obs "$T/data"; t1=$(now)
	rst+=("$(secs "$t0" "$t1")")
	rss2+=("$(rss_kb "$PID")")
	t0=$(now); cat "$MNT/export" > "$T/export.txt"; t1=$(now)
	exp+=("$(secs "$t0" "$t1")")
	must_have "$(wc -l < "$T/export.txt")" "obsfs MOUNT/export after compaction and restart" "$SAMPLES"
	# the JSON-lines export (VictoriaMetrics' own export format)
	t0=$(now); cat "$MNT/export.jsonl" > "$T/export.jsonl"; t1=$(now)
	expj+=("$(secs "$t0" "$t1")")
	EXPJ_BYTES=$(stat -c %s "$T/export.jsonl")
	must_have "$(jsonl_samples "$T/export.jsonl")" "obsfs MOUNT/export.jsonl after restart" "$SAMPLES"
	rm -f "$T/export.txt" "$T/export.jsonl"
	S1=$(ls "$MNT/metrics" | awk 'NR == 1')
	t0=$(now); cat "$MNT/metrics/$S1" > /dev/null; t1=$(now)
	one+=("$(secs "$t0" "$t1")")
	[ "$r" = "$REPEAT" ] || umount_obs
done

ING_S=$(med "${ing[@]}")
OBS_RATE=$(rate "$SAMPLES" "$ING_S")
OBS_BLK_S=$(med "${blk[@]}")
DISK=$(med "${disk[@]}")
OBS_BPS=$(awk -v a="$DISK" -v n="$SAMPLES" 'BEGIN{printf "%.4f", a/n}')
EXP_S=$(med "${exp[@]}")
EXPJ_S=$(med "${expj[@]}")
out obsfs.mount_options "$OPT_DESC"
out obsfs.ingest_method "write_MOUNT/ingest+close(WAL_fdatasync)+ctl_sync"
out obsfs.repeat "$REPEAT"
out obsfs.statistic median
out obsfs.samples "$SAMPLES"
out obsfs.series "$SERIES"
out obsfs.ingest_s "$ING_S"
out obsfs.ingest_samples_per_s "$OBS_RATE"
out obsfs.ingest_server_cpu_s "$(med "${cpu[@]}")"
out obsfs.head_bytes_per_sample "$HEAD_BPS"
out obsfs.wal_bytes_per_sample "$WAL_BPS"
out obsfs.rss_kb_after_ingest "$(med "${rss1[@]}")"
out obsfs.export_lines "$EXPORT_LINES"
out obsfs.export_head_s "$(med "${exph[@]}")"
out obsfs.cat_all_series_s "$(med "${catall[@]}")"
out obsfs.cat_all_series_samples_per_s "$(rate "$SAMPLES" "$(med "${catall[@]}")")"
out obsfs.compact_s "$(med "${comp[@]}")"
out obsfs.ingest_to_block_s "$OBS_BLK_S"
out obsfs.disk_bytes_total "$DISK"
out obsfs.disk_bytes_blocks "$(med "${dblk[@]}")"
out obsfs.bytes_per_sample "$OBS_BPS"
out obsfs.restart_s "$(med "${rst[@]}")"
out obsfs.rss_kb_after_restart_from_block "$(med "${rss2[@]}")"
out obsfs.export_s "$EXP_S"
out obsfs.export_samples_per_s "$(rate "$SAMPLES" "$EXP_S")"
out obsfs.export_jsonl_s "$EXPJ_S"
out obsfs.export_jsonl_bytes "$EXPJ_BYTES"
out obsfs.read_one_series_from_block_s "$(med "${one[@]}")"

# One run, still mounted from the last repeat: timestamps end an hour ago so
# that the default retention (15d) keeps them all.
log "one long series: 1,000,000 samples written, then read back"
T_END=$(( $(date +%s) * 1000 - 3600000 ))
awk -v e="$T_END" 'BEGIN{t=e-1000000*1000; for(i=0;i<1000000;i++) printf "bench_long{k=\"v\"} %.3f %.0f\n", 100+sin(i/100)*10, t+i*1000}' > "$T/long.prom"
dd if="$T/long.prom" of="$MNT/ingest" bs=1M status=none || die "writing the long series failed: $(head -3 "$MNT/errors")"
rm -f "$T/long.prom"
t0=$(now)
n=$(cat "$MNT/metrics/bench_long{k=\"v\"}" | wc -l)
t1=$(now)
must_have "$n" "obsfs long series read back" 1000000
out obsfs.long_series_samples "$n"
out obsfs.long_series_read_samples_per_s "$(rate "$n" "$(secs "$t0" "$t1")")"

log "memory: 100,000 more series of 10 samples each (RSS growth per series)"
R0=$(rss_kb "$PID"); C0=$(stat_of head_chunk_bytes)
awk -v e="$T_END" 'BEGIN{t=e-100000; for(i=0;i<10;i++) for(s=0;s<100000;s++) printf "bench_mem{instance=\"host-%d:9100\",job=\"node\"} %d %.0f\n", s, s+i, t+i*10000}' > "$T/mem.prom"
dd if="$T/mem.prom" of="$MNT/ingest" bs=1M status=none || die "writing the 100k series failed: $(head -3 "$MNT/errors")"
rm -f "$T/mem.prom"
R1=$(rss_kb "$PID"); C1=$(stat_of head_chunk_bytes)
out obsfs.rss_bytes_per_series "$(awk -v a="$R0" -v b="$R1" 'BEGIN{printf "%.0f", (b-a)*1024/100000}')"
out obsfs.rss_bytes_per_series_beyond_chunks "$(awk -v a="$R0" -v b="$R1" -v c0="$C0" -v c1="$C1" 'BEGIN{printf "%.0f", ((b-a)*1024-(c1-c0))/100000}')"
umount_obs

log "chunk codec decode rate (library level, no text)"
[ -r "$BDIR/libobs.a" ] || die "$BDIR/libobs.a missing (make all first)"
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/lib" "$ROOT/tests/bench/bench_chunk.c" "$BDIR/libobs.a" \
	$(pkg-config --libs libzstd libpcre2-8 libxxhash) -lroaring -lm -pthread -o "$T/bench_chunk" 2>"$T/cc.err" ||
	die "bench_chunk did not build: $(head -5 "$T/cc.err")"
"$T/bench_chunk" "$T/A.prom" > "$T/codec.out" || die "bench_chunk failed (exit $?)"
must_have "$(peer_val "$T/codec.out" samples)" "bench_chunk (codec) loaded" "$SAMPLES"
sed 's/^/codec./' "$T/codec.out" | awk '{printf "%-40s %s\n", $1, $2}' >> "$RES"

# ---- peers: same dataset, same REPEAT, same statistic (median) ---------------
# have BIN PKG: the peer's binary is there, or its Debian package installs now
have() {
	command -v "$1" >/dev/null 2>&1 && return 0
	log "installing $2 (missing $1)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null 2>&1 ||
		{ apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null 2>&1; } || true
	command -v "$1" >/dev/null 2>&1
}
if [ "${BENCH_PEERS:-1}" = 1 ]; then
	VM_OK=0 PROM_OK=0
	if [ ! -d "$PEERS" ]; then
		skip peers "no peer scripts at $PEERS"
	else
		if have victoria-metrics victoria-metrics && have curl curl && have python3 python3; then
			log "VictoriaMetrics on the same data (vm.sh, REPEAT=$REPEAT)"
			bash "$PEERS/vm.sh" "$DATA_A" > "$T/vm.out" || die "vm.sh failed (exit $?): VictoriaMetrics did not start, import or export; its log is above"
			VM_OK=1
		else
			skip vm "victoria-metrics is not installed and its Debian package did not install"
		fi
		if have promtool prometheus && have prometheus prometheus; then
			log "Prometheus on the same data (prom.sh, REPEAT=$REPEAT)"
			bash "$PEERS/prom.sh" "$DATA_A" > "$T/prom.out" || die "prom.sh failed (exit $?): promtool or prometheus did not run; its log is above"
			PROM_OK=1
		else
			skip prom "promtool/prometheus are not installed and the prometheus package did not install"
		fi
	fi
	if [ "$VM_OK" = 1 ]; then
		# VictoriaMetrics does not store NaN samples ($NAN in the dataset): it
		# must hold every other one
		VM_N=$(peer_val "$T/vm.out" exported_samples)
		[ "$VM_N" = "$SAMPLES" ] ||
			must_have "$VM_N" "VictoriaMetrics export (the dataset's $NAN NaN samples excluded)" "$((SAMPLES - NAN))"
		VM_INGF=$(peer_val "$T/vm.out" ingest_flush_s)
		VM_RATE=$(rate "$SAMPLES" "$VM_INGF")
		# like work: VM's ingest includes its flush; the import alone is kept as *_no_flush
		awk -v f="$VM_INGF" -v r="$VM_RATE" '
			$1=="ingest_s" {print "ingest_no_flush_s", $2; print "ingest_s", f; next}
			$1=="ingest_samples_per_s" {print "ingest_no_flush_samples_per_s", $2; print "ingest_samples_per_s", r; next}
			{print}' "$T/vm.out" > "$T/vm.fixed"
		{
			echo "options -retentionPeriod=100y,-search.disableCache,-search.latencyOffset=0s(query_side_only)"
			echo "ingest_method http_import+internal/force_flush"
			echo "repeat $REPEAT"; echo "statistic median"
			echo "nan_samples_not_stored $((SAMPLES - VM_N))"
			cat "$T/vm.fixed"
		} | awk '{printf "%-40s %s\n", "vm." $1, $2}' >> "$RES"
	fi
	if [ "$PROM_OK" = 1 ]; then
		must_have "$(peer_val "$T/prom.out" exported_samples)" "Prometheus export" "$SAMPLES"
		{
			echo "options promtool_defaults,server:--storage.tsdb.retention.time=100y,--query.max-samples=200000000(query_side_only)"
			echo "ingest_method promtool_tsdb_create-blocks-from_openmetrics(offline_backfill_to_block)"
			echo "repeat $REPEAT"; echo "statistic median"
			cat "$T/prom.out"
		} | awk '{printf "%-40s %s\n", "prom." $1, $2}' >> "$RES"
	fi
	if [ "$VM_OK" = 1 ]; then
		out ratio.ingest_obsfs_over_vm "$(div "$OBS_RATE" "$VM_RATE")"
		out ratio.bytes_per_sample_obsfs_over_vm "$(div "$OBS_BPS" "$(peer_val "$T/vm.out" bytes_per_sample)")"
		out ratio.export_jsonl_time_vm_over_obsfs "$(div "$(peer_val "$T/vm.out" export_s)" "$EXPJ_S")"
	fi
	if [ "$PROM_OK" = 1 ]; then
		# promtool writes a block from a file: obsfs' ingest + compact into a block
		out ratio.ingest_to_block_obsfs_over_prom "$(div "$(peer_val "$T/prom.out" ingest_s)" "$OBS_BLK_S")"
		out ratio.bytes_per_sample_obsfs_over_prom "$(div "$OBS_BPS" "$(peer_val "$T/prom.out" bytes_per_sample)")"
		out ratio.export_jsonl_time_prom_over_obsfs "$(div "$(peer_val "$T/prom.out" export_s)" "$EXPJ_S")"
	fi
	[ "$VM_OK$PROM_OK" = 00 ] || out ratio.statistic "median_of_${REPEAT}_runs_on_both_sides"
fi
rm -f "$T/A.prom"

# Logs through the mount: dataset logs-A (2 M nginx lines) appended with
# 1 MiB writes, cut into segments (ctl compact), then searched through the
# index (a needle, a field count). One run, no peer, no ratio; bench_logs.sh
# adds library-level figures and grep/ripgrep on the same file.
if [ "${BENCH_LOGS:-1}" = 1 ] && [ ! -r "$DATA_LOGS" ]; then
	skip logs "dataset '$DATA_LOGS' not found"
elif [ "${BENCH_LOGS:-1}" = 1 ]; then
	log "logs through the mount ($DATA_LOGS)"
	zstd -dqc "$DATA_LOGS" > "$T/logs.log"
	LINES=$(wc -l < "$T/logs.log")
	NEEDLE=${NEEDLE:-Zyborg-Needle}
	NEEDLE_N=$(grep -cF -- "$NEEDLE" "$T/logs.log" || true)
	rm -rf "$T/ldata"
	mount_obs "$T/ldata"
	touch "$MNT/logs/nginx"
	t0=$(now)
	dd if="$T/logs.log" of="$MNT/logs/nginx" bs=1M status=none || die "writing logs-A to MOUNT/logs/nginx failed"
	echo sync > "$MNT/ctl"
	t1=$(now)
	rm -f "$T/logs.log"
	n=$(stat_of log_lines_appended)
	[ "$n" = "$LINES" ] || die "obsfs logs: $n lines appended, the dataset has $LINES (rejected $(stat_of log_lines_rejected))"
	out logs.mount_ingest_lines_per_s "$(rate "$LINES" "$(secs "$t0" "$t1")")"
	t0=$(now); echo compact > "$MNT/ctl"; t1=$(now)
	out logs.compact_s "$(secs "$t0" "$t1")"
	out logs.bytes_per_line "$(stat_of log_bytes_per_line)"
	out logs.disk_bytes_per_line "$(find "$T/ldata/logs" -type f -printf '%s\n' | awk -v n="$LINES" '{s+=$1} END{printf "%.2f", s/n}')"
	t0=$(now); n=$(cat "$MNT/logs/nginx?\"$NEEDLE\"#count"); t1=$(now)
	[ "$n" = "$NEEDLE_N" ] || die "obsfs logs: needle count $n, grep -cF finds $NEEDLE_N"
	out logs.needle_count "$n"
	out logs.needle_search_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)*1000}')"
	t0=$(now); n=$(cat "$MNT/logs/nginx?status=404#count"); t1=$(now)
	out logs.status404_count "$n"
	out logs.status404_count_ms "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)*1000}')"
	umount_obs
	log "log store, library level, beside grep/ripgrep (bench_logs.sh)"
	SKIP_Z19=${SKIP_Z19:-1} bash "$ROOT/tests/bench/bench_logs.sh" "$BUILD" > "$T/logs.out" ||
		die "bench_logs.sh failed (exit $?)"
	sed -E 's/^(ratio|quoted)\./\1.logs_/; t; s/^/logs./' "$T/logs.out" >> "$RES"
fi

# The pipeline filters (obs-rate, obs-agg, obs-alert) against awk, in lines/s
# (bench_tools.sh; LINES=N for its input size). BENCH_TOOLS=0 skips them.
if [ "${BENCH_TOOLS:-1}" = 1 ]; then
	log "pipeline tools (bench_tools.sh)"
	REPEAT=${TOOLS_REPEAT:-$REPEAT} bash "$ROOT/tests/bench/bench_tools.sh" "$BUILD" > "$T/tools.out" ||
		die "bench_tools.sh failed (exit $?)"
	sed 's/^/tools./' "$T/tools.out" >> "$RES"
fi

# PromQL range queries against the peers and the dashboard figure
# (query.sh). BENCH_QUERY=0 skips them.
if [ "${BENCH_QUERY:-1}" = 1 ]; then
	log "PromQL range queries (query.sh)"
	REPEAT=$REPEAT BENCH_PEERS=${BENCH_PEERS:-1} DATA_A=$DATA_A bash "$ROOT/tests/bench/query.sh" "$BUILD" > "$T/query.out" ||
		die "query.sh failed (exit $?): $(tail -3 "$T/query.out")"
	sed -E 's/^ratio\./ratio.promql_/; t; s/^/promql./' "$T/query.out" >> "$RES"
fi

cat "$RES"
if [ "$SKIPPED" = 1 ]; then
	log "some parts were skipped (skipped.* lines): exit 3"
	exit 3
fi
