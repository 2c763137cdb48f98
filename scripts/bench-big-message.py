#!/usr/bin/env python3
"""Peak memory of `smtpscope session` sending a large --data-file to a sink on loopback.

Starts Postfix's smtp-sink on 127.0.0.1 (it accepts every message and discards it), writes a
message of SIZE_MB megabytes (default 100), runs the release binary once per output format, and
prints wall time and peak RSS (the child's ru_maxrss). Bounded: one run per format, a 120 s
limit each, and the sink is stopped at the end. Needs the `postfix` package (smtp-sink)."""
import os
import socket
import subprocess
import sys
import tempfile
import time

SIZE_MB = int(os.environ.get("SIZE_MB", "100"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "smtpscope")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    port = free_port()
    # 100 is the backlog; smtp-sink advertises no size limit.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen(["/usr/sbin/smtp-sink", *user, f"127.0.0.1:{port}", "100"],
                            stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "big.eml")
            line = b"a line of a large test message, seventy-odd characters long, and then\n"
            with open(path, "wb") as f:
                written = 0
                while written < SIZE_MB * 1024 * 1024:
                    f.write(line * 1000)
                    written += len(line) * 1000
            for fmt in ("text", "json"):
                started = time.monotonic()
                with tempfile.TemporaryFile() as out:
                    child = subprocess.Popen(
                        [BIN, "session", "--server", f"127.0.0.1:{port}", "--tls", "none",
                         "--helo", "probe.test", "--from", "a@bench.test", "--to",
                         "b@bench.test", "--data-file", path, "--format", fmt],
                        stdout=out, stderr=subprocess.STDOUT,
                        env={**os.environ, "SMTPSCOPE_CONFIG_DIR": tmp},
                    )
                    # wait4 gives this child's own peak RSS, not that of cargo or the sink.
                    deadline = time.monotonic() + 120
                    while True:
                        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                        if pid:
                            break
                        if time.monotonic() > deadline:
                            child.kill()
                        time.sleep(0.05)
                    elapsed = time.monotonic() - started
                    code = os.waitstatus_to_exitcode(status)
                    printed = out.tell()
                    print(f"{SIZE_MB} MB --format {fmt}: exit {code}, {elapsed:.2f} s, "
                          f"peak RSS {usage.ru_maxrss / 1024:.1f} MiB, printed {printed} bytes")
                    if code != 0:
                        out.seek(max(0, printed - 2000))
                        sys.stderr.write(out.read().decode(errors="replace"))
    finally:
        sink.terminate()
        sink.wait(timeout=10)


if __name__ == "__main__":
    main()
