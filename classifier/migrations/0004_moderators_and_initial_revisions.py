"""Create the moderators group and give every stored message its first score revision.

New messages get theirs from a trigger, installed after every migrate (classifier/triggers.py).
"""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

# Review, never delete messages, never edit history: view-only on every record except the thresholds.
MODERATOR_PERMISSIONS = (
    "view_prediction",
    "view_flaggedprediction",
    "view_reviewitem",
    "review_prediction",
    "view_moderationdecision",
    "view_scorerevision",
    "view_thresholdpolicy",
    "add_thresholdpolicy",
    "change_thresholdpolicy",
    "view_thresholdchange",
)


def create_moderators(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally made after the last migration; make them now so the group can get them.
    app_config = apps.get_app_config("classifier")
    app_config.models_module = True  # type: ignore[assignment]
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="moderators")
    permissions = Permission.objects.filter(
        content_type__app_label="classifier", codename__in=MODERATOR_PERMISSIONS
    )
    assert permissions.count() == len(MODERATOR_PERMISSIONS), "a moderator permission is missing"
    group.permissions.set(permissions)


def remove_moderators(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    apps.get_model("auth", "Group").objects.filter(name="moderators").delete()


def initial_revisions(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    quote = schema_editor.connection.ops.quote_name
    columns = ", ".join(quote(label) for label in LABELS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote('classifier_scorerevision')} "
            f"(prediction_id, {columns}, flagged, model_version, created_at, cause) "
            f"SELECT id, {columns}, flagged, model_version, created_at, %s FROM {quote('classifier_prediction')}",
            ["created"],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("classifier", "0003_moderation"),
    ]

    operations = [
        migrations.RunPython(create_moderators, remove_moderators),
        migrations.RunPython(initial_revisions, migrations.RunPython.noop),
    ]
