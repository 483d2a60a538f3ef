"""A deterministic simulator of the evidence feeds, for agreements in the database or the sample set.

`simulate()` writes, for every business date D of a range, the feed files that carry D's rows:

- **orders** and **shipments** at marketplace volume: about 300,000 orders on an ordinary day at
  `scale=1` across the brands (the reference scenario), shared by brand size (a few large brands
  carry most of it), with 618 and Double 11 peaks, a Chinese New Year dip, an evening rush and a
  midnight spike on the big days. Shipments are reported the day after the parcel arrived.
- **campaign executions, channel listings, data deliveries and attestations** from the agreements'
  commitments: each commitment's `evidence.type` and `evidence.match` say which rows prove it,
  and its due date, recurrence or quota say when. Most are on time; `Faults` sets how many are
  missed or late. Brands also list collections and SKUs of their own, proving nothing in particular.

File layout: `<out>/<feed>/<feed>_<F>.from-<D>.<csv|jsonl>`, where F is the delivery date and D
the business date of the rows. A business date's rows normally arrive the next day; rows that
arrive late, and rows delivered again, come in a later file of the same D. Every file of D is
written while D is simulated, so a range can be simulated in pieces and gives the same bytes.

Determinism: every random choice comes from a generator seeded by (seed, date or agreement,
stream), never from the range or the order of calls, so the same seed gives byte-identical files.
Streaming: rows are written as they are made, one hour of one brand at a time.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

import holidays

from partnerops.agreements.model import Agreement, Commitment, agreement_from_document
from partnerops.evidence.feeds import FEEDS, feed_file_name
from partnerops.evidence.ground_truth import Occasion, ThresholdTerms, ground_truth_rows, write_ground_truth

__all__ = ["Faults", "SimulationReport", "agreements_from_database", "agreements_from_sample",
           "reference_orders_per_day", "season_factor", "simulate"]

log = logging.getLogger(__name__)

REFERENCE_ORDERS_PER_DAY = 300_000
REFERENCE_BRANDS = 160
CURRENCY = "CNY"
TZ_SUFFIX = "+08:00"
_DAY = 86_400
_HMS = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(_DAY)]
_LOOKUP = 1000  # resolution of the per-brand choice tables


@dataclass(frozen=True)
class Faults:
    """Fault rates, each a share between 0 and 1.

    late_shipment: orders shipped more than 48 h after payment (brands differ; the volume-weighted
    mean is this rate, plus a slowdown around the Spring Festival).
    missed_campaign / late_campaign: committed campaigns that never ran (cancelled or never
    reported) / that started after their due date and grace.
    missing_data_report / late_data_report: committed data deliveries never made / made after due.
    missed_listing / late_listing: committed listings never made / made after due.
    missed_attestation: attestations never filed.
    duplicate_row: rows delivered twice (half in the same file, half again in a later one).
    late_row: rows that arrive 2-6 days late, in a later file.
    malformed_row: rows corrupted in transit (bad value, empty field, broken line).
    """

    late_shipment: float = 0.04
    missed_campaign: float = 0.05
    late_campaign: float = 0.10
    missing_data_report: float = 0.05
    late_data_report: float = 0.10
    missed_listing: float = 0.03
    late_listing: float = 0.10
    missed_attestation: float = 0.05
    duplicate_row: float = 0.002
    late_row: float = 0.001
    malformed_row: float = 0.0005

    def __post_init__(self) -> None:
        for f in fields(self):
            rate = getattr(self, f.name)
            if not 0 <= rate <= 1:
                raise ValueError(f"fault rate {f.name} must be between 0 and 1, got {rate}")
        if self.duplicate_row + self.late_row + self.malformed_row > 1:
            raise ValueError("duplicate_row + late_row + malformed_row must not exceed 1")

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass
class SimulationReport:
    start: date
    end: date
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # rows written per feed
    # per (brand, order date): orders made, shipped after 48 h, taken in O2O stores (the ground truth)
    daily: dict[tuple[str, date], list[int]] = field(default_factory=dict)
    ground_truth: Path | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        days = (self.end - self.start).days + 1
        per_feed = ", ".join(f"{feed} {n:,}" for feed, n in self.rows.items())
        return (f"{days} day(s) {self.start}..{self.end}: {len(self.files)} files, rows: {per_feed} "
                f"({self.seconds:.1f} s)")


# -- agreements -------------------------------------------------------------------------------------


def agreements_from_sample(**kwargs: Any) -> list[Agreement]:
    """The sample corpus (`partnerops.agreements.sample`), as typed agreements."""
    from partnerops.agreements.sample import sample_documents

    return [agreement_from_document(doc) for doc in sample_documents(**kwargs)]


def agreements_from_database(database_url: str) -> list[Agreement]:
    """The current version of every agreement in `raw.agreement_versions`."""
    from partnerops.db import connect

    with connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("select document from raw.agreement_versions where is_current order by agreement_id")
        return [agreement_from_document(doc) for (doc,) in cur.fetchall()]


# -- the calendar of demand ------------------------------------------------------------------------


@cache
def _spring_festival(year: int) -> date:
    cn = holidays.China(years=year)
    return min(d for d, name in cn.items() if "Spring Festival" in name)


@cache
def _is_working_day(day: date) -> bool:
    cn = holidays.China(years=day.year)
    return day in cn.weekend_workdays or (day.weekday() < 5 and day not in cn)


def _add_working_days(day: date, n: int) -> date:
    while n > 0:
        day += timedelta(days=1)
        n -= _is_working_day(day)
    return day


def season_factor(day: date) -> float:
    """Order volume on `day` relative to an ordinary weekday."""
    factor = 1.1 if day.weekday() >= 5 else 1.0
    m, d = day.month, day.day
    if m == 6 and d <= 20:  # 618: a pre-sale ramp, the day itself, and the tail
        factor *= {18: 3.5, 17: 1.8, 19: 1.3, 20: 1.1}.get(d, 1.2 + 0.04 * d)
    elif (m, d) == (11, 11):
        factor *= 8.0
    elif m == 11 and d <= 13:
        factor *= {10: 1.8, 12: 1.6, 13: 1.2}.get(d, 1.4)
    elif m == 10 and d >= 20:  # Double 11 pre-sale
        factor *= 1.25
    elif (m, d) == (12, 12):
        factor *= 2.0
    elif (m, d) == (3, 8):
        factor *= 1.5
    offset = (day - _spring_festival(day.year)).days
    if abs(offset) > 200:  # a January date may sit near the next or the previous year's festival
        offset = (day - _spring_festival(day.year + (1 if offset < 0 else -1))).days
    if -7 <= offset <= 6:
        factor *= 0.45
    elif -12 <= offset <= -8 or 7 <= offset <= 10:
        factor *= 0.75
    return factor


def _logistics_slowdown(day: date) -> float:
    """How much more likely a late shipment is on `day` (couriers pause around the Spring Festival)."""
    offset = (day - _spring_festival(day.year)).days
    if -10 <= offset <= 7:
        return 3.0
    if (day.month, day.day) in ((11, 11), (11, 12), (6, 18)):
        return 1.5
    return 1.0


def reference_orders_per_day(day: date, scale: float = 1.0) -> float:
    """Expected orders on `day` across all brands of the reference scenario."""
    return REFERENCE_ORDERS_PER_DAY * scale * season_factor(day)


def _hour_weights(day: date) -> list[float]:
    base = [0.9, 0.5, 0.3, 0.2, 0.15, 0.15, 0.25, 0.5, 0.9, 1.2, 1.4, 1.4, 1.3, 1.3, 1.3, 1.3, 1.3, 1.3,
            1.4, 1.6, 1.9, 2.2, 2.2, 1.6]
    if (day.month, day.day) in ((11, 11), (6, 18)):
        base[0] = 12.0  # the midnight rush of the big days
        base[1] = 4.0
    total = sum(base)
    return [w / total for w in base]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# -- brands ------------------------------------------------------------------------------------------

_CARRIERS = ("SF", "ZTO", "YTO", "STO", "YUNDA", "JD", "EMS")
_CITIES = ("HZ", "SH", "GZ", "BJ", "CD", "WH", "SZ", "TJ")


@dataclass
class _Brand:
    number: int
    brand_id: str
    share: float  # of the day's orders
    late_rate: float  # share of shipments after 48 h, before the seasonal slowdown
    prices: list[str]
    channels: list[str]  # choice table
    lifecycles: list[list[str]]  # choice table per month (index month - 1)
    carriers: list[str]
    warehouses: list[str]
    customers: int


def _table(weights: dict[str, float]) -> list[str]:
    """A list of _LOOKUP entries in which each key appears in proportion to its weight."""
    total = sum(weights.values())
    out: list[str] = []
    for key, w in weights.items():
        out += [key] * round(_LOOKUP * w / total)
    return (out + [next(iter(weights))] * _LOOKUP)[:_LOOKUP]


def _lifecycle_weights(month: int) -> dict[str, float]:
    new = 0.3 if month in (3, 4, 9, 10) else 0.15
    clearance = 0.15 if month in (1, 7, 8) else 0.05
    return {"new": new, "in_season": 0.6, "off_season": 0.1, "clearance": clearance}


def _brands(agreements: list[Agreement], seed: int, late_shipment: float) -> list[_Brand]:
    """One entry per brand (a brand with several agreements sums their GMV targets), by brand id."""
    targets: dict[str, float] = defaultdict(float)
    for a in agreements:
        targets[a.brand_id] += max(a.gmv_target_amount, 1.0)
    weights, out = [], []
    for brand_id in sorted(targets):
        rng = random.Random(f"{seed}|brand|{brand_id}")
        aov = rng.uniform(150, 650)
        weights.append(targets[brand_id] / aov)
        prices = sorted({f"{max(9.9, aov * math.exp(rng.gauss(0, 0.55))):.0f}.00" for _ in range(150)})
        o2o = rng.uniform(0.015, 0.06)
        outlet = rng.uniform(0.005, 0.03)
        out.append(_Brand(
            number=len(out), brand_id=brand_id, share=0.0,
            late_rate=rng.lognormvariate(0, 0.6),
            prices=[prices[int(len(prices) * rng.random() ** 1.5)] for _ in range(_LOOKUP)],
            channels=_table({"online": 1 - o2o - outlet, "o2o_store": o2o, "outlet": outlet}),
            lifecycles=[_table(_lifecycle_weights(m)) for m in range(1, 13)],
            carriers=_table({c: rng.random() ** 2 + 0.01 for c in _CARRIERS}),
            warehouses=[f"WH-{rng.choice(_CITIES)}-{n:02d}" for n in range(1, 2 + rng.randrange(4))],
            customers=0,
        ))
    total = sum(weights) or 1.0
    for brand, w in zip(out, weights, strict=True):
        brand.share = w / total
        brand.customers = max(1000, int(40_000_000 * brand.share))
    mean_late = sum(b.share * b.late_rate for b in out) or 1.0
    for brand in out:  # volume-weighted mean of the late rates = the configured rate
        brand.late_rate = min(0.9, late_shipment * brand.late_rate / mean_late)
    return out


# -- files -------------------------------------------------------------------------------------------


class _Files:
    """The open files of one business date, by (feed, delivery date); all closed with the date.

    Rows due by `batch_until` go to one file per feed and month instead (`batches`, kept open
    across dates and closed by the caller), delivered at the month's end (at most
    `batch_until`): fewer, larger files, all known by `batch_until`.
    """

    def __init__(self, out: Path, business_date: date, report: SimulationReport,
                 batch_until: date | None = None, batches: dict[tuple[str, date], IO[str]] | None = None):
        self.out = out
        self.business_date = business_date
        self.report = report
        self.handles: dict[tuple[str, date], IO[str]] = {}
        self.batch_until = batch_until
        self.batches = batches if batches is not None else {}

    def get(self, feed: str, delivered: date) -> IO[str]:
        if self.batch_until is not None and delivered <= self.batch_until:
            month_end = (delivered.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            return self._open(self.batches, feed, min(month_end, self.batch_until), f"month-{delivered:%Y-%m}")
        return self._open(self.handles, feed, delivered, f"from-{self.business_date.isoformat()}")

    def _open(self, handles: dict[tuple[str, date], IO[str]], feed: str, delivered: date, part: str) -> IO[str]:
        handle = handles.get((feed, delivered))
        if handle is None:
            folder = self.out / feed
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / feed_file_name(feed, delivered, part)
            handle = path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20)
            if FEEDS[feed].default_format == "csv":
                handle.write(",".join(FEEDS[feed].column_names) + "\n")
            handles[(feed, delivered)] = handle
            self.report.files.append(path)
        return handle

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()


class _Faulty:
    """Writes rows to a feed's files, applying the row faults: late, duplicate, malformed."""

    def __init__(self, files: _Files, feed: str, faults: Faults, rng: random.Random, report: SimulationReport):
        self.files, self.feed, self.rng, self.report = files, feed, rng, report
        self.p_malformed = faults.malformed_row
        self.p_duplicate = self.p_malformed + faults.duplicate_row
        self.p_late = self.p_duplicate + faults.late_row
        self.main = files.business_date + timedelta(days=1)
        self.fmt = FEEDS[feed].default_format

    def write(self, line: str, delivered: date | None = None) -> None:
        """Write one row (a CSV line or a JSON object, ending in a newline), normally due on `delivered`."""
        delivered = delivered or self.main
        r = self.rng.random()
        self.report.rows[self.feed] += 1
        if r >= self.p_late:
            self.files.get(self.feed, delivered).write(line)
        elif r < self.p_malformed:
            self.files.get(self.feed, delivered).write(malform_row(line, self.fmt, r / self.p_malformed))
        elif r < self.p_duplicate:
            u = (r - self.p_malformed) / (self.p_duplicate - self.p_malformed)
            self.files.get(self.feed, delivered).write(line)
            again = delivered if u < 0.5 else delivered + timedelta(days=2 + int(u * 10) % 5)
            self.files.get(self.feed, again).write(line)
            self.report.rows[self.feed] += 1
        else:
            u = (r - self.p_duplicate) / (self.p_late - self.p_duplicate)
            self.files.get(self.feed, delivered + timedelta(days=2 + int(u * 5))).write(line)


