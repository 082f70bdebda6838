"""The API under /api/v1/: its endpoints, its OpenAPI schema (openapi.json) and docs page (docs)."""

from django.urls import URLPattern, path, re_path
from ninja import NinjaAPI

from .auth import unconfirmed_key_refused
from .endpoints import router
from .errors import JsonBodyParser, install_error_handlers, json_method_errors, not_found

api = NinjaAPI(
    title="toxsite API",
    version="1",
    description=(
        "Score chat messages for toxicity on six labels (toxic, severe_toxic, obscene, threat, insult, "
        "identity_hate) and read stored predictions. Authenticate with an API key: "
        '`Authorization: Bearer tox_...`. Every error is `{"error": {"code": ..., "message": ...}}`. '
        "Clients should ignore response fields they do not know: fields may be added."
    ),
    urls_namespace="api",
    parser=JsonBodyParser(),
)
install_error_handlers(api, key_refused=unconfirmed_key_refused)
api.add_router("", router)

# Not named app_name: include() would read that as this module's namespace.
_patterns, _app, _namespace = api.urls
for _pattern in _patterns:  # a wrong method gets the API's JSON error too
    if isinstance(_pattern, URLPattern):
        # /api/v1/ itself names no endpoint: ninja's root view would answer with the site's HTML 404.
        root = _pattern.name == "api-root"
        _pattern.callback = not_found if root else json_method_errors(_pattern.callback)

urlpatterns = [
    path("", (_patterns, _app, _namespace)),
    re_path(r"^.*$", not_found),
]
