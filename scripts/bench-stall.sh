#!/usr/bin/env bash
# What a misbehaving server costs a whole audit: `check --all --timeout T` against servers that
# greet and then flood an endless line, drip one byte a second, never finish a multi-line EHLO
# reply, or answer STARTTLS with 220 and never answer the ClientHello. Each should cost about
# one timeout, not one per session. Prints the wall time of each run, RUNS times each.
#
#   bash scripts/bench-stall.sh                     # RUNS=3, TIMEOUT=2
#   RUNS=5 TIMEOUT=5 SMTPSCOPE=target/release/smtpscope bash scripts/bench-stall.sh
#
# Loopback only; each server exits by itself after 10 minutes, and each run is under `timeout`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SMTPSCOPE:-$here/target/release/smtpscope}
runs=${RUNS:-3}
limit=${TIMEOUT:-2}
[ -x "$bin" ] || { echo "no $bin: cargo build --release first (or set SMTPSCOPE)" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/misbehave.py" <<'EOF'
import socket, sys, threading, time, os

mode = sys.argv[1]
threading.Timer(600, lambda: os._exit(0)).start()

def serve(c):
    try:
        c.sendall(b"220 misbehaving.test ESMTP\r\n")
        if mode == "flood":
            while True:
                c.sendall(b"x" * 65536)
        c.settimeout(60)
        c.recv(1024)
        if mode == "drip":
            for b in b"250 misbehaving.test\r\n" * 100:
                c.sendall(bytes([b]))
                time.sleep(1)
        elif mode == "ehlo-unfinished":
            c.sendall(b"250-misbehaving.test\r\n250-PIPELINING\r\n")
            time.sleep(600)
    except OSError:
        pass
    finally:
        c.close()

s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/k.pem" -out "$work/c.pem" -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1

start() { # command... -> port
    "$@" >"$work/port" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 50); do
        [ -s "$work/port" ] && { head -1 "$work/port"; : >"$work/port"; return; }
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    exit 1
}

echo "check --all --timeout $limit, $runs run(s) each, $(nproc) cores, $("$bin" --version)"
for mode in flood drip ehlo-unfinished stalled-handshake; do
    if [ "$mode" = stalled-handshake ]; then
        port=$(start python3 "$here/tests/common/starttls_server.py" --chain "$work/c.pem" \
            --key "$work/k.pem" --lifetime 600 --stall-handshake)
    else
        port=$(start python3 "$work/misbehave.py" "$mode")
    fi
    times=()
    for _ in $(seq "$runs"); do
        t0=$(date +%s.%N)
        timeout 300 "$bin" check --server "127.0.0.1:$port" --tls-name localhost \
            --ca-file "$work/c.pem" --helo probe.test --all --timeout "$limit" >/dev/null 2>&1 || true
        t1=$(date +%s.%N)
        times+=("$(printf '%.2f' "$(echo "$t1 - $t0" | bc)")")
    done
    printf '%-18s %s s\n' "$mode" "${times[*]}"
done
