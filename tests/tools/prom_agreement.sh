#!/usr/bin/env bash
# tests/tools/prom_agreement.sh [BUILD] — obs-rate --window 5m against a real
# Prometheus' rate(x[5m]) on the same samples. Not part of `make test` (slow,
# installs the Debian package `prometheus` when missing).
#
# 24 counter series (irregular intervals, jitter, resets, gaps, fractional
# values) are written as OpenMetrics, turned into TSDB blocks with promtool,
# and served by a prometheus on 127.0.0.1 (free port, temporary directory,
# stopped at the end). The raw samples are read back from Prometheus (so both
# sides see exactly the stored timestamps and values) and fed to obs-rate;
# rate(obs_test_total[5m]) is compared
#   - as a range query every 15 s over the whole data (obs-rate -w 5m -s 15s),
#   - as instant queries at 60 sample times (obs-rate -w 5m, per sample),
# requiring the same evaluation points and |a - b| <= 1e-9 * max(|a|, |b|).
# Prints "name value" lines; exit 0 when everything agrees.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="$ROOT/$BUILD/bin"
[ -x "$BIN/obs-rate" ] || { echo "prom_agreement: $BIN/obs-rate missing (make first)" >&2; exit 2; }
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
	echo "# installing prometheus" >&2
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q prometheus >/dev/null ||
		{ $SUDO apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q prometheus >/dev/null; }
fi
T=$(mktemp -d /tmp/obs-prom.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=$(( ($(date +%s) - 4 * 3600) / 3600 * 3600 ))   # an hour of data ending 3 h ago

python3 - "$T/in.om" "$BASE" <<'PY'
import random, sys
out, base = sys.argv[1], int(sys.argv[2])
rnd = random.Random(4242)
lines = ["# TYPE obs_test counter"]
for s in range(24):
    interval = rnd.choice([5, 10, 15, 30, 60])
    rate = rnd.choice([0.1, 1, 7.5, 100, 12345.678])
    v = rnd.choice([0.0, 0.0, 3.0, 1e6 + 0.5])
    t = base * 1000 + rnd.randrange(0, interval * 1000)
    end = (base + 3600) * 1000
    gap = rnd.random() < 0.3
    while t < end:
        lines.append('obs_test_total{series="s%02d"} %r %d.%03d' % (s, v, t // 1000, t % 1000))
        step = int(interval * 1000 * rnd.uniform(0.8, 1.2))
        if gap and rnd.random() < 0.01:
            step += rnd.randrange(60, 900) * 1000      # a hole in the data
        t += step
        if rnd.random() < 0.02:
            v = round(rnd.uniform(0, 5), 3)             # a counter reset
        else:
            v = round(v + rate * step / 1000 * rnd.uniform(0.5, 1.5), 3)
lines.append("# EOF")
open(out, "w").write("\n".join(lines) + "\n")
PY

mkdir -p "$T/data"
promtool tsdb create-blocks-from openmetrics "$T/in.om" "$T/data" >/dev/null
printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' >"$T/prometheus.yml"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/data" \
	--storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$PORT" \
	>"$T/prom.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null || { echo "prometheus did not start" >&2; tail "$T/prom.log" >&2; exit 2; }

python3 - "$PORT" "$BASE" "$BIN/obs-rate" "$T" <<'PY'
import json, random, subprocess, sys, urllib.parse, urllib.request
port, base, obsrate, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
api = "http://127.0.0.1:%s/api/v1/" % port

def get(path, **q):
    url = api + path + "?" + urllib.parse.urlencode(q)
    r = json.load(urllib.request.urlopen(url, timeout=60))
    assert r["status"] == "success", r
    return r["data"]["result"]

# the stored samples, exactly as Prometheus holds them
raw = get("query", query="obs_test_total[2h]", time=str(base + 3600 + 1800))
samples = {}
with open(tmp + "/raw.txt", "w") as f:
    for m in raw:
        key = m["metric"]["series"]
        samples[key] = m["values"]
        for t, v in m["values"]:
            f.write("%s %s %s\n" % (key, t, v))
nsamples = sum(len(v) for v in samples.values())
resets = sum(1 for vs in samples.values() for a, b in zip(vs, vs[1:]) if float(b[1]) < float(a[1]))

def obs(*args):
    res = {}
    out = subprocess.run([obsrate, *args, tmp + "/raw.txt"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        k, t, v = line.split()
        res[(k, round(float(t) * 1000))] = float(v)
    return res

def close(a, b):
    if a == b:
        return True
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))

bad = 0
worst = 0.0
def compare(mine, theirs, what):
    global bad, worst
    for k in sorted(set(mine) | set(theirs)):
        a, b = mine.get(k), theirs.get(k)
        if a is None or b is None:
            bad += 1
            if bad <= 10:
                print("# %s: %s only in %s" % (what, k, "prometheus" if a is None else "obs-rate"))
            continue
        if a != b:
            worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
        if not close(a, b):
            bad += 1
            if bad <= 10:
                print("# %s: %s obs-rate %r prometheus %r" % (what, k, a, b))

# 1. range query every 15 s; obs-rate evaluates up to the first step at or
#    after each series' last sample, so compare up to there
step = 15
mine = obs("-w", "5m", "-s", "%ds" % step)
theirs = {}
start = (base // step) * step
for m in get("query_range", query="rate(obs_test_total[5m])", start=str(start),
             end=str(base + 3600 + 600), step=str(step)):
    key = m["metric"]["series"]
    last_ms = round(float(samples[key][-1][0]) * 1000)
    limit = -(-last_ms // (step * 1000)) * step * 1000
    for t, v in m["values"]:
        tm = round(float(t) * 1000)
        if tm <= limit:
            theirs[(key, tm)] = float(v)
compare(mine, theirs, "range")
n_range = len(theirs)

# 2. instant queries at sample times (obs-rate -w 5m evaluates at every sample)
mine_all = obs("-w", "5m")
rnd = random.Random(7)
allts = sorted({t for vs in samples.values() for t, _ in vs})
n_inst = 0
for t in rnd.sample(allts, 60):
    tm = round(float(t) * 1000)
    theirs = {}
    for m in get("query", query="rate(obs_test_total[5m])", time=str(t)):
        theirs[(m["metric"]["series"], tm)] = float(m["value"][1])
    # obs-rate prints a value at T only for the series with a sample at T
    mine = {k: v for k, v in mine_all.items() if k[1] == tm}
    theirs = {k: v for k, v in theirs.items() if k in mine or k[0] in
              {s for s, vs in samples.items() if any(round(float(x) * 1000) == tm for x, _ in vs)}}
    compare(mine, theirs, "instant@%s" % t)
    n_inst += len(theirs)

print("%-36s %d" % ("prom_agreement_series", len(samples)))
print("%-36s %d" % ("prom_agreement_samples", nsamples))
print("%-36s %d" % ("prom_agreement_resets", resets))
print("%-36s %d" % ("prom_agreement_range_points", n_range))
print("%-36s %d" % ("prom_agreement_instant_points", n_inst))
print("%-36s %.3g" % ("prom_agreement_worst_rel_diff", worst))
print("%-36s %d" % ("prom_agreement_mismatches", bad))
sys.exit(1 if bad else 0)
PY
