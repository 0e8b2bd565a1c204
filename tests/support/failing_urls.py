"""The product's URLs plus three views that fail, for the error-answer tests: what a
bug or a database that cannot be written looks like to a client."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dockhand.urls import urlpatterns as product_urls

LEAK = "internal-detail-7c1f"


def broken_plain(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"a bug that quotes {LEAK}")


def locked_plain(request: HttpRequest) -> HttpResponse:
    raise OperationalError("database is locked")


class BrokenApi(APIView):
    def get(self, request: Request) -> Response:
        raise KeyError(LEAK)

    def post(self, request: Request) -> Response:
        raise OperationalError(f"database or disk is full ({LEAK})")


def broken_page(request: HttpRequest, *args: Any) -> HttpResponse:
    raise RuntimeError(f"a page bug that quotes {LEAK}")


urlpatterns = [
    path("api/test/broken-plain", broken_plain),
    path("api/test/locked-plain", locked_plain),
    path("api/test/broken", BrokenApi.as_view()),
    path("test/broken-page/", broken_page),
    *product_urls,
]
handler403 = "dockhand.views.permission_denied"
handler404 = "dockhand.views.page_not_found"
handler500 = "dockhand.views.server_error"
