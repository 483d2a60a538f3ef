"""Fixtures for the dbt tests: a throwaway database per test module, on the real server.

Each module gets its own database (prefix `dbt_`), migrated, with the business calendar
filled: the dbt models keep state (incremental marts, snapshots), so modules must not
share one. Evidence rows are inserted directly with chosen arrival times, which is what
as-of evaluation is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from partnerops.calendar import fill_calendar
from partnerops.db import create_database, drop_database, with_database
from partnerops.migrations import upgrade


@pytest.fixture(scope="module")
def dbt_db_url(admin_url: str) -> Iterator[str]:
    name = f"dbt_test_{uuid.uuid4().hex[:12]}"
    create_database(admin_url, name)
    url = with_database(admin_url, name)
    upgrade(url)
    fill_calendar(url, [2026, 2027])
    yield url
    drop_database(admin_url, name)


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target and log folder for the module (partial parsing is reused across runs)."""
    return tmp_path_factory.mktemp("dbt_target")
