#!/usr/bin/env bash
# Times `smtpscope check --all` against a private Postfix (loopback only) that keeps Postfix's
# default tarpit (1 s per reply after 10 errors in a session). Prints min/median/max over RUNS
# runs (default 20). Needs postfix and sasl2-bin (see .ci/run). Bounded: at most RUNS runs, and
# the Postfix instance stops by itself after 300 s.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
cargo build --release --quiet
cargo test --quiet --test postfix_fixture --no-run
log=$(mktemp)
cfg=$(mktemp -d)
SMTPSCOPE_HOLD_SECS=300 cargo test --quiet --test postfix_fixture -- --ignored --nocapture \
  hold_postfix_for_manual_use >"$log" 2>&1 &
holder=$!
cleanup() { pkill -P "$holder" 2>/dev/null || true; kill "$holder" 2>/dev/null || true; rm -rf "$cfg" "$log"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  grep -q "postfix on" "$log" && break
  sleep 0.5
done
line=$(grep "postfix on" "$log") || { echo "Postfix did not start:"; cat "$log"; exit 1; }
port=$(sed -E 's/.*starttls ([0-9]+) .*/\1/' <<<"$line")
ca=$(sed -E 's/.*CA ([^;]+);.*/\1/' <<<"$line")
bob=$(sed -E 's/.*restricted ([^ ]+) password ([^;]+);.*/\1/' <<<"$line")
export BENCH_BOB_PW
BENCH_BOB_PW=$(sed -E 's/.*restricted ([^ ]+) password ([^;]+);.*/\2/' <<<"$line")
mkdir -p "$cfg/profiles"
cat >"$cfg/profiles/bench.toml" <<TOML
server = "127.0.0.1:$port"
tls = "starttls"
ca_file = "$ca"
tls_name = "localhost"
helo = "probe.test"
[auth]
mechanism = "plain"
username = "$bob"
password_env = "BENCH_BOB_PW"
[relay]
local_recipient = "postmaster@lab.example"
approved_recipient = "someone@partner.example"
disallowed_recipient = "someone@not-approved.example"
other_local_sender = "alice@lab.example"
auth_sender = "$bob@lab.example"
TOML
export SMTPSCOPE_CONFIG_DIR="$cfg"
times=()
for _ in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  ./target/release/smtpscope check --profile bench --all >/dev/null || true
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
./target/release/smtpscope check --profile bench --all | tail -1
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
n=${#sorted[@]}
echo "check --all against Postfix with its default tarpit, $n runs: min ${sorted[0]} ms, median ${sorted[$((n / 2))]} ms, max ${sorted[$((n - 1))]} ms"
