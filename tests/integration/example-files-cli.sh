#!/bin/sh
# files-client (examples/files) against files-server, as a user runs them:
# what each command prints and its exit status.
#   example-files-cli.sh FILES_SERVER FILES_CLIENT socket|shm
set -u
server_bin=$1 client_bin=$2 transport=$3
tmp=$(mktemp -d)
name=lrpc-test-files-cli-$$
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "example-files-cli: FAIL: $*"; exit 1; }
files() { "$client_bin" --name "$name" --transport "$transport" "$@"; }

mkdir "$tmp/root" "$tmp/root/dir"
head -c 100000 /dev/urandom >"$tmp/root/blob"
echo one >"$tmp/root/dir/a"
echo two >"$tmp/root/dir/b"
echo three >"$tmp/root/dir/c"
echo secret >"$tmp/outside"

"$server_bin" --name "$name" --transport "$transport" "$tmp/root" \
	>"$tmp/server.out" 2>&1 &
server=$!
i=0
until grep -q "serving" "$tmp/server.out" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "server did not start: $(cat "$tmp/server.out")"
	sleep 0.02
done

# open: the bytes of the file, exactly, on stdout.
files open blob >"$tmp/blob.out" || fail "open blob failed"
cmp -s "$tmp/root/blob" "$tmp/blob.out" || fail "open blob: other bytes"

# list: sorted, with progress; a COUNT stops early.
files list dir >"$tmp/list.out" || fail "list dir failed"
[ "$(grep -c '^\[' "$tmp/list.out")" = 3 ] || fail "list: $(cat "$tmp/list.out")"
grep -q '^\[1/3\] file .* a$' "$tmp/list.out" || fail "list: $(cat "$tmp/list.out")"
grep -q '^\[3/3\] file .* c$' "$tmp/list.out" || fail "list: $(cat "$tmp/list.out")"
grep -q '^list dir: 3 entries$' "$tmp/list.out" || fail "list: $(cat "$tmp/list.out")"
files list dir 1 >"$tmp/list1.out" || fail "list dir 1 failed"
grep -q '^list dir: stopped after 1 entries$' "$tmp/list1.out" ||
	fail "list dir 1: $(cat "$tmp/list1.out")"

# Refusals: exit status 1 and the error's name.
files open ../outside 2>"$tmp/err.out" && fail "open ../outside succeeded"
grep -q 'files.FilesError.NOT_ALLOWED' "$tmp/err.out" || fail "$(cat "$tmp/err.out")"
files list nope 2>"$tmp/err.out" && fail "list nope succeeded"
grep -q 'files.FilesError.NOT_FOUND' "$tmp/err.out" || fail "$(cat "$tmp/err.out")"

# delete, by the server's own uid.
files delete dir/b >/dev/null || fail "delete dir/b failed"
[ -e "$tmp/root/dir/b" ] && fail "dir/b still there"
files delete dir/b 2>"$tmp/err.out" && fail "second delete succeeded"
grep -q 'files.FilesError.NOT_FOUND' "$tmp/err.out" || fail "$(cat "$tmp/err.out")"

# Usage: exit status 2, nothing sent.
files frobnicate 2>/dev/null
[ $? = 2 ] || fail "an unknown command does not exit 2"
files list dir 0 2>/dev/null
[ $? = 2 ] || fail "list COUNT 0 does not exit 2"

kill "$server"
wait "$server" || fail "server exited $?: $(cat "$tmp/server.out")"
server=
grep -q "files-server: stopped" "$tmp/server.out" || fail "$(cat "$tmp/server.out")"
echo "example-files-cli: ok over $transport"
