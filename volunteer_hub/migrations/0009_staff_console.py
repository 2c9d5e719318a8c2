# Issue 12 (running a community from the web): emergency mode and dispatch settings per
# community, deactivation, password reset and reach through a grid worker per person,
# certificate numbers and verification of qualifications, no-shows, cancelled tasks, and
# who set a channel address for someone else. Every new column is nullable or has a
# database default, so existing rows need nothing.
from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from volunteer_hub.models import SignupStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_channel_confirmation')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Community',
            name='emergency_callout',
            field=fields.ForeignKeyField('models.CallOut', source_field='emergency_callout_id', null=True, db_constraint=True, to_field='id', related_name='emergencies', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Community',
            name='emergency_categories',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Community',
            name='emergency_reason',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Community',
            name='emergency_started_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Community',
            name='manual_dispatch_categories',
            field=fields.JSONField(default=list, db_default='[]', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Person',
            name='active',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name='Person',
            name='reached_through_grid_worker',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Person',
            name='reset_code_attempts',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='Person',
            name='reset_code_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Person',
            name='reset_code_hash',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='PersonChannel',
            name='set_by',
            field=fields.ForeignKeyField('models.Person', source_field='set_by_id', null=True, db_constraint=True, to_field='id', related_name='channels_set_for_others', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Qualification',
            name='certificate_number',
            field=fields.CharField(null=True, max_length=50),
        ),
        ops.AddField(
            model_name='Qualification',
            name='verified_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Qualification',
            name='verified_by',
            field=fields.ForeignKeyField('models.Person', source_field='verified_by_id', null=True, db_constraint=True, to_field='id', related_name='qualifications_verified', on_delete=OnDelete.SET_NULL),
        ),
        ops.AlterField(
            model_name='Signup',
            name='status',
            field=fields.CharEnumField(description='CONFIRMED: confirmed\nWAITLISTED: waitlisted\nCHECKED_IN: checked_in\nCOMPLETED: completed\nCANCELLED: cancelled\nNO_SHOW: no_show\nEXCUSED: excused', enum_type=SignupStatus, max_length=12),
        ),
        ops.AddField(
            model_name='Signup',
            name='attendance_note',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Task',
            name='cancel_reason',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Task',
            name='cancelled_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
