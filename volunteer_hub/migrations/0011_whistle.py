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
    ]
