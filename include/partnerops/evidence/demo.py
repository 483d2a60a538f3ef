"""The evidence step of `make demo`: the feeds from the terms' start simulated for the agreements, then loaded.

The days are the business dates from the earliest term start to the day before `as_of` (by
default today on the ops clock, `partnerops.as_of.today()`), so a tracking run for `as_of`
judges every instance on the whole of its evidence. The rows due more than `DAILY_FILES_DAYS`
days before `as_of` come in one file per feed and month (fewer files to load); the last days
come day by day, as the feeds deliver them. The simulator's ground truth (the fate of each
commitment instance) is written beside the inbox, to `<data dir>/demo/ground_truth.csv`. Files go
to the evidence inbox, as if delivered; those due by `as_of` are loaded now, and the rest (late
rows, shipments still in transit) wait there for the evidence DAGs to load on their delivery date. The same date and
seed always give the same files, and a file already loaded is not loaded again.

Order volume is `DEMO_SCALE` (1/100) of the reference scenario by default, so that the demo
takes a few minutes on a small machine; `full_scale=True` simulates the full 300,000 orders
on an ordinary day.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

from partnerops import as_of as as_of_date
from partnerops.evidence.cli import print_totals
from partnerops.evidence.feeds import FEED_NAMES
from partnerops.evidence.load import LoadReport, find_feed_files, load_files, pending_files
from partnerops.evidence.simulate import agreements_from_database, simulate
from partnerops.settings import Settings

__all__ = ["DAILY_FILES_DAYS", "DEMO_SCALE", "DEMO_SEED", "simulate_and_load"]

DAILY_FILES_DAYS = 30
DEMO_SCALE = 0.01
DEMO_SEED = 2015


def simulate_and_load(database_url: str, *, settings: Settings, as_of: date | None = None,
                      full_scale: bool = False) -> LoadReport:
    """Simulate the days from the terms' start to the day before `as_of` for the agreements in the database,
    and load them."""
    as_of = as_of or as_of_date.today()
    agreements = agreements_from_database(database_url)
    end = as_of - timedelta(days=1)
    start = min((a.term_start for a in agreements), default=end - timedelta(days=DAILY_FILES_DAYS - 1))
    start = min(start, end - timedelta(days=DAILY_FILES_DAYS - 1))
    scale = 1.0 if full_scale else DEMO_SCALE
    inbox = settings.evidence_inbox
    truth = settings.data_dir / "demo" / "ground_truth.csv"
    print(f"simulating {start}..{end} for {len(agreements)} agreements at {scale:g} of the reference volume "
          f"(300,000 orders on an ordinary day), seed {DEMO_SEED}, into {inbox}")
    simulated = simulate(agreements, start=start, end=end, out=inbox, seed=DEMO_SEED, scale=scale,
                         batch_until=as_of - timedelta(days=DAILY_FILES_DAYS), ground_truth=truth)
    print(simulated.summary())
    print(f"the simulator's ground truth (each instance's fate: on time, late, missed): {truth}")

    started = time.monotonic()
    files = [f.path for feed in FEED_NAMES for f in pending_files(inbox / feed, feed, database_url, up_to=as_of)]
    report = load_files(files, database_url=database_url, triggered_by="demo")
    later = [f for f in find_feed_files([inbox])[0] if f.delivery_date > as_of]
    print(f"loaded the files delivered by {as_of} in {time.monotonic() - started:.1f} s:")
    print_totals(report)
    print(report.summary())
    if later:
        print(f"{len(later)} file(s) (late rows, parcels still in transit) are due after {as_of}; "
              "the evidence DAGs load them when they arrive")
    return report
