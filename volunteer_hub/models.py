"""Tortoise models: one class for each concept of the glossary (docs/concepts.md).

Models hold data and invariants that the database can enforce (uniqueness, foreign
keys). Every rule that involves more than one row lives in ``volunteer_hub.services``.
All datetimes are stored in UTC; each community's ``timezone`` is used to show and
expand them.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.exceptions import OperationalError
from tortoise.models import Model


class Role(StrEnum):
    RESIDENT = "resident"
    VOLUNTEER = "volunteer"
    PARTY_MEMBER = "party_member"
    GRID_WORKER = "grid_worker"
    STAFF = "staff"
    ADMIN = "admin"


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    # Staff must still check a declared qualification, or approve a new volunteer.
    PENDING = "pending"
    LEFT = "left"
    REFUSED = "refused"


class PartyReportStatus(StrEnum):
    PENDING = "pending"  # until staff of the community accept it
    ACCEPTED = "accepted"
    REFUSED = "refused"


class WishStatus(StrEnum):
    SUBMITTED = "submitted"
    OPEN = "open"
    CLAIMED = "claimed"
    FULFILLED = "fulfilled"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Escalation(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    RED = "red"


class Open311Scope(StrEnum):
    """What an integrator's Open311 key may do (docs/api.md)."""

    READ = "requests:read"  # details of the requests every volunteer of the community sees
    POST = "requests:post"  # post requests, and read back the ones it posted


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # someone else took it first, or it closed


class RosterPlanStatus(StrEnum):
    DRAFT = "draft"
    ACCEPTED = "accepted"
    DISCARDED = "discarded"


class SignupStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    # Attendance that staff or team leaders record for a confirmed place: the volunteer did
    # not come (a no-show), or did not come for a reason staff accept (excused).
    NO_SHOW = "no_show"
    EXCUSED = "excused"


class Community(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100, unique=True)
    timezone = fields.CharField(max_length=64, default="Asia/Shanghai")
    # Quiet hours ("HH:MM" in the community's zone) hold back non-urgent messages.
    # Equal start and end mean none. (Tortoise's TimeField breaks on SQLite with use_tz.)
    quiet_start = fields.CharField(max_length=5, default="22:00")
    quiet_end = fields.CharField(max_length=5, default="07:00")
    # Staff approve a person once before they serve here (claim wishes, see contacts).
    approve_volunteers = fields.BooleanField(default=True, db_default=True)
    # Wish categories whose candidates staff pick by hand (no automatic invitations).
    manual_dispatch_categories = fields.JSONField(default=list, db_default="[]")
    # Automatic dispatch: how many of the best candidates are invited at once, and how long
    # each has to answer (the clock stops in quiet hours); the weekly hours a volunteer may be
    # given before ranking passes them over.
    dispatch_k = fields.SmallIntField(default=3, db_default=3)
    invitation_minutes = fields.IntField(default=120, db_default=120)
    weekly_hours_cap = fields.IntField(default=10, db_default=10)
    # Emergency mode: on while emergency_started_at is set. Wishes in the chosen categories
    # are approved without review; every page shows the reason; the call-out is the one
    # sent when it was switched on.
    emergency_reason = fields.CharField(max_length=200, null=True)
    emergency_started_at = fields.DatetimeField(null=True)
    emergency_categories = fields.JSONField(default=list, db_default="[]")
    emergency_callout: fields.ForeignKeyNullableRelation[CallOut] = fields.ForeignKeyField(
        "models.CallOut", related_name="emergencies", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "community"


class Grid(Model):
    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="grids", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=100)

    class Meta:
        table = "grid"
        unique_together = (("community", "name"),)


