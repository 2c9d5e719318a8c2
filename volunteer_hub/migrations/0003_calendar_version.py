from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_auth_tokens')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Person',
            name='calendar_version',
            field=fields.IntField(default=0),
        ),
    ]
