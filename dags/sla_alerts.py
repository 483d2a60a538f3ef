"""
### sla_alerts

Sends the SLA alerts for the commitment statuses that commitment tracking just computed:
to the agreement's account manager, escalating to the escalation contacts, by email (the
SMTP provider, connection `partnerops_smtp` from `PARTNEROPS_SMTP_URL`) and/or a
Slack-compatible webhook (`PARTNEROPS_ALERTS_WEBHOOK_URL`). Rules, routing and settings:
`docs/alerts.md`.

**Triggered by** the Asset `partnerops.tracking` (the status mart is fresh for an as-of
date). Each event's `as_of` is handled; a run started by hand uses `conf["as_of"]`, else
its own date on the ops clock (`partnerops.as_of`).

**Exactly once**: every alert has a key (agreement, commitment, instance, rule) recorded in
`raw.alerts`, and every delivery attempt in `raw.alert_deliveries`. Re-running, clearing or
retrying this task, and backfilling earlier dates, never sends an alert twice; a refused
delivery is retried on the next run. With no channel configured the run is a dry run.

A task that fails for good emails the on-call address (`PARTNEROPS_ONCALL_EMAIL`) and posts
to the alerts webhook (`partnerops.oncall`).

Same work as `partnerops alerts --as-of DATE` on the command line.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from partnerops import oncall
from partnerops.assets import TRACKING
from partnerops.settings import DAG_START_DATE, get_settings


@dag(
    schedule=[TRACKING],
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": get_settings().timers.retry_delay(timedelta(minutes=5)),
                  "on_failure_callback": oncall.failure_callbacks()},
    tags=["partnerops", "alerts", "sla"],
    doc_md=__doc__,
)
def sla_alerts():
    @task
    def send_alerts(*, triggering_asset_events=None, dag_run=None) -> list[dict]:
        from partnerops.alerts.run import alerts_for_dag_run
        from partnerops.settings import ALERTS_CONN_ID

        return alerts_for_dag_run(triggering_asset_events, dag_run, conn_id=ALERTS_CONN_ID)

    send_alerts()


sla_alerts()
