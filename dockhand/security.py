"""Security headers on every response, and TLS as a trusted proxy reports it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from dockhand import ratelimit

# Everything the pages use is served from here (the front end is vendored; scripts and
# styles are files under static/, none inline): a script an attacker slips into a page
# does not run, and nothing is sent elsewhere. 'self' covers WebSockets to the same
# host too (CSP 3: ws: and wss: for an http: and https: page; Chromium 71+, Firefox,
# Safari 16+), which the live output uses. data: images are Bootstrap's SVG icons,
# written into its CSS.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ForwardedProtoMiddleware:
    """X-Forwarded-Proto (settings.SECURE_PROXY_SSL_HEADER) from a trusted proxy says
    whether the client used TLS; from anyone else it is dropped, unread. Django would
    believe it from any client."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not ratelimit.trusted_proxy(str(request.META.get("REMOTE_ADDR") or "")):
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """The Content-Security-Policy on every response; on a request that came over TLS,
    every cookie set is Secure."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.is_secure():
            for cookie in response.cookies.values():
                cookie["secure"] = True
        return response
