#!/usr/bin/env python3
"""A TCP relay on 127.0.0.1 that holds every chunk DELAY_MS milliseconds in each direction, in
order: a server that far away (round trip 2 x DELAY_MS) for scripts/bench-check.sh's "wan"
target. Loopback only; exits after LIFETIME_S seconds.

usage: delay-relay.py LISTEN_PORT TARGET_PORT DELAY_MS LIFETIME_S
"""
import asyncio
import sys

LISTEN, TARGET = int(sys.argv[1]), int(sys.argv[2])
DELAY, LIFETIME = float(sys.argv[3]) / 1000, float(sys.argv[4])


async def pipe(reader, writer):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(65536)
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
    await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
    client_w.close()
    server_w.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    async with server:
        await asyncio.sleep(LIFETIME)


asyncio.run(main())
