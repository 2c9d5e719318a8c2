from tortoise import migrations
from tortoise.migrations import operations as ops
from volunteer_hub.models import MembershipStatus, PartyReportStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_open311_keys')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Community',
            name='approve_volunteers',
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AlterField(
            model_name='PartyReport',
            name='status',
            field=fields.CharEnumField(description='PENDING: pending\nACCEPTED: accepted\nREFUSED: refused', enum_type=PartyReportStatus, max_length=10),
        ),
        ops.AlterField(
            model_name='TeamMembership',
            name='status',
            field=fields.CharEnumField(description='ACTIVE: active\nPENDING: pending\nLEFT: left\nREFUSED: refused', enum_type=MembershipStatus, max_length=10),
        ),
    ]
