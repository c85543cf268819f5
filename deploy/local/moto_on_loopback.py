"""Starts moto (DynamoDB, S3, ...) on loopback for the deploy tests; prints its URL; stops when stdin closes.

Usage: .build/moto-venv/bin/python deploy/local/moto_on_loopback.py
  First line on stdout: `http://127.0.0.1:PORT` (a free port the OS chose). The server runs until
  its stdin reaches end of file, so a test that spawns it with a pipe for stdin cannot leave it
  behind: when the test process ends, for whatever reason, the pipe closes and moto exits.
"""

import os
import sys

from moto.server import ThreadedMotoServer


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    # The server thread is a daemon, and shutdown() waits for a poll interval: exit at once.
    os._exit(0)


if __name__ == "__main__":
    main()
