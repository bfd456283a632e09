#!/bin/sh
# Install the Debian packages lrpc needs that are missing.  Usage:
#   scripts/deps.sh [base|bench]
# Checks with dpkg; installs with apt-get as root; otherwise prints the exact
# command to run and fails.
set -eu

pkgs="meson ninja-build pkg-config gcc python3 python3-jinja2 libcmocka-dev libglib2.0-dev libuv1-dev libevent-dev libsystemd-dev valgrind abigail-tools libjson-c-dev scdoc man-db tshark bash-completion protobuf-compiler libprotobuf-dev g++ libgrpc++-dev protobuf-compiler-grpc python3-grpcio python3-protobuf openssl"
case "${1:-base}" in
base) ;;
bench) pkgs="$pkgs libqb-dev" ;;
*) echo "usage: $0 [base|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "lrpc needs these Debian packages:$missing" >&2
	echo "Install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
