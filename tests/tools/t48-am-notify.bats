#!/usr/bin/env bats
# t48-am-notify.bats — notifications leaving obsfs, driven through lib/alert's
# notifier by the am-drive test helper: forwarding to a real Alertmanager
# (Debian's prometheus-alertmanager, started here on 127.0.0.1 and stopped
# by teardown), a webhook receiver (a python3 http.server recording POST
# bodies), the exec hook and its refusal for an untrusted config.
load common
bats_require_minimum_version 1.5.0

AMDRIVE=$OBS_BUILD/tests/helpers/am-drive

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {
	local i
	for i in $(seq 200); do
		curl -sf "$1" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "nothing answers at $1" >&2
	return 1
}

teardown() {
	exec 8>&- 2>/dev/null
	[ -n "${DRIVE_PID:-}" ] && kill "$DRIVE_PID" 2>/dev/null
	[ -n "${AM_PID:-}" ] && kill "$AM_PID" 2>/dev/null && wait "$AM_PID" 2>/dev/null
	[ -n "${HOOK_PID:-}" ] && kill "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null
	cd /
	rm -rf "$T"
}

start_alertmanager() {
	command -v prometheus-alertmanager >/dev/null || skip "prometheus-alertmanager is not installed"
	command -v amtool >/dev/null || skip "amtool is not installed"
	AM_PORT=$(free_port)
	printf 'route: {receiver: "null"}\nreceivers: [{name: "null"}]\n' > am.yml
	prometheus-alertmanager --config.file=am.yml --storage.path="$T/amdata" \
		--web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
		>"$T/am.log" 2>&1 &
	AM_PID=$!
	wait_http "http://127.0.0.1:$AM_PORT/-/ready"
	AM_URL="http://127.0.0.1:$AM_PORT"
}

# a webhook receiver: every POST body is appended, one per line, to $T/posts
start_hook() {
	HOOK_PORT=$(free_port)
	cat > hook.py <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	python3 hook.py "$HOOK_PORT" "$T/posts" &
	HOOK_PID=$!
	wait_http "http://127.0.0.1:$HOOK_PORT/"
}

@test "forwarding: a real Alertmanager sees the alerts with the same labels, then the resolves" {
	start_alertmanager
	cat > cfg.yml <<EOF
route: {receiver: none}
receivers: [{name: none}]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$AM_PORT']}]
EOF
	mkfifo cmds
	"$AMDRIVE" cfg.yml state < cmds > drive.out 2> drive.err &
	DRIVE_PID=$!
	exec 8> cmds
	echo 'firing {alertname="DiskFull",instance="db1",severity="page"} {summary="disk full on db1"}' >&8
	echo 'firing {alertname="DiskFull",instance="db2",severity="page"}' >&8
	echo 'firing {alertname="HighLatency",service="api"}' >&8
	echo sync >&8
	sleep 0.5
	run amtool alert query --alertmanager.url="$AM_URL" -o json
	assert_success
	echo "$output" > alerts.json
	run python3 -c '
import json, sys
alerts = json.load(open("alerts.json"))
got = sorted(json.dumps(a["labels"], sort_keys=True) for a in alerts)
want = sorted(json.dumps(l, sort_keys=True) for l in [
    {"alertname": "DiskFull", "instance": "db1", "severity": "page"},
    {"alertname": "DiskFull", "instance": "db2", "severity": "page"},
    {"alertname": "HighLatency", "service": "api"}])
assert got == want, (got, want)
db1 = [a for a in alerts if a["labels"].get("instance") == "db1"][0]
assert db1["annotations"] == {"summary": "disk full on db1"}, db1
assert db1["generatorURL"] == "http://obsfs.test/alerts", db1
assert db1["status"]["state"] == "active", db1
print("ok")'
	assert_success
	assert_output ok
	run amtool alert query --alertmanager.url="$AM_URL" alertname=DiskFull -o simple
	assert_success
	[ "$(printf '%s\n' "$output" | grep -c DiskFull)" -eq 2 ]
	# resolve one: Alertmanager no longer lists it as active
	echo 'resolved {alertname="DiskFull",instance="db1",severity="page"}' >&8
	echo sync >&8
	sleep 0.5
	run amtool alert query --alertmanager.url="$AM_URL" alertname=DiskFull -o json
	assert_success
	echo "$output" > after.json
	run python3 -c '
import json
a = json.load(open("after.json"))
assert [x["labels"]["instance"] for x in a] == ["db2"], a
print("ok")'
	assert_output ok
	echo stats >&8
	exec 8>&-
	wait "$DRIVE_PID"
	DRIVE_PID=
	run grep -E '^(forwarded|forward_failed) ' drive.out
	assert_line "forwarded 4"
	assert_line "forward_failed 0"
}

