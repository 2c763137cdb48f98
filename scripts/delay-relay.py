#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 that holds every chunk DELAY_MS milliseconds in each direction, in
order: a server that far away (round trip 2 x DELAY_MS) for scripts/bench-check.sh's "wan"
target. Loopback only; exits after LIFETIME_S seconds.

A relay ends TCP on both sides, which a router on a real path does not: its kernel's delayed
ACKs (up to 40 ms) would hold back a server that waits, under Nagle's rule, for the ACK of what
it sent last (Postfix's EHLO reply after its TLS session tickets). So every read is followed by
TCP_QUICKACK, and the delay measured is the path's, not the relay's.

usage: delay-relay.py LISTEN_PORT TARGET_PORT DELAY_MS LIFETIME_S
"""
import asyncio
import socket
import sys

LISTEN, TARGET = int(sys.argv[1]), int(sys.argv[2])
DELAY, LIFETIME = float(sys.argv[3]) / 1000, float(sys.argv[4])


def quickack(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, "TCP_QUICKACK", 12), 1)
    except OSError:
        pass


async def pipe(reader, reader_sock, writer):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(65536)
            quickack(reader_sock)
            await queue.put((loop.time() + DELAY, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (OSError, asyncio.IncompleteReadError):
        pass


async def handle(client_r, client_w):
    try:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", TARGET)
    except OSError:
        client_w.close()
        return
    client_sock = client_w.get_extra_info("socket")
    server_sock = server_w.get_extra_info("socket")
    await asyncio.gather(
        pipe(client_r, client_sock, server_w), pipe(server_r, server_sock, client_w)
    )
    client_w.close()
    server_w.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    async with server:
        await asyncio.sleep(LIFETIME)


asyncio.run(main())
