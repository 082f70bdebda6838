from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from . import admin_feedback  # noqa: F401  (importing it registers the feedback admin)
from .admin_moderation import BulkDecisionMixin  # importing it registers the moderation admin
from .apikeys import api_key_issue, api_keys_revoke
from .ml import LABELS
from .ml.model import ModelError
from .models import ApiKey, ApiScope, FlaggedPrediction, Prediction, default_scopes
from .scoring import thresholds
from .selectors import flagged_predictions, history_for


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


class PredictionAdmin(BulkDecisionMixin, admin.ModelAdmin):
    actions = ("approve_selected", "remove_selected", "restore_selected", "escalate_selected")
    change_form_template = "admin/classifier/prediction/change_form.html"  # adds the history timeline
    list_filter = (
        "flagged",
        "status",
        LabelOverThresholdFilter,
        "model_version",
        "source",
        "created_at",
    )
    list_display = (
        "excerpt",
        *[_score_column(label) for label in LABELS],
        "flagged",
        "status",
        "model_version",
        "source",
        "created_at",
    )
    search_fields = ("text", "author", "channel")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    list_per_page = 50
    exclude = LABELS  # shown rounded, through the score columns below, never as editable fields
    readonly_fields = (
        "text",
        *[_score_column(label) for label in LABELS],
        "flagged",
        "model_version",
        "source",
        "channel",
        "author",
        "external_id",
        "created_at",
        "status",
        "pruned_at",
        "blocked_label",
    )

    @admin.display(description="message", ordering="text")
    def excerpt(self, obj: Prediction) -> str:
        return obj.text if len(obj.text) <= 80 else obj.text[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Prediction | None = None) -> bool:
        return False  # nothing on a message is edited by hand: decisions (the panel, the actions) change it

    def has_delete_permission(self, request: HttpRequest, obj: Prediction | None = None) -> bool:
        return False  # a message's history is kept: remove it (a decision) or prune its text instead

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        prediction = self.get_object(request, object_id)
        context = {
            **(extra_context or {}),
            "history": history_for(prediction=prediction) if prediction else [],
            "can_review": self.has_review_permission(request),
            "labels": LABELS,
            "decide_url": f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_decide",
        }
        return super().change_view(request, object_id, form_url, context)


@admin.register(Prediction)
class AllPredictionAdmin(PredictionAdmin):
    pass


@admin.register(FlaggedPrediction)
class FlaggedPredictionAdmin(PredictionAdmin):
    def get_list_filter(self, request: HttpRequest) -> tuple:
        return tuple(item for item in self.list_filter if item != "flagged")  # every row here is flagged

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return flagged_predictions()


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=default_scopes,
        help_text="What the key may do.",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "rate_limit")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Create keys (the full key is shown once, in a message) and revoke them; keys are never deleted."""

    form = ApiKeyForm
    list_display = ("name", "prefix", "scope_list", "rate_limit", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    ordering = ("name",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        full_key = api_key_issue(key=obj)
        self.message_user(
            request,
            format_html(
                "The API key for {} is <code>{}</code> — copy it now: it is not stored and cannot be "
                "shown again.",
                obj.name,
                full_key,
            ),
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = api_keys_revoke(keys=queryset)
        self.message_user(request, f"Revoked {count} API key{'' if count == 1 else 's'}.", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead: the record of a key stays
