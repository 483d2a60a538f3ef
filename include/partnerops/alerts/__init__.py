"""SLA alerts: rules, routing, the exactly-once ledger, templates and channels (docs/alerts.md).

`run_alerts()` is the one entry point, used by `partnerops alerts` and the `sla_alerts` DAG.
`verify_webhook()` is the check a receiver makes on a signed webhook post (`signing.py`).
"""

from partnerops.alerts.run import AlertRunReport, run_alerts
from partnerops.alerts.signing import InvalidSignature
from partnerops.alerts.signing import verify as verify_webhook

__all__ = ["AlertRunReport", "InvalidSignature", "run_alerts", "verify_webhook"]
