"""`query(url, sql, params)`: one statement on a test database, committed; its rows ([] if none)."""

from __future__ import annotations

import psycopg2


def query(url: str, sql: str, params: tuple | dict | None = None) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()
