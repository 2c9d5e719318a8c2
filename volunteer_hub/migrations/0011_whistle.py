from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0010_matching")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Notification",
            name="person",
            field=fields.ForeignKeyField(
                "models.Person",
                source_field="person_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="notifications",
                on_delete=OnDelete.CASCADE,
            ),
        ),
        # On SQLite, Tortoise alters a column by rebuilding the table, which leaves out the
        # table's indexes: put back the inbox's (person_id, id) index under its own name
        # (a no-op on PostgreSQL, which altered the column in place and kept it).
        ops.RunSQL(
            'CREATE INDEX IF NOT EXISTS "idx_notificatio_person__1a2022" '
            'ON "notification" ("person_id", "id")',
            reverse_sql=ops.RunSQL.noop,
        ),
    ]
