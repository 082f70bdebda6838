import logging
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods, require_POST

from .forms import ChatForm, FeedbackForm
from .ml import LABELS
from .ml.model import ModelError
from .models import Prediction, Source
from .scoring import current_model, explain, flagged_labels, highlight, thresholds
from .services import feedback_create, prediction_create

CHECKED_KEY = "checked_messages"
CHECKED_MAX = 20

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


@require_http_methods(["GET", "HEAD", "POST"])  # HEAD: uptime monitors and link checkers
def check_message(request: HttpRequest) -> HttpResponse:
    """Show the chat box; on POST score the message, store it and show its scores."""
    try:
        model = current_model()
    except ModelError as exc:
        return model_unavailable(request, exc)
    limits = thresholds(model)
    context: dict[str, object] = {"max_length": ChatForm().max_length}
    if request.method in ("GET", "HEAD"):
        return render(request, "classifier/index.html", {**context, "form": ChatForm()})
    form = ChatForm(request.POST, body_is_utf8=_body_is_utf8(request))
    if not form.is_valid():
        return render(request, "classifier/index.html", {**context, "form": form}, status=400)
    prediction = prediction_create(text=form.cleaned_data["text"], source=Source.FORM)
    # The session remembers the messages it checked: only those may get its "this looks wrong" feedback.
    request.session[CHECKED_KEY] = [
        *request.session.get(CHECKED_KEY, [])[-(CHECKED_MAX - 1) :],
        prediction.pk,
    ]
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
        form=ChatForm(),
        prediction=prediction,
        bars=bars,
        flagged_names=[bar["name"] for bar in bars if bar["flagged"]],
        segments=highlight(prediction.text, spans),
        feedback_form=FeedbackForm(),
    )
    return render(request, "classifier/index.html", context)


@require_POST
def report_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    """Record "this looks wrong" about a message this session checked, then show the empty checker."""
    if pk not in request.session.get(CHECKED_KEY, []):
        raise Http404("No message checked in this session has that number.")
    prediction = get_object_or_404(Prediction, pk=pk)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        context = {"form": ChatForm(), "max_length": ChatForm().max_length, "feedback_errors": form.errors}
        return render(request, "classifier/index.html", context, status=400)
    feedback_create(prediction=prediction, comment=form.cleaned_data["comment"])
    context = {"form": ChatForm(), "max_length": ChatForm().max_length, "feedback_for": pk}
    return render(request, "classifier/index.html", context)
