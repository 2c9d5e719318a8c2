"""`vhub worker` as a real process: killed mid-batch and restarted, nothing lost, few doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.factories import World
from tests.sinks import WebhookSink
from volunteer_hub.models import (
    Community,
    Delivery,
    DeliveryStatus,
    Person,
    PersonChannel,
    Role,
    RoleAssignment,
)
from volunteer_hub.notifications.worker import CONCURRENCY
from volunteer_hub.services import callouts, channels, wishes
from volunteer_hub.testing import confirmed_address

VHUB = Path(sys.executable).parent / "vhub"
MESSAGES = 24


def start_worker(settings, log: Path, *options: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "VHUB_DATABASE_URL": settings.database_url,
        "VHUB_SECRET_KEY": settings.secret_key,
        "VHUB_ALLOW_PRIVATE_NETWORK": "1",
        "VHUB_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    return subprocess.Popen(
        [str(VHUB), "worker", "--interval", "0.2", "--lease", "2", *options],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_until(predicate, within: float) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_worker_killed_mid_batch_then_restarted(hub, clock, settings, tmp_path):
    clock.now = datetime.now(UTC)  # the worker process reads the real clock
    w = await World(hub).build()
    community = await Community.get(id=w.community.id)
    community.quiet_start = community.quiet_end = "00:00"  # whatever the hour of the run
    await community.save()
    log = tmp_path / "worker.log"
    with WebhookSink(delay=0.1, one_at_a_time=True) as sink:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
        )
        for i in range(MESSAGES):
            person = await w.person(f"居民{i}")
            await confirmed_address(hub, person, "webhook", "13800138000")
            wish = await wishes.post(
                hub,
                person,
                w.community.id,
                {"title": f"心愿{i}", "description": "x", "category": "errand"},
            )
            await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        assert await Delivery.all().count() == MESSAGES

        first = start_worker(settings, log)
        try:
            await wait_until(lambda: _count(sink, 5), within=60)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        sending = await Delivery.filter(status=DeliveryStatus.SENDING).count()
        assert 0 < len(sink.accepted) < MESSAGES and sending > 0, log.read_text()

        second = start_worker(settings, log)
        try:
            await wait_until(lambda: _all_sent(), within=90)
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(timeout=30)
        assert len(sink.accepted) == MESSAGES  # nothing lost
        keys = set(await Delivery.all().values_list("idempotency_key", flat=True))
        assert set(sink.accepted) == keys  # each message arrived once; repeats were dropped
        assert set(sink.duplicates) <= keys


async def _count(sink: WebhookSink, n: int) -> bool:
    return len(sink.accepted) >= n


async def _all_sent() -> bool:
    return await Delivery.filter(status=DeliveryStatus.SENT).count() == MESSAGES


CALLED = 300
WORKERS = 2
CRASHES = 3


async def test_workers_killed_again_and_again_repeat_only_what_was_in_flight(
    hub, clock, settings, tmp_path
):
    """Two workers deliver a call-out of 300; three times, mid-run, both are killed with
    SIGKILL and started again. Every message arrives, and each crash repeats (same key at
    the sink) only the messages whose success was not yet recorded: at most CONCURRENCY
    per worker. Each crash's repeats are counted while the workers are down (accepted by
    the sink, not marked sent), and their sum is exactly the sink's duplicates."""
    clock.now = datetime.now(UTC)  # the worker processes read the real clock
    w = await World(hub).build()
    log = tmp_path / "workers.log"
    # A gateway that takes 50 ms per message: a worker's 16 sending threads are busy.
    with WebhookSink(delay=0.05) as sink:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
        )
        await _volunteers(w, CALLED)
        await callouts.call_out(
            hub,
            w.staff,
            w.community.id,
            {"title": "暴雨预警", "message": "请到岗。", "target": {"kind": "everyone"}},
        )
        keys = set(await Delivery.all().values_list("idempotency_key", flat=True))
        assert len(keys) == CALLED

        # Small batches, so that both workers send at once; a lease far longer than a
        # batch takes, so that only a crash makes a message go twice.
        options = ("--batch", "50", "--lease", "5")
        workers = [start_worker(settings, log, *options) for _ in range(WORKERS)]
        repeats: list[int] = []
        unmarked: dict[str, int] = {}  # received, not marked sent: key → receipts so far
        try:
            for crash in range(1, CRASHES + 1):
                await wait_until(lambda c=crash: _count(sink, c * CALLED // (CRASHES + 1)), 120)
                for p in workers:
                    p.send_signal(signal.SIGKILL)
                for p in workers:
                    p.wait()
                await wait_until(lambda: _settled(sink), within=30)  # no request half-served
                receipts = Counter([*sink.accepted, *sink.duplicates])
                now_unmarked = {
                    key: receipts[key]
                    for key in await Delivery.exclude(status=DeliveryStatus.SENT).values_list(
                        "idempotency_key", flat=True
                    )
                    if key in receipts
                }
                # Each will be received once more; those left from the last crash (not
                # received again since) are counted there already.
                repeats.append(sum(unmarked.get(k) != n for k, n in now_unmarked.items()))
                unmarked = now_unmarked
                workers = [start_worker(settings, log, *options) for _ in range(WORKERS)]
            await wait_until(_everything_sent, within=120)
        finally:
            for p in workers:
                p.send_signal(signal.SIGINT)
            for p in workers:
                p.wait(timeout=30)
    print(
        f"repeats per crash of {WORKERS} workers: {repeats}, sink duplicates: "
        f"{len(sink.duplicates)} of {CALLED}"
    )
    assert set(sink.accepted) == keys  # every message arrived
    assert len(sink.duplicates) == sum(repeats)  # repeated only because of the crashes
    assert all(r <= WORKERS * CONCURRENCY for r in repeats), repeats


async def _volunteers(w: World, n: int) -> None:
    """N volunteers of the community with a webhook address, in bulk."""
    first = 15000000000
    await Person.bulk_create(
        [
            Person(name=f"志愿者{i}", phone=str(first + i), community_id=w.community.id, skills=[])
            for i in range(n)
        ]
    )
    ids = await Person.filter(phone__gte=str(first)).values_list("id", flat=True)
    await RoleAssignment.bulk_create(
        [RoleAssignment(person_id=i, community_id=w.community.id, role=Role.VOLUNTEER) for i in ids]
    )
    # Seeded as confirmed: as if each had typed in the code sent to the address.
    confirmed = w.hub.now()
    await PersonChannel.bulk_create(
        [
            PersonChannel(
                person_id=i, code="webhook", address="13800138000", confirmed_at=confirmed
            )
            for i in ids
        ]
    )


async def _settled(sink: WebhookSink) -> bool:
    """Every request the sink received has been answered (accepted or counted a duplicate),
    and no more came in meanwhile (one still in a socket's buffer when its sender died)."""
    before = sink.attempts
    await asyncio.sleep(0.3)
    with sink.lock:
        return before == sink.attempts == len(sink.accepted) + len(sink.duplicates)


async def _everything_sent() -> bool:
    return await Delivery.filter(status=DeliveryStatus.SENT).count() == CALLED
