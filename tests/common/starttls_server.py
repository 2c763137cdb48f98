"""A STARTTLS SMTP server for the TLS defect tests, served by Python's ssl module, that is by
OpenSSL, the library most mail servers use: so a certificate is served exactly as Postfix or
Exim would serve it, whatever rustls thinks of it (rustls cannot serve an RSA 1024-bit key).

Plaintext banner and EHLO, 220 to STARTTLS, then TLS with the chain and key given; inside TLS
it answers EHLO, NOOP and QUIT. Listens on 127.0.0.1 only, on a free port it prints as the
first line of its output, and exits by itself after --lifetime seconds so a test that dies
cannot leave it behind.

Security level 0: OpenSSL 3 refuses to even load a 1024-bit key or a SHA-1 signed certificate
at its default level 2, and these are exactly the defects under test.
"""

import argparse
import os
import socket
import ssl
import sys
import threading

LINE_LIMIT = 1000

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}

# Set from --stall-handshake.
STALL = False


def read_line(sock):
    """One line, byte by byte: nothing after the line is read, so the ClientHello that follows
    STARTTLS stays in the socket for the TLS layer."""
    line = b""
    while not line.endswith(b"\n") and len(line) < LINE_LIMIT:
        byte = sock.recv(1)
        if not byte:
            return None
        line += byte
    return line


def inside_tls(tls):
    while True:
        line = read_line(tls)
        if line is None:
            return
        verb = line.strip().upper()
        if verb.startswith(b"EHLO") or verb.startswith(b"HELO"):
            tls.sendall(b"250-defects.test\r\n250 SIZE 10000000\r\n")
        elif verb.startswith(b"QUIT"):
            tls.sendall(b"221 2.0.0 bye\r\n")
            return
        else:
            tls.sendall(b"250 2.0.0 ok\r\n")


def serve(conn, ctx):
    conn.settimeout(20)
    try:
        conn.sendall(b"220 defects.test ESMTP test server\r\n")
        while True:
            line = read_line(conn)
            if line is None:
                return
            verb = line.strip().upper()
            if verb.startswith(b"EHLO"):
                conn.sendall(b"250-defects.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
            elif verb.startswith(b"STARTTLS"):
                conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                break
            elif verb.startswith(b"QUIT"):
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 not here\r\n")
        if STALL:
            # Hold the connection open with the ClientHello unread until the client gives up.
            while conn.recv(4096):
                pass
            return
        # A client that rejects the certificate aborts the handshake: an ordinary end here.
        tls = ctx.wrap_socket(conn, server_side=True)
        inside_tls(tls)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", required=True, help="PEM: the certificates to send, leaf first")
    parser.add_argument("--key", required=True, help="PEM: the leaf's private key")
    parser.add_argument("--lifetime", type=float, default=120.0)
    parser.add_argument("--tls-min", choices=sorted(VERSIONS), help="lowest TLS version accepted")
    parser.add_argument("--tls-max", choices=sorted(VERSIONS), help="highest TLS version accepted")
    parser.add_argument(
        "--stall-handshake",
        action="store_true",
        help="answer STARTTLS with 220, then never answer the ClientHello",
    )
    args = parser.parse_args()

    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(args.chain, args.key)
    if args.tls_min:
        ctx.minimum_version = VERSIONS[args.tls_min]
    if args.tls_max:
        ctx.maximum_version = VERSIONS[args.tls_max]
    global STALL
    STALL = args.stall_handshake

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, ctx), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