class Person(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50)
    # Mainland mobile number in national form (11 digits); personal data.
    phone = fields.CharField(max_length=20, unique=True)
    password_hash = fields.CharField(max_length=255, null=True)
    # The home community; None only for an administrator made with the CLI.
    community: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="people", null=True, on_delete=fields.RESTRICT
    )
    grid: fields.ForeignKeyNullableRelation[Grid] = fields.ForeignKeyField(
        "models.Grid", related_name="people", null=True, on_delete=fields.SET_NULL
    )
    birth_date = fields.DateField(null=True)
    # The ID number is never stored: a keyed hash finds duplicates, the last four
    # characters let staff tell people apart.
    id_number_hash = fields.CharField(max_length=64, null=True, unique=True)
    id_number_last4 = fields.CharField(max_length=4, null=True)
    address = fields.CharField(max_length=200, null=True)  # personal data
    skills = fields.JSONField(default=list)
    # Bumped to revoke the secret calendar feed address (it is derived from this).
    calendar_version = fields.IntField(default=0)
    locale = fields.CharField(max_length=10, default="zh-CN")  # for messages sent to them
    # A deactivated person cannot log in; their tokens are revoked; history stays.
    active = fields.BooleanField(default=True, db_default=True)
    # A resident without a phone of their own: their messages go to their grid worker.
    reached_through_grid_worker = fields.BooleanField(default=False, db_default=False)
    # A pending password reset: a keyed hash of the one-time code, never the code itself.
    reset_code_hash = fields.CharField(max_length=64, null=True)
    reset_code_expires_at = fields.DatetimeField(null=True)
    reset_code_attempts = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "person"


class RoleAssignment(Model):
    """A role of a person in a community. An admin has no community: it acts everywhere.

    A grid worker's assignment names the grid they are responsible for (one row per grid).
    """

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="roles", on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="role_assignments", null=True, on_delete=fields.CASCADE
    )
    role = fields.CharEnumField(Role, max_length=20)
    grid: fields.ForeignKeyNullableRelation[Grid] = fields.ForeignKeyField(
        "models.Grid", related_name="role_assignments", null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "role_assignment"
        indexes = (("person_id", "community_id"),)


class Team(Model):
    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="teams", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=100)
    # A team kind code from the registry (core kinds plus those plugins add).
    kind = fields.CharField(max_length=40)
    leader: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="teams_led", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "team"
        unique_together = (("community", "name"),)


