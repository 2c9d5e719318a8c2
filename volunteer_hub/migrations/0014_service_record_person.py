from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_contact_locale')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='ServiceRecord',
            index=Index(fields=['person_id', 'started_at']),
        ),
    ]
