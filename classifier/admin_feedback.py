"""The admin's read-only list of "this looks wrong" feedback from the checker."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .admin_moderation import ViewOnlyAdmin
from .models import Feedback


@admin.register(Feedback)
class FeedbackAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "message_link", "was_flagged", "flagged_now", "comment"]
    list_filter = ["was_flagged", "created_at"]
    list_select_related = ["prediction"]
    date_hierarchy = "created_at"
    search_fields = ["comment", "prediction__text"]
    ordering = ["-created_at", "-id"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Feedback]:
        return super().get_queryset(request).select_related("prediction")

    @admin.display(description="message", ordering="prediction_id")
    def message_link(self, obj: Feedback) -> str:
        url = reverse("admin:classifier_prediction_change", args=[obj.prediction_id])
        return format_html('<a href="{}">#{} {}</a>', url, obj.prediction_id, obj.prediction.text[:80])

    @admin.display(description="flagged now", boolean=True)
    def flagged_now(self, obj: Feedback) -> bool:
        return obj.prediction.flagged
