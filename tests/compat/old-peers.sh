#!/bin/sh
# Real peers of an older lrpc against this one: the kv example's server and
# client of a release that predates record sockets (docs/wire.md, "Record
# sockets"), built from this repository's history, each against this
# build's other half, over both transports.  Every command must give the
# same answers as between two peers of one version.
#
#   old-peers.sh SOURCE_ROOT BUILD_DIR [REVISION]
#
# Skipped (77) where the history is not there (a source tarball).
set -eu
src=$1 build=$2
# lrpc 1.3.0 as released before record sockets.
rev=${3:-2e25fe410f84750d049dd05a89fa1ba1ef21fac3}

if [ ! -x "$build/examples/kv/kv-server" ]; then
	echo "old-peers: no kv example in $build: skipped"
	exit 77
fi
if ! git -C "$src" cat-file -e "$rev^{commit}" 2>/dev/null; then
	echo "old-peers: $rev is not in this tree's history: skipped"
	exit 77
fi
tmp=$(mktemp -d)
server=
cleanup() {
	[ -z "$server" ] || kill "$server" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir "$tmp/old" "$tmp/run"
git -C "$src" archive "$rev" | tar -x -C "$tmp/old"
if ! meson setup "$tmp/old/build" "$tmp/old" -Dtests=false -Dman=disabled \
	-Dgrpc=disabled -Dglib=disabled -Duv=disabled -Dlibevent=disabled \
	-Dsdevent=disabled -Dglib_example=disabled >"$tmp/setup.log" 2>&1 ||
   ! ninja -C "$tmp/old/build" examples/kv/kv-server examples/kv/kv-client \
	>"$tmp/build.log" 2>&1; then
	cat "$tmp/setup.log" "$tmp/build.log" >&2
	echo "old-peers: the old tree does not build" >&2
	exit 1
fi

# Our own socket directory, so that nothing else running can answer.
: >"$tmp/force"
export LRPC_FORCE_FS_FILE="$tmp/force" LRPC_RUNTIME_DIR="$tmp/run"

old=$tmp/old/build/examples/kv
new=$build/examples/kv
fail=0

expect() { # WHAT WANT GOT
	case $3 in
	*"$2"*) ;;
	*) printf 'old-peers: %s: wanted "%.80s", got: %.300s\n' \
		"$1" "$2" "$3" >&2
	   fail=1 ;;
	esac
}

for transport in socket shm; do
	for pair in "old new" "new old"; do
		failed=$fail
		fail=0
		set -- $pair
		eval sdir=\$$1 cdir=\$$2
		what="$1 server, $2 client, $transport"
		kv="$cdir/kv-client --transport $transport"
		"$sdir/kv-server" --transport "$transport" >"$tmp/server.out" 2>&1 &
		server=$!
		i=0
		until $kv list >/dev/null 2>&1; do
			i=$((i + 1))
			if [ $i -ge 200 ]; then
				cat "$tmp/server.out" >&2
				echo "old-peers: $what: no service" >&2
				exit 1
			fi
			sleep 0.05
		done
		$kv watch 2 >"$tmp/watch.out" 2>&1 &
		watcher=$!
		sleep 0.3
		expect "$what: put" "version 1" "$($kv put greeting "hello $transport" 2>&1)"
		expect "$what: counter" "version 1" "$($kv put-counter hits 41 2>&1)"
		expect "$what: get" "hello $transport" "$($kv get greeting 2>&1)"
		# The largest value kv.idl allows (common.MAX_VALUE): one
		# record, or three stream segments.
		big=$(head -c 65536 /dev/zero | tr '\0' x)
		expect "$what: put large" "version 1" "$($kv put big "$big" 2>&1)"
		expect "$what: get large" "$big" "$($kv get big 2>&1)"
		expect "$what: list" "3 entries" "$($kv list 2>&1)"
		expect "$what: typed error" "NOT_FOUND" "$($kv get nosuch 2>&1 || true)"
		if ! wait "$watcher"; then
			echo "old-peers: $what: watch failed" >&2
			fail=1
		fi
		expect "$what: events" "greeting" "$(cat "$tmp/watch.out")"
		kill "$server"
		wait "$server" 2>/dev/null || true
		server=
		[ $fail = 1 ] || echo "old-peers: $what: ok"
		[ $failed = 0 ] || fail=1
	done
done
exit $fail
