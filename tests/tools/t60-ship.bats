#!/usr/bin/env bats
# t60 — obs-ship: following files into a stream directory (a plain directory
# here; the mount suites run the same against MOUNT/logs): later files,
# rotation by rename and by copytruncate, restart without loss or duplicates,
# --cmd, clean SIGTERM.

load common

# wait_lines FILE N: until FILE has N lines (10 s at most)
wait_lines() {
	local i
	for i in $(seq 100); do
		[ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "timeout: $1 has $(cat "$1" 2>/dev/null | wc -l) lines, want $2" >&2
	return 1
}

start_ship() {
	obs-ship -d out -p pos "$@" 2>ship.err &
	SHIP=$!
}

stop_ship() {
	kill -TERM "$SHIP"
	wait "$SHIP"
}

@test "ships existing lines and new lines, one stream per file" {
	mkdir out logs
	printf 'a1\na2\n' > logs/app.log
	start_ship 'logs/*.log'
	wait_lines out/app 2
	echo a3 >> logs/app.log
	printf 'partial' >> logs/app.log
	wait_lines out/app 3
	sleep 0.3
	run cat out/app
	assert_output $'a1\na2\na3'       # the partial line waits for its newline
	echo ' done' >> logs/app.log
	wait_lines out/app 4
	echo b1 > logs/web.log            # a file that appears later
	wait_lines out/web 1
	stop_ship
	run cat out/app
	assert_output $'a1\na2\na3\npartial done'
	assert_equal "$(cat out/web)" b1
}

@test "rotation by rename: the old file is drained, the new one followed" {
	mkdir out logs
	seq 1 100 | sed 's/^/line /' > logs/app.log
	start_ship logs/app.log
	wait_lines out/app 100
	mv logs/app.log logs/app.log.1
	seq 101 150 | sed 's/^/line /' >> logs/app.log.1    # late writes to the old file
	seq 151 200 | sed 's/^/line /' > logs/app.log
	wait_lines out/app 200
	sleep 0.5
	stop_ship
	run bash -c 'sort -t" " -k2n out/app | uniq | wc -l; wc -l < out/app'
	assert_output $'200\n200'
}

@test "rotation by copytruncate restarts at the top of the file" {
	mkdir out logs
	seq 1 50 > logs/app.log
	start_ship logs/app.log
	wait_lines out/app 50
	cp logs/app.log logs/app.log.1
	: > logs/app.log
	sleep 0.7
	seq 51 60 >> logs/app.log
	wait_lines out/app 60
	stop_ship
	run bash -c 'diff <(seq 1 60) out/app && echo same'
	assert_output same
}

@test "restart under load loses and duplicates nothing" {
	mkdir out logs
	( for i in $(seq 1 3000); do echo "msg $i"; [ $((i % 100)) = 0 ] && sleep 0.05; done >> logs/app.log ) &
	W=$!
	start_ship logs/app.log
	sleep 0.5
	stop_ship
	sleep 0.3                               # lines written while it is down
	start_ship logs/app.log
	sleep 0.4
	stop_ship
	start_ship logs/app.log
	wait $W
	wait_lines out/app 3000
	sleep 0.3
	stop_ship
	run bash -c 'diff <(seq 1 3000 | sed "s/^/msg /") out/app && echo same'
	assert_output same
}

@test "a restart after a rotation while stopped drains the rotated file" {
	mkdir out logs
	seq 1 10 > logs/app.log
	start_ship logs/app.log
	wait_lines out/app 10
	stop_ship
	seq 11 20 >> logs/app.log
	mv logs/app.log logs/app.log.1
	seq 21 30 > logs/app.log
	start_ship logs/app.log
	wait_lines out/app 30
	sleep 0.5
	stop_ship
	run bash -c 'sort -n out/app | diff <(seq 1 30) - && echo same'
	assert_output same
}

@test "--cmd follows a command's output" {
	mkdir out
	run obs-ship -d out -s jr --cmd 'printf "x 1\nx 2\nno newline"'
	assert_success
	assert_equal "$(cat out/jr)" $'x 1\nx 2\nno newline'
}

@test "usage errors exit 2" {
	run obs-ship -d nowhere x.log
	assert_failure 2
	assert_output --partial "'nowhere' is not a directory"
	mkdir out
	run obs-ship -d out
	assert_failure 2
	run obs-ship -Z
	assert_failure 2
	assert_output --partial usage
}
