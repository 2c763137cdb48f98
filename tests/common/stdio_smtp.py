"""A scripted SMTP server on standard input and output, for `--pipe` tests (tests/pipe.rs): what
`exim -bh` or `sendmail -bs` do, with faults on request.

It accepts mail for lab.test only (anything else: 550 5.7.1 relay access denied), offers no
STARTTLS, and exits 0 after QUIT or at the end of its input.

  --preamble       print lines before the banner, as exim -bh announces its test session
  --stderr-noise N write N lines to standard error at the start
  --exit-after VERB  on VERB (MAIL, RCPT, DATA...), say so on stderr and exit 3 without a reply
  --silent         never answer, and ignore the end of input: a program that hangs
  --lifetime S     exit by itself after S seconds, so a test that dies leaves nothing behind
"""

import argparse
import os
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preamble", action="store_true")
    ap.add_argument("--stderr-noise", type=int, default=0)
    ap.add_argument("--exit-after", default=None)
    ap.add_argument("--silent", action="store_true")
    ap.add_argument("--lifetime", type=float, default=60.0)
    args = ap.parse_args()

    # A hard limit, whatever the main loop is doing.
    timer = threading.Timer(args.lifetime, lambda: os._exit(9))
    timer.daemon = True
    timer.start()

    out = sys.stdout.buffer
    err = sys.stderr

    def say(line):
        out.write(line.encode() + b"\r\n")
        out.flush()

    for i in range(args.stderr_noise):
        err.write(f"noise line {i}\n")
    err.flush()

    if args.silent:
        err.write("silent: never answering\n")
        err.flush()
        while True:
            time.sleep(1)

    if args.preamble:
        out.write(b"\n**** SMTP testing session (scripted)\n**** This is not for real!\n\n")
    say("220 pipe.lab.test ESMTP scripted")
    stdin = sys.stdin.buffer
    in_data = False
    while True:
        raw = stdin.readline(2048)
        if not raw:
            return 0
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if in_data:
            if line == ".":
                in_data = False
                say("250 2.0.0 queued as SCRIPTED")
            continue
        verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
        if args.exit_after and verb == args.exit_after.upper():
            err.write(f"dying at {verb}\n")
            err.flush()
            os._exit(3)
        if verb == "EHLO":
            say("250-pipe.lab.test")
            say("250-PIPELINING")
            say("250 8BITMIME")
        elif verb == "HELO":
            say("250 pipe.lab.test")
        elif verb == "MAIL":
            say("250 2.1.0 Ok")
        elif verb == "RCPT":
            if line.lower().rstrip(">").endswith("@lab.test"):
                say("250 2.1.5 Ok")
            else:
                say("550 5.7.1 relay access denied")
        elif verb == "DATA":
            in_data = True
            say("354 End data with <CR><LF>.<CR><LF>")
        elif verb in ("RSET", "NOOP"):
            say("250 2.0.0 Ok")
        elif verb == "VRFY":
            say("252 2.0.0 maybe")
        elif verb == "QUIT":
            say("221 2.0.0 Bye")
            return 0
        else:
            say("502 5.5.2 command not implemented")


if __name__ == "__main__":
    sys.exit(main())
