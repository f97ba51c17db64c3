# ship_helper.bash — shared set-up for the obs-ship suites against a real
# mount (t61..t64): a mount per test (../fs/helper), an agent with its spool,
# position and status files under $T, and the peers a test starts (exporters,
# HTTP servers) stopped by teardown.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
: "${OBS_BUILD:=$BATS_TEST_DIRNAME/../../build}"
PATH="$OBS_BUILD/bin:$PATH"
load ../fs/helper

PY=/usr/bin/python3
PEERS=()

setup() {
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	obs_setup
	AGENT=
}

teardown() {
	[ -n "${AGENT:-}" ] && kill -9 "$AGENT" 2>/dev/null
	local p
	for p in "${PEERS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PEERS[@]}"; do wait "$p" 2>/dev/null; done
	PEERS=()
	obs_teardown
}

# start_agent ARGS...: obs-ship -m $MNT with its files in $T, in the background
start_agent() {
	rm -f "$T/status"   # a test waits for the new agent's status, not the last one's
	obs-ship -m "$MNT" --spool "$T/spool" --status-file "$T/status" -p "$T/pos" "$@" 2>>"$T/agent.err" &
	AGENT=$!
}

# stop_agent: SIGTERM, and its exit status must be 0
stop_agent() {
	kill -TERM "$AGENT"
	local rc=0
	wait "$AGENT" || rc=$?
	AGENT=
	if [ "$rc" -ne 0 ]; then
		echo "obs-ship exited $rc:" >&2
		cat "$T/agent.err" >&2
		return 1
	fi
}

# wait_for SECONDS CMD...: until CMD succeeds (polled every 0.1 s)
wait_for() {
	local n=$(($1 * 10)) i
	shift
	for i in $(seq "$n"); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timeout waiting for: $*" >&2
	[ -e "$T/status" ] && sed 's/^/  status|/' "$T/status" >&2
	[ -s "$T/agent.err" ] && sed 's/^/  agent|/' "$T/agent.err" >&2
	return 1
}

# last_value FILE: the value of the last "TIME VALUE" line of a series file
last_value() {
	local got
	got=$(cat "$1") || { echo "cannot read $1" >&2; return 1; }
	[ -n "$got" ] || { echo "no samples in $1" >&2; return 1; }
	printf '%s\n' "$got" | tail -1 | awk '{print $2}'
}

# value_is FILE VALUE: the last value of FILE is VALUE (for wait_for)
value_is() {
	local v
	v=$(last_value "$1") || return 1
	[ "$v" = "$2" ]
}

# status_has REGEX: the agent's status file has a matching line
status_has() {
	grep -qE -- "$1" "$T/status"
}

# free_port: a TCP port free on 127.0.0.1 now
free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# serve NAME BODYFILE [server options]: start metrics_server.py; sets PORT_NAME
serve() {
	local name=$1 body=$2
	shift 2
	$PY "$BATS_TEST_DIRNAME/metrics_server.py" "$T/$name.port" "$body" "$@" &
	PEERS+=($!)
	wait_for 10 test -s "$T/$name.port"
	printf -v "PORT_$name" '%s' "$(cat "$T/$name.port")"
}
