"""Drop the score revisions' index on prediction_id alone: revision_prediction_idx starts with it.

Only the index goes. Django's own AlterField would copy the whole table on SQLite and drop and re-validate
the foreign key on PostgreSQL; the revisions table is the largest one, so the model state changes here and
the database loses just the index. On PostgreSQL the index is dropped CONCURRENTLY (outside a transaction):
the site keeps storing messages, each with its revision, while it goes.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "classifier_scorerevision_prediction_id_10639a6a"


def _drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f'DROP INDEX {concurrently}IF EXISTS "{INDEX}"')


def _create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f'CREATE INDEX {concurrently}IF NOT EXISTS "{INDEX}" ON "classifier_scorerevision" ("prediction_id")'
    )


class Migration(migrations.Migration):
    atomic = False  # PostgreSQL's DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("classifier", "0008_dashboard_rollup"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="scorerevision",
                    name="prediction",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="revisions",
                        to="classifier.prediction",
                        verbose_name="message",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(_drop, _create, elidable=False)],
        ),
    ]
