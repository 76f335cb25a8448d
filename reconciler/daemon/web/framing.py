"""Daemon stage (HTTP): refuse a request body whose end is unknown or too far.

uvicorn's h11 parser already answers 400 and closes for a malformed or doubled
Content-Length, a header block over its limit, or both framings at once: those
never reach the application. What h11 accepts and we still refuse, before any
endpoint runs:

- `Transfer-Encoding` (chunked): 411, we want Content-Length;
- a Content-Length over MAX_BODY: 413.

Either way the answer carries `Connection: close`, so uvicorn closes the
connection after it and whatever follows in the stream is never parsed as a
request of its own (no request smuggling). The answer is sent at once, then what
the client already sent is read and dropped for a moment (bounded by
LINGER_SECONDS and LINGER_BYTES) before the response ends: closing a socket
with unread data makes the kernel send a reset that can destroy the answer on
its way.
"""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64_000
LINGER_SECONDS = 1.0
LINGER_BYTES = 256_000


class BodyFraming:
    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])  # h11 lowercased the names and refused duplicates that differ
        if b"transfer-encoding" in headers:
            await refuse(send, receive, 411, "chunked request bodies are not accepted; send Content-Length")
            return
        length = headers.get(b"content-length", b"0").strip()
        if not length.isdigit():  # h11 refuses these first; kept so this class stands on its own
            await refuse(send, receive, 400, "invalid Content-Length")
            return
        if int(length) > self.max_body:
            await refuse(send, receive, 413, f"request body larger than {self.max_body} bytes")
            return
        await self.app(scope, receive, send)


async def refuse(send: Send, receive: Receive, status: int, error: str) -> None:
    body = (json.dumps({"error": error}, sort_keys=True) + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"Connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await _drain(receive)
    await send({"type": "http.response.body", "body": b""})


async def _drain(receive: Receive) -> None:
    drained = 0
    with anyio.move_on_after(LINGER_SECONDS):
        while drained < LINGER_BYTES:
            message: Message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
