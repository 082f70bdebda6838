import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Moderation"

    def ready(self) -> None:
        """Register the model and database checks and the revision trigger, warm the model cache (no database
        access)."""
        from django.core import checks
        from django.db.models.signals import post_migrate

        from . import scoring
        from .checks import check_database, check_model
        from .ml.model import ModelError
        from .triggers import install_after_migrate

        checks.register(check_model, "toxsite")
        checks.register(check_database, checks.Tags.database)
        post_migrate.connect(install_after_migrate, sender=self, dispatch_uid="classifier-revision-trigger")
        try:
            scoring.current_model()
        except ModelError as exc:
            logger.warning("model not loaded: %s %s", exc, exc.hint)