class Qualification(Model):
    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="qualifications", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=40)
    expires_on = fields.DateField(null=True)
    certificate_number = fields.CharField(max_length=50, null=True)
    verified = fields.BooleanField(default=False)
    verified_at = fields.DatetimeField(null=True)
    verified_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person",
        related_name="qualifications_verified",
        null=True,
        on_delete=fields.SET_NULL,
    )
    # The membership it was declared for; staff verify it when approving that membership.
    membership: fields.ForeignKeyNullableRelation[TeamMembership] = fields.ForeignKeyField(
        "models.TeamMembership",
        related_name="qualifications",
        null=True,
        on_delete=fields.SET_NULL,
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "qualification"
        indexes = (("person_id", "kind"),)


class TeamMembership(Model):
    id = fields.IntField(primary_key=True)
    team: fields.ForeignKeyRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="memberships", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="memberships", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(MembershipStatus, max_length=10)
    joined_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "team_membership"
        unique_together = (("team", "person"),)
        indexes = (("person_id", "status"),)


class PartyReport(Model):
    """An in-service party member (在职党员) reporting to their home community."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="party_reports", on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="party_reports", on_delete=fields.RESTRICT
    )
    work_unit = fields.CharField(max_length=100)
    party_branch = fields.CharField(max_length=100)
    yearly_hours_target = fields.DecimalField(max_digits=6, decimal_places=1, default=12)
    status = fields.CharEnumField(PartyReportStatus, max_length=10)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "party_report"
        unique_together = (("person", "community"),)


class Wish(Model):
    """A micro-wish (微心愿) posted by or for a resident."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="wishes", on_delete=fields.RESTRICT
    )
    grid: fields.ForeignKeyNullableRelation[Grid] = fields.ForeignKeyField(
        "models.Grid", related_name="wishes", null=True, on_delete=fields.SET_NULL
    )
    # The resident the wish is for, and who typed it in (the same, or staff / a grid worker).
    resident: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="wishes", on_delete=fields.RESTRICT
    )
    posted_by: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="wishes_posted", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=100)
    description = fields.TextField()
    category = fields.CharField(max_length=40)
    needed_by = fields.DateField(null=True)
    # When help is needed (API.md ``window``): both set or neither. Ranking keeps volunteers
    # free then; a claimed wish not fulfilled by its end is the claimer's no-show.
    window_start = fields.DatetimeField(null=True)
    window_end = fields.DatetimeField(null=True)
    urgent = fields.BooleanField(default=False, db_default=False)  # marked when posting
    status = fields.CharEnumField(WishStatus, max_length=10, default=WishStatus.SUBMITTED)
    escalation = fields.CharEnumField(Escalation, max_length=10, null=True)
    escalated_at = fields.DatetimeField(null=True)
    # Hours after posting at which an unhandled wish reaches each level, from the
    # admission list: {"blue": 0, "yellow": 72, "red": 144}.
    escalation_plan = fields.JSONField(null=True)
    referral = fields.CharField(max_length=200, null=True)
    review_reason = fields.CharField(max_length=500, null=True)
    claimer: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="wishes_claimed", null=True, on_delete=fields.RESTRICT
    )
    claimed_at = fields.DatetimeField(null=True)
    fulfil_note = fields.CharField(max_length=500, null=True)
    hours = fields.DecimalField(max_digits=5, decimal_places=2, null=True)  # as the claimer reports
    fulfilled_at = fields.DatetimeField(null=True)
    rating = fields.SmallIntField(null=True)
    thanks = fields.CharField(max_length=500, null=True)
    confirmed_at = fields.DatetimeField(null=True)
    cancel_reason = fields.CharField(max_length=500, null=True)
    # A referred wish closed by the responsible contact who held it (吹哨 loop).
    resolved_by: fields.ForeignKeyNullableRelation[ResponsibleContact] = fields.ForeignKeyField(
        "models.ResponsibleContact",
        related_name="resolved_wishes",
        null=True,
        on_delete=fields.SET_NULL,
    )
    # The integrator's key it was posted through (Open311), if any.
    open311_key: fields.ForeignKeyNullableRelation[Open311Key] = fields.ForeignKeyField(
        "models.Open311Key", related_name="wishes", null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wish"


class Task(Model):
    """A micro-task (微事项): a job or shift, one-off or recurring (RRULE)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="tasks", on_delete=fields.RESTRICT
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="tasks", null=True, on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    location = fields.CharField(max_length=200, null=True)
    # The first occurrence; a recurring task repeats its local wall-clock times.
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    capacity = fields.IntField()
    rrule = fields.CharField(max_length=500, null=True)
    created_by: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="tasks_created", on_delete=fields.RESTRICT
    )
    # A cancelled task offers no more places; its volunteers were told.
    cancelled_at = fields.DatetimeField(null=True)
    cancel_reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "task"


class Occurrence(Model):
    """One dated instance of a task: the row that holds capacity under concurrency."""

    id = fields.IntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="occurrences", on_delete=fields.CASCADE
    )
    start = fields.DatetimeField()
    end = fields.DatetimeField()
    capacity = fields.IntField()
    taken = fields.IntField(default=0)
    cancelled = fields.BooleanField(default=False)
    # Bumped first in every signup transaction: the write takes the row lock
    # (PostgreSQL) or the database write lock (SQLite) before anything is read.
    lock_version = fields.IntField(default=0)

    class Meta:
        table = "occurrence"
        unique_together = (("task", "start"),)


class Signup(Model):
    id = fields.IntField(primary_key=True)
    occurrence: fields.ForeignKeyRelation[Occurrence] = fields.ForeignKeyField(
        "models.Occurrence", related_name="signups", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="signups", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(SignupStatus, max_length=12)
    created_at = fields.DatetimeField(auto_now_add=True)
    promoted_at = fields.DatetimeField(null=True)
    cancelled_at = fields.DatetimeField(null=True)
    checked_in_at = fields.DatetimeField(null=True)
    checked_out_at = fields.DatetimeField(null=True)
    # Why a place was excused (SignupStatus.EXCUSED), in the words of whoever excused it.
    attendance_note = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "signup"
        # Arrival order within a status; one person's signups (the duplicate check).
        indexes = (("occurrence_id", "status"), ("occurrence_id", "person_id"), ("person_id",))


class ServiceRecord(Model):
    """Verified hours (志愿服务记录), from a shift's check-out or a confirmed wish."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="service_records", on_delete=fields.RESTRICT
    )
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="service_records", on_delete=fields.RESTRICT
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="service_records", null=True, on_delete=fields.SET_NULL
    )
    signup: fields.OneToOneNullableRelation[Signup] = fields.OneToOneField(
        "models.Signup", related_name="service_record", null=True, on_delete=fields.RESTRICT
    )
    wish: fields.OneToOneNullableRelation[Wish] = fields.OneToOneField(
        "models.Wish", related_name="service_record", null=True, on_delete=fields.RESTRICT
    )
    description = fields.CharField(max_length=200)
    started_at = fields.DatetimeField()
    ended_at = fields.DatetimeField()
    hours = fields.DecimalField(max_digits=6, decimal_places=2)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service_record"
        # A person's records, newest first (their page, their yearly hours, the ranking).
        indexes = (("person_id", "started_at"),)


