import classifier.models_rollup
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
BUCKETS = 20


def fill_rollup(apps: object, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Install the triggers and summarise the messages stored so far, in the migration's one transaction:
    no message written meanwhile is left out."""
    from classifier.rollup import rollup_rebuild, rollup_triggers_install

    rollup_triggers_install(using=schema_editor.connection.alias)
    rollup_rebuild(using=schema_editor.connection.alias)


def drop_rollup_triggers(apps: object, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Unmigrating: the triggers go before the summary table does, or every write would fail."""
    from classifier.rollup import rollup_triggers_drop

    rollup_triggers_drop(using=schema_editor.connection.alias)


class Migration(migrations.Migration):

    dependencies = [
        ("classifier", "0007_feedback"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slot", models.DateTimeField(help_text="Start of the quarter hour (UTC).")),
                ("model_version", models.CharField(max_length=64)),
                ("messages", models.BigIntegerField(default=0)),
                ("flagged", models.BigIntegerField(default=0)),
                *(
                    (f"{label}_{bucket:02d}", models.BigIntegerField(default=0))
                    for label in LABELS
                    for bucket in range(BUCKETS)
                ),
            ],
            options={
                "verbose_name": "dashboard summary",
                "constraints": [
                    models.UniqueConstraint(fields=("slot", "model_version"), name="rollup_slot_unique")
                ],
            },
        ),
        *(
            migrations.AddIndex(
                model_name="prediction",
                index=models.Index(
                    classifier.models_rollup.ScoreBucket(models.F(label)),
                    models.F("created_at"),
                    models.F(label),
                    name=f"prediction_{label}_idx",
                    condition=models.Q(classifier.models_rollup.OverLowestBucket(models.F(label))),
                ),
            )
            for label in LABELS
        ),
        migrations.RunPython(fill_rollup, drop_rollup_triggers, elidable=True),
    ]
