"""Apprise, behind one module: it speaks to ~100 notification services by URL
(`slack://…`, `mailto://…`, `json://host/path`, …), so users bring their own.

Apprise is imported on first use: it loads every service plugin, and the web process
(which sends only test messages) should not carry that from start-up.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from dockhand.masking import mask


def url_secrets(url: str) -> list[str]:
    """The parts of an Apprise URL that may be credentials: user, password, each path
    segment and query value (service tokens live in any of them)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [url, parts.username or "", parts.password or "", parts.netloc]
    found += parts.path.split("/")
    found += [value for _, value in parse_qsl(parts.query)]
    return [part for part in found if len(part) >= 6]


def shown(url: str) -> str:
    """A URL as it may be shown back: its scheme and host only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{parts.hostname or ''}…"


def send(urls: list[str], *, title: str, body: str, failed: bool) -> list[str]:
    """Deliver one message to each URL; what went wrong, one entry per URL that failed
    (secrets of the URL masked). Never raises: a notification must not fail a deploy."""
    import apprise  # heavy: see the module docstring

    problems = []
    kind = apprise.NotifyType.FAILURE if failed else apprise.NotifyType.SUCCESS
    for url in urls:
        client = apprise.Apprise()
        if not client.add(url):
            problems.append(f"{shown(url)}: not a URL Apprise knows")
            continue
        try:
            capture = apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
            with capture as logs:
                ok = bool(client.notify(title=title, body=body, notify_type=kind))
                said = str(logs.getvalue()).strip().splitlines()
        except Exception as exc:  # a plugin's own bug must not reach the deploy
            ok, said = False, [f"{type(exc).__name__}: {exc}"]
        if not ok:
            why = said[-1] if said else "delivery failed"
            problems.append(f"{shown(url)}: {mask(why, url_secrets(url))}"[:300])
    return problems
