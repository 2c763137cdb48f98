#!/usr/bin/env bash
# The full audit against one session, paired (issue 25). For each target, RUNS pairs (default
# 15) of, alternately,
#   A: smtpscope check --profile bench --all                       (the audit)
#   B: smtpscope session ... --to postmaster@lab.example --quit-after rcpt   (one STARTTLS session)
# timed wall clock, process start-up included; prints min/median/max of each, the median of the
# per-pair ratios A/B and the ratio of the medians. Targets (TARGETS, default all three):
#   tarpit   a private Postfix keeping its default tarpit (1 s per reply after 10 errors)
#   relaxed  the same Postfix on its listener without a tarpit
#   lab      the built-in practice lab (`smtpscope lab --policy secure`)
#   wan      the Postfix listener without a tarpit behind scripts/delay-relay.py, which holds
#            every chunk 5 ms each way (a server 10 ms away; not in the default TARGETS)
# Loopback only. Needs postfix and sasl2-bin for the Postfix targets (see .ci/run). Bounded: at
# most RUNS pairs per target, the Postfix instance stops by itself after 300 s, the lab after
# 300 s (--duration), and every command runs under `timeout 60`.
#
# BIN=path times another build (e.g. an older commit's, for a before/after) instead of building
# this one. CHECK_ARGS adds flags to the audit only (e.g. CHECK_ARGS="--concurrency 16").
#
# FLOOR="1 5 12" also times, against each target, a `check` of N sessions that each do what the
# one session does (EHLO, STARTTLS, EHLO, MAIL, RCPT, RSET, QUIT; a user scenario written here,
# one probe per session), paired with the one session in the same way: the least any audit of
# N connections can cost, whatever its scenarios do on them.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-15}
targets=${TARGETS:-tarpit relaxed lab}
target_dir=${CARGO_TARGET_DIR:-target}
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  cargo build --release --quiet --bin smtpscope
  bin=$target_dir/release/smtpscope
