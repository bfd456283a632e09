#!/bin/sh
# Start the echo server, run the client against it, stop the server; then
# the key-value store (examples/kv, typed stubs generated from
# idl/example/kv.idl); then the file service (examples/files) over a
# temporary directory.
#   scripts/demo.sh [BUILD_DIR] [--transport socket|shm|best]
# Without --transport the key-value store runs over shm, then sockets, and
# the file service over shm.
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

# The file service: a file as a sealed read-only memfd, a streamed listing
# with progress (and one cut short, which cancels the rest of the stream),
# a path that leaves the root, a delete by the server's owner and, as
# root, one that @access(owner) refuses to another uid.
if [ -x "$build/examples/files/files-server" ]; then
	transport=${transports%% *}
	echo "demo: file service over $transport"
	dir=$(mktemp -d)
	server=
	trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT INT TERM
	mkdir "$dir/docs"
	echo "hello from the file service" >"$dir/hello.txt"
	for f in notes todo draft-1 draft-2 draft-3; do
		echo "$f" >"$dir/docs/$f.txt"
	done
	mkdir "$dir/many"
	for i in $(seq 100 299); do
		: >"$dir/many/file-$i"
	done
	"$build/examples/files/files-server" --transport "$transport" "$dir" &
	server=$!
	files="$build/examples/files/files-client --transport $transport"
	i=0
	until $files list . >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "demo: files-server did not start"; exit 1; }
		sleep 0.05
	done
	echo "demo: files-client open hello.txt"
	$files open hello.txt
	echo "demo: files-client list docs"
	$files list docs
	# The client reads 3 entries and closes the stream: the server,
	# which was waiting for credit, hears of the cancel.
	echo "demo: files-client list many 3"
	$files list many 3
	sleep 0.1
	echo "demo: files-client open ../etc/passwd"
	$files open ../etc/passwd || true
	echo "demo: files-client delete docs/draft-1.txt"
	$files delete docs/draft-1.txt
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		echo "demo: files-client delete docs/notes.txt, as uid 4321"
		setpriv --reuid=4321 --regid=4321 --clear-groups \
			$files delete docs/notes.txt || true
	fi
	$files list docs
	kill $server
	wait $server || true
	rm -rf "$dir"
	trap - EXIT INT TERM
	echo "demo: file service done"
fi

# The kv store through the gRPC gateway (docs/remote.md), when it was
# built: kv-server and an export gateway in one runtime directory, an
# import gateway serving lrpc.example.kv in another, and the kv client
# there: lrpc -> gRPC on 127.0.0.1 -> lrpc.
gateway="$build/examples/kv/kv-grpc-gateway"
if [ -x "$gateway" ]; then
	echo "demo: key-value store through the gRPC gateway"
	tmp=$(mktemp -d)
	pids=
	trap 'kill $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
	: >"$tmp/force"
	mkdir "$tmp/a" "$tmp/b"
	export LRPC_FORCE_FS_FILE="$tmp/force"
	wait_for() {  # FILE TEXT
		i=0
		until grep -q "$2" "$1" 2>/dev/null; do
			i=$((i + 1))
			[ $i -lt 250 ] || { echo "demo: no \"$2\" in $1: $(cat "$1")"; exit 1; }
			sleep 0.02
		done
	}
	LRPC_RUNTIME_DIR="$tmp/a" "$build/examples/kv/kv-server" >"$tmp/server.out" 2>&1 &
	pids=$!
	wait_for "$tmp/server.out" serving
	LRPC_RUNTIME_DIR="$tmp/a" "$gateway" export --service lrpc.example.kv \
		--listen 127.0.0.1:0 >"$tmp/export.out" 2>&1 &
	pids="$pids $!"
	wait_for "$tmp/export.out" "on port"
	cat "$tmp/export.out"
	port=$(sed -n 's/.* on port \([0-9]*\)$/\1/p' "$tmp/export.out")
	LRPC_RUNTIME_DIR="$tmp/b" "$gateway" import --service lrpc.example.kv \
		--connect "127.0.0.1:$port" >"$tmp/import.out" 2>&1 &
	pids="$pids $!"
	wait_for "$tmp/import.out" importing
	cat "$tmp/import.out"
	kv="env LRPC_RUNTIME_DIR=$tmp/b $build/examples/kv/kv-client"
	$kv put remote "hello over gRPC"
	$kv put-counter hits 1
	$kv get remote
	$kv list
	$kv get nosuch || true
	echo "demo: gRPC gateway done"
fi
