#!/bin/sh
# Socket activation (docs/api.md, "Socket activation"): the kv example
# server, unchanged, started on the first connection by a launcher that
# hands it the listening socket the way systemd does.
#   activation.sh ACTIVATE KV_SERVER KV_CLIENT
set -u
activate=$1 server=$2 client=$3
tmp=$(mktemp -d)
launcher=
cleanup() {
	[ -n "$launcher" ] && kill "$launcher" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "activation: FAIL: $*"; exit 1; }

# Start "$@" in the background; wait until it listens.
launch() {
	# A new file: the previous launcher's "listening" must not count.
	rm -f "$tmp/launcher.out"
	"$@" >"$tmp/launcher.out" 2>&1 &
	launcher=$!
	i=0
	until grep -q "listening" "$tmp/launcher.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "launcher did not start: $(cat "$tmp/launcher.out")"
		sleep 0.02
	done
}

stop() {
	kill "$launcher" 2>/dev/null
	wait "$launcher" 2>/dev/null
	launcher=
}

# The first client's connection starts the server, which serves it from
# the inherited socket.
roundtrip() {
	what=$1
	"$client" put greeting "hello $what" >"$tmp/put.out" 2>&1 ||
		fail "$what: put: $(cat "$tmp/put.out") / $(cat "$tmp/launcher.out")"
	"$client" get greeting >"$tmp/get.out" 2>&1 ||
		fail "$what: get: $(cat "$tmp/get.out")"
	grep -q "hello $what" "$tmp/get.out" || fail "$what: got $(cat "$tmp/get.out")"
	echo "activation: $what ok"
}

launch "$activate" @lrpc/lrpc.example.kv -- "$server"
roundtrip abstract
stop

# The service's socket behind another one, and named.
launch "$activate" --decoy --fdname lrpc.example.kv @lrpc/lrpc.example.kv -- "$server"
roundtrip decoy
stop

# Filesystem sockets: the manager owns the path; the server leaves it be.
mkdir -m 0700 "$tmp/run"
touch "$tmp/force"
export LRPC_RUNTIME_DIR="$tmp/run" LRPC_FORCE_FS_FILE="$tmp/force"
launch "$activate" "$tmp/run/lrpc.example.kv.sock" -- "$server"
roundtrip filesystem
stop
[ -S "$tmp/run/lrpc.example.kv.sock" ] || fail "the manager's socket was removed"
rm -f "$tmp/run/lrpc.example.kv.sock"
unset LRPC_RUNTIME_DIR LRPC_FORCE_FS_FILE

# Sockets meant for another process are left alone: the server binds its
# own, which the launcher holds, and says so.
launch "$activate" --wrong-pid @lrpc/lrpc.example.kv -- "$server"
"$client" list >/dev/null 2>&1 &
knock=$!
wait "$launcher"
status=$?
launcher=
kill "$knock" 2>/dev/null
[ $status -ne 0 ] || fail "wrong LISTEN_PID: the server did not refuse"
grep -q "cannot serve" "$tmp/launcher.out" || fail "wrong LISTEN_PID: $(cat "$tmp/launcher.out")"
echo "activation: foreign sockets left alone ok"

# systemd's own launcher, where it is installed.
if command -v systemd-socket-activate >/dev/null 2>&1; then
	rm -f "$tmp/launcher.out"
	systemd-socket-activate -l @lrpc/lrpc.example.kv "$server" \
		>"$tmp/launcher.out" 2>&1 &
	launcher=$!
	i=0
	until grep -q "Listening" "$tmp/launcher.out" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 200 ] || fail "systemd-socket-activate: $(cat "$tmp/launcher.out")"
		sleep 0.02
	done
	roundtrip systemd-socket-activate
	stop
else
	echo "activation: systemd-socket-activate not installed, skipped"
fi
exit 0
