"""The `partnerops` command.

Each subcommand is a thin shell over a function in the package. Problems a user can fix
(`UserError`) print as one plain message and exit 1; bad input never shows a traceback.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from partnerops.errors import UserError
from partnerops.settings import FEED_TIMEZONE

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _cmd_validate(args: argparse.Namespace) -> int:
    from partnerops.agreements.validate import check_paths

    results = check_paths(args.paths)
    problems = [p for r in results for p in r.problems]
    for problem in problems:
        print(problem)
    bad = sum(1 for r in results if r.problems)
    print(f"{len(results)} file(s) checked: {len(results) - bad} valid, {bad} with problems"
          + (f" ({len(problems)} problem(s))" if problems else ""))
    return EXIT_PROBLEMS if bad else EXIT_OK


def _cmd_intake(args: argparse.Namespace) -> int:
    from partnerops.calendar import ensure_calendar
    from partnerops.db import database_url
    from partnerops.intake import run_intake
    from partnerops.migrations import require_current

    url = database_url()
    require_current(url)
    report = run_intake(args.paths, database_url=url, triggered_by="cli")
    ensure_calendar(url)  # business days for the years of the terms just taken in
    for f in report.files:
        label = f"{f.agreement_id} v{f.version} ({f.brand_name})" if f.agreement_id else ""
        print(f"{f.outcome:<11} {f.file} {label}".rstrip())
        for p in f.problems:
            print(f"            {p}")
    print(report.summary())
    print(f"registry snapshot: {report.registry_path}" + ("" if report.registry_changed else " (unchanged)"))
    return EXIT_PROBLEMS if report.count("quarantined") else EXIT_OK


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from partnerops.calendar import ensure_calendar
    from partnerops.db import database_url, describe
    from partnerops.migrations import current_revision, upgrade

    url = database_url()
    upgrade(url)
    print(f"database {describe(url)} is at revision {current_revision(url)}")
    from partnerops.roles import sync_role_logins

    for change in sync_role_logins(url):
        print(change.message)
    filled = ensure_calendar(url)
    if filled:
        print(f"business calendar filled for {', '.join(map(str, filled))}")
    from partnerops.evidence.load import prepare_partitions

    created = prepare_partitions(url)
    if created:
        print(f"{len(created)} monthly evidence partition(s) created for the agreements' plausible dates")
    return EXIT_OK


def _cmd_archive(args: argparse.Namespace) -> int:
    from partnerops.db import database_url
    from partnerops.evidence.retention import archive_evidence, kept_until
    from partnerops.migrations import upgrade
    from partnerops.settings import get_settings

    settings = get_settings()
    if settings.retention_margin_days is None:
        print("retention is off (PARTNEROPS_RETENTION_MARGIN_DAYS=off): nothing archived")
        return EXIT_OK
    today = datetime.date.fromisoformat(args.today) if args.today else None
    url = database_url()
    upgrade(url)
    archived = archive_evidence(url, today=today, dry_run=args.dry_run)
    for a in archived:
        kept = kept_until(a.month, settings.retention_margin_days)
        if args.dry_run:
            print(f"due       {a.partition} ({a.table}, {a.month:%Y-%m}, kept until {kept})")
        else:
            print(f"archived  {a.partition} ({a.rows:,} rows) -> {a.path}")
    if not archived:
        print(f"nothing to archive (margin {settings.retention_margin_days} days)")
    return EXIT_OK


def _cmd_calendar(args: argparse.Namespace) -> int:
    from partnerops.calendar import calendar_days, fill_calendar, parse_years
    from partnerops.db import database_url
    from partnerops.migrations import require_current

    years = parse_years(args.years)
    url = database_url()
    require_current(url)
    written = fill_calendar(url, years)
    days = calendar_days(years)
    for year in years:
        of_year = [d for d in days if d.calendar_date.year == year]
        working = sum(d.is_working_day for d in of_year)
        makeup = sum(d.is_makeup_working_day for d in of_year)
        note = "provisional (official schedule not published yet)" if of_year[0].is_provisional else "official"
        print(f"{year}: {working} working days, {makeup} make-up working day(s), {note}")
    print(f"{written} day(s) written to raw.business_calendar")
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from datetime import date

    from partnerops.db import database_url
    from partnerops.status import fetch_statuses, render

    try:
        as_of = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        raise UserError(f"--as-of {args.as_of!r} is not a date; write YYYY-MM-DD") from None
    url = database_url()
    if args.refresh:
        from partnerops import as_of as as_of_date
        from partnerops.dbt import run_dbt

        as_of = as_of or as_of_date.today()
        run_dbt(["build", "--quiet"], as_of=as_of, url=url)
    report = fetch_statuses(url, as_of=as_of, agreement_id=args.agreement, include_superseded=args.all)
    print(render(report, args.format))
    return EXIT_OK


def _cmd_db_grant_reporting(args: argparse.Namespace) -> int:
    from partnerops.db import database_url
    from partnerops.roles import grant_reporting_login

    print(grant_reporting_login(database_url(), args.login, account_manager=args.account_manager,
                                group_id=args.group))
    return EXIT_OK


def _cmd_db_url(args: argparse.Namespace) -> int:
    from partnerops.db import database_url

    print(database_url())
    return EXIT_OK


def _cmd_sample_agreements(args: argparse.Namespace) -> int:
    from partnerops.agreements.sample import write_sample_corpus

    written = write_sample_corpus(
        Path(args.out), brands=args.brands, groups=args.groups, seed=args.seed, year=args.year
    )
    print(f"wrote {len(written)} agreement file(s) to {args.out}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from partnerops.demo import run_demo

    return run_demo(full_scale=args.full_scale)


def _cmd_bench_warning(args: argparse.Namespace) -> int:
    from partnerops.warning_bench import render_table, run_bench_warning

    if args.brands < 1 or args.scale <= 0:
        raise UserError("--brands must be at least 1 and --scale more than 0")
    shares = tuple(float(s) for s in args.shares.split(",")) if args.shares else None
    if shares is not None and not all(0 < s <= 1 for s in shares):
        raise UserError(f"--shares must be shares of the window between 0 and 1, got {args.shares}")
    result = run_bench_warning(brands=args.brands, scale=args.scale, **({"shares": shares} if shares else {}),
                               workdir=Path(args.workdir) if args.workdir else None, database=args.database)
    print(render_table(result.figures, result.built_share))
    print(f"best warning point: {result.best:g} of the window (highest F1 of the misses flagged ahead and the "
          f"precision); the mart was built at {result.built_share:g}, the default")
    return EXIT_OK


def _cmd_bench_year(args: argparse.Namespace) -> int:
    from partnerops.year_bench import render_table, run_bench_year

    if args.scale <= 0 or args.chunk_days < 1 or args.build_every_days < 1:
        raise UserError("--scale must be more than 0, --chunk-days and --build-every-days at least 1")
    try:
        result = run_bench_year(scale=args.scale, year=args.year, daily_days=args.daily_days,
                                chunk_days=args.chunk_days, build_every_days=args.build_every_days,
                                workdir=Path(args.workdir) if args.workdir else None,
                                keep_database=args.keep_database)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print()
    print(render_table(result))
    return EXIT_OK


def _cmd_simulate(args: argparse.Namespace) -> int:
    from partnerops.evidence.cli import simulate_command

    return simulate_command(args)


def _cmd_load(args: argparse.Namespace) -> int:
    from partnerops.evidence.cli import load_command

    return load_command(args)


def _cmd_airflow(args: argparse.Namespace) -> int:
    """Run the Airflow CLI with the project's Airflow configuration."""
    import shutil

    from partnerops.db import database_url
    from partnerops.settings import airflow_environ, get_settings

    settings = get_settings()
    env = {**airflow_environ(settings, database_url(settings)), **os.environ}
    airflow = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    os.execvpe(airflow, [airflow, *args.airflow_args], env)
    return EXIT_OK  # not reached


