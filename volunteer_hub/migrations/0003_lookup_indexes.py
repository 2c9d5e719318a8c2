from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_callouts')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Qualification',
            index=Index(fields=['person_id', 'kind']),
        ),
        ops.AddIndex(
            model_name='Signup',
            index=Index(fields=['occurrence_id', 'person_id']),
        ),
        ops.AddIndex(
            model_name='Signup',
            index=Index(fields=['person_id']),
        ),
        ops.AddIndex(
            model_name='TeamMembership',
            index=Index(fields=['person_id', 'status']),
        ),
    ]
