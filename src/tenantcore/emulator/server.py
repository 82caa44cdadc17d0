"""Serving an ASGI app on loopback from a background thread (the emulator in tests, benches
and the sandbox, where msal needs a real HTTP server to talk to)."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

THREAD_NAME = "tenantcore-threaded-server"


class _WarningsOnly(logging.Filter):
    """A threaded server says only what goes wrong: its start-up lines ("Uvicorn running on
    …") would be taken for the main server's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.threadName != THREAD_NAME


logging.getLogger("uvicorn.error").addFilter(_WarningsOnly())


class ThreadedServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, lifespan: str = "off") -> None:
        # No log_config and no log_level: a server started inside a process (the sandbox's
        # emulator in `tenantcore serve`) must not reconfigure that process's logging. Both
        # replaced uvicorn's handlers with text ones and set "uvicorn.error" to WARNING, so the
        # main server's own lines were lost, and JSON logs turned back into text.
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, log_level=None, lifespan=lifespan, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadedServer:
        self._thread = threading.Thread(target=self.server.run, daemon=True, name=THREAD_NAME)
        self._thread.start()
        deadline = time.monotonic() + 60  # the API's start-up runs migrations
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
