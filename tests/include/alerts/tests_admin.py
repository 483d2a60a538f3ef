"""The test server's admin connection, for the alert tests that need a database of their own."""

from __future__ import annotations

import os

import psycopg2

ADMIN_URL = os.environ.get("PARTNEROPS_TEST_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")


def admin(sql: str) -> None:
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()
