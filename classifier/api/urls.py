"""The API under /api/v1/: its endpoints, its OpenAPI schema (openapi.json) and docs page (docs)."""

from django.urls import path, re_path
from ninja import NinjaAPI

from .endpoints import router
from .errors import JsonBodyParser, install_error_handlers, not_found

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
install_error_handlers(api)
api.add_router("", router)

urlpatterns = [
    path("", api.urls),
    re_path(r"^.*$", not_found),
]
