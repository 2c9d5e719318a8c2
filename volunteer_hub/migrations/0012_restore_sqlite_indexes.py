from tortoise import migrations
from tortoise.migrations import operations as ops

# On SQLite, Tortoise alters a column by rebuilding its table, which leaves out the table's
# indexes: 0007 (team_membership) and 0009 (signup) lost theirs there. Put them back under
# the names they have on PostgreSQL, where the columns were altered in place and the indexes
# kept (there, each statement is a no-op). tests/test_migrations.py holds the migrated
# schema to every index the models declare.
INDEXES = (
    ("idx_signup_occurre_32271f", "signup", ("occurrence_id", "status")),
    ("idx_signup_occurre_9d5459", "signup", ("occurrence_id", "person_id")),
    ("idx_signup_person__f2dbe8", "signup", ("person_id",)),
    ("idx_team_member_person__c8fdda", "team_membership", ("person_id", "status")),
)


class Migration(migrations.Migration):
    dependencies = [("models", "0011_whistle")]

    initial = False

    operations = [
        ops.RunSQL(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
            f"({', '.join(f'{c}' for c in columns)})",
            reverse_sql=ops.RunSQL.noop,
        )
        for name, table, columns in INDEXES
    ]
