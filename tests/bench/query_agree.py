#!/usr/bin/env python3
"""query_agree.py OURS.json THEIRS.json [TOL] — agreement of two range-query
answers in Prometheus' HTTP API JSON (what obs-query -o json and
/api/v1/query_range return): series are matched by their label sets, points
by their timestamps. Prints "points N", "max_rel_diff X", "mismatches M",
"missing_series", "extra_series", "missing_points", "extra_points" and the
first mismatches; exits 0 when everything agrees within TOL (1e-9 relative),
1 otherwise."""
import json
import math
import sys


def load(path):
    d = json.load(open(path))
    if "data" in d:
        d = d["data"]
    out = {}
    for s in d["result"]:
        key = tuple(sorted(s["metric"].items()))
        pts = s.get("values") or [s["value"]]
        out[key] = {round(float(t) * 1000): v for t, v in pts}
    return out


def rel(a, b):
    x, y = float(a), float(b)
    if math.isnan(x) and math.isnan(y):
        return 0.0
    if x == y:
        return 0.0
    if math.isinf(x) or math.isinf(y) or math.isnan(x) or math.isnan(y):
        return math.inf
    return abs(x - y) / max(abs(x), abs(y))


def main():
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-9
    worst, n, bad, shown = 0.0, 0, 0, 0
    missing_pts = extra_pts = 0
    fmt = lambda k: "{" + ",".join('%s="%s"' % kv for kv in k) + "}"
    for k, pts in theirs.items():
        mine = ours.get(k)
        if mine is None:
            continue
        for t, v in pts.items():
            if t not in mine:
                missing_pts += 1
                continue
            n += 1
            r = rel(mine[t], v)
            worst = max(worst, r)
            if r > tol:
                bad += 1
                if shown < 10:
                    print("mismatch %s @%d: obsfs %s prometheus %s (rel %.3g)" % (fmt(k), t, mine[t], v, r))
                    shown += 1
        extra_pts += sum(1 for t in mine if t not in pts)
    missing = [k for k in theirs if k not in ours]
    extra = [k for k in ours if k not in theirs]
    for k in missing[:5]:
        print("missing series %s" % fmt(k))
    for k in extra[:5]:
        print("extra series %s" % fmt(k))
    print("points %d" % n)
    print("max_rel_diff %.3g" % worst)
    print("mismatches %d" % bad)
    print("missing_series %d" % len(missing))
    print("extra_series %d" % len(extra))
    print("missing_points %d" % missing_pts)
    print("extra_points %d" % extra_pts)
    ok = bad == 0 and not missing and not extra and missing_pts == 0 and extra_pts == 0
    sys.exit(0 if ok else 1)


main()
