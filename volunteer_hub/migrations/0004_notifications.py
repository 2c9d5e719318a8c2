from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from volunteer_hub.models import DeliveryStatus, NotificationPriority
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_calendar_version')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ChannelConfig',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', db_constraint=True, to_field='id', related_name='channels', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=40)),
                ('name', fields.CharField(max_length=100)),
                ('secret', fields.TextField(unique=False)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'channel_config', 'app': 'models', 'unique_together': (('community', 'code'),), 'pk_attr': 'id', 'table_description': 'A notification channel staff configured for a community (secrets encrypted at rest).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('community', fields.ForeignKeyField('models.Community', source_field='community_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('event', fields.CharField(max_length=60)),
                ('entity_type', fields.CharField(max_length=40)),
                ('entity_id', fields.BigIntField()),
                ('priority', fields.CharEnumField(description='NORMAL: normal\nURGENT: urgent', enum_type=NotificationPriority, max_length=10)),
                ('locale', fields.CharField(max_length=10)),
                ('subject', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('html', fields.TextField(null=True, unique=False)),
                ('dedupe_key', fields.CharField(null=True, unique=True, max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'indexes': [Index(fields=['person_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A message for one person: their in-app inbox entry, and the source of its deliveries.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('channel', fields.ForeignKeyField('models.ChannelConfig', source_field='channel_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('address', fields.CharField(max_length=200)),
                ('idempotency_key', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nDEAD: dead', enum_type=DeliveryStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('not_before', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_token', fields.CharField(null=True, max_length=32)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'not_before'])], 'pk_attr': 'id', 'table_description': 'The outbox: one notification to send through one channel, written in its transaction.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PersonChannel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('person', fields.ForeignKeyField('models.Person', source_field='person_id', db_constraint=True, to_field='id', related_name='channels', on_delete=OnDelete.CASCADE)),
                ('code', fields.CharField(max_length=40)),
                ('address', fields.CharField(max_length=200)),
                ('enabled', fields.BooleanField(default=True)),
            ],
            options={'table': 'person_channel', 'app': 'models', 'unique_together': (('person', 'code'),), 'pk_attr': 'id', 'table_description': "A person's address for a channel kind (phone, e-mail, chat id) and whether they use it."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Community',
            name='quiet_end',
            field=fields.CharField(default='07:00', max_length=5),
        ),
        ops.AddField(
            model_name='Community',
            name='quiet_start',
            field=fields.CharField(default='22:00', max_length=5),
        ),
        ops.AddField(
            model_name='Person',
            name='locale',
            field=fields.CharField(default='zh-CN', max_length=10),
        ),
    ]
