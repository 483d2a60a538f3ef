"""`partnerops simulate` and `partnerops load`: argument handling and printing only."""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

from partnerops import as_of as as_of_date
from partnerops.errors import UserError
from partnerops.evidence.feeds import FEED_NAMES
from partnerops.evidence.load import FileLoad, LoadReport

EXIT_OK, EXIT_PROBLEMS = 0, 1


def _date(raw: str, option: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(f"{option} {raw!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-11") from None


def _faults(pairs: list[str]):
    from partnerops.evidence.simulate import Faults

    rates: dict[str, float] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in Faults.names():
            raise UserError(f"--fault {pair!r}: write NAME=RATE with NAME one of {', '.join(Faults.names())}")
        try:
            rates[name] = float(raw)
        except ValueError:
            raise UserError(f"--fault {pair!r}: the rate must be a number between 0 and 1") from None
    try:
        return Faults(**rates)
    except ValueError as exc:
        raise UserError(f"--fault: {exc}") from None


def simulate_command(args: argparse.Namespace) -> int:
    from partnerops.evidence.simulate import agreements_from_database, agreements_from_sample, simulate
    from partnerops.settings import get_settings

    end = _date(args.end, "--end") if args.end else as_of_date.today() - timedelta(days=1)
    if args.start:
        start = _date(args.start, "--start")
    elif args.days >= 1:
        start = end - timedelta(days=args.days - 1)
    else:
        raise UserError(f"--days must be at least 1, got {args.days}")
    if start > end:
        raise UserError(f"--start {start} is after --end {end}")
    if args.scale < 0:
        raise UserError(f"--scale must be 0 or more, got {args.scale}")
    faults = _faults(args.fault)
    if args.sample:
        agreements, source = agreements_from_sample(), "the sample corpus"
    else:
        from partnerops.db import database_url

        agreements, source = agreements_from_database(database_url()), "the current agreements in the database"
        if not agreements:
            raise UserError("there are no agreements in the database: take some in with `partnerops intake`, "
                            "or simulate for the sample corpus with --sample")
    out = Path(args.out) if args.out else get_settings().evidence_inbox
    print(f"simulating {start}..{end} for {len(agreements)} agreements ({source}), seed {args.seed}, "
          f"scale {args.scale:g}, into {out}")

    def progress(day: date, report) -> None:
        print(f"  {day}: {sum(report.rows.values()):,} rows so far", flush=True)

    report = simulate(agreements, start=start, end=end, out=out, seed=args.seed, scale=args.scale,
                      faults=faults, progress=progress)
    print(report.summary())
    return EXIT_OK


def print_file(f: FileLoad) -> None:
    """What happened to one file: counts, what is wrong with the file, and its quarantined rows
    (`file:line: field: reason`, the first SHOWN_PROBLEMS, then the query that lists them all)."""
    dates = f" dates {f.min_business_date}..{f.max_business_date}" if f.min_business_date else ""
    already = f" ({f.rows_already_quarantined} already quarantined)" if f.rows_already_quarantined else ""
    print(f"{f.status:<9} {f.file}: {f.rows_in_file} rows, {f.rows_loaded} loaded, {f.rows_duplicate} duplicate, "
          f"{f.rows_quarantined} quarantined{already}{dates} (load {f.load_id}, {f.seconds:.2f} s)")
    if f.message:
        print(f"          {f.file}: {f.message}")
    for p in f.problems:
        before = f" (already quarantined by load {p.load_id})" if p.load_id not in (None, f.load_id) else ""
        print(f"          {f.file}:{p.line_no}: {p.field or '(line)'}: {p.reason}{before}")
    if f.rows_quarantined > len(f.problems):
        print(f"          ... and {f.rows_quarantined - len(f.problems)} more; all {f.rows_quarantined}: "
              f"{f.quarantine_query}")


def print_totals(report: LoadReport) -> None:
    for feed in FEED_NAMES:
        t = report.totals(feed)
        if t["files"]:
            print(f"  {feed:<20} {t['files']:>4} file(s) {t['rows_loaded']:>10,} loaded {t['rows_duplicate']:>8,} "
                  f"duplicate {t['rows_quarantined']:>6,} quarantined")


def load_command(args: argparse.Namespace) -> int:
    from partnerops.db import database_url
    from partnerops.evidence.load import load_files
    from partnerops.migrations import require_current

    url = database_url()
    require_current(url)
    report = load_files(args.paths, database_url=url, triggered_by="cli", progress=print_file)
    for line in report.skipped:
        print(f"skipped   {line}")
    print_totals(report)
    print(report.summary())
    # Bad input of any kind (a path not loaded, a file rejected, a row quarantined) exits non-zero.
    bad = report.skipped or any(f.status == "rejected" or f.rows_quarantined for f in report.files)
    return EXIT_PROBLEMS if bad else EXIT_OK
