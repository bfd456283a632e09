#!/bin/sh
# Start the echo server, run the client against it, stop the server; then
# the key-value store (examples/kv, typed stubs generated from
# idl/example/kv.idl).
#   scripts/demo.sh [BUILD_DIR] [--transport socket|shm|best]
# Without --transport the key-value store runs over shm, then sockets.
set -eu
build=${1:-build}
transports="shm socket"
if [ "${2:-}" = "--transport" ] && [ -n "${3:-}" ]; then
	transports=$3
fi
"$build/examples/echo/echo-server" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT INT TERM
"$build/examples/echo/echo-client" --quit
wait $server
trap - EXIT INT TERM
echo "demo: echo done"

for transport in $transports; do
[ -x "$build/examples/kv/kv-server" ] || break
	kv="$build/examples/kv/kv-client --transport $transport"
	echo "demo: key-value store over $transport"
	"$build/examples/kv/kv-server" --transport "$transport" &
	server=$!
	trap 'kill $server 2>/dev/null || true' EXIT INT TERM
	# Wait until it serves (the client fails while nobody listens).
	i=0
	until $kv list >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "demo: kv-server did not start"; exit 1; }
		sleep 0.05
	done
	$kv watch 4 &
	watcher=$!
	sleep 0.2
	$kv put greeting hello
	$kv put-counter hits 41
	$kv touch hits
	$kv get greeting
	$kv list
	$kv stats
	# Async gets of all three keys with a deadline: the first entry
	# wins and the call still out is cancelled.
	$kv get-first nosuch greeting hits
	$kv delete hits
	$kv get hits || true
	# The same service through the lrpc command and lrpc.Service.
	lrpc="$build/tools/lrpc --transport $transport"
	echo "demo: lrpc list"
	$lrpc list
	echo "demo: lrpc introspect lrpc.example.kv"
	$lrpc introspect lrpc.example.kv
	echo "demo: lrpc call lrpc.example.kv kv.Store.get '{\"key\": \"greeting\"}'"
	$lrpc call lrpc.example.kv kv.Store.get '{"key": "greeting"}'
	wait $watcher
	kill $server
	wait $server || true
	trap - EXIT INT TERM
	echo "demo: kv over $transport done"
done
