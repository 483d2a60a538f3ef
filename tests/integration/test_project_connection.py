"""Every task finds the project database through the Airflow connection `partnerops_db`.

The shared runtime (`airflow_runtime`, `connection_in_metadata=True`) keeps the project
database only as that connection in Airflow's metadata database, as a deployment does: no
component has `PARTNEROPS_DATABASE_URL` or `AIRFLOW_CONN_PARTNEROPS_DB` in its environment.
The shared tracking run (Cosmos' dbt build through the connection's ProfileMapping, the
freshness gate, the docs) and the alerts run it started have written their results there.
"""

from __future__ import annotations

import psycopg2

from partnerops.airflow_runtime import AirflowRuntime


def test_the_components_know_the_project_database_only_as_the_connection(airflow_runtime: AirflowRuntime,
                                                                         tracking_project):
    env = airflow_runtime.env
    assert "PARTNEROPS_DATABASE_URL" not in env and "AIRFLOW_CONN_PARTNEROPS_DB" not in env
    conn = airflow_runtime.api("GET", "/connections/partnerops_db")
    assert conn["conn_type"] == "postgres"
    assert conn["schema"] == tracking_project.url.rsplit("/", 1)[1]


def test_every_task_of_the_tracking_and_alerts_runs_reached_that_database(tracked, tracking_project):
    assert tracked.run.state == "success", tracked.run.failed_tasks
    assert tracked.alerts_run["state"] == "success"
    assert tracked.as_of in [r["as_of"] for r in tracked.alerts_reports]
    with psycopg2.connect(tracking_project.url) as conn, conn.cursor() as cur:
        # dbt (Cosmos' profile from the connection) built the marts here, for the run's date
        cur.execute("select count(*) from marts.commitment_statuses where as_of_date = %s", (tracked.as_of,))
        assert cur.fetchone()[0] > 0
    conn.close()
