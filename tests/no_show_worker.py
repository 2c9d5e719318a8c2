"""One of several worker processes recording no-shows at once (see test_no_shows.py).

Usage: python -m tests.no_show_worker DATABASE_URL NOW_ISO BATCH GO_AT
Connects, waits until the wall-clock time GO_AT (seconds since the epoch, so that the
processes start their pass together), then prints ``{"shifts": n, "wishes": n}``: what this
process recorded.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime

from volunteer_hub import db
from volunteer_hub.config import Settings
from volunteer_hub.hub import Hub
from volunteer_hub.services import no_shows


async def main(url: str, now: datetime, batch: int, go_at: float) -> dict[str, int]:
    settings = Settings(database_url=url, secret_key="test", disable_plugin_autoload=True)
    async with db.database(url):
        hub = Hub.create(settings, clock=lambda: now)
        await asyncio.sleep(max(0.0, go_at - time.time()))
        done = await no_shows.record_overdue(hub, batch=batch)
        return {"shifts": done.shifts, "wishes": done.wishes}


if __name__ == "__main__":
    url, now, batch, go_at = sys.argv[1:5]
    done = asyncio.run(main(url, datetime.fromisoformat(now), int(batch), float(go_at)))
    print(json.dumps(done))
