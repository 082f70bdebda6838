"""The moderator's workplace in the admin: review queue, decision log, history records and thresholds.

Registered from ``admin.py``. Every write goes through ``classifier.moderation``; history records are
view-only for everyone, superusers included.
"""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from .ml import LABELS
from .ml.model import ModelError
from .models import (
    Action,
    ModerationDecision,
    Prediction,
    ReviewItem,
    ScoreRevision,
    Term,
    TermChange,
    ThresholdChange,
    ThresholdPolicy,
)
from .moderation import decision_record, decisions_record_many, threshold_set
from .scoring import explain, flagged_labels, highlight, thresholds
from .selectors import review_queue
from .terms import term_save

REVIEW_PERMISSION = "classifier.review_prediction"


def _user(request: HttpRequest) -> User:
    """Return the signed-in user; the admin lets no one else this far."""
    assert isinstance(request.user, User)
    return request.user


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


class ViewOnlyAdmin(admin.ModelAdmin):
    """History: nobody adds, changes or deletes a record here, not even a superuser."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class BulkDecisionMixin:
    """Admin actions that record one decision per selected message, after a confirmation page."""

    admin_site: admin.AdminSite
    model: type[Prediction]
    message_user: Callable[..., None]  # from ModelAdmin

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        decide = path(
            "<int:pk>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name=f"{opts.app_label}_{opts.model_name}_decide",
        )
        return [decide, *super().get_urls()]  # type: ignore[misc]

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Record one decision (the queue's one-click buttons and the message page's decision panel)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_review_permission(request):
            return HttpResponse("You may not review messages.", status=403)
        prediction = get_object_or_404(Prediction, pk=pk)
        action = request.POST.get("decision", "")
        labels = {label: int(f"label_{label}" in request.POST) for label in LABELS}
        if action not in Action.values:
            self.message_user(request, f"Choose one of {', '.join(Action.values)}.", messages.ERROR)
        else:
            try:
                decision_record(
                    prediction=prediction,
                    moderator=_user(request),
                    action=action,
                    reason=request.POST.get("reason", "").strip(),
                    labels=labels if action == Action.RELABEL else None,
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"Message #{pk}: {decision_label(action)}.", messages.SUCCESS)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist")
        return HttpResponseRedirect(target)

    def _bulk(self, request: HttpRequest, queryset: QuerySet, action: Action) -> TemplateResponse | None:
        """Ask for confirmation, then record ``action`` on every selected message and report the count."""
        if request.POST.get("confirm") == "yes":
            done = decisions_record_many(predictions=queryset, moderator=_user(request), action=action)
            self.message_user(
                request,
                f"{decision_label(action).capitalize()} {_plural(done, 'message')}.",
                messages.SUCCESS,
            )
            return None
        select_across = request.POST.get("select_across") == "1"
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action.label.capitalize()} {_plural(queryset.count(), 'message')}?",
            "opts": self.model._meta,
            "action": request.POST.get("action"),
            "verb": action.label,
            "count": queryset.count(),
            "examples": list(queryset[:10]),
            "select_across": select_across,
            "selected": selected[:1] if select_across else selected,
            "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/classifier/confirm_decisions.html", context)

    @admin.action(description="Approve the selected messages", permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._bulk(request, queryset, Action.APPROVE)

    @admin.action(description="Remove the selected messages", permissions=["review"])
    def remove_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._bulk(request, queryset, Action.REMOVE)

    @admin.action(description="Restore the selected removed messages", permissions=["review"])
    def restore_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._bulk(request, queryset, Action.RESTORE)

    @admin.action(
        description="Escalate the selected messages (back to pending review)", permissions=["review"]
    )
    def escalate_selected(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._bulk(request, queryset, Action.ESCALATE)


@admin.register(ReviewItem)
class ReviewQueueAdmin(BulkDecisionMixin, admin.ModelAdmin):
    """Flagged messages pending review, oldest first, with one-click approve and remove."""

    list_display = ("created_at", "message", "top_labels", "decide")
    list_display_links = None
    ordering = ("created_at", "id")
    list_per_page = 50
    show_full_result_count = False
    actions = ("approve_selected", "remove_selected")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return review_queue()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="message")
    def message(self, obj: Prediction) -> str:
        try:
            segments = highlight(obj.text, explain(obj.text, flagged_labels(obj.scores)))
        except ModelError:
            return obj.text
        link = reverse("admin:classifier_prediction_change", args=[obj.pk])
        body = format_html_join(
            "",
            "{}",
            (
                (
                    format_html('<mark title="{}">{}</mark>', ", ".join(s.labels), s.text)
                    if s.labels
                    else s.text,
                )
                for s in segments
            ),
        )
        return format_html('<a href="{}">#{}</a> {}', link, obj.pk, body)

    @admin.display(description="top labels")
    def top_labels(self, obj: Prediction) -> str:
        try:
            limits = thresholds()
        except ModelError:
            limits = {}
        top = sorted(LABELS, key=lambda label: -obj.scores[label])[:3]
        return format_html_join(
            ", ",
            "{}",
            (
                (
                    format_html("<strong>{} {}</strong>", label.replace("_", " "), f"{obj.scores[label]:.2f}")
                    if label in limits and obj.scores[label] >= limits[label]
                    else f"{label.replace('_', ' ')} {obj.scores[label]:.2f}",
                )
                for label in top
            ),
        )

    @admin.display(description="decide")
    def decide(self, obj: Prediction) -> str:
        # The changelist is a form already (it carries the CSRF token), so the buttons post it elsewhere.
        url = reverse("admin:classifier_reviewitem_decide", args=[obj.pk])
        return format_html(
            '<button type="submit" formaction="{0}" name="decision" value="approve">Approve</button> '
            '<button type="submit" formaction="{0}" name="decision" value="remove">Remove</button>',
            url,
        )


def decision_label(action: str) -> str:
    return {
        "approve": "approved",
        "remove": "removed",
        "restore": "restored",
        "escalate": "escalated",
        "relabel": "relabelled",
    }[action]


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(ViewOnlyAdmin):
    """The decision log: who did what to which message, when."""

    list_display = ("created_at", "moderator", "action", "message", "status_before", "status_after", "reason")
    list_filter = (("moderator", admin.RelatedOnlyFieldListFilter), "action", "created_at")
    list_select_related = ("moderator", "prediction")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    search_fields = ("reason",)

    @admin.display(description="message", ordering="prediction")
    def message(self, obj: ModerationDecision) -> str:
        link = reverse("admin:classifier_prediction_change", args=[obj.prediction_id])
        return format_html('<a href="{}">{}</a>', link, str(obj.prediction))


@admin.register(ScoreRevision)
class ScoreRevisionAdmin(ViewOnlyAdmin):
    list_display = ("created_at", "prediction", "cause", "flagged", "model_version", *LABELS)
    list_filter = ("cause", "flagged", "model_version")
    list_select_related = ("prediction",)
    ordering = ("-created_at", "-id")
    show_full_result_count = False


class ThresholdForm(forms.ModelForm):
    class Meta:
        model = ThresholdPolicy
        fields = ("label", "value")


@admin.register(ThresholdPolicy)
class ThresholdPolicyAdmin(admin.ModelAdmin):
    """Moderators set a label's threshold here; every stored message is re-flagged and the change audited."""

    form = ThresholdForm
    list_display = ("label", "value", "updated_by", "updated_at")
    readonly_fields = ("updated_by", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*self.readonly_fields, "label") if obj else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # set another value instead: the audit trail starts from the current one

    def save_model(
        self, request: HttpRequest, obj: ThresholdPolicy, form: forms.ModelForm, change: bool
    ) -> None:
        result = threshold_set(label=obj.label, value=obj.value, user=_user(request))
        obj.pk = ThresholdPolicy.objects.values_list("pk", flat=True).get(label=obj.label)
        obj.refresh_from_db()
        self.message_user(
            request,
            f"{obj.label} threshold {result.old_value:.2f} → {result.new_value:.2f}: "
            f"{_plural(result.flags_changed, 'flag')} changed.",
            messages.SUCCESS,
        )


