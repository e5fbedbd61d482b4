#!/usr/bin/env bash
# Runs tap_echo on a TAP device inside a fresh network namespace and talks to it from the
# Linux side: python3 sockets (always) and netcat-openbsd's nc (when installed), checking
# the echo byte-exact. The namespace is removed on every exit path.
#
# usage: tap_echo_test.sh TAP_ECHO [BYTES] [-- WRAPPER...]
#   TAP_ECHO  the tap_echo binary to run
#   BYTES     bytes the python client sends (default 1 MiB)
#   WRAPPER   a command to run tap_echo under (e.g. valgrind --error-exitcode=1)
#
# Needs root (network namespaces, TAP devices). Without it, or when `ip netns` fails: fails
# when CI is set, otherwise prints a skip message and exits 0.
set -euo pipefail

bin=$(realpath "$1")
bytes=${2:-1048576}
shift $(($# >= 2 ? 2 : 1))
[ "${1:-}" = "--" ] && shift
wrapper=("$@")
here=$(cd "$(dirname "$0")" && pwd)

ns="stcp-c-$$"
tap=stcptap0
log=$(mktemp)
pid=""

skip() {
    if [ -n "${CI:-}" ]; then
        echo "tap_echo_test: FAILED (CI is set, so this cannot be skipped): $*" >&2
        exit 1
    fi
    echo "tap_echo_test: SKIPPED: $* (run as root to test tap_echo against Linux; set CI to make this an error)"
    exit 0
}

cleanup() {
    local rc=$?
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        sleep 0.5
        kill -KILL "$pid" 2>/dev/null || true
    fi
    timeout 10 ip netns del "$ns" 2>/dev/null || true
    if [ "$rc" != 0 ]; then
        echo "--- tap_echo output ---" >&2
        cat "$log" >&2 || true
    fi
    rm -f "$log" "${log}.in" "${log}.out"
    exit "$rc"
}

[ "$(id -u)" = 0 ] || skip "not root"
command -v ip >/dev/null 2>&1 || skip "ip (iproute2) is not installed"
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"
timeout 10 ip netns add "$ns" 2>/dev/null || skip "ip netns add failed"
trap cleanup EXIT
in_ns() { timeout "$1" ip netns exec "$ns" "${@:2}"; }
in_ns 10 ip link set lo up
in_ns 10 ip tuntap add dev "$tap" mode tap
in_ns 10 ip addr add 10.77.0.1/24 dev "$tap"
in_ns 10 ip link set "$tap" up

# The echo server serves the python client, then nc when there is one, then exits.
conns=1
nc_bin=""
if command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -- '-N'; then
    nc_bin=$(command -v nc)
    conns=2
fi
in_ns 120 "${wrapper[@]}" "$bin" -i "$tap" -a 10.77.0.2 -p 7 -n "$conns" -t 100 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$log" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "listening on" "$log" || { echo "tap_echo did not start" >&2; exit 1; }

in_ns 60 python3 "$here/echo_client.py" 10.77.0.2 7 "$bytes" 30

if [ -n "$nc_bin" ]; then
    head -c 262144 /dev/urandom >"${log}.in"
    in_ns 60 "$nc_bin" -N -w 30 10.77.0.2 7 <"${log}.in" >"${log}.out"
    cmp "${log}.in" "${log}.out"
    echo "nc: OK: 262144 bytes echoed byte-exact"
else
    echo "nc: not run (netcat-openbsd is not installed; the python3 client covered the echo)"
fi

rc=0
wait "$pid" || rc=$?
pid=""
cat "$log"
if [ "$rc" != 0 ]; then
    echo "tap_echo exited with status $rc" >&2
    exit 1
fi
echo "tap_echo_test: OK"