class AuditEntry(Model):
    """The trace (留痕): one row per state change, written in the change's transaction.

    Append-only: the model refuses updates and deletes, and no service offers them.
    """

    id = fields.BigIntField(primary_key=True)
    community: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="audit_entries", null=True, on_delete=fields.RESTRICT
    )
    # None when the system acted (expiry, escalation timers).
    actor: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="audit_entries", null=True, on_delete=fields.RESTRICT
    )
    action = fields.CharField(max_length=60)
    entity_type = fields.CharField(max_length=40)
    entity_id = fields.BigIntField()
    before = fields.JSONField(null=True)
    after = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entry"
        indexes = (("entity_type", "entity_id"),)

    async def save(self, *args, **kwargs):  # type: ignore[override]
        if not self._saved_in_db:
            return await super().save(*args, **kwargs)
        raise OperationalError("audit entries are append-only")

    async def delete(self, *args, **kwargs):  # type: ignore[override]
        raise OperationalError("audit entries are append-only")


class ApiToken(Model):
    """A bearer token. Only its SHA-256 is stored. It expires and can be revoked."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="api_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class Open311Key(Model):
    """An integrator's Open311 key: one community, a few scopes, revocable.

    Only its SHA-256 is stored; the key itself is shown once, when it is made. Requests
    posted with it are posted by the staff member who made it, for the integrator.
    """

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="open311_keys", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=100)  # the integrator, e.g. "12345 热线"
    scopes = fields.JSONField(default=list)  # Open311Scope values
    key_hash = fields.CharField(max_length=64, unique=True)
    created_by: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="open311_keys_made", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "open311_key"


class AttemptCounter(Model):
    """Attempts counted under a key (a login phone, a person, an address) until it expires.

    services/throttle.py takes and gives back attempts with single conditional UPDATEs,
    so the count holds across processes and database connections.
    """

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=100, unique=True)
    count = fields.IntField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "attempt_counter"


class NotificationPriority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # red escalations and emergencies: quiet hours do not hold them back


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # leased by a worker until lease_until
    SENT = "sent"
    DEAD = "dead"  # gave up after the maximum attempts; staff can retry


class Notification(Model):
    """A message for one person: their in-app inbox entry, and the source of its deliveries.

    ``person`` is empty for a message to a responsible contact (吹哨: a referral's link),
    who has no account: it has no inbox entry, only its deliveries to the address staff
    set for the contact."""

    id = fields.BigIntField(primary_key=True)
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    community: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="notifications", null=True, on_delete=fields.CASCADE
    )
    event = fields.CharField(max_length=60)
    entity_type = fields.CharField(max_length=40)
    entity_id = fields.BigIntField()
    priority = fields.CharEnumField(NotificationPriority, max_length=10)
    locale = fields.CharField(max_length=10)
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    html = fields.TextField(null=True)
    # Set for notifications that must exist once only (a shift's reminder).
    dedupe_key = fields.CharField(max_length=100, null=True, unique=True)
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"
        indexes = (("person_id", "id"),)


class ChannelConfig(Model):
    """A notification channel staff configured for a community (secrets encrypted at rest)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="channels", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=40)  # a NotificationChannel code from the hooks
    name = fields.CharField(max_length=100)
    secret = fields.TextField()  # Fernet token of the JSON configuration
    enabled = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel_config"
        unique_together = (("community", "code"),)


class PersonChannel(Model):
    """A person's address for a channel kind (phone, e-mail, chat id) and whether they use it."""

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="channels", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=40)
    address = fields.CharField(max_length=200)
    enabled = fields.BooleanField(default=True)
    # Nothing but its confirmation code is sent to an address until the person has typed
    # that code in (services.channels): an address may be someone else's.
    confirmed_at = fields.DatetimeField(null=True)
    code_hash = fields.CharField(max_length=64, null=True)  # keyed hash of the pending code
    code_expires_at = fields.DatetimeField(null=True)
    code_attempts = fields.IntField(default=0)  # tries at the pending code
    code_sent_at = fields.DatetimeField(null=True)
    # Staff or a grid worker who set this address for the person (assisted mode); None when
    # the person set it themselves.
    set_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person",
        related_name="channels_set_for_others",
        null=True,
        on_delete=fields.SET_NULL,
    )

    class Meta:
        table = "person_channel"
        unique_together = (("person", "code"),)


