#!/usr/bin/env python3
"""Stub peers for the browser tests: servers that are *not* a usable Semantest server.

The connection core must classify every way a local probe can go wrong. Each mode of this
script plays one of them on a loopback port:

  wrong-service  GET /signature -> 200 JSON from a service that is not "semantest"
  incompatible   GET /signature -> 200 JSON from "semantest" 2.0.0 (not semver-compatible with 1.x/0.x)
  not-json       GET /signature -> 200 text/html "<html>hello</html>"
  huge           GET /signature -> 200 JSON of 4 MiB (the probe must cap what it reads)
  hung           accepts TCP connections and never reads or writes (the probe must time out)

The HTTP modes answer 404 for every other path, send `Access-Control-Allow-Origin: *` (the
tests fetch cross-origin, from a page and from a service worker) and answer CORS preflights.

Usage: stub_server.py --mode MODE [--port N] [--bind ADDR]
Once ready it prints exactly one line, `listening on PORT`, to stdout (port 0 = any free port).
Python 3.11 standard library only. SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def _json(service: str, version: str) -> bytes:
    """A signature body in the server's compact shape."""
    signature = {"service": service, "version": version, "environment": "local", "capabilities": []}
    return json.dumps(signature, separators=(",", ":")).encode()


# What GET /signature answers in each HTTP mode: (Content-Type, body).
SIGNATURES: dict[str, tuple[str, bytes]] = {
    "wrong-service": ("application/json", _json("not-semantest", "1.0.0")),
    "incompatible": ("application/json", _json("semantest", "2.0.0")),
    "not-json": ("text/html; charset=utf-8", b"<html>hello</html>"),
    "huge": ("application/json", b'{"service":"semantest","padding":"' + b"x" * (4 << 20) + b'"}'),
}
MODES = [*SIGNATURES, "hung"]


def make_handler(content_type: str, body: bytes) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler that serves `body` on GET /signature and 404 elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "semantest-stub/1"
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, ctype: str | None, payload: bytes) -> None:
            self.send_response(status)
            # Cross-origin fetches from the test page and its service worker must be readable.
            self.send_header("Access-Control-Allow-Origin", "*")
            # The test page is cross-origin isolated (COEP require-corp): allow embedding too.
            self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
            self.send_header("Cache-Control", "no-store")
            if ctype is not None:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0]
            if path == "/signature":
                self._send(200, content_type, body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_OPTIONS(self) -> None:  # noqa: N802
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "*")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            sys.stderr.write(f"stub {self.address_string()} {format % args}\n")

    return Handler


def serve_http(mode: str, bind: str, port: int) -> None:
    content_type, body = SIGNATURES[mode]
    server = ThreadingHTTPServer((bind, port), make_handler(content_type, body))
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


def serve_hung(bind: str, port: int) -> None:
    """Accept connections and hold them open without ever reading or writing."""
    listener = socket.create_server((bind, port), backlog=128)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    held: list[socket.socket] = []
    while True:
        conn, addr = listener.accept()
        sys.stderr.write(f"stub hung: holding connection from {addr[0]}:{addr[1]}\n")
        held.append(conn)  # kept referenced so it is never closed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()

    # Exit promptly and quietly on SIGTERM (the harness's normal way of stopping us).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if args.mode == "hung":
            serve_hung(args.bind, args.port)
        else:
            serve_http(args.mode, args.bind, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