@admin.register(ThresholdChange)
class ThresholdChangeAdmin(ViewOnlyAdmin):
    list_display = ("changed_at", "label", "old_value", "new_value", "flags_changed", "changed_by")
    list_filter = ("label", ("changed_by", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("changed_by",)
    ordering = ("-changed_at", "-id")


@admin.register(Term)
class TermAdmin(admin.ModelAdmin):
    """Blocked and permitted terms; switch one off instead of deleting it, so the audit trail stays whole."""

    list_display = ("pattern", "kind", "label", "active", "updated_by", "updated_at")
    list_filter = ("kind", "active", "label")
    search_fields = ("pattern",)
    fields = ("kind", "pattern", "label", "active", "updated_by", "updated_at")
    readonly_fields = ("updated_by", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Term, form: forms.ModelForm, change: bool) -> None:
        term_save(term=obj, user=_user(request))
        self.message_user(
            request,
            "New messages are judged with it now; run manage.py reclassify --force to apply it to stored "
            "ones (a term leaves the model version as it is, so a plain run skips them).",
            messages.INFO,
        )


@admin.register(TermChange)
class TermChangeAdmin(ViewOnlyAdmin):
    list_display = ("changed_at", "pattern", "kind", "label", "active", "changed_by")
    list_filter = ("kind", ("changed_by", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("changed_by",)
    ordering = ("-changed_at", "-id")