class Delivery(Model):
    """The outbox: one notification to send through one channel, written in its transaction."""

    id = fields.BigIntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", on_delete=fields.CASCADE
    )
    channel: fields.ForeignKeyRelation[ChannelConfig] = fields.ForeignKeyField(
        "models.ChannelConfig", related_name="deliveries", on_delete=fields.CASCADE
    )
    address = fields.CharField(max_length=200)
    # Sent with the message (a header, a Message-ID) so that a sink that honours it
    # drops a repeat after a crash between sending and recording.
    idempotency_key = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(DeliveryStatus, max_length=10, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    not_before = fields.DatetimeField()  # quiet hours, reminders and retry backoff
    # A worker's claim: it sends while the lease holds; an expired lease is claimed again.
    lease_token = fields.CharField(max_length=32, null=True)
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "delivery"
        # Staff look up a notification's deliveries; the worker records results by it.
        indexes = (("status", "not_before"), ("notification_id",))


class CallOut(Model):
    """An emergency call-out: one message to many people, each asked to acknowledge it."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="callouts", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="callouts_made", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=100)
    message = fields.TextField()
    # Who is called: everyone, a team (its id), a grid (its id) or a skill (its name).
    target_kind = fields.CharField(max_length=10)
    target_value = fields.CharField(max_length=40, null=True)
    recipients = fields.IntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "callout"


class CallOutRecipient(Model):
    """One person called out, and when they acknowledged (through their secret link)."""

    id = fields.BigIntField(primary_key=True)
    callout: fields.ForeignKeyRelation[CallOut] = fields.ForeignKeyField(
        "models.CallOut", related_name="recipient_rows", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="callouts", on_delete=fields.CASCADE
    )
    ack_hash = fields.CharField(max_length=64, unique=True)  # SHA-256 of the link's token
    acked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "callout_recipient"
        unique_together = (("callout", "person"),)
        indexes = (("callout_id", "acked_at"),)


class Invitation(Model):
    """An invitation to claim a wish, or to come to one occurrence of a task.

    Dispatch writes them (``invited_by`` empty: the community invites); staff may too. Each
    person is invited once to a wish, once to an occurrence. ``rank`` and ``reasons`` are the
    ranking's position and words when it was written, for the wish's timeline.
    """

    id = fields.BigIntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="invitations", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="invitations", on_delete=fields.CASCADE
    )
    wish: fields.ForeignKeyNullableRelation[Wish] = fields.ForeignKeyField(
        "models.Wish", related_name="invitations", null=True, on_delete=fields.CASCADE
    )
    occurrence: fields.ForeignKeyNullableRelation[Occurrence] = fields.ForeignKeyField(
        "models.Occurrence", related_name="invitations", null=True, on_delete=fields.CASCADE
    )
    roster_plan: fields.ForeignKeyNullableRelation[RosterPlan] = fields.ForeignKeyField(
        "models.RosterPlan", related_name="invitations", null=True, on_delete=fields.SET_NULL
    )
    invited_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="invitations_sent", null=True, on_delete=fields.SET_NULL
    )
    status = fields.CharEnumField(InvitationStatus, max_length=10, default=InvitationStatus.PENDING)
    rank = fields.SmallIntField(null=True)
    reasons = fields.JSONField(null=True)  # [LocalizedText, ...]
    expires_at = fields.DatetimeField()
    answered_at = fields.DatetimeField(null=True)
    decline_reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "invitation"
        unique_together = (("wish", "person"), ("occurrence", "person"))
        indexes = (("person_id", "status"), ("status", "expires_at"), ("wish_id", "status"))


class AvailabilitySlot(Model):
    """A weekly time a volunteer is free (``PUT /me/availability``), in the community's zone.

    Minutes since midnight; ``end_minute`` up to 1440. Someone with no slots has not said,
    and counts as free at any time.
    """

    id = fields.IntField(primary_key=True)
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="availability", on_delete=fields.CASCADE
    )
    weekday = fields.SmallIntField()  # 1 is Monday
    start_minute = fields.SmallIntField()
    end_minute = fields.SmallIntField()

    class Meta:
        table = "availability_slot"
        indexes = (("person_id", "weekday"),)


class DoNotSend(Model):
    """A resident asked that this volunteer not be sent to them again."""

    id = fields.IntField(primary_key=True)
    resident: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="do_not_send", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="not_sent_to", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "do_not_send"
        unique_together = (("resident", "person"),)


class NoShow(Model):
    """A confirmed place not checked in by its end, or a claimed wish past due: the record
    a volunteer sees and the reliability score reads. Staff may excuse it."""

    id = fields.BigIntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="no_shows", on_delete=fields.CASCADE
    )
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="no_shows", on_delete=fields.CASCADE
    )
    signup: fields.OneToOneNullableRelation[Signup] = fields.OneToOneField(
        "models.Signup", related_name="no_show", null=True, on_delete=fields.CASCADE
    )
    wish: fields.ForeignKeyNullableRelation[Wish] = fields.ForeignKeyField(
        "models.Wish", related_name="no_shows", null=True, on_delete=fields.CASCADE
    )
    occurred_at = fields.DatetimeField()  # the end of the shift, or the wish's due time
    excused_at = fields.DatetimeField(null=True)
    excused_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="no_shows_excused", null=True, on_delete=fields.SET_NULL
    )
    note = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "no_show"
        unique_together = (("wish", "person"),)
        indexes = (("person_id", "occurred_at"),)


class RosterPlan(Model):
    """A proposed roster for a period: every open place of the community's tasks assigned at
    once. Staff preview and adjust a draft, then accept it (its places go out as invitations)."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="roster_plans", on_delete=fields.CASCADE
    )
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    status = fields.CharEnumField(RosterPlanStatus, max_length=10, default=RosterPlanStatus.DRAFT)
    summary = fields.JSONField(null=True)  # totals, load spread before and after
    created_by: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="roster_plans", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "roster_plan"


