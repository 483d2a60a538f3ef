"""Server time of the Partnerships view's portfolio and attention-queue pages: 160 and 10,000 agreements.

Builds the marts for real on a throwaway database: the reference scenario's 160 sample
agreements (110 groups) taken in, every evidence feed fresh up to the as-of date (no
evidence, so plenty is at risk or breached), and one `dbt build` (seeds, models,
snapshot). Times the pages in process through the app's ASGI interface (no network, the
Airflow login check replaced by a fixed user: it is one JWT decode plus one lookup in
Airflow's revoked tokens). Then copies the date's rows of the marts the two pages read
(`commitment_statuses`, `agreement_fulfilment`, `gmv_pacing`, `agreement_versions`)
under new agreement ids up to 10,000 agreements, and times the pages again.

    python bench/bench_partnerships_view.py [--requests 30] [--sizes 160 10000] [--json]

Prints p50 / p95 / max per page and size. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))

import psycopg2  # noqa: E402

from partnerops.agreements.sample import write_sample_corpus  # noqa: E402
from partnerops.calendar import fill_calendar  # noqa: E402
from partnerops.db import create_database, drop_database, with_database  # noqa: E402
from partnerops.dbt import run_dbt  # noqa: E402
from partnerops.intake import run_intake  # noqa: E402
from partnerops.migrations import upgrade  # noqa: E402
from partnerops.settings import get_settings  # noqa: E402

ADMIN_URL = os.environ.get("PARTNEROPS_TEST_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
AS_OF = date(2026, 6, 30)
FEEDS = ("orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries", "attestations")
PAGES = {"portfolio": "/", "attention queue": "/attention", "portfolio CSV": "/portfolio.csv"}
#: mart -> whether only the as-of date's rows are copied
SCALED_MARTS = {"commitment_statuses": True, "agreement_fulfilment": True, "gmv_pacing": True,
                "agreement_versions": False}


def sql(url: str, statement: str, params: tuple | dict = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []


def build_marts(url: str, work: Path) -> None:
    upgrade(url)
    fill_calendar(url, [2026, 2027])
    corpus = write_sample_corpus(work / "corpus", brands=160, groups=110, seed=2015, year=2026)
    settings = replace(get_settings(), data_dir=work / "var", agreements_inbox=work / "var" / "inbox")
    report = run_intake([corpus[0].parent], database_url=url, triggered_by="bench", settings=settings)
    assert report.count("loaded") == 160, report.summary()
    sql(url, """insert into raw.evidence_loads (feed, file_path, content_hash, arrived_at, status, triggered_by,
                                                finished_at, min_business_date, max_business_date)
                select feed, 'bench/' || feed || '/' || day::date, md5(feed || day::text),
                       day + interval '20 hours', 'loaded', 'bench', day + interval '20 hours', day::date, day::date
                  from unnest(%s) as feed, generate_series(date '2026-01-01', %s::date, interval '1 day') as day""",
        (list(FEEDS), AS_OF))
    started = time.perf_counter()
    run_dbt(["build", "--resource-type", "seed", "--resource-type", "model", "--resource-type", "snapshot"],
            as_of=AS_OF, url=url, target_path=work / "dbt", capture=True)
    print(f"dbt build for 160 agreements: {time.perf_counter() - started:.0f} s", file=sys.stderr)


def scale_to(url: str, agreements: int) -> int:
    """Copy the marts' rows of the 160 agreements under new ids until there are `agreements`."""
    sql(url, """create table if not exists bench_copies as
                with originals as (
                    select agreement_id, row_number() over (order by agreement_id) - 1 as idx,
                           count(*) over () as n
                      from (select distinct agreement_id from marts.commitment_statuses
                             where as_of_date = %(as_of)s) a
                )
                select agreement_id, agreement_id || '-C' || lpad(copy::text, 3, '0') as new_id, copy
                  from originals, generate_series(1, 99) as copy
                 where copy * n + idx < %(target)s""", {"as_of": AS_OF, "target": agreements})
    for mart, dated in SCALED_MARTS.items():
        columns = [c for (c,) in sql(url, """select column_name from information_schema.columns
                                              where table_schema = 'marts' and table_name = %s
                                              order by ordinal_position""", (mart,))]
        renamed = {
            "agreement_id": "c.new_id",
            "commitment_instance_id": "replace(m.commitment_instance_id, m.agreement_id, c.new_id)",
            "agreement_version_id": "replace(m.agreement_version_id, m.agreement_id, c.new_id)",
            "brand_id": "m.brand_id || '-C' || c.copy",
            "brand_name": "m.brand_name || ' ' || c.copy",
        }
        select = ", ".join(renamed.get(c, f"m.{c}") for c in columns)
        where = "where m.as_of_date = %(as_of)s" if dated else ""
        sql(url, f"""insert into marts.{mart} ({", ".join(columns)})
                     select {select} from marts.{mart} m join bench_copies c using (agreement_id) {where}""",
            {"as_of": AS_OF})
    sql(url, "analyze")
    return sql(url, "select count(distinct agreement_id) from marts.commitment_statuses where as_of_date = %s",
               (AS_OF,))[0][0]


def time_pages(url: str, requests: int) -> dict[str, dict[str, float]]:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from partnerops.ui import create_app

    app = create_app(database_url=url)
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="bench", role="viewer")
    out: dict[str, dict[str, float]] = {}
    with TestClient(app) as client:
        for name, path in PAGES.items():
            for _ in range(3):  # warm up: connections, templates, plans
                assert client.get(path).status_code == 200
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                assert resp.status_code == 200, resp.text[:500]
            times.sort()
            out[name] = {"p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(times[max(0, int(len(times) * 0.95 + 0.5) - 1)], 1),
                         "max_ms": round(times[-1], 1), "bytes": len(resp.content)}
    return out


def main() -> int:
    for name in ("httpx", "httpx2"):  # one line per request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[160, 10_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    name = f"bench_ui_{uuid.uuid4().hex[:10]}"
    create_database(ADMIN_URL, name)
    url = with_database(ADMIN_URL, name)
    results: dict[str, dict] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            build_marts(url, Path(tmp))
        for size in sorted(args.sizes):
            actual = scale_to(url, size) if size > 160 else 160
            results[str(actual)] = time_pages(url, args.requests)
    finally:
        drop_database(ADMIN_URL, name)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"Partnerships view, server time in process ({args.requests} requests per page after 3 warm-ups):")
        print(f"{'agreements':>10}  {'page':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KB':>7}")
        for size, pages in results.items():
            for page, t in pages.items():
                print(f"{size:>10}  {page:<16} {t['p50_ms']:>8} {t['p95_ms']:>8} {t['max_ms']:>8} "
                      f"{t['bytes'] / 1024:>7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
