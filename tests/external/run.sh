#!/bin/sh
# Install this build into a scratch DESTDIR, point pkg-config at it, and
# build and run tests/external against the installed tree.
#   run.sh BUILD_DIR SOURCE_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --no-rebuild --destdir "$tmp/dest" --quiet
pc=$(find "$tmp/dest" -name lrpc.pc | head -n 1)
[ -n "$pc" ] || { echo "run.sh: lrpc.pc not installed"; exit 1; }
# The .pc names the final prefix; rebase it onto the DESTDIR copy.
mkdir "$tmp/pc"
prefix=$(sed -n 's/^prefix=//p' "$pc")
sed "s|^prefix=.*|prefix=$tmp/dest$prefix|" "$pc" > "$tmp/pc/lrpc.pc"
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH="$tmp/pc"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
gen=$(pkg-config --variable=lrpc_gen lrpc)
case "$gen" in
"$tmp"/*) ;;
*) echo "run.sh: lrpc_gen=$gen is not in the installed tree"; exit 1 ;;
esac
# The installed generator runs from its own copy of the package.
"$gen" --help >/dev/null
# Shipped IDL: the import directory exists even when empty, and the
# installed examples compile with the installed generator.
idldir=$(pkg-config --variable=idldir lrpc)
case "$idldir" in
"$tmp"/*) ;;
*) echo "run.sh: idldir=$idldir is not in the installed tree"; exit 1 ;;
esac
[ -d "$idldir" ] || { echo "run.sh: idldir $idldir was not installed"; exit 1; }
mkdir "$tmp/kv"
"$gen" "$idldir/../examples/idl/kv.idl" -I "$idldir" -o "$tmp/kv" ||
	{ echo "run.sh: the installed example IDL does not compile"; exit 1; }
meson setup "$tmp/build" "$src/tests/external" >"$tmp/setup.log" 2>&1 ||
	{ cat "$tmp/setup.log"; exit 1; }
ninja -C "$tmp/build" >"$tmp/ninja.log" 2>&1 || { cat "$tmp/ninja.log"; exit 1; }
"$tmp/build/hello"
echo "external project: ok"
