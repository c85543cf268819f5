#!/usr/bin/env python3
"""A WebSocket echo server on Python's `websockets` (asyncio): a reference peer for the load client.

Every message comes back unchanged, as the same kind of frame (text stays text, binary stays
binary): the loop of the library's own documentation, `async for message in ws: await
ws.send(message)`. No compression, messages up to 1 MiB (larger ones close the connection with
1009), no keepalive pings from the server (the Node peer sends none either), any path, any
origin. Plain asyncio event loop (not uvloop): what a default Python deployment runs.

Usage: ws_echo.py [--port N] [--bind ADDR]
Its first stdout line is `listening on PORT` (with --port 0, the port the system picked). It
runs until it is killed; SIGTERM or SIGINT ends it cleanly. Needs the packages pinned in
bench/peers/requirements.txt (bench/peers/setup.sh makes a venv with them).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MAX_SIZE = 1 << 20  # 1 MiB, the same as the Node peer's maxPayload


async def echo(ws: ServerConnection) -> None:
    """Sends every message back as it came (str → text frame, bytes → binary frame)."""
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # a client that goes away mid-message is not the server's problem


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args()
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, got {args.port}")

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with serve(
        echo,
        args.bind,
        args.port,
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on {port}", flush=True)
        await stop


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
