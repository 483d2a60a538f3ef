"""
### evidence_&lt;pillar&gt;: load the evidence feeds of one pillar (and orders)

Six DAGs come from this file, one per pillar of the agreements plus orders and attestations:

| DAG | feed | raw table |
|---|---|---|
| `evidence_orders` | orders | `raw.orders` |
| `evidence_logistics` | shipments | `raw.shipments` |
| `evidence_marketing` | campaign executions | `raw.campaign_executions` |
| `evidence_channel` | channel listings | `raw.channel_listings` |
| `evidence_data_operations` | data deliveries | `raw.data_deliveries` |
| `evidence_attestations` | attestations | `raw.attestations` |

**Triggered by** the clock, every hour: each run picks up the files of its feed in the evidence
inbox (`var/inbox/evidence/<feed>/`, named `<feed>_<delivery date>[.<part>].csv|jsonl`) that
have been delivered by today (ops clock, `partnerops.as_of`) and whose content was never loaded, and loads
them with `partnerops.evidence.load` (the same code as `partnerops load`): one transaction
per file, duplicates counted and never stored twice, bad rows quarantined with their line and
reason (`raw.evidence_quarantine`), counts per file in `raw.evidence_loads`.

A path in the inbox that cannot be loaded (a folder, a named pipe, an unreadable file) is
skipped and named by `check_<feed>_inbox`, which then fails, once the good files are in.

**Emits** the Asset `partnerops.evidence.<feed>` when at least one file was loaded, with
`files`, `rows_in_file`, `rows_loaded`, `rows_duplicate`, `rows_quarantined`,
`min_business_date`, `max_business_date` and `load_ids` in the event's extra; the
`commitment_tracking` DAG is scheduled on these Assets. With no new file the task is skipped
and no event is emitted.

A task that fails for good emails the on-call address (`PARTNEROPS_ONCALL_EMAIL`) and posts
to the alerts webhook (`partnerops.oncall`).

File formats: `docs/evidence-formats.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from partnerops import oncall
from partnerops.assets import EVIDENCE
from partnerops.settings import DAG_START_DATE, get_settings

#: DAG id -> (pillar tag, feeds it loads)
EVIDENCE_DAGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "evidence_orders": ("orders", ("orders",)),
    "evidence_logistics": ("logistics", ("shipments",)),
    "evidence_marketing": ("marketing", ("campaign_executions",)),
    "evidence_channel": ("channel", ("channel_listings",)),
    "evidence_data_operations": ("data_operations", ("data_deliveries",)),
    "evidence_attestations": ("attestations", ("attestations",)),
}


def _load_task(dag_id: str, feed: str):
    asset = EVIDENCE[feed]

    @task(task_id=f"load_{feed}", outlets=[asset])
    def load(*, outlet_events=None) -> dict:
        """Load the new files of the feed; the totals become the Asset event's extra."""
        from airflow.sdk.exceptions import AirflowSkipException

        from partnerops.evidence.load import load_delivered
        from partnerops.settings import LOADER_CONN_ID

        totals = load_delivered(feed, triggered_by=f"airflow:{dag_id}", conn_id=LOADER_CONN_ID)
        if totals["files"]:
            outlet_events[asset].extra = totals
        elif not totals["not_loaded"]:
            raise AirflowSkipException(f"no new {feed} files in the inbox")
        return totals

    @task(task_id=f"check_{feed}_inbox", retries=0)
    def check_inbox(totals: dict) -> None:
        """Fail (and tell the on-call address) when a path in the inbox could not be loaded."""
        from partnerops.evidence.load import raise_for_not_loaded

        raise_for_not_loaded(totals)

    check_inbox(load())


def _evidence_dag(dag_id: str, pillar: str, feeds: tuple[str, ...]) -> None:
    @dag(
        dag_id=dag_id,
        schedule="@hourly",
        start_date=DAG_START_DATE,
        catchup=False,
        max_active_runs=1,  # files of a feed load in delivery order, one run at a time
        default_args={"owner": "partnerops", "retries": 2,
                      "retry_delay": get_settings().timers.retry_delay(timedelta(minutes=5)),
                      "on_failure_callback": oncall.failure_callbacks()},
        tags=["partnerops", "evidence", pillar],
        doc_md=__doc__,
    )
    def evidence() -> None:
        for feed in feeds:
            _load_task(dag_id, feed)

    evidence()


for _dag_id, (_pillar, _feeds) in EVIDENCE_DAGS.items():
    _evidence_dag(_dag_id, _pillar, _feeds)
