#!/bin/sh
# The gRPC gateway's cost (docs/remote.md, "Performance"): the kv example
# server and kv-grpc-gateway export on 127.0.0.1 (sockets in a directory of
# their own), then tests/grpc/grpc-bench against the gateway and a plain
# gRPC server in the same run.
#   scripts/grpc-bench.sh BUILD_DIR [grpc-bench options]
set -eu
build=$1
shift
tmp=$(mktemp -d)
pids=
cleanup() {
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
: >"$tmp/force"
export LRPC_FORCE_FS_FILE="$tmp/force" LRPC_RUNTIME_DIR="$tmp"

"$build/examples/kv/kv-server" ${KV_TRANSPORT:+--transport "$KV_TRANSPORT"} >/dev/null &
pids=$!
i=0
until [ -S "$tmp/lrpc.example.kv.sock" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "grpc-bench: kv-server did not start" >&2; exit 1; }
	sleep 0.02
done
"$build/examples/kv/kv-grpc-gateway" export --service lrpc.example.kv \
	--listen 127.0.0.1:0 >"$tmp/gateway.out" 2>&1 &
pids="$pids $!"
i=0
until grep -q "on port" "$tmp/gateway.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "grpc-bench: the gateway did not start: $(cat "$tmp/gateway.out")" >&2; exit 1; }
	sleep 0.02
done
port=$(sed -n 's/.* on port \([0-9]*\)$/\1/p' "$tmp/gateway.out")
"$build/tests/grpc/grpc-bench" --gateway "127.0.0.1:$port" "$@"
