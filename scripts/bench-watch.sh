#!/usr/bin/env bash
# `smtpscope watch` on a large Postfix log beside pflogsumm: lines per second, peak RSS, and
# whether both count the same relay rejections. The log is generated here (LINES lines, a
# mix of connects, relay denials from DISTINCT client addresses, SASL failures and normal
# traffic, as Postfix's maillog_file writes them).
#
#   bash scripts/bench-watch.sh                        # LINES=2000000 DISTINCT=100000
#   LINES=10000000 DISTINCT=10000000 bash scripts/bench-watch.sh
#
# Needs python3 and GNU time (/usr/bin/time) for the RSS; pflogsumm (Debian package) when
# installed. Reads a local file only.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SMTPSCOPE:-$here/target/release/smtpscope}
lines=${LINES:-2000000}
distinct=${DISTINCT:-100000}
[ -x "$bin" ] || { echo "no $bin: cargo build --release first (or set SMTPSCOPE)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/mail.log

python3 - "$log" "$lines" "$distinct" <<'PY'
import sys
path, n, distinct = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    for i in range(n):
        s = i // 200
        stamp = "Dec  7 %02d:%02d:%02d" % (s // 3600 % 24, s // 60 % 60, s % 60)
        ip = "10.%d.%d.%d" % (i % distinct // 65536 % 256, i % distinct // 256 % 256, i % distinct % 256)
        k = i % 10
        if k < 3:
            f.write(f"{stamp} mail postfix/smtpd[{i % 9000}]: NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <u{i % 50}@victim{i % 7}.example>: Relay access denied; from=<s{i % 300}@spam.example> to=<u{i % 50}@victim{i % 7}.example> proto=ESMTP helo=<h>\n")
        elif k == 3:
            f.write(f"{stamp} mail postfix/smtpd[{i % 9000}]: warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n")
        elif k < 6:
            f.write(f"{stamp} mail postfix/smtpd[{i % 9000}]: connect from unknown[{ip}]\n")
        elif k < 8:
            f.write(f"{stamp} mail postfix/smtpd[{i % 9000}]: disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4\n")
        else:
            f.write(f"{stamp} mail postfix/cleanup[{i % 9000}]: 4F{i:08X}: message-id=<{i}@lab.example>\n")
PY
size=$(du -m "$log" | cut -f1)
expected=$(( (lines / 10) * 3 + (lines % 10 > 3 ? 3 : lines % 10) ))
echo "log: $lines lines, $size MB, $distinct distinct clients; $(nproc) cores; $("$bin" --version | head -1)"

measure() { # label command...
    local label=$1 t0 t1 secs
    shift
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/out" 2>/dev/null || true
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc)
    printf '%-12s %6.2f s  %10.0f lines/s  peak RSS %s KiB\n' "$label" "$secs" \
        "$(echo "$lines / $secs" | bc -l)" "$(tail -1 "$work/rss")"
}
if [ -x /usr/bin/time ]; then
    measure smtpscope "$bin" watch --format json "$log"
else
    t0=$(date +%s.%N); "$bin" watch --format json "$log" >"$work/out"; t1=$(date +%s.%N)
    echo "smtpscope $(echo "$t1 - $t0" | bc) s (install GNU time for the RSS)"
fi
ours=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["relay_denied"]["total"])' "$work/out")
echo "smtpscope relay denied: $ours (generated: $expected)"
if command -v pflogsumm >/dev/null; then
    if [ -x /usr/bin/time ]; then
        measure pflogsumm pflogsumm --problems-first "$log"
    else
        pflogsumm --problems-first "$log" >"$work/out"
    fi
    # "    Relay access denied (total: 6000)" in its "message reject detail".
    theirs=$(grep -m1 -oE 'Relay access denied \(total: [0-9]+\)' "$work/out" | grep -oE '[0-9]+' || true)
    echo "pflogsumm relay access denied: ${theirs:-?}"
fi
