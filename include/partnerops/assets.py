"""The Airflow Assets that connect the DAGs: each is produced by one DAG and scheduled on by others.

Data flows one way: agreements and evidence feeds -> raw tables -> dbt marts -> alerts / UI.
Import assets from here; never spell an asset's name or URI twice.
"""

from airflow.sdk import Asset

#: Current agreements changed (intake loaded at least one new version).
AGREEMENTS = Asset(name="partnerops.agreements", uri="partnerops://raw/agreements", group="partnerops")

#: Evidence of delivery loaded for one feed; the event's extra holds the date range and counts.
EVIDENCE_FEEDS = ("orders", "shipments", "campaign_executions", "channel_listings", "data_deliveries",
                  "attestations")
EVIDENCE = {
    feed: Asset(name=f"partnerops.evidence.{feed}", uri=f"partnerops://raw/{feed}", group="partnerops")
    for feed in EVIDENCE_FEEDS
}

#: The commitment-tracking marts are fresh for an as-of date.
TRACKING = Asset(name="partnerops.tracking", uri="partnerops://marts/commitment_status", group="partnerops")
