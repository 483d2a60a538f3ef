"""The evidence step of `make demo`: 30 days of feeds simulated for the agreements, then loaded.

The days are the 30 business dates that end the day before `as_of` (by default today on the
ops clock, `partnerops.as_of.today()`), so a tracking run for `as_of` sees fresh data. Files go
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

__all__ = ["DEMO_DAYS", "DEMO_SCALE", "DEMO_SEED", "simulate_and_load"]

DEMO_DAYS = 30
DEMO_SCALE = 0.01
DEMO_SEED = 2015


def simulate_and_load(database_url: str, *, settings: Settings, as_of: date | None = None,
                      full_scale: bool = False) -> LoadReport:
    """Simulate `DEMO_DAYS` days before `as_of` for the agreements in the database, and load them."""
    as_of = as_of or as_of_date.today()
    start, end = as_of - timedelta(days=DEMO_DAYS), as_of - timedelta(days=1)
    scale = 1.0 if full_scale else DEMO_SCALE
    agreements = agreements_from_database(database_url)
    inbox = settings.evidence_inbox
    print(f"simulating {start}..{end} for {len(agreements)} agreements at {scale:g} of the reference volume "
          f"(300,000 orders on an ordinary day), seed {DEMO_SEED}, into {inbox}")
    simulated = simulate(agreements, start=start, end=end, out=inbox, seed=DEMO_SEED, scale=scale)
    print(simulated.summary())

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
