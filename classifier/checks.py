"""System checks: report an unusable model at ``manage.py check`` time, not at the first request."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

from .ml import LABELS
from .ml.model import ModelError
from .scoring import current_model

CHECK_IDS = {
    "missing": "classifier.E001",
    "corrupt": "classifier.E002",
    "tampered": "classifier.E003",
    "incompatible": "classifier.E004",
}


def check_model(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that the model file loads and that the threshold settings name real labels."""
    errors: list[CheckMessage] = []
    try:
        current_model()
    except ModelError as exc:
        errors.append(Error(str(exc), hint=exc.hint, id=CHECK_IDS[exc.kind]))
    unknown = sorted(set(settings.THRESHOLDS) - set(LABELS))
    if unknown:
        errors.append(
            Error(
                f"TOXSITE_THRESHOLDS names unknown labels: {', '.join(unknown)}.",
                hint=f"Use only {', '.join(LABELS)}.",
                id="classifier.E005",
            )
        )
    return errors