def malform_row(line: str, fmt: str, u: float) -> str:
    """One of five corruptions of a row (a CSV line or a JSON object), chosen by u in [0, 1)."""
    kind = int(u * 5)
    if fmt == "jsonl":
        obj = json.loads(line)
        keys = list(obj)
        if kind == 0:
            return line[: len(line) // 2] + "\n"  # cut off in transit
        if kind == 1:
            obj[keys[0]] = None  # the key field is empty
        elif kind == 2:
            typed = next(k for k in keys if k.endswith(("_type", "_format", "_at", "_date", "status")))
            obj[typed] = "unknown_value"
        elif kind == 3:
            obj["unexpected_field"] = 1
        else:
            ts = next((k for k in keys if k.endswith("_at") and obj[k]), keys[1])
            obj[ts] = "2026-13-45T25:61:00+08:00"
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    parts = line.rstrip("\n").split(",")
    if kind == 0:
        parts = parts[:-2]  # fields missing
    elif kind == 1:
        parts[0] = ""  # the key field is empty
    elif kind == 2:
        parts[-1] = parts[-1] + "?x"
    elif kind == 3:
        parts[4] = "twelve"
    else:
        parts[3] = parts[3].replace("T", " T").replace("-", "/", 1)
    return ",".join(parts) + "\n"


# -- orders and shipments -------------------------------------------------------------------------------


def _day_strings(day: date, days: int) -> list[str]:
    return [(day + timedelta(days=k)).isoformat() for k in range(days)]


def _orders_and_shipments(day: date, brands: list[_Brand], files: _Files, seed: int, scale: float,
                          faults: Faults, report: SimulationReport) -> None:
    rng = random.Random(f"{seed}|{day.isoformat()}|orders")
    orders = _Faulty(files, "orders", faults, random.Random(f"{seed}|{day.isoformat()}|orders-faults"), report)
    ships = _Faulty(files, "shipments", faults, random.Random(f"{seed}|{day.isoformat()}|shipments-faults"),
                    report)
    files.get("orders", orders.main)  # the day's main files exist even if empty
    files.get("shipments", orders.main)
    dates = _day_strings(day, 40)
    delivered_on = [day + timedelta(days=k + 1) for k in range(40)]
    total = reference_orders_per_day(day, scale)
    slowdown = _logistics_slowdown(day)
    stamp = day.strftime("%Y%m%d")
    rand = rng.random
    seq = [0] * len(brands)
    for hour, weight in enumerate(_hour_weights(day)):
        base_s = hour * 3600
        for brand in brands:
            n = _poisson(rng, total * brand.share * weight)
            if not n:
                continue
            seconds = sorted(base_s + int(rand() * 3600) for _ in range(n))
            lifecycles = brand.lifecycles[day.month - 1]
            late_rate = min(0.95, brand.late_rate * slowdown)
            first = seq[brand.number]
            seq[brand.number] += n
            bid = brand.brand_id
            tally = report.daily.setdefault((bid, day), [0, 0, 0])  # orders, shipped after 48 h, O2O
            tally[0] += n
            for i, ordered_s in enumerate(seconds, first + 1):
                order_id = f"O{stamp}{bid}{i:07d}"
                k = int(rand() * _LOOKUP)
                customer = int(brand.customers * rand() ** 3)
                channel = brand.channels[int(rand() * _LOOKUP)]
                tally[2] += channel == "o2o_store"
                orders.write(
                    f"{order_id},{bid},C{brand.number + 1:04d}{customer:08d},"
                    f"{dates[0]}T{_HMS[ordered_s]}{TZ_SUFFIX},{brand.prices[k]},{CURRENCY},"
                    f"{channel},{lifecycles[int(rand() * _LOOKUP)]}\n"
                )
                paid_s = ordered_s + int(rand() ** 4 * 1800)
                if rand() < late_rate:
                    tally[1] += 1
                    shipped_s = paid_s + 172_800 + int(rand() * 259_200)  # 48-120 h
                else:
                    shipped_s = paid_s + 3600 + int(rand() ** 1.5 * 165_600)  # 1-47 h
                r = rand()
                if r < 0.002:  # lost in transit: reported ten days after shipping, never delivered
                    delivered, report_day = "", shipped_s // _DAY + 10
                else:
                    delivered_s = shipped_s + 36_000 + int(r * r * 302_400)  # 10-94 h
                    delivered, report_day = _ts(dates, delivered_s), delivered_s // _DAY
                ships.write(
                    f"{order_id},{bid},{_ts(dates, paid_s)},{_ts(dates, shipped_s)},{delivered},"
                    f"{brand.carriers[k]},{brand.warehouses[i % len(brand.warehouses)]}\n",
                    delivered_on[report_day],
                )


def _ts(dates: list[str], seconds: int) -> str:
    return f"{dates[seconds // _DAY]}T{_HMS[seconds % _DAY]}{TZ_SUFFIX}"


# -- events from commitments --------------------------------------------------------------------------

_CAMPAIGN_TYPE_BY_SERVICE = {"new_product_launch": "new_product_launch", "super_brand_day": "super_brand_day",
                             "celebrity_resources": "celebrity", "brand_marketing": "brand_marketing",
                             "traffic": "traffic"}


@dataclass(frozen=True)
class _Event:
    """A row of a small feed: its business date, the date it is due to be delivered, and the row."""

    feed: str
    business_date: date
    delivered: date
    row: dict[str, Any]


def _at(day: date, rng: random.Random, first_hour: int = 9, last_hour: int = 18) -> datetime:
    return datetime(day.year, day.month, day.day, first_hour) + timedelta(
        seconds=rng.randrange((last_hour - first_hour) * 3600))


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat() + TZ_SUFFIX


def _grace_days(c: Commitment) -> int:
    return c.grace.days + math.ceil(c.grace.business_days * 7 / 5)


def _periods(c: Commitment, a: Agreement) -> list[tuple[date, date]]:
    assert c.recurrence is not None
    start = c.recurrence.starts or a.term_start
    end = min(c.recurrence.ends or a.term_end, a.term_end)
    out, cursor = [], start
    while cursor <= end:
        if c.recurrence.every == "week":
            nxt = cursor + timedelta(days=7 - cursor.weekday())
        elif c.recurrence.every == "month":
            nxt = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            q = (cursor.month - 1) // 3
            nxt = date(cursor.year + (q == 3), (q * 3 + 3) % 12 + 1, 1)
        out.append((cursor, min(nxt - timedelta(days=1), end)))
        cursor = nxt
    return out


def _due_after(c: Commitment, period_end: date) -> date:
    assert c.recurrence is not None
    offset = c.recurrence.due_after
    if offset.business_days:
        return _add_working_days(period_end, offset.business_days)
    return period_end + timedelta(days=offset.days)


def _occasions(c: Commitment, a: Agreement, rng: random.Random) -> list[tuple[date, date, date]]:
    """When a commitment calls for evidence: (window start, due date, window end) per occasion."""
    opens = c.opens or a.term_start
    if c.kind == "deliverable" and c.due:
        return [(max(opens, c.due - timedelta(days=30)), c.due, c.due)]
    if c.kind == "recurring" and c.recurrence:
        return [(s, _due_after(c, e), e) for s, e in _periods(c, a)]
    if c.kind == "quota" and c.quota:
        n = max(1, round(c.quota.target * rng.uniform(0.9, 1.2)))
        term_days = (a.term_end - opens).days + 1
        if c.quota.pacing == "seasonal":
            weights = [season_factor(opens + timedelta(days=k)) for k in range(term_days)]
            picks = rng.choices(range(term_days), weights=weights, k=n)
        else:
            picks = [int((k + rng.random()) * term_days / n) for k in range(n)]
        return [(opens + timedelta(days=k),) * 3 for k in sorted(picks)]
    return []


def _commitment_events(a: Agreement, c: Commitment, brand_size: float, seed: int, faults: Faults,
                       truth: list[Occasion] | None = None) -> list[_Event]:
    rng = random.Random(f"{seed}|{a.agreement_id}|{c.id}")
    kind = c.evidence.type
    maker = {"campaign_execution": _campaign, "channel_listing": _listing, "data_delivery": _data_delivery,
             "attestation": _attestation}.get(kind)
    if maker is None:  # orders and shipments are simulated in bulk
        return []
    events = []
    for n, (window_start, due, window_end) in enumerate(_occasions(c, a, rng), 1):
        fate, event = maker(a, c, n, window_start, due, window_end, rng, faults, brand_size)
        if event is not None and not a.term_start - timedelta(days=60) <= event.business_date <= a.term_end:
            fate, event = "missed", None  # outside the term: it proves nothing
        if truth is not None:
            truth.append(Occasion(
                a.agreement_id, c.id, c.obligor, c.kind,
                window_start.isoformat() if c.kind == "recurring" else "term",
                (c.opens or a.term_start) if c.kind == "quota" else window_start, due, fate,
                event.business_date if event is not None else None,
                float(c.quota.target) if c.quota else None, a.term_end))
        if event is not None:
            events.append(event)
    return events


def _fate(rng: random.Random, missed: float, late: float) -> str:
    r = rng.random()
    return "missed" if r < missed else "late" if r < missed + late else "on_time"


def _campaign(a: Agreement, c: Commitment, n: int, start: date, due: date, end: date, rng: random.Random,
              faults: Faults, size: float) -> tuple[str, _Event | None]:
    fate = _fate(rng, faults.missed_campaign, faults.late_campaign)
    campaign_type = c.evidence.match.get("campaign_type") or _CAMPAIGN_TYPE_BY_SERVICE.get(c.service, "traffic")
    if c.kind == "deliverable":
        planned_day = due - timedelta(days=rng.randint(0, 10))
    else:
        planned_day = start + timedelta(days=rng.randint(0, max(0, (end - start).days)))
    length = timedelta(days=rng.randint(1, 5))
    planned_start = datetime(planned_day.year, planned_day.month, planned_day.day, 10)
    planned_end = planned_start + length - timedelta(seconds=1)
    if fate == "missed" and rng.random() < 0.5:
        return fate, None  # never reported
    actual_start = actual_end = reach = None
    status = "cancelled"
    if fate != "missed":
        status = "completed"
        actual_start = planned_start + timedelta(minutes=rng.randrange(0, 180))
        if fate == "late":
            late_day = max(due, planned_day) + timedelta(days=_grace_days(c) + rng.randint(1, 10))
            actual_start = datetime(late_day.year, late_day.month, late_day.day, 10)
        actual_end = actual_start + length - timedelta(seconds=1)
        reach = int(size * rng.uniform(2e5, 5e6))
    business = (actual_start or planned_start).date()
    reported = (actual_end or planned_start).date() + timedelta(days=1)
    return fate, _Event("campaign_executions", business, reported, {
        "campaign_id": f"CP-{a.agreement_id}-{c.id}-{n:02d}", "brand_id": a.brand_id,
        "campaign_type": campaign_type, "planned_start_at": _iso(planned_start),
        "planned_end_at": _iso(planned_end), "actual_start_at": _iso(actual_start),
        "actual_end_at": _iso(actual_end), "reach": reach, "status": status,
    })


def _listing(a: Agreement, c: Commitment, n: int, start: date, due: date, end: date, rng: random.Random,
             faults: Faults, size: float) -> tuple[str, _Event | None]:
    fate = _fate(rng, faults.missed_listing, faults.late_listing)
    if fate == "missed":
        return fate, None
    if fate == "late":
        day = due + timedelta(days=_grace_days(c) + rng.randint(1, 15))
    else:
        day = max(start, due - timedelta(days=rng.randint(0, 10)))
    listed = _at(day, rng)
    fmt = c.evidence.match.get("retail_format", "new")
    channel = c.evidence.match.get("channel", "online")
    collection = f"{'SS' if day.month < 7 else 'AW'}{day.year % 100}" if fmt != "clearance" else f"CLR{day.year}"
    return fate, _Event("channel_listings", day, day + timedelta(days=1), {
        "listing_id": f"L-{a.agreement_id}-{c.id}-{n:02d}", "brand_id": a.brand_id,
        "collection_id": collection, "sku_id": None, "retail_format": fmt, "channel": channel,
        "listed_at": _iso(listed),
        "delisted_at": _iso(listed + timedelta(days=rng.randint(30, 90))) if fmt == "clearance" else None,
    })


def _data_delivery(a: Agreement, c: Commitment, n: int, start: date, due: date, end: date, rng: random.Random,
                   faults: Faults, size: float) -> tuple[str, _Event | None]:
    fate = _fate(rng, faults.missing_data_report, faults.late_data_report)
    if fate == "missed":
        return fate, None
    if fate == "late":
        day = due + timedelta(days=_grace_days(c) + rng.randint(1, 8))
    else:
        span = max(0, (due - end).days)
        day = end + timedelta(days=rng.randint(min(1, span), span))
        while not _is_working_day(day) and day < due:
            day += timedelta(days=1)
    deliverable = c.evidence.match.get("deliverable_type", "monthly_data_report")
    records = {"prospect_segment": int(size * rng.uniform(5e4, 2e6)),
               "audience_sync": int(size * rng.uniform(1e5, 5e6))}.get(deliverable, rng.randint(800, 6000))
    return fate, _Event("data_deliveries", day, day + timedelta(days=1), {
        "brand_id": a.brand_id, "deliverable_type": deliverable, "period_start_date": start.isoformat(),
        "period_end_date": end.isoformat(), "delivered_at": _iso(_at(day, rng)), "records_delivered": records,
    })


def _attestation(a: Agreement, c: Commitment, n: int, start: date, due: date, end: date, rng: random.Random,
                 faults: Faults, size: float) -> tuple[str, _Event | None]:
    if rng.random() < faults.missed_attestation:
        return "missed", None
    day = max(start, due - timedelta(days=rng.randint(0, 5)))
    return "on_time", _Event("attestations", day, day + timedelta(days=1), {
        "agreement_id": a.agreement_id, "commitment_id": c.id, "attested_by": a.account_manager.email,
        "attested_at": _iso(_at(day, rng)), "note": f"{c.title}: done ({n})", "reference": f"OA-{day:%Y%m%d}-{n:03d}",
    })


def _background_listings(day: date, brands: list[_Brand], seed: int) -> Iterator[_Event]:
    """Listings brands make of their own accord: about two SKUs a week each."""
    rng = random.Random(f"{seed}|{day.isoformat()}|listings")
    lifecycles = _lifecycle_weights(day.month)
    formats, weights = list(lifecycles), list(lifecycles.values())
    for brand in brands:
        if rng.random() >= 0.3:
            continue
        fmt = rng.choices(formats, weights)[0]
        listed = _at(day, rng, 8, 22)
        channel = "outlet" if fmt == "clearance" and rng.random() < 0.7 else rng.choice(["online", "online",
                                                                                         "o2o_store"])
        yield _Event("channel_listings", day, day + timedelta(days=1), {
            "listing_id": f"L-{brand.brand_id}-{day:%Y%m%d}-{rng.randrange(10**6):06d}", "brand_id": brand.brand_id,
            "collection_id": None, "sku_id": f"SKU-{brand.brand_id}-{rng.randrange(10**6):06d}",
            "retail_format": fmt, "channel": channel, "listed_at": _iso(listed),
            "delisted_at": _iso(listed + timedelta(days=rng.randint(14, 120))) if rng.random() < 0.3 else None,
        })


def _schedule(agreements: list[Agreement], brands: list[_Brand], seed: int, faults: Faults,
              start: date, end: date, truth: list[Occasion] | None = None) -> dict[date, list[_Event]]:
    """The commitment events with a business date in [start, end], by date."""
    by_day: dict[date, list[_Event]] = defaultdict(list)
    by_id = {b.brand_id: b for b in brands}
    for a in agreements:
        size = by_id[a.brand_id].share * len(brands)
        for c in a.commitments:
            for event in _commitment_events(a, c, size, seed, faults, truth):
                if start <= event.business_date <= end:
                    by_day[event.business_date].append(event)
    return by_day


def _write_events(day: date, events: Iterable[_Event], files: _Files, seed: int, faults: Faults,
                  report: SimulationReport) -> None:
    writers: dict[str, _Faulty] = {}
    for feed in ("campaign_executions", "channel_listings", "data_deliveries", "attestations"):
        files.get(feed, day + timedelta(days=1))
        writers[feed] = _Faulty(files, feed, faults, random.Random(f"{seed}|{day.isoformat()}|{feed}-faults"), report)
    for event in events:
        line = json.dumps(event.row, ensure_ascii=False, separators=(",", ":")) + "\n"
        writers[event.feed].write(line, event.delivered)


# -- the simulator ---------------------------------------------------------------------------------------


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _threshold_terms(agreements: list[Agreement]) -> list[ThresholdTerms]:
    """The threshold commitments on metrics the simulator decides (shipping speed, O2O share)."""
    return [ThresholdTerms(a.agreement_id, c.id, c.obligor, a.brand_id, c.threshold.metric, c.threshold.comparison,
                           c.threshold.target, c.threshold.window, c.threshold.min_sample, c.threshold.error_budget,
                           a.term_start, a.term_end)
            for a in agreements for c in a.commitments
            if c.threshold and c.threshold.window in ("month", "quarter")
            and c.threshold.metric in ("shipped_within_48h_share", "o2o_order_share")]


def simulate(
    agreements: list[Agreement],
    *,
    start: date,
    end: date,
    out: Path,
    seed: int = 2015,
    scale: float = 1.0,
    faults: Faults | None = None,
    progress: Callable[[date, SimulationReport], None] | None = None,
    batch_until: date | None = None,
    ground_truth: Path | None = None,
) -> SimulationReport:
    """Write the feed files for business dates `start`..`end` under `out`; see the module docstring.

    scale: order volume as a fraction of the reference scenario (300,000 orders on an ordinary day).
    batch_until: rows due on or before this date go to one file per feed and month, delivered at
    the month's end (at most this date), instead of a file per business and delivery date: fewer
    files to load when only the statuses from this date on matter (`make demo`).
    ground_truth: write the fate of every commitment instance there (`partnerops.evidence.ground_truth`;
    the threshold fates count the windows of the simulated range only).
    """
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    faults = faults or Faults()
    agreements = sorted(agreements, key=lambda a: a.agreement_id)
    brands = _brands(agreements, seed, faults.late_shipment)
    truth: list[Occasion] | None = [] if ground_truth is not None else None
    schedule = _schedule(agreements, brands, seed, faults, start, end, truth)
    report = SimulationReport(start=start, end=end)
    started = time.monotonic()
    batches: dict[tuple[str, date], IO[str]] = {}
    try:
        for day in _days(start, end):
            files = _Files(out, day, report, batch_until, batches)
            try:
                _orders_and_shipments(day, brands, files, seed, scale, faults, report)
                events = sorted(schedule.get(day, []), key=lambda e: (e.feed, json.dumps(e.row, sort_keys=True)))
                _write_events(day, [*events, *_background_listings(day, brands, seed)], files, seed, faults, report)
            finally:
                files.close()
            if progress:
                progress(day, report)
    finally:
        for handle in batches.values():
            handle.close()
    if ground_truth is not None and truth is not None:
        daily = {key: (c[0], c[1], c[2]) for key, c in report.daily.items()}
        report.ground_truth = write_ground_truth(
            ground_truth, ground_truth_rows(truth, _threshold_terms(agreements), daily))
    report.seconds = time.monotonic() - started
    report.rows = dict(report.rows)
    return report
