"""The least an ASGI app can do: answer 202 with a constant body. Benchmark #4 serves it
with Daphne, as the product is served, to measure what the server alone costs."""

from __future__ import annotations

from typing import Any


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"deploymentId":null}'})
