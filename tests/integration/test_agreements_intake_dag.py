"""The agreements_intake DAG under the scheduler takes in the agreements inbox, then reports it unchanged.

The session's main job (`delivered` in conftest.py) runs intake on the inbox of sample
agreements, then once more on the same inbox: the second run takes in nothing, skips
publishing, and so emits no second `partnerops.agreements` Asset event (which would schedule
commitment tracking again).
"""

from __future__ import annotations

import pytest
from db_query import query

pytestmark = pytest.mark.integration


def test_intake_takes_in_the_inbox_then_reports_it_unchanged(delivered, tracking_project, airflow_runtime):
    files = delivered.agreement_files
    assert query(tracking_project.url, """select triggered_by, files_loaded, files_unchanged, files_quarantined
                                            from raw.intake_runs order by intake_run_id""") == [
        ("airflow", files, 0, 0), ("airflow", 0, files, 0)]
    assert delivered.second_intake_run.state == "success"
    assert delivered.second_intake_run.task_states == {"take_in_agreements": "success",
                                                       "any_agreement_changed": "success",
                                                       "publish_agreements": "skipped"}
    assert len(airflow_runtime.asset_events("partnerops.agreements")) == 1, \
        "an unchanged intake must not schedule commitment tracking again"
    assert query(tracking_project.url, """select count(*), count(*) filter (where is_current)
                                            from raw.agreement_versions""") == [(files, files)]
    assert len(delivered.entries) == files
