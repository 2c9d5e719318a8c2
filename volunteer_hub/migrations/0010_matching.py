from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from volunteer_hub.models import Escalation, InvitationStatus, RosterPlanStatus
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0009_staff_console")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AvailabilitySlot",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="availability",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("weekday", fields.SmallIntField()),
                ("start_minute", fields.SmallIntField()),
                ("end_minute", fields.SmallIntField()),
            ],
            options={
                "table": "availability_slot",
                "app": "models",
                "indexes": [Index(fields=["person_id", "weekday"])],
                "pk_attr": "id",
                "table_description": "A weekly time a volunteer is free (``PUT /me/availability``), in the community's zone.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DoNotSend",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "resident",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="resident_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="do_not_send",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="not_sent_to",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "do_not_send",
                "app": "models",
                "unique_together": (("resident", "person"),),
                "pk_attr": "id",
                "table_description": "A resident asked that this volunteer not be sent to them again.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="NoShow",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="no_shows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="no_shows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "signup",
                    fields.OneToOneField(
                        "models.Signup",
                        source_field="signup_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="no_show",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "wish",
                    fields.ForeignKeyField(
                        "models.Wish",
                        source_field="wish_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="no_shows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("occurred_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("excused_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "excused_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="excused_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="no_shows_excused",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("note", fields.CharField(null=True, max_length=200)),
            ],
            options={
                "table": "no_show",
                "app": "models",
                "unique_together": (("wish", "person"),),
                "indexes": [Index(fields=["person_id", "occurred_at"])],
                "pk_attr": "id",
                "table_description": "A confirmed place not checked in by its end, or a claimed wish past due: the record",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ResponsibleContact",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="responsible_contacts",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("category", fields.CharField(null=True, max_length=40)),
                (
                    "level",
                    fields.CharEnumField(
                        description="BLUE: blue\nYELLOW: yellow\nRED: red",
                        enum_type=Escalation,
                        max_length=10,
                    ),
                ),
                ("name", fields.CharField(max_length=100)),
                ("channel_code", fields.CharField(max_length=40)),
                ("address", fields.CharField(max_length=200)),
                ("active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "responsible_contact",
                "app": "models",
                "indexes": [Index(fields=["community_id", "level"])],
                "pk_attr": "id",
                "table_description": "Who answers for a category at an escalation level (吹哨报到): a street-office section,",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Referral",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "wish",
                    fields.ForeignKeyField(
                        "models.Wish",
                        source_field="wish_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="referrals",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "contact",
                    fields.ForeignKeyField(
                        "models.ResponsibleContact",
                        source_field="contact_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="referrals",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "level",
                    fields.CharEnumField(
                        description="BLUE: blue\nYELLOW: yellow\nRED: red",
                        enum_type=Escalation,
                        max_length=10,
                    ),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("notified_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "acknowledged_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "resolved_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("note", fields.CharField(null=True, max_length=500)),
            ],
            options={
                "table": "referral",
                "app": "models",
                "unique_together": (("wish", "contact", "level"),),
                "pk_attr": "id",
                "table_description": "A wish put before a responsible contact at a level: told when, acknowledged when",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RosterPlan",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="roster_plans",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("period_start", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("period_end", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=RosterPlanStatus.DRAFT,
                        description="DRAFT: draft\nACCEPTED: accepted\nDISCARDED: discarded",
                        enum_type=RosterPlanStatus,
                        max_length=10,
                    ),
                ),
                (
                    "summary",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "created_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="created_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="roster_plans",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "accepted_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "roster_plan",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A proposed roster for a period: every open place of the community's tasks assigned at",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Invitation",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "community",
                    fields.ForeignKeyField(
                        "models.Community",
                        source_field="community_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "wish",
                    fields.ForeignKeyField(
                        "models.Wish",
                        source_field="wish_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "occurrence",
                    fields.ForeignKeyField(
                        "models.Occurrence",
                        source_field="occurrence_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "roster_plan",
                    fields.ForeignKeyField(
                        "models.RosterPlan",
                        source_field="roster_plan_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "invited_by",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="invited_by_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations_sent",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=InvitationStatus.PENDING,
                        description="PENDING: pending\nACCEPTED: accepted\nDECLINED: declined\nEXPIRED: expired\nWITHDRAWN: withdrawn",
                        enum_type=InvitationStatus,
                        max_length=10,
                    ),
                ),
                ("rank", fields.SmallIntField(null=True)),
                (
                    "reasons",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("decline_reason", fields.CharField(null=True, max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "invitation",
                "app": "models",
                "unique_together": (("wish", "person"), ("occurrence", "person")),
                "indexes": [
                    Index(fields=["person_id", "status"]),
                    Index(fields=["status", "expires_at"]),
                    Index(fields=["wish_id", "status"]),
                ],
                "pk_attr": "id",
                "table_description": "An invitation to claim a wish, or to come to one occurrence of a task.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="RosterAssignment",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "plan",
                    fields.ForeignKeyField(
                        "models.RosterPlan",
                        source_field="plan_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="assignments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "task",
                    fields.ForeignKeyField(
                        "models.Task",
                        source_field="task_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="roster_assignments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("occurrence_start", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "person",
                    fields.ForeignKeyField(
                        "models.Person",
                        source_field="person_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="roster_assignments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("score", fields.FloatField(default=0)),
                (
                    "reasons",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "roster_assignment",
                "app": "models",
                "unique_together": (("plan", "task", "occurrence_start", "person"),),
                "pk_attr": "id",
                "table_description": "One place of a roster plan: a person for an occurrence of a task, and why.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Community",
            name="dispatch_k",
            field=fields.SmallIntField(default=3, db_default=3),
        ),
        ops.AddField(
            model_name="Community",
            name="invitation_minutes",
            field=fields.IntField(default=120, db_default=120),
        ),
        ops.AddField(
            model_name="Community",
            name="weekly_hours_cap",
            field=fields.IntField(default=10, db_default=10),
        ),
        ops.AddField(
            model_name="Wish",
            name="resolved_by",
            field=fields.ForeignKeyField(
                "models.ResponsibleContact",
                source_field="resolved_by_id",
                null=True,
                db_constraint=True,
                to_field="id",
                related_name="resolved_wishes",
                on_delete=OnDelete.SET_NULL,
            ),
        ),
        ops.AddField(
            model_name="Wish",
            name="urgent",
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name="Wish",
            name="window_end",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Wish",
            name="window_start",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
