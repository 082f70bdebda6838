"""Drop the score revisions' index on prediction_id alone: revision_prediction_idx starts with it.

Only the index goes. Django's own AlterField would copy the whole table on SQLite and drop and re-validate
the foreign key on PostgreSQL; the revisions table is the largest one, so the model state changes here and
the database loses just the index.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "classifier_scorerevision_prediction_id_10639a6a"


class Migration(migrations.Migration):
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
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=f'CREATE INDEX "{INDEX}" ON "classifier_scorerevision" ("prediction_id")',
                ),
            ],
        ),
    ]
