import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from .forms import ChatForm
from .ml import LABELS
from .ml.model import ModelError
from .models import Source
from .scoring import current_model, explain, flagged_labels, highlight, thresholds
from .services import prediction_create

logger = logging.getLogger(__name__)


def _body_is_utf8(request: HttpRequest) -> bool:
    """Return False when a url-encoded body holds bytes that are not UTF-8 (Django would replace them)."""
    if request.content_type != "application/x-www-form-urlencoded":
        return True
    try:
        parse_qsl(request.body.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def model_unavailable(request: HttpRequest, exc: ModelError) -> HttpResponse:
    """Answer 503; the details (file paths) only for staff and in DEBUG, always in the log."""
    logger.error("model unavailable: %s %s", exc, exc.hint)
    shown = settings.DEBUG or request.user.is_staff
    error = str(exc) if shown else "The model file is missing or unusable."
    return render(request, "classifier/unavailable.html", {"error": error, "hint": exc.hint}, status=503)


@require_http_methods(["GET", "POST"])
def check_message(request: HttpRequest) -> HttpResponse:
    """Show the chat box; on POST score the message, store it and show its scores."""
    try:
        model = current_model()
    except ModelError as exc:
        return model_unavailable(request, exc)
    limits = thresholds(model)
    context: dict[str, object] = {"max_length": ChatForm().max_length}
    if request.method == "GET":
        return render(request, "classifier/index.html", {**context, "form": ChatForm()})
    form = ChatForm(request.POST, body_is_utf8=_body_is_utf8(request))
    if not form.is_valid():
        return render(request, "classifier/index.html", {**context, "form": form}, status=400)
    prediction = prediction_create(text=form.cleaned_data["text"], source=Source.FORM)
    bars = sorted(
        (
            {
                "label": label,
                "name": label.replace("_", " "),
                "score": getattr(prediction, label),
                "percent": round(getattr(prediction, label) * 100, 1),
                "threshold": limits[label],
                "threshold_percent": round(limits[label] * 100, 1),
                "flagged": getattr(prediction, label) >= limits[label],
            }
            for label in LABELS
        ),
        key=lambda bar: -bar["score"],
    )
    labels = flagged_labels(prediction.scores, model)
    if prediction.blocked_label and prediction.blocked_label not in labels:
        labels.append(prediction.blocked_label)  # a blocked term flags with its own label
    spans = explain(prediction.text, labels)
    context.update(
        form=ChatForm(), prediction=prediction, bars=bars, segments=highlight(prediction.text, spans)
    )
    return render(request, "classifier/index.html", context)
