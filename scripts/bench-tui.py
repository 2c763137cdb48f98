#!/usr/bin/env python3
"""Startup to first frame, and CPU used while idle, for the smtpscope TUI.

Runs target/release/smtpscope in a pseudo-terminal (120x35), so it measures the real binary
with a real terminal: no network beyond the practice lab on 127.0.0.1. Bounded: RUNS starts
(default 20) and one 10-second idle window.

    cargo build --release && python3 scripts/bench-tui.py
"""
import fcntl
import glob
import os
import pty
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "smtpscope")
RUNS = int(os.environ.get("RUNS", "20"))


def spawn(config_dir, data_dir):
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, SMTPSCOPE_CONFIG_DIR=config_dir, SMTPSCOPE_DATA_DIR=data_dir, TERM="xterm-256color")
        os.execve(BIN, [BIN, "tui"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 35, 120, 0, 0))
    return pid, fd


def read_until(fd, needle, timeout):
    """Reads the pty until `needle` appears; returns the seconds it took, or None."""
    start = time.monotonic()
    seen = b""
    while time.monotonic() - start < timeout:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return None
            seen += chunk
            if needle in seen:
                return time.monotonic() - start
    return None


def drain(fd, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def cpu_ns(pid):
    """CPU time of every thread of the process, in nanoseconds (/proc/PID/task/*/schedstat)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        with open(path) as f:
            total += int(f.read().split()[0])
    return total


def stop(pid, fd):
    os.kill(pid, signal.SIGTERM)
    drain(fd, 0.2)
    os.waitpid(pid, 0)
    os.close(fd)


def startup(config_dir, label):
    times = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as data:
            t0 = time.monotonic()
            pid, fd = spawn(config_dir, data)
            took = read_until(fd, "Scenarios".encode(), 10)
            if took is not None:
                times.append(time.monotonic() - t0)
            stop(pid, fd)
    times.sort()
    print(f"startup to first frame ({label}), {len(times)} runs: min {times[0]*1000:.1f} ms, "
          f"median {statistics.median(times)*1000:.1f} ms, max {times[-1]*1000:.1f} ms")


def idle(config_dir):
    with tempfile.TemporaryDirectory() as data:
        pid, fd = spawn(config_dir, data)
        read_until(fd, b"Scenarios", 10)
        drain(fd, 1.0)
        before = cpu_ns(pid)
        drain(fd, 10.0)
        used = cpu_ns(pid) - before
        stop(pid, fd)
    print(f"idle for 10 s with no input and no traffic: {used/1e6:.2f} ms of CPU")


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as cfg:
        os.makedirs(os.path.join(cfg, "profiles"))
        with open(os.path.join(cfg, "profiles", "bench.toml"), "w") as f:
            f.write('server = "127.0.0.1:25"\n')
        startup(cfg, "with a saved profile")
        idle(cfg)
    with tempfile.TemporaryDirectory() as empty:
        startup(empty, "first run: two practice labs start first")


main()
