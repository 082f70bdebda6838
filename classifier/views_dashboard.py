"""The staff-only moderation dashboard: one page and the JSON endpoints its charts read."""

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import dashboard
from .ml.model import ModelError
from .scoring import thresholds


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _period(request: HttpRequest) -> dashboard.Period | None:
    value = request.GET.get("period", "hour")
    if value == "hour":
        return "hour"
    if value == "day":
        return "day"
    return None


def _limits() -> dict[str, float] | JsonResponse:
    try:
        return thresholds()
    except ModelError as exc:
        return _error("model_unavailable", f"{exc} {exc.hint}", 503)


@staff_member_required
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    """Show the dashboard; its charts load their data from the JSON endpoints below."""
    return render(request, "classifier/dashboard.html", {"title": "Dashboard"})


@staff_member_required
@require_GET
def activity_data(request: HttpRequest) -> JsonResponse:
    """Return messages and flag rates per label, per hour (last 48 h) or per day (last 30 days)."""
    period = _period(request)
    if period is None:
        return _error("bad_period", "period must be 'hour' or 'day'.", 400)
    limits = _limits()
    if isinstance(limits, JsonResponse):
        return limits
    return JsonResponse(dashboard.activity(period=period, limits=limits))


@staff_member_required
@require_GET
def queue_data(request: HttpRequest) -> JsonResponse:
    """Return the review queue's size and age."""
    return JsonResponse(dashboard.queue_summary())


@staff_member_required
@require_GET
def moderators_data(request: HttpRequest) -> JsonResponse:
    """Return decisions per moderator over the last 30 days."""
    return JsonResponse({"days": 30, "moderators": dashboard.decisions_per_moderator(days=30)})


@staff_member_required
@require_GET
def models_data(request: HttpRequest) -> JsonResponse:
    """Return the model versions that scored the stored messages."""
    return JsonResponse({"versions": dashboard.model_versions()})


@staff_member_required
@require_GET
def scores_data(request: HttpRequest) -> JsonResponse:
    """Return each label's score histogram over the last 7 days with its current threshold."""
    limits = _limits()
    if isinstance(limits, JsonResponse):
        return limits
    return JsonResponse(dashboard.score_histograms(limits=limits, days=7))
