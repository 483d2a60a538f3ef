"""SLA alerts: rules, routing, the exactly-once ledger, templates and channels (docs/alerts.md).

`run_alerts()` is the one entry point, used by `partnerops alerts` and the `sla_alerts` DAG.
"""

from partnerops.alerts.run import AlertRunReport, run_alerts

__all__ = ["AlertRunReport", "run_alerts"]
