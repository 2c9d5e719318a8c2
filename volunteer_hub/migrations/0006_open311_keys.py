from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_throttle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Open311Key',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='open311_keys', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=100)),
                ('scopes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('models.Person', source_field='created_by_id', db_constraint=True, to_field='id', related_name='open311_keys_made', on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'open311_key', 'app': 'models', 'pk_attr': 'id', 'table_description': "An integrator's Open311 key: one community, a few scopes, revocable."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Wish',
            name='open311_key',
            field=fields.ForeignKeyField('models.Open311Key', source_field='open311_key_id', null=True, db_constraint=True, to_field='id', related_name='wishes', on_delete=OnDelete.RESTRICT),
        ),
    ]
