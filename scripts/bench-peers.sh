#!/usr/bin/env bash
# smtpscope check --all side by side with the tools admins would use instead, against the same
# private Postfix on 127.0.0.1: the secure configuration with Postfix's default tarpit, and the
# open relay. Prints each tool's time and verdict, and the ratios.
#   bash scripts/bench-peers.sh
# Installs swaks and nmap from Debian if missing. Bounded: one run per tool and target; the
# Postfix instance stops by itself after 600 s.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nmap >/dev/null || ! command -v swaks >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap swaks libnet-ssleay-perl >/dev/null
fi
cargo build --release --quiet
cargo test --quiet --test postfix_fixture --no-run
log=$(mktemp); cfg=$(mktemp -d)
SMTPSCOPE_HOLD_SECS=600 cargo test --quiet --test postfix_fixture -- --ignored --nocapture \
  hold_postfix_for_manual_use >"$log" 2>&1 &
holder=$!
cleanup() { pkill -P "$holder" 2>/dev/null || true; kill "$holder" 2>/dev/null || true; rm -rf "$cfg" "$log"; }
trap cleanup EXIT
for _ in $(seq 1 120); do grep -q "postfix on" "$log" && break; sleep 0.5; done
line=$(grep "postfix on" "$log") || { cat "$log"; exit 1; }
tarpit=$(sed -E 's/.*starttls ([0-9]+) .*/\1/' <<<"$line")
open=$(sed -E 's/.*open relay ([0-9]+);.*/\1/' <<<"$line")
ca=$(sed -E 's/.*CA ([^;]+);.*/\1/' <<<"$line")
bob=$(sed -E 's/.*restricted ([^ ]+) password ([^;]+);.*/\1/' <<<"$line")
export BOB_PW; BOB_PW=$(sed -E 's/.*restricted ([^ ]+) password ([^;]+);.*/\2/' <<<"$line")

ms() { echo $(( ($2 - $1) / 1000000 )); }
D=elsewhere.example.org; T=relaytest; F=antispam; S=mail.lab.example; IP='[127.0.0.1]'
# The probes of check --all that swaks can express, one swaks session each, as admins script it.
swaks_loop() {
  local port=$1 accepted=0 n=0
  run() { n=$((n+1)); if swaks --server 127.0.0.1:"$port" --helo probe.test --timeout 20 "$@" >/dev/null 2>&1; then accepted=$((accepted+1)); fi; }
  local tls=(-tls --tls-verify --tls-ca-path "$ca" --tls-sni localhost)
  run "${tls[@]}" --quit-after RCPT --from relay-test@outside.example.net --to "$T@$D"            # A
  run "${tls[@]}" --quit-after RCPT --from relay-test@outside.example.net --to postmaster@lab.example  # control
  run "${tls[@]}" --quit-after RCPT --auth PLAIN --auth-user "$bob" --auth-password "$BOB_PW" --from "$bob@lab.example" --to someone@partner.example       # B
  run "${tls[@]}" --quit-after RCPT --auth PLAIN --auth-user "$bob" --auth-password "$BOB_PW" --from "$bob@lab.example" --to someone@not-approved.example  # C
  run "${tls[@]}" --quit-after RCPT --auth PLAIN --auth-user "$bob" --auth-password "$BOB_PW" --from alice@lab.example --to postmaster@lab.example         # spoofing
  run "${tls[@]}" --quit-after TLS                                                                 # starttls
  run --quit-after AUTH --auth PLAIN --auth-user probe --auth-password not-a-password              # auth before TLS
  for pair in "<>|$T@$D" "$F@$D|$T@$D" "$F@$S|$T@$D" "$F@$IP|$T@$D" "$F@$IP|$T%$D@$IP" "$F@$IP|$T%$D@$S" \
              "$F@$IP|\"$T@$D\"" "$F@$IP|\"$T%$D\"" "$F@$IP|$T@$D@$IP" "$F@$IP|\"$T@$D\"@$IP" "$F@$IP|$T@$D@$S" \
              "$F@$IP|@$IP:$T@$D" "$F@$IP|@$S:$T@$D" "$F@$IP|$D!$T" "$F@$IP|$D!$T@$IP" "$F@$IP|$D!$T@$S"; do
    run "${tls[@]}" --quit-after RCPT --from "${pair%%|*}" --to "${pair#*|}"                        # relay tricks
  done
  echo "$n sessions, $accepted ended in acceptance"
  return 0
}

mkdir -p "$cfg/profiles"
for name in tarpit open; do
  port=${!name}
  cat >"$cfg/profiles/$name.toml" <<TOML
server = "127.0.0.1:$port"
ca_file = "$ca"
tls_name = "localhost"
helo = "probe.test"
[auth]
mechanism = "plain"
username = "$bob"
password_env = "BOB_PW"
[relay]
local_recipient = "postmaster@lab.example"
approved_recipient = "someone@partner.example"
disallowed_recipient = "someone@not-approved.example"
other_local_sender = "alice@lab.example"
auth_sender = "$bob@lab.example"
TOML
done
export SMTPSCOPE_CONFIG_DIR="$cfg"

for name in tarpit open; do
  port=${!name}
  label=$([ "$name" = tarpit ] && echo "secure Postfix with its default tarpit" || echo "open relay")
  echo "== $label (127.0.0.1:$port)"
  t0=$(date +%s%N); verdict=$(./target/release/smtpscope check --profile "$name" --all | tail -1 || true); t1=$(date +%s%N)
  a=$(ms "$t0" "$t1"); echo "smtpscope check --all: ${a} ms — $verdict"
  t0=$(date +%s%N); verdict=$(swaks_loop "$port"); t1=$(date +%s%N)
  b=$(ms "$t0" "$t1"); echo "swaks loop:            ${b} ms — $verdict"
  t0=$(date +%s%N)
  # -sV: the script only runs on a port nmap knows to be SMTP (25/465/587 or detected).
  verdict=$(nmap -Pn -n -sV -p "$port" --script smtp-open-relay --script-args smtp-open-relay.domain=lab.example 127.0.0.1 2>&1 | grep -o "smtp-open-relay: .*" || true)
  t1=$(date +%s%N)
  c=$(ms "$t0" "$t1"); echo "nmap smtp-open-relay:  ${c} ms — $verdict"
  awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "ratios: swaks loop / smtpscope = %.1fx, nmap / smtpscope = %.1fx\n", b/a, c/a }'
done
