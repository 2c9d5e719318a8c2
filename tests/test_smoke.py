from tests.factories import World
from volunteer_hub.models import AuditEntry, WishStatus
from volunteer_hub.services import wishes


async def test_wish_lifecycle(hub):
    w = await World(hub).build()
    team = await w.team("elderly_care")
    vol = await w.volunteer("李志愿", team=team)
    resident = await w.person("王奶奶")
    wish = await wishes.post(
        hub,
        w.grid_worker,
        w.community.id,
        {
            "title": "周四上午陪同去医院",
            "description": "需要有人陪同",
            "category": "elderly_care",
            "on_behalf_of": resident.id,
        },
    )
    assert wish.status is WishStatus.SUBMITTED
    wish = await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    wish = await wishes.claim(hub, vol, wish.id)
    assert wish.claimer_id == vol.id
    wish = await wishes.fulfil(hub, vol, wish.id, {"note": "done", "hours": "2.5"})
    wish = await wishes.confirm(hub, w.grid_worker, wish.id, {"rating": 5, "thanks": "谢谢"})
    assert wish.status is WishStatus.CONFIRMED
    assert await AuditEntry.filter(entity_type="wish", entity_id=wish.id).count() == 5
