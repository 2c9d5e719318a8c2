from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

# Addresses given before this migration are unconfirmed (confirmed_at NULL): nothing is
# sent to them until their person asks for a code and types it in.
class Migration(migrations.Migration):
    dependencies = [('models', '0007_vetting')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PersonChannel',
            name='code_attempts',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='PersonChannel',
            name='code_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PersonChannel',
            name='code_hash',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='PersonChannel',
            name='code_sent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PersonChannel',
            name='confirmed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
