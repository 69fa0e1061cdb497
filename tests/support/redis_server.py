"""A throwaway redis-server for the tests that share state through a real Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
HAS_REDIS = os.access(REDIS_SERVER, os.X_OK)
# For a module whose every test needs it: Debian's redis-server, which scripts/setup-redis installs.
needs_redis = pytest.mark.skipif(
    not HAS_REDIS, reason="redis-server is not installed (scripts/setup-redis)"
)


class RedisServer:
    """A throwaway redis-server: no persistence, loopback only."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None