def _cmd_serve(args: argparse.Namespace) -> int:
    from partnerops.airflow_runtime import serve

    return serve(port=args.port)


def _cmd_admin_password(args: argparse.Namespace) -> int:
    from partnerops.airflow_runtime import ensure_admin_password
    from partnerops.settings import AIRFLOW_ADMIN_USER, FAB_AUTH_MANAGER, get_settings

    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
    if not password.strip():
        raise UserError("AIRFLOW_ADMIN_PASSWORD is not set; set it to the Airflow UI password of "
                        f"`{AIRFLOW_ADMIN_USER}` (see .env.example)")
    if os.environ.get("AIRFLOW__CORE__AUTH_MANAGER") == FAB_AUTH_MANAGER:
        from partnerops.people import set_fab_admin_password

        created = set_fab_admin_password(AIRFLOW_ADMIN_USER, password)
        print(f"Airflow UI login `{AIRFLOW_ADMIN_USER}` (FAB, role Admin) {'created' if created else 'set'}")
        return EXIT_OK
    settings = get_settings()
    ensure_admin_password(settings, password)
    print(f"Airflow UI login `{AIRFLOW_ADMIN_USER}` set in {settings.airflow_passwords_file}")
    return EXIT_OK


def _cmd_users_sync(args: argparse.Namespace) -> int:
    from partnerops.people import fab_in_use, read_people_file, sync_fab
    from partnerops.registry import read_registry
    from partnerops.settings import get_settings

    people = read_people_file(args.people_file)  # a bad file stops here, before Airflow is touched
    if not fab_in_use():
        raise UserError("`users sync` writes the people into the FAB auth manager, and Airflow's configuration "
                        "names another (AIRFLOW__CORE__AUTH_MANAGER); run it where the deployment runs "
                        "(docker-compose.yml). `make serve` gives every account manager a login by itself.")
    settings = get_settings()
    entries = read_registry(settings.registry_path)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        report = sync_fab(people, entries, data_dir=settings.data_dir, passwords_path=settings.airflow_passwords_file)
    except SQLAlchemyError as exc:  # the metadata database unreachable or not migrated
        raise UserError(f"Airflow's metadata database: {str(exc).splitlines()[0]} (run `airflow db migrate` "
                        "first, with AIRFLOW__DATABASE__SQL_ALCHEMY_CONN set)") from None
    print(f"{args.people_file}: {len(people.people)} people; {len(entries)} agreement(s) in the registry")
    for line in report.lines():
        print(line)
    return EXIT_OK


