#!/usr/bin/env bash
# Load and idle checks of the practice lab (`smtpscope lab`, release build), on 127.0.0.1 only.
#
# 1. Load: Postfix's smtp-source drives an open-relay lab with SESSIONS concurrent sessions and
#    MESSAGES messages in all (default 1000 and 5000), under a 300 s timeout; prints the time,
#    smtp-source's errors, the messages the lab logged, its CPU time and peak memory.
# 2. Idle: a lab started with `ulimit -n 1024` gets IDLE (default 1100) connections that never
#    say a word, then one more client; prints how many got a banner and how many a 421, how long
#    the extra client waited for its first line (it must be under a second), and the lab's CPU
#    time over 5 s of holding them all.
#
# Bounded: each lab stops by itself after 600 s (--duration) and is killed if SIGTERM has not
# stopped it within 10 s; smtp-source is killed after 300 s; the idle holder gives up after
# 60 s. Needs postfix (smtp-source) and python3.
#
# LAB_BIN=path runs another build (e.g. an older commit's, for a before/after) instead of
# building this one; SKIP_LOAD=1 runs the idle check only.
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${SESSIONS:-1000}
messages=${MESSAGES:-5000}
idle=${IDLE:-1100}
msglen=${MSGLEN:-1024}

if [ -n "${LAB_BIN:-}" ]; then
  bin=$LAB_BIN
else
  cargo build --release --quiet --bin smtpscope
  bin=./target/release/smtpscope
fi
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin
# The client side holds a socket per session too.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d)
lab=
stop_lab() {
  if [ -n "$lab" ]; then
    kill -TERM "$lab" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$lab" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$lab" 2>/dev/null || true
    wait "$lab" 2>/dev/null || true
    lab=
  fi
}
trap 'stop_lab; rm -rf "$tmp"' EXIT
tck=$(getconf CLK_TCK)

# start_lab NOFILE [lab flags...]: sets $lab (pid) and $addr.
start_lab() {
  local nofile=$1
  shift
  : >"$tmp/lab.out"
  (
    ulimit -n "$nofile"
    # The CA directory goes under $tmp, so even a killed lab leaves nothing behind.
    TMPDIR=$tmp exec "$bin" lab --policy open-relay --duration 600 "$@"
  ) >"$tmp/lab.out" 2>&1 &
  lab=$!
  for _ in $(seq 1 100); do
    grep -q "Press Ctrl-C" "$tmp/lab.out" && break
    sleep 0.1
  done
  addr=$(awk '$3 == "CA" { print $2; exit }' "$tmp/lab.out")
  [ -n "$addr" ] || { echo "the lab did not start:"; cat "$tmp/lab.out"; exit 1; }
}

cpu_ms() { awk -v t="$tck" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"; }
peak_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }

if [ -z "${SKIP_LOAD:-}" ]; then
echo "== load: smtp-source -s $sessions -m $messages -l $msglen against $bin lab (ulimit -n 4096)"
start_lab 4096
cpu0=$(cpu_ms "$lab")
t0=$(date +%s%N)
set +e
timeout 300 smtp-source -s "$sessions" -m "$messages" -l "$msglen" \
  -f bench@outside.example.net -t postmaster@lab.example "$addr" 2>"$tmp/source.err"
rc=$?
set -e
t1=$(date +%s%N)
cpu1=$(cpu_ms "$lab")
peak=$(peak_kib "$lab")
stop_lab
accepted=$(grep -c "^--- message .* accepted" "$tmp/lab.out" || true)
refused=$(grep -c "new clients get 421" "$tmp/lab.out" || true)
echo "smtp-source exit $rc, $(wc -l <"$tmp/source.err") error line(s)"
head -3 "$tmp/source.err"
echo "elapsed $(( (t1 - t0) / 1000000 )) ms; messages accepted by the lab: $accepted of $messages;" \
  "overload bursts: $refused; lab CPU $(( ${cpu1%.*} - ${cpu0%.*} )) ms; lab peak RSS $(( peak / 1024 )) MiB"
echo
fi

echo "== idle: $idle silent connections, then one more, against a lab under ulimit -n 1024"
start_lab 1024
python3 - "$addr" "$lab" "$idle" "$tck" <<'PY'
import os, socket, sys, time

host, port = sys.argv[1].rsplit(":", 1)
pid, count, tck = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + 60

def cpu_ms():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / tck

held = []
for _ in range(count):
    s = socket.create_connection((host, int(port)), timeout=5)
    held.append(s)
# Every held client's first line: a banner or a 421.
banners = refusals = silent = 0
for s in held:
    s.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        line = s.recv(200)
    except OSError:
        line = b""
    if line.startswith(b"220 "):
        banners += 1
    elif line.startswith(b"421 "):
        refusals += 1
    else:
        silent += 1
print(f"held {count}: {banners} banners, {refusals} got 421, {silent} got nothing")
c0 = cpu_ms()
time.sleep(5)
c1 = cpu_ms()
print(f"lab CPU while holding them, over 5 s: {c1 - c0:.0f} ms")
t = time.monotonic()
extra = socket.create_connection((host, int(port)), timeout=5)
extra.settimeout(5)
try:
    first = extra.recv(200).decode(errors="replace").strip()
except OSError as e:
    first = f"nothing ({e})"
waited = (time.monotonic() - t) * 1000
print(f"one more client: {first!r} after {waited:.1f} ms ({'ok' if waited < 1000 else 'TOO SLOW'})")
open_fds = len(os.listdir(f"/proc/{pid}/fd"))
print(f"lab file descriptors open: {open_fds}")
PY
stop_lab
grep -E "sessions open|cannot accept|accepting again|taking clients again" "$tmp/lab.out" | head -5 || true
