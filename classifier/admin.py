from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .ml import LABELS
from .ml.model import ModelError
from .models import FlaggedPrediction, Prediction
from .scoring import thresholds
from .selectors import flagged_predictions


def _current_thresholds() -> dict[str, float]:
    try:
        return thresholds()
    except ModelError:
        return {}


class LabelOverThresholdFilter(admin.SimpleListFilter):
    """Messages whose score for one label is at or over that label's current threshold."""

    title = "label over threshold"
    parameter_name = "label"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(label, label.replace("_", " ")) for label in LABELS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        label = self.value()
        limits = _current_thresholds()
        if label not in LABELS or label not in limits:
            return queryset
        return queryset.filter(Q(**{f"{label}__gte": limits[label]}))


def _score_column(label: str):
    @admin.display(description=label.replace("_", " "), ordering=label)
    def column(obj: Prediction) -> str:
        value = getattr(obj, label)
        limit = _current_thresholds().get(label)
        if limit is not None and value >= limit:
            return format_html("<strong>{}</strong>", f"{value:.2f}")
        return f"{value:.2f}"

    column.__name__ = f"{label}_score"
    return column


class PredictionAdmin(admin.ModelAdmin):
    list_filter = (
        "flagged",
        LabelOverThresholdFilter,
        "model_version",
        "source",
        "created_at",
    )
    list_display = (
        "excerpt",
        *[_score_column(label) for label in LABELS],
        "flagged",
        "model_version",
        "source",
        "created_at",
    )
    search_fields = ("text", "author", "channel")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    readonly_fields = (
        "text",
        *LABELS,
        "flagged",
        "model_version",
        "source",
        "channel",
        "author",
        "external_id",
        "created_at",
    )

    @admin.display(description="message", ordering="text")
    def excerpt(self, obj: Prediction) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Prediction)
class AllPredictionAdmin(PredictionAdmin):
    pass


@admin.register(FlaggedPrediction)
class FlaggedPredictionAdmin(PredictionAdmin):
    def get_list_filter(self, request: HttpRequest) -> tuple:
        return tuple(item for item in self.list_filter if item != "flagged")  # every row here is flagged

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return flagged_predictions()