@test "forwarding: an Alertmanager that is down gives an errors line, not a hang" {
	port=$(free_port)
	cat > cfg.yml <<EOF
route: {receiver: none}
receivers: [{name: none}]
alerting:
  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:$port']}], timeout: 2s}]
EOF
	printf 'firing {alertname="X"}\nsync\nstats\n' > cmds
	run --separate-stderr "$AMDRIVE" cfg.yml state < cmds
	assert_success
	assert_line "forward_failed 1"
	[[ "$stderr" == *"post to 'http://127.0.0.1:$port/api/v2/alerts'"* ]]
}

@test "webhook: 100 alerts of a group arrive as one POST of Alertmanager's payload" {
	start_hook
	cat > cfg.yml <<EOF
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
receivers:
  - name: hook
    webhook_configs: [{url: 'http://127.0.0.1:$HOOK_PORT/alerts'}]
EOF
	for i in $(seq 100); do echo "firing {alertname=\"Many\",instance=\"h$i\",team=\"db\"} {runbook=\"r\"}"; done > cmds
	printf 'sync\nsleep 2500\nsync\n' >> cmds
	run "$AMDRIVE" cfg.yml state < cmds
	assert_success
	[ -f posts ]
	[ "$(wc -l < posts)" -eq 1 ]
	run python3 -c '
import json
p = json.loads(open("posts").readline())
assert p["version"] == "4" and p["status"] == "firing" and p["receiver"] == "hook", p
assert p["groupKey"] == "{}:{alertname=\"Many\"}", p["groupKey"]
assert p["groupLabels"] == {"alertname": "Many"}, p["groupLabels"]
assert p["commonLabels"] == {"alertname": "Many", "team": "db"}, p["commonLabels"]
assert p["commonAnnotations"] == {"runbook": "r"}
assert p["externalURL"] == "http://obsfs.test/"
assert p["truncatedAlerts"] == 0
assert len(p["alerts"]) == 100
a = p["alerts"][0]
assert set(a) == {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}, a
assert a["status"] == "firing" and len(a["fingerprint"]) == 16
print("ok")'
	assert_output ok
}

@test "exec hook: environment and payload; refused when the config is not the owner's" {
	cat > hook.sh <<'EOF'
#!/bin/sh
{ echo "$ALERT_STATUS $ALERT_COUNT $ALERT_RECEIVER $ALERT_GROUP_LABELS"; cat; echo; } >> "$(dirname "$0")/calls"
EOF
	chmod +x hook.sh
	cat > cfg.yml <<EOF
route: {receiver: run, group_by: [alertname], group_wait: 200ms}
receivers:
  - name: run
    exec_configs: [{command: ['$T/hook.sh']}]
EOF
	# group_wait 200ms: both alerts are in the group when it is first sent
	# (with 0s the first may go alone, as in Alertmanager)
	printf 'firing {alertname="Disk",i="1"}\nfiring {alertname="Disk",i="2"}\nsync\nsleep 1200\nsync\nstats\n' > cmds
	run --separate-stderr "$AMDRIVE" -u cfg.yml state-u < cmds
	assert_success
	[ ! -e calls ]
	assert_line "refused 1"
	run "$AMDRIVE" cfg.yml state < cmds
	assert_success
	assert_line "notifications 1"
	run head -1 calls
	assert_output 'firing 2 run {alertname="Disk"}'
	run sed -n 2p calls
	assert_output --partial '"version":"4"'
	assert_output --partial '"i":"2"'
}
