"""`partnerops alerts` and the alert lines of `make demo`: run, then print what happened."""

from __future__ import annotations

import argparse
from datetime import date

from partnerops.alerts.messages import render_email
from partnerops.alerts.rules import rule_order
from partnerops.alerts.run import AlertRunReport, run_alerts
from partnerops.errors import UserError


def alerts_command(args: argparse.Namespace) -> int:
    from partnerops.db import database_url
    from partnerops.migrations import require_current

    as_of = _parse_date(args.as_of) if args.as_of else None
    url = database_url()
    require_current(url)
    report = run_alerts(url, as_of, dry_run=args.dry_run)
    print_report(report)
    return 0


def print_report(report: AlertRunReport, *, examples: int = 5) -> None:
    """Counts by rule, then a few examples with their recipients and subject."""
    print(report.summary())
    for rule in sorted(report.raised, key=rule_order):
        if report.raised[rule]:
            print(f"  {rule:<19} {report.raised[rule]:>6}")
    if report.examples:
        print("would be sent, for example:" if report.dry_run else "raised, for example:")
    for p in report.examples[:examples]:
        to = ", ".join(f"{t.recipient} ({t.channel})" for t in p.targets) or "(no channel configured)"
        print(f"  [{p.rule}] {' / '.join(p.key[:3])}\n      to: {to}\n      subject: {render_email(p.payload).subject}")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--as-of {text!r} is not a date; write it as YYYY-MM-DD") from None
