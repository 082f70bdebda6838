import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Moderation"

    def ready(self) -> None:
        """Register the model check and warm the model cache (idempotent, no database access)."""
        from django.core import checks

        from . import scoring
        from .checks import check_model
        from .ml.model import ModelError

        checks.register(check_model, "toxsite")
        try:
            scoring.current_model()
        except ModelError as exc:
            logger.warning("model not loaded: %s %s", exc, exc.hint)