fi
tmp=$(mktemp -d)
holder=
lab=
relay=
cleanup() {
  if [ -n "$relay" ]; then
    kill "$relay" 2>/dev/null || true
  fi
  if [ -n "$holder" ]; then
    pkill -P "$holder" 2>/dev/null || true
    kill "$holder" 2>/dev/null || true
  fi
  if [ -n "$lab" ]; then
    kill -TERM "$lab" 2>/dev/null || true
    wait "$lab" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/cfg/profiles"
export SMTPSCOPE_CONFIG_DIR="$tmp/cfg"

# now_ms: a monotonic-enough wall clock in milliseconds, with fractions.
now_ns() { date +%s%N; }

# stats NAME VALUES...: "NAME min X, median Y, max Z" (ms, one decimal).
stats() {
  local name=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v name="$name" '
    { v[NR] = $1 }
    END {
      m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%s: min %.1f, median %.1f, max %.1f\n", name, v[1], m, v[NR]
    }'
}

median() {
  printf '%s\n' "$@" | sort -g | awk '
    { v[NR] = $1 }
    END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# write_profile SERVER CA USER PASSWORD_ENV
write_profile() {
  cat >"$tmp/cfg/profiles/bench.toml" <<TOML
server = "$1"
tls = "starttls"
ca_file = "$2"
tls_name = "localhost"
helo = "probe.test"
[auth]
mechanism = "plain"
username = "$3"
password_env = "$4"
[relay]
local_recipient = "postmaster@lab.example"
approved_recipient = "someone@partner.example"
disallowed_recipient = "someone@not-approved.example"
other_local_sender = "alice@lab.example"
auth_sender = "$3@lab.example"
TOML
}

# write_floor N: the user scenario floor-N, N sessions of one MAIL/RCPT probe each.
write_floor() {
  local n=$1 i
  mkdir -p "$tmp/cfg/scenarios"
  {
    printf 'id = "floor-%s"\ntitle = "%s sessions like the one session"\n' "$n" "$n"
    printf 'tests = "The floor of an audit of %s connections."\nwhy = "A benchmark."\n' "$n"
    printf 'groups_per_session = 1\n[fix]\nsummary = "None: a benchmark."\n'
    for i in $(seq 1 "$n"); do
      printf '[[steps]]\nname = "mail %s"\ngroup = "g%s"\nsend = "MAIL FROM:<{external_sender}>"\n' "$i" "$i"
      printf 'expect = "accept"\nrole = "setup"\n'
      printf '[[steps]]\nname = "rcpt %s"\ngroup = "g%s"\nsend = "RCPT TO:<{local_recipient}>"\n' "$i" "$i"
      printf 'expect = "accept"\n'
    done
  } >"$tmp/cfg/scenarios/floor-$n.toml"
}

# pairs LABEL SERVER CA [WHAT...]: RUNS alternating pairs of `check --profile bench WHAT`
# (default --all, the audit) and the one session, then the figures.
pairs() {
  local label=$1 server=$2 ca=$3
  shift 3
  local what=("$@")
  [ ${#what[@]} -gt 0 ] || what=(--all)
  local audit=() one=() ratio=()
  local check=(timeout 60 "$bin" check --profile bench "${what[@]}")
  # CHECK_ARGS: more flags for the audit (e.g. "--concurrency 16"), split on spaces.
  if [ -n "${CHECK_ARGS:-}" ]; then
    read -r -a extra <<<"$CHECK_ARGS"
    check+=("${extra[@]}")
  fi
  local session=(timeout 60 "$bin" session --server "$server" --ca-file "$ca" --tls-name localhost
    --helo probe.test --to postmaster@lab.example --quit-after rcpt)
  echo "== $label"
  echo "   A: ${check[*]:2}"
  echo "   B: ${session[*]:2}"
  # One of each first, unmeasured: caches warm, and a broken target shows here.
  "${check[@]}" >"$tmp/check.out" 2>&1 || true
  tail -1 "$tmp/check.out" | sed 's/^/   (audit) /'
  "${session[@]}" >"$tmp/session.out" 2>&1 || { echo "   the session failed:"; tail -5 "$tmp/session.out"; }
  for _ in $(seq 1 "$runs"); do
    local t0 t1 t2 a b
    t0=$(now_ns)
    "${check[@]}" >/dev/null 2>&1 || true
    t1=$(now_ns)
    "${session[@]}" >/dev/null 2>&1 || true
    t2=$(now_ns)
    a=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e6 }')
    b=$(awk -v d=$((t2 - t1)) 'BEGIN { printf "%.1f", d / 1e6 }')
    audit+=("$a")
    one+=("$b")
    ratio+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')")
  done
  stats "   audit (ms), $runs runs" "${audit[@]}"
  stats "   one session (ms), $runs runs" "${one[@]}"
  local ma mb
  ma=$(median "${audit[@]}")
  mb=$(median "${one[@]}")
  echo "   paired median ratio (median of A/B per pair): $(median "${ratio[@]}")x;" \
    "ratio of medians: $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", a / b }')x"
}

for n in ${FLOOR:-}; do
  write_floor "$n"
done

# target LABEL SERVER CA: the audit, then each FLOOR, against one target.
target() {
  pairs "$@"
  local n
  for n in ${FLOOR:-}; do
    pairs "$1: $n sessions like the one session" "$2" "$3" --scenario "floor-$n"
  done
}

need_postfix=
for t in $targets; do
  case $t in tarpit | relaxed | wan) need_postfix=1 ;; esac
done
if [ -n "$need_postfix" ]; then
  cargo test --quiet --test postfix_fixture --no-run
  SMTPSCOPE_HOLD_SECS=300 cargo test --quiet --test postfix_fixture -- --ignored --nocapture \
    hold_postfix_for_manual_use >"$tmp/postfix.log" 2>&1 &
  holder=$!
  for _ in $(seq 1 120); do
    grep -q "postfix on" "$tmp/postfix.log" && break
    sleep 0.5
  done
  line=$(grep "postfix on" "$tmp/postfix.log") || { echo "Postfix did not start:"; cat "$tmp/postfix.log"; exit 1; }
  starttls=$(sed -E 's/.*starttls ([0-9]+) .*/\1/' <<<"$line")
  relaxed=$(sed -E 's/.*relaxed ([0-9]+).*/\1/' <<<"$line")
  pf_ca=$(sed -E 's/.*CA ([^;]+);.*/\1/' <<<"$line")
  pf_bob=$(sed -E 's/.*restricted ([^ ]+) password ([^;]+);.*/\1/' <<<"$line")
  export BENCH_BOB_PW
  BENCH_BOB_PW=$(sed -E 's/.*restricted ([^ ]+) password ([^;]+);.*/\2/' <<<"$line")
  # Postfix's flow control (in_flow_delay, 1 s by default) pauses each new message once
  # messages arrive faster than they leave the queue. The audits' transactions are abandoned
  # (RSET), so none ever leaves: after a few hundred, every accepted RCPT waited 1 s, in the
  # audit and in the single session alike, which measured Postfix's queue, not smtpscope. Off
  # here (the tarpit, which is what the benchmark is about, stays).
  pf_conf=$(dirname "$pf_ca")/conf
  if postconf -c "$pf_conf" -e in_flow_delay=0 && postfix -c "$pf_conf" reload >/dev/null 2>&1; then
    sleep 1
  else
    echo "(could not set in_flow_delay = 0: after a few hundred runs each accepted RCPT may wait 1 s)"
  fi
fi

echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $bin"
for t in $targets; do
  case $t in
    tarpit)
      write_profile "127.0.0.1:$starttls" "$pf_ca" "$pf_bob" BENCH_BOB_PW
      target "Postfix with its default tarpit (127.0.0.1:$starttls)" "127.0.0.1:$starttls" "$pf_ca"
      ;;
    relaxed)
      write_profile "127.0.0.1:$relaxed" "$pf_ca" "$pf_bob" BENCH_BOB_PW
      target "Postfix without a tarpit (127.0.0.1:$relaxed)" "127.0.0.1:$relaxed" "$pf_ca"
      ;;
    wan)
      relay_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      python3 scripts/delay-relay.py "$relay_port" "$relaxed" 5 300 &
      relay=$!
      for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$relay_port") 2>/dev/null && break
        sleep 0.1
      done
      write_profile "127.0.0.1:$relay_port" "$pf_ca" "$pf_bob" BENCH_BOB_PW
      target "Postfix without a tarpit, 10 ms away (127.0.0.1:$relay_port, 5 ms each way)" "127.0.0.1:$relay_port" "$pf_ca"
      ;;
    lab)
      (TMPDIR=$tmp exec "$bin" lab --policy secure --duration 300) >"$tmp/lab.out" 2>&1 &
      lab=$!
      for _ in $(seq 1 100); do
        grep -q "Press Ctrl-C" "$tmp/lab.out" && break
        sleep 0.1
      done
      addr=$(awk '$3 == "CA" { print $2; exit }' "$tmp/lab.out")
      lab_ca=$(awk '$3 == "CA" { print $4; exit }' "$tmp/lab.out")
      [ -n "$addr" ] || { echo "the lab did not start:"; cat "$tmp/lab.out"; exit 1; }
      export BENCH_LAB_PW
      BENCH_LAB_PW=$(awk '$1 == "bob" && $2 == "/" { print $3; exit }' "$tmp/lab.out")
      write_profile "$addr" "$lab_ca" bob BENCH_LAB_PW
      target "the built-in lab, --policy secure ($addr)" "$addr" "$lab_ca"
      ;;
    *) echo "unknown target $t (tarpit, relaxed, lab, wan)"; exit 2 ;;
  esac
done