class RosterAssignment(Model):
    """One place of a roster plan: a person for an occurrence of a task, and why."""

    id = fields.BigIntField(primary_key=True)
    plan: fields.ForeignKeyRelation[RosterPlan] = fields.ForeignKeyField(
        "models.RosterPlan", related_name="assignments", on_delete=fields.CASCADE
    )
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="roster_assignments", on_delete=fields.CASCADE
    )
    occurrence_start = fields.DatetimeField()
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="roster_assignments", on_delete=fields.CASCADE
    )
    score = fields.FloatField(default=0)
    reasons = fields.JSONField(null=True)  # [LocalizedText, ...]

    class Meta:
        table = "roster_assignment"
        unique_together = (("plan", "task", "occurrence_start", "person"),)


class ResponsibleContact(Model):
    """Who answers for a category at an escalation level (吹哨报到): a street-office section,
    a property company, a team lead. ``category`` empty: every category. They are told
    through ``channel_code`` at ``address`` and answer through a link, without an account."""

    id = fields.IntField(primary_key=True)
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="responsible_contacts", on_delete=fields.CASCADE
    )
    category = fields.CharField(max_length=40, null=True)
    level = fields.CharEnumField(Escalation, max_length=10)
    name = fields.CharField(max_length=100)
    channel_code = fields.CharField(max_length=40)
    address = fields.CharField(max_length=200)
    locale = fields.CharField(max_length=10, default="zh-CN")  # for messages and their link's page
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "responsible_contact"
        indexes = (("community_id", "level"),)


class Referral(Model):
    """A wish put before a responsible contact at a level: told when, acknowledged when
    (through the secret link), resolved when and how."""

    id = fields.BigIntField(primary_key=True)
    wish: fields.ForeignKeyRelation[Wish] = fields.ForeignKeyField(
        "models.Wish", related_name="referrals", on_delete=fields.CASCADE
    )
    contact: fields.ForeignKeyRelation[ResponsibleContact] = fields.ForeignKeyField(
        "models.ResponsibleContact", related_name="referrals", on_delete=fields.CASCADE
    )
    level = fields.CharEnumField(Escalation, max_length=10)
    token_hash = fields.CharField(max_length=64, unique=True)  # SHA-256 of the link's token
    notified_at = fields.DatetimeField()
    acknowledged_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    note = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "referral"
        unique_together = (("wish", "contact", "level"),)
