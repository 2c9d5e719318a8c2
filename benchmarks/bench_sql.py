"""Counting the SQL statements of a piece of work (the benchmarks import this from their own
folder: run them as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class Statements(logging.Handler):
    """Counts the statements Tortoise's client logs (its public logger, at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def counting() -> Iterator[Statements]:
    """Count the statements run inside (``.count``), without logging them anywhere else."""
    logger = logging.getLogger("tortoise.db_client")
    counter, level = Statements(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
        logger.propagate = True
