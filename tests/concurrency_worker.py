"""One of several processes signing people up at once (see test_concurrency.py).

Usage: python -m tests.concurrency_worker DATABASE_URL TASK_ID NOW_ISO '[person ids]'
Prints the resulting signup statuses as a JSON list.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

from volunteer_hub import db
from volunteer_hub.config import Settings
from volunteer_hub.hub import Hub
from volunteer_hub.services import tasks
from volunteer_hub.services.access import load_actor


async def main(url: str, task_id: int, now: datetime, person_ids: list[int]) -> list[str]:
    settings = Settings(database_url=url, secret_key="test", disable_plugin_autoload=True)
    async with db.database(url):
        hub = Hub.create(settings, clock=lambda: now)
        actors = [await load_actor(pid) for pid in person_ids]
        signups = await asyncio.gather(*(tasks.sign_up(hub, a, task_id) for a in actors))
        return [s.status.value for s in signups]


if __name__ == "__main__":
    url, task_id, now, ids = sys.argv[1:5]
    result = asyncio.run(main(url, int(task_id), datetime.fromisoformat(now), json.loads(ids)))
    print(json.dumps(result))
