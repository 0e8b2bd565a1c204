"""Request bodies over DOCKHAND_MAX_BODY_BYTES are refused, 413, before they are read.

Not in the ASGI app, where it would come too late: Daphne hands a request to the app
only once Twisted has read its whole body (into a temporary file), and then queues all
of it for the app at once. A 700 MB chunked POST to the login took the web process to
858 MB before the app saw its first byte. The limit sits in Daphne's request class
instead, which learns the declared length when the headers end and sees every chunk as
it arrives: past the limit, the client is answered and the connection closed, and
nothing more is kept.

Daphne builds every request from `daphne.http_protocol.WebRequest` (its HTTP factory
looks the name up for each connection), so `install` points that name at the subclass
below; `dockhand.asgi` does it before Daphne starts listening.
"""

from __future__ import annotations

import json
import logging
from io import BytesIO
from typing import Any

from daphne import http_protocol

log = logging.getLogger(__name__)


class BodyLimitedRequest(http_protocol.WebRequest):  # type: ignore[misc]
    """Daphne's request, refusing a body over `max_body` bytes as soon as it is known."""

    max_body = 0  # set by install()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Twisted would also parse form bodies into `args`, which Daphne never reads.
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)
        self._body_bytes = 0
        self._refused = False

    def gotLength(self, length: int | None) -> None:  # noqa: N802 (Twisted's name)
        if length is not None and length > self.max_body:
            # Declared too large: answered before a byte of it is read. No
            # "100 Continue" may follow the answer.
            self.requestHeaders.removeHeader(b"Expect")
            self._refuse()
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        if self._refused:
            return
        self._body_bytes += len(data)
        if self._body_bytes > self.max_body:
            self._refuse()  # chunked, or longer than it said
            return
        super().handleContentChunk(data)

    def process(self) -> Any:
        # The last chunk may still be parsed after the refusal: the app never sees it.
        if self._refused:
            return None
        return super().process()

    def _refuse(self) -> None:
        self._refused = True
        kept = getattr(self, "content", None)
        self.content = BytesIO()  # an empty body for whatever Twisted still does with it
        if kept is not None:
            kept.close()  # a temporary file goes with it
        body = json.dumps(
            {"error": f"Request body too large: {self.max_body} bytes at most", "code": "too_large"}
        ).encode()
        head = (
            "HTTP/1.1 413 Content Too Large\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        log.warning("refused a request body over %d bytes from %s", self.max_body, getattr(self.client, "host", "?"))
        # As Twisted answers a malformed request: write, then close, reading no more.
        self.channel.transport.write(head.encode() + body)
        self.channel.loseConnection()


def install(max_body: int) -> None:
    """Make Daphne build every request as a `BodyLimitedRequest` with this limit."""
    BodyLimitedRequest.max_body = max_body
    http_protocol.WebRequest = BodyLimitedRequest
