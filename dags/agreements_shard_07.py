"""
### Per-agreement DAGs, shard 07 of 16

One DAG per current agreement, `agreement__<id>`, generated from the registry snapshot that
intake writes (`var/registry/agreements.json`); this file builds the agreements whose DAG id
hashes to shard 07, so that parse time per file stays flat as agreements grow. Each DAG is
scheduled on the `partnerops.tracking` Asset and shows every commitment's status as of the
run's date (README, "Reading the per-agreement DAGs"). The work is in
`partnerops.agreement_dags`; Airflow reads the DAGs from this module's globals.
"""

from partnerops.agreement_dags import shard_dags

globals().update(shard_dags(__file__))
