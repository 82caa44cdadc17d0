"""uvicorn's httptools protocol with bounds on slow clients.

uvicorn closes a keep-alive connection left idle (`timeout_keep_alive`) but has no bound on
the time a client takes to send a request: a client sending its headers or body one byte every
few seconds holds a connection (and, for a body, a request in the app) for as long as it likes.
This protocol adds two timers, all in the event loop (no task, nothing per request in the app):

- headers: from the connection's start or the request's first byte until its headers are in;
  beyond, a 408 `request_timeout` and the connection is closed;
- body: from the headers until the body is in (armed only if the body did not come with the
  headers); beyond, a 408 `request_timeout` if the app has not answered yet, and the connection
  is closed: the app sees a client that went away.
"""

from __future__ import annotations

import json
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _timeout_response(what: str, seconds: float) -> bytes:
    body = json.dumps(
        {"detail": {"code": "request_timeout", "message": f"The request {what} did not arrive within {seconds:g} s."}}
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: TimerHandle | None = None
        self._reading: str | None = None  # "headers" or "body" while a request is coming in

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # A connection that sends nothing at all is bounded like one sending its headers slowly.
        self._reading = "headers"
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Armed only when a request is left half-read by this chunk: a request that arrives
        # whole (the usual case) costs no timer.
        if self._timer is None and self._reading is not None and not self.transport.is_closing():
            self._arm(self.header_timeout if self._reading == "headers" else self.body_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading = "headers"

    def on_headers_complete(self) -> None:
        self._disarm()
        self._reading = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading = None
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        what = self._reading
        if what is None or self.transport.is_closing():
            return
        cycle = self.cycle
        if what == "headers":
            # Answer only between responses (a pipelined request may be mid-response).
            if cycle is None or cycle.response_complete:
                self.transport.write(_timeout_response("headers", self.header_timeout))
        elif cycle is not None and not cycle.response_started:
            self.transport.write(_timeout_response("body", self.body_timeout))
            # The app is told the client went away; what it sends next is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self.logger.info("closed a connection from %s: its request %s came too slowly", self.client, what)
        self.transport.close()


def bounded_protocol(header_timeout: float, body_timeout: float) -> type[BoundedHttpToolsProtocol]:
    """The protocol class to give uvicorn (`http=`), with these bounds."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )


def __getattr__(name: str) -> Any:
    """`tenantcore.server:FromEnvironment`, the protocol with the bounds the environment's
    settings give: what `serve --workers N` names, since each process builds its own (a class
    made at run time cannot be handed to another process)."""
    if name == "FromEnvironment":
        from tenantcore.config import Settings

        settings = Settings()
        return bounded_protocol(settings.header_timeout, settings.body_timeout)
    raise AttributeError(name)
