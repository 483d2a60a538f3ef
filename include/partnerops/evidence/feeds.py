"""The evidence feeds, format v1: columns, natural keys, business dates and file names.

This module is the one place that says what a feed row is. The loader validates against it,
the simulator writes it, and `docs/evidence-formats.md` describes it. The raw tables are in
migration 0002; their column names are the field names here.

File names: `<feed>_<YYYY-MM-DD>[.<part>].csv|jsonl`, where the date is the delivery date. A
file delivered on date F arrived at 00:00 on F in the feed time zone (`settings.FEED_TIMEZONE`)
and holds what was known by the end of the day before; every row it brings in first records
that instant as `arrived_at`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from partnerops.settings import FEED_TIMEZONE

__all__ = ["BUSINESS_TZ", "FEEDS", "FEED_NAMES", "Column", "Feed", "FeedFile", "RowRule", "feed_file_name",
           "parse_feed_file_name"]

#: The feed time zone, as a tzinfo (`settings.FEED_TIMEZONE`).
BUSINESS_TZ = ZoneInfo(FEED_TIMEZONE)

Kind = Literal["id", "text", "timestamp", "date", "amount", "count", "currency", "enum"]

CHANNELS = ("online", "o2o_store", "outlet")
LIFECYCLES = ("new", "in_season", "off_season", "clearance")
CAMPAIGN_TYPES = ("new_product_launch", "super_brand_day", "celebrity", "brand_marketing", "traffic")
CAMPAIGN_STATUSES = ("completed", "cancelled")
DELIVERABLE_TYPES = ("prospect_segment", "monthly_data_report", "audience_sync")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = True
    values: tuple[str, ...] = ()  # for kind "enum"
    example: str = ""
    description: str = ""

    @property
    def sql_type(self) -> str:
        return {"timestamp": "timestamptz", "date": "date", "amount": "numeric(14, 2)",
                "count": "bigint"}.get(self.kind, "text")


@dataclass(frozen=True)
class RowRule:
    """A rule across fields, checked in the database on the staged rows of a file.

    `bad` is a SQL condition over the staging columns that is true for a row breaking the rule.
    """

    field: str
    bad: str
    reason: str = ""
    reason_sql: str = ""  # instead of `reason`: an SQL expression over the staging columns

    @property
    def reason_expr(self) -> str:
        """The reason as an SQL expression."""
        return self.reason_sql or "'" + self.reason.replace("'", "''") + "'"


@dataclass(frozen=True)
class Feed:
    name: str
    pillar: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    business_at: tuple[str, ...]  # the first of these timestamps that is set; its Shanghai date is business_date
    partitioned: bool = False
    rules: tuple[RowRule, ...] = ()
    default_format: Literal["csv", "jsonl"] = "jsonl"
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def business_at_sql(self) -> str:
        """`business_at` as SQL over the staging columns."""
        return self.business_at[0] if len(self.business_at) == 1 else f"coalesce({', '.join(self.business_at)})"


def _c(name: str, kind: Kind, required: bool = True, values: tuple[str, ...] = (), example: str = "",
       description: str = "") -> Column:
    return Column(name, kind, required, values, example, description)


def _later(field: str, earlier: str) -> RowRule:
    return RowRule(field, f"{field} < {earlier}", f"{field} is before {earlier}")


FEEDS: dict[str, Feed] = {
    f.name: f
    for f in (
        Feed(
            name="orders", pillar="channel", table="raw.orders", partitioned=True, default_format="csv",
            description="One row per order placed with a brand.",
            columns=(
                _c("order_id", "id", example="O20261111B0001000042"),
                _c("brand_id", "id", example="B0001"),
                _c("customer_id", "id", example="C000123456"),
                _c("ordered_at", "timestamp", example="2026-11-11T00:03:12+08:00"),
                _c("amount", "amount", example="329.00", description="order value, two decimals at most"),
                _c("currency", "currency", example="CNY", description="ISO 4217 code"),
                _c("channel", "enum", values=CHANNELS, example="online"),
                _c("product_lifecycle", "enum", values=LIFECYCLES, example="in_season"),
            ),
            key=("order_id",), business_at=("ordered_at",),
        ),
        Feed(
            name="shipments", pillar="logistics", table="raw.shipments", partitioned=True, default_format="csv",
            description="One row per shipped order, reported once the parcel was delivered "
                        "(or given up as lost, with delivered_at empty).",
            columns=(
                _c("order_id", "id", example="O20261111B0001000042"),
                _c("brand_id", "id", example="B0001"),
                _c("paid_at", "timestamp", example="2026-11-11T00:04:40+08:00"),
                _c("shipped_at", "timestamp", example="2026-11-12T09:30:00+08:00"),
                _c("delivered_at", "timestamp", required=False, example="2026-11-13T15:12:09+08:00"),
                _c("carrier", "id", example="SF"),
                _c("warehouse_id", "id", example="WH-HZ-03"),
            ),
            key=("order_id",), business_at=("paid_at",),
            rules=(_later("shipped_at", "paid_at"), _later("delivered_at", "shipped_at")),
        ),
        Feed(
            name="campaign_executions", pillar="marketing", table="raw.campaign_executions",
            description="One row per marketing campaign, reported once it ended or was cancelled.",
            columns=(
                _c("campaign_id", "id", example="CP-TM-2026-0001-traffic-03"),
                _c("brand_id", "id", example="B0001"),
                _c("campaign_type", "enum", values=CAMPAIGN_TYPES, example="traffic"),
                _c("planned_start_at", "timestamp", example="2026-11-01T00:00:00+08:00"),
                _c("planned_end_at", "timestamp", example="2026-11-03T23:59:59+08:00"),
                _c("actual_start_at", "timestamp", required=False, example="2026-11-01T00:00:00+08:00"),
                _c("actual_end_at", "timestamp", required=False, example="2026-11-03T23:59:59+08:00"),
                _c("reach", "count", required=False, example="1250000", description="people reached"),
                _c("status", "enum", values=CAMPAIGN_STATUSES, example="completed"),
            ),
            key=("campaign_id",), business_at=("actual_start_at", "planned_start_at"),
            rules=(
                _later("planned_end_at", "planned_start_at"),
                _later("actual_end_at", "actual_start_at"),
                RowRule("actual_start_at", "status = 'completed' and (actual_start_at is null "
                        "or actual_end_at is null)",
                        "a completed campaign needs actual_start_at and actual_end_at"),
            ),
        ),
        Feed(
            name="channel_listings", pillar="channel", table="raw.channel_listings",
            description="One row per listing of a collection or SKU in a channel and retail format.",
            columns=(
                _c("listing_id", "id", example="L-B0001-2026-0311-01"),
                _c("brand_id", "id", example="B0001"),
                _c("collection_id", "id", required=False, example="SS27"),
                _c("sku_id", "id", required=False, example="SKU-B0001-88412"),
                _c("retail_format", "enum", values=LIFECYCLES, example="new"),
                _c("channel", "enum", values=CHANNELS, example="online"),
                _c("listed_at", "timestamp", example="2026-03-01T10:00:00+08:00"),
                _c("delisted_at", "timestamp", required=False, example=""),
            ),
            key=("listing_id",), business_at=("listed_at",),
            rules=(
                _later("delisted_at", "listed_at"),
                RowRule("collection_id", "collection_id is null and sku_id is null",
                        "a listing needs a collection_id or a sku_id"),
            ),
        ),
        Feed(
            name="data_deliveries", pillar="data_operations", table="raw.data_deliveries",
            description="One row per data deliverable handed over to a brand, per period.",
            columns=(
                _c("brand_id", "id", example="B0001"),
                _c("deliverable_type", "enum", values=DELIVERABLE_TYPES, example="monthly_data_report"),
                _c("period_start_date", "date", example="2026-10-01"),
                _c("period_end_date", "date", example="2026-10-31"),
                _c("delivered_at", "timestamp", example="2026-11-05T16:20:00+08:00"),
                _c("records_delivered", "count", example="184220"),
            ),
            key=("brand_id", "deliverable_type", "period_start_date"), business_at=("delivered_at",),
            rules=(_later("period_end_date", "period_start_date"),),
        ),
        Feed(
            name="attestations", pillar="any", table="raw.attestations",
            description="One row per attestation that a commitment no system records was delivered.",
            columns=(
                _c("agreement_id", "id", example="TM-2026-0001"),
                _c("commitment_id", "id", example="service-innovation-pilot"),
                _c("attested_by", "id", example="li.na@partners.example.com"),
                _c("attested_at", "timestamp", example="2026-06-30T18:00:00+08:00"),
                _c("note", "text", required=False, example="Pilot store opened; photos in the shared folder."),
                _c("reference", "text", required=False, example="OA-2026-0815"),
            ),
            key=("agreement_id", "commitment_id", "attested_by", "attested_at"), business_at=("attested_at",),
        ),
    )
}
FEED_NAMES: tuple[str, ...] = tuple(FEEDS)

_FILE_NAME = re.compile(
    r"(?P<feed>[a-z_]+?)_(?P<date>\d{4}-\d{2}-\d{2})(?:\.(?P<part>[A-Za-z0-9_-]+))?\.(?P<format>csv|jsonl)"
)
FILE_NAME_HELP = ("name feed files <feed>_<YYYY-MM-DD>[.<part>].csv or .jsonl, where the date is the "
                  f"delivery date and the feed one of {', '.join(FEED_NAMES)} (e.g. orders_2026-11-12.csv)")


@dataclass(frozen=True)
class FeedFile:
    path: Path
    feed: Feed
    delivery_date: date
    part: str | None
    format: Literal["csv", "jsonl"]

    @property
    def arrived_at(self) -> datetime:
        """00:00 on the delivery date, in the feed time zone."""
        return datetime.combine(self.delivery_date, time(0), BUSINESS_TZ)


def parse_feed_file_name(path: Path) -> FeedFile | None:
    """The feed, delivery date and format a file name declares, or None if it follows no convention."""
    m = _FILE_NAME.fullmatch(path.name)
    if not m or m["feed"] not in FEEDS:
        return None
    try:
        delivered = date.fromisoformat(m["date"])
    except ValueError:
        return None
    return FeedFile(path, FEEDS[m["feed"]], delivered, m["part"], m["format"])  # type: ignore[arg-type]


def feed_file_name(feed: str, delivery_date: date, part: str | None = None, fmt: str | None = None) -> str:
    """The file name for a feed file; the inverse of `parse_feed_file_name`."""
    fmt = fmt or FEEDS[feed].default_format
    return f"{feed}_{delivery_date.isoformat()}{'.' + part if part else ''}.{fmt}"
