from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_restore_sqlite_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ResponsibleContact',
            name='locale',
            field=fields.CharField(default='zh-CN', max_length=10),
        ),
    ]
