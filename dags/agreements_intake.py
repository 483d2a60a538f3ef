"""
### Agreements intake

Takes signed agreement documents (YAML, format v1; see `docs/agreement-format.md`) from
the agreements inbox (`PARTNEROPS_AGREEMENTS_INBOX`, default `var/inbox/agreements`) into
the raw tables, every 15 minutes.

- **take_in_agreements**: validates every file and upserts new agreement versions. Each
  file ends *loaded*, *unchanged* (same content as before) or *quarantined* (reasons in
  `raw.quarantine_reasons`, a copy set aside under `var/quarantine/`). One bad file never
  blocks the others; re-running changes nothing. Also refreshes the registry snapshot
  that the per-agreement DAGs are generated from.
- **any_agreement_changed**: skips the rest when nothing new was loaded.
- **publish_agreements**: emits the `partnerops.agreements` Asset, which schedules
  commitment tracking. The event's extra lists the changed agreements.

A task that fails for good emails the on-call address (`PARTNEROPS_ONCALL_EMAIL`) and posts
to the alerts webhook (`partnerops.oncall`).

Same work as `partnerops intake PATH...` on the command line.
"""

from datetime import timedelta

from airflow.sdk import dag, task

from partnerops import oncall
from partnerops.assets import AGREEMENTS
from partnerops.settings import DAG_START_DATE, get_settings


@dag(
    schedule=timedelta(minutes=15),
    start_date=DAG_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": get_settings().timers.retry_delay(timedelta(minutes=1)),
                  "on_failure_callback": oncall.failure_callbacks()},
    tags=["partnerops", "intake", "agreements"],
    doc_md=__doc__,
)
def agreements_intake():
    @task
    def take_in_agreements() -> dict:
        from partnerops.intake import intake_inbox
        from partnerops.settings import LOADER_CONN_ID

        return intake_inbox(triggered_by="airflow", conn_id=LOADER_CONN_ID).as_dict()

    @task.short_circuit
    def any_agreement_changed(report: dict) -> bool:
        return bool(report["changed_agreements"])

    @task(outlets=[AGREEMENTS])
    def publish_agreements(report: dict, *, outlet_events=None) -> None:
        outlet_events[AGREEMENTS].extra = {
            "changed_agreements": report["changed_agreements"],
            "loaded": report["loaded"],
        }

    report = take_in_agreements()
    any_agreement_changed(report) >> publish_agreements(report)


agreements_intake()
