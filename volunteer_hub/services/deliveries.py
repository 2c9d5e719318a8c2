"""What staff see of the outbox's deliveries (dead letters, retries): views, not rows.

The outbox (``volunteer_hub.notifications``) decides who may list or retry a delivery
and hands back its rows; this turns them into what the API shows, with each channel's
code read in one query for the whole list.
"""

from __future__ import annotations

from collections.abc import Sequence

from volunteer_hub.models import ChannelConfig, Delivery
from volunteer_hub.services.views import DeliveryView


async def delivery_views(deliveries: Sequence[Delivery]) -> list[DeliveryView]:
    """The deliveries as staff see them, in the order given."""
    channel_ids = sorted({d.channel_id for d in deliveries})
    codes = dict(
        await ChannelConfig.filter(id__in=channel_ids).values_list("id", "code")
        if channel_ids
        else []
    )
    return [
        DeliveryView(
            id=d.id,
            notification_id=d.notification_id,
            channel=codes[d.channel_id],
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            created_at=d.created_at,
        )
        for d in deliveries
    ]
