"""`vhub worker` as a real process: killed mid-batch and restarted, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.factories import World
from tests.sinks import WebhookSink
from volunteer_hub.models import Community, Delivery, DeliveryStatus
from volunteer_hub.services import channels, wishes
from volunteer_hub.testing import confirmed_address

VHUB = Path(sys.executable).parent / "vhub"
MESSAGES = 24


def start_worker(settings, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "VHUB_DATABASE_URL": settings.database_url,
        "VHUB_SECRET_KEY": settings.secret_key,
        "VHUB_ALLOW_PRIVATE_NETWORK": "1",
        "VHUB_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    return subprocess.Popen(
        [str(VHUB), "worker", "--interval", "0.2", "--lease", "2"],
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
