"""The calendar file that an invitation e-mail carries (issue 5).

An invitation (``wish.invited``, ``task.invited``) sent by e-mail gets an ``invitation.ics``:
an iTIP REQUEST built by the calendar feeds' own functions, so that its UID and SEQUENCE are
those the feeds give the same wish or task (``services.calendars.wish_invitation`` and
``occurrence_invitation``). It is built when the message is sent, from the state then: an
invitation that no longer stands (the wish was claimed by someone else or cancelled, the
occurrence was cancelled) goes without one. Other channels (an SMS gateway) get none.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from volunteer_hub.hub import Hub
from volunteer_hub.models import Occurrence, Person, Wish, WishStatus
from volunteer_hub.notifications.outbox import ClaimedDelivery
from volunteer_hub.notifications.senders import Attachment, Outgoing
from volunteer_hub.services import calendars

log = logging.getLogger(__name__)

INVITATIONS = frozenset({"wish.invited", "task.invited"})
FILE_NAME = "invitation.ics"
MIME_TYPE = "text/calendar"
_EMAIL = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+")


async def with_invitation(hub: Hub, delivery: ClaimedDelivery, message: Outgoing) -> Outgoing:
    """``message``, with the invitation's calendar file attached where one belongs.

    Costs nothing for other events. A failure to build the file is logged and the message
    goes without it: the invitation's text matters more than its calendar entry.
    """
    if delivery.notification.event not in INVITATIONS:
        return message
    try:
        attachments = await attachments_for(hub, delivery, sender=_sender(message.url))
    except Exception:
        log.exception("no calendar file for delivery %s", delivery.id)
        return message
    return (
        replace(message, attachments=message.attachments + attachments) if attachments else message
    )


async def attachments_for(
    hub: Hub, delivery: ClaimedDelivery, *, sender: str | None = None
) -> tuple[Attachment, ...]:
    """The files for an e-mail delivery of an invitation (``delivery.notification`` and
    ``delivery.channel`` loaded); none for other deliveries.

    ``sender`` (the e-mail's From address) is the invitation's ORGANIZER, in the name of
    the community, and the delivery's address its ATTENDEE; without a sender the file is
    a PUBLISH instead of a REQUEST.
    """
    notification = delivery.notification
    if notification.event not in INVITATIONS:
        return ()
    kind = hub.notification_channels().get(delivery.channel.code)
    if kind is None or kind.address_kind != "email":
        return ()
    person = await Person.get(id=notification.person_id)
    attendee = calendars.Party(delivery.address, person.name)
    content = None
    if notification.event == "wish.invited":
        wish = await Wish.get_or_none(id=notification.entity_id).select_related("community")
        if wish is not None and (
            wish.status is WishStatus.OPEN or wish.claimer_id == notification.person_id
        ):
            content = await calendars.wish_invitation(
                wish,
                locale=notification.locale,
                organizer=calendars.Party(sender, wish.community.name) if sender else None,
                attendee=attendee,
            )
    else:
        occurrence = await Occurrence.get_or_none(id=notification.entity_id).select_related(
            "task", "task__community"
        )
        if occurrence is not None and not occurrence.cancelled and occurrence.end > hub.now():
            community = occurrence.task.community
            content = await calendars.occurrence_invitation(
                occurrence,
                now=hub.now(),
                locale=notification.locale,
                organizer=calendars.Party(sender, community.name) if sender else None,
                attendee=attendee,
            )
    return (Attachment(FILE_NAME, content, MIME_TYPE),) if content else ()


def _sender(url: str) -> str | None:
    """The From address of an apprise e-mail URL (its ``from`` parameter), if plain."""
    values = parse_qs(urlsplit(url).query).get("from") or []
    return values[0] if values and _EMAIL.fullmatch(values[0]) else None
