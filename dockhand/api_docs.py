"""GET /api/docs: the API's contract (GET /api/schema) as a page to read and try."""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny


class ApiDocsView(SpectacularSwaggerSplitView):
    """GET /api/docs: Swagger UI from the vendored sidecar assets. The split view loads
    its start-up script from this URL (`?script`), and the page's template has no inline
    style, so it runs under the Content-Security-Policy unchanged."""

    template_name = "api/docs.html"
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
