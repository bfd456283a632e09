#!/bin/sh
# Start the echo server, run the client against it, stop the server.
set -eu
build=${1:-build}
"$build/examples/echo/echo-server" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT INT TERM
"$build/examples/echo/echo-client" --quit
wait $server
trap - EXIT INT TERM
echo "demo: done"