def _cmd_dbt_manifest(args: argparse.Namespace) -> int:
    from partnerops.tracking import build_manifest

    print(f"dbt manifest: {build_manifest()}")
    return EXIT_OK


def _cmd_alerts(args: argparse.Namespace) -> int:
    from partnerops.alerts.cli import alerts_command

    return alerts_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partnerops",
        description="Partnership operations: agreements, commitments, evidence and SLA alerts.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("validate", _cmd_validate, "Check agreement files and folders against format v1.")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = add("intake", _cmd_intake, "Validate and take agreement files into the database.")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = add("db", lambda a: EXIT_USAGE, "Manage the project database.")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbsub.add_parser("upgrade", help="Apply the schema migrations.").set_defaults(func=_cmd_db_upgrade)
    grant = dbsub.add_parser("grant-reporting", help="Let a database login read the marts of one account manager's "
                                                     "or one group's agreements (row-level security).")
    grant.add_argument("login", help="an existing database login (create role ... login password ...)")
    scope = grant.add_mutually_exclusive_group(required=True)
    scope.add_argument("--account-manager", metavar="EMAIL", help="the account manager's email, as in the agreements")
    scope.add_argument("--group", metavar="GROUP_ID", help="the group's id, as in the agreements")
    grant.set_defaults(func=_cmd_db_grant_reporting)
    dbsub.add_parser("url", help="Print the database URL (starts the embedded server if needed).").set_defaults(
        func=_cmd_db_url
    )

    p = add("sample-agreements", _cmd_sample_agreements, "Write a deterministic sample corpus of agreements.")
    p.add_argument("--brands", type=int, default=160)
    p.add_argument("--groups", type=int, default=110)
    p.add_argument("--seed", type=int, default=2015)
    p.add_argument("--year", type=int, default=2026, help="calendar year of the one-year terms")
    p.add_argument("--out", required=True, metavar="DIR")

    p = add("simulate", _cmd_simulate, "Write realistic evidence feed files (deterministic for a seed).")
    p.add_argument("--start", metavar="YYYY-MM-DD", help="first business date (default: --days before --end)")
    p.add_argument("--end", metavar="YYYY-MM-DD", help=f"last business date (default: yesterday, {FEED_TIMEZONE})")
    p.add_argument("--days", type=int, default=1, help="number of days when --start is not given (default 1)")
    p.add_argument("--sample", action="store_true",
                   help="simulate for the sample corpus instead of the agreements in the database")
    p.add_argument("--seed", type=int, default=2015)
    p.add_argument("--scale", type=float, default=1.0,
                   help="order volume as a fraction of the reference 300,000 orders a day (default 1)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=RATE",
                   help="set a fault rate, e.g. late_shipment=0.08 (repeatable; see docs/evidence-formats.md)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: the evidence inbox)")

    p = add("load", _cmd_load, "Load evidence feed files (or folders of them) into the raw tables.")
    p.add_argument("paths", nargs="+", metavar="PATH")

    p = add("demo", _cmd_demo, "Run the main job end to end on the embedded (or configured) database.")
    p.add_argument("--full-scale", action="store_true", help="use the reference scenario's full volume")

    p = add("bench-warning", _cmd_bench_warning,
            "Replay a simulated year as of each day and measure the early warning against the ground truth.")
    p.add_argument("--brands", type=int, default=40, help="sample agreements (default 40)")
    p.add_argument("--scale", type=float, default=0.002,
                   help="order volume as a fraction of the reference 300,000 orders a day (default 0.002)")
    p.add_argument("--shares", metavar="S,S,...", help="warning points to compare (default 0.5,0.75,0.85,0.95)")
    p.add_argument("--workdir", metavar="DIR", help="keep the simulated files here (resumable; default: temporary)")
    p.add_argument("--database", metavar="NAME",
                   help="use (or create) this database on the server and keep it (resumable; default: throwaway)")

    p = add("bench-year", _cmd_bench_year,
            "Simulate, load and track the reference year (scale 1: about 220 M rows) with daily runs at the end.")
    p.add_argument("--scale", type=float, default=1.0,
                   help="order volume as a fraction of the reference 300,000 orders a day (default 1)")
    p.add_argument("--year", type=int, default=2026, help="the business year (default 2026, the sample terms')")
    p.add_argument("--daily-days", type=int, default=30, help="last days tracked one day at a time (default 30)")
    p.add_argument("--chunk-days", type=int, default=7, help="days simulated and loaded at a time before (default 7)")
    p.add_argument("--build-every-days", type=int, default=28,
                   help="days between the builds before the daily ones (default 28)")
    p.add_argument("--workdir", metavar="DIR", help="where the files and archives go (default: temporary, removed)")
    p.add_argument("--keep-database", action="store_true", help="keep the database (its name is printed)")

    p = add("archive", _cmd_archive,
            "Archive raw order and shipment months past retention as .csv.gz files (docs/deploy.md, Retention).")
    p.add_argument("--dry-run", action="store_true", help="only list the partitions due")
    p.add_argument("--today", metavar="YYYY-MM-DD", help=argparse.SUPPRESS)

    p = add("calendar", _cmd_calendar, "Fill the business calendar (China, with make-up working days).")
    p.add_argument("--years", required=True, help="e.g. 2026, 2025-2027 or 2025,2027")

    p = add("status", _cmd_status, "Print commitment statuses as of a date, from the dbt marts.")
    p.add_argument("--as-of", metavar="DATE",
                   help="YYYY-MM-DD (default: the latest date computed; with --refresh, today)")
    p.add_argument("--agreement", metavar="ID", help="only this agreement, e.g. TM-2026-0001")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--all", action="store_true", help="include instances superseded by an amendment")
    p.add_argument("--refresh", action="store_true", help="run `dbt build` for the date first")

    p = add("airflow", _cmd_airflow, "Run the Airflow CLI with the project's configuration.")
    p.add_argument("airflow_args", nargs=argparse.REMAINDER)

    p = add("serve", _cmd_serve, "Start Airflow (UI, scheduler, ...) on the project database until Ctrl-C.")
    p.add_argument("--port", type=int, default=8080, help="port of the UI and API (default 8080)")

    add("admin-password", _cmd_admin_password,
        "Set the Airflow UI login of `admin` (simple auth manager) from AIRFLOW_ADMIN_PASSWORD.")

    p = add("users", lambda a: EXIT_USAGE, "Manage the people who use the Airflow UI (FAB auth manager).")
    usersub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = usersub.add_parser("sync", help="Generate the people file into FAB: roles, users, per-DAG permissions "
                                        "(README, Security).")
    p.add_argument("people_file", metavar="PEOPLE_FILE", help="e.g. examples/people.yaml")
    p.set_defaults(func=_cmd_users_sync)

    add("dbt-manifest", _cmd_dbt_manifest, "Write the dbt manifest the commitment_tracking DAG renders from.")

    p = add("alerts", _cmd_alerts, "Raise and send the SLA alerts for an as-of date (see docs/alerts.md).")
    p.add_argument("--as-of", metavar="DATE", help=f"YYYY-MM-DD (default: today, {FEED_TIMEZONE})")
    p.add_argument("--dry-run", action="store_true", help="print what would be sent; record and send nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
