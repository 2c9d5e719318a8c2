from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_delivery_notification_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AttemptCounter',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=100)),
                ('count', fields.IntField()),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'attempt_counter', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Attempts counted under a key (a login phone, a person, an address) until it expires.'},
            bases=['Model'],
        ),
        ops.DeleteModel(name='LoginFailure'),
    ]
