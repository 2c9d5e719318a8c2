from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CallOut',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='callouts', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.Person', source_field='created_by_id', db_constraint=True, to_field='id', related_name='callouts_made', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=100)),
                ('message', fields.TextField(unique=False)),
                ('target_kind', fields.CharField(max_length=10)),
                ('target_value', fields.CharField(null=True, max_length=40)),
                ('recipients', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'callout', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An emergency call-out: one message to many people, each asked to acknowledge it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CallOutRecipient',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('callout', fields.ForeignKeyField('models.CallOut', source_field='callout_id', db_constraint=True, to_field='id', related_name='recipient_rows', on_delete=OnDelete.CASCADE)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='callouts', on_delete=OnDelete.CASCADE)),
                ('ack_hash', fields.CharField(unique=True, max_length=64)),
                ('acked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'callout_recipient', 'app': 'models', 'unique_together': (('callout', 'person'),), 'indexes': [Index(fields=['callout_id', 'acked_at'])], 'pk_attr': 'id', 'table_description': 'One person called out, and when they acknowledged (through their secret link).'},
            bases=['Model'],
        ),
    ]
