"""A deterministic sample corpus for the reference scenario.

160 apparel brands from 110 groups sign one-year agreements with the platform, for a joint
GMV target of 30 billion CNY. Brand sizes are skewed (a few large brands carry most of the
GMV), and every agreement holds commitments of both sides across the four pillars and the
four kinds. The same arguments always give byte-identical files.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import yaml

from partnerops.agreements.model import DEFAULT_TIMEZONE

SCENARIO_GMV_TARGET = Decimal("30000000000")  # 30 billion CNY, the seed's joint target
CURRENCY = "CNY"

_STEMS = ["Lan", "Hua", "Mei", "Jin", "Yun", "Feng", "Shan", "Xing", "Ming", "Qing", "Tian", "Yu",
          "Long", "An", "Bai", "Chun", "Hai", "Li", "Ning", "Song"]
_SUFFIXES = ["Wear", "Mode", "Atelier", "Denim", "Studio", "Outdoor", "Kids", "Sport", "Basics", "Silk",
             "Knit", "Line", "Lab", "House", "Co"]
_GROUP_SUFFIXES = ["Group", "Holdings", "Fashion Group", "Apparel Co.", "Brands"]
_MANAGERS = [("Zhang Wei", "zhang.wei"), ("Li Na", "li.na"), ("Wang Fang", "wang.fang"), ("Liu Yang", "liu.yang"),
             ("Chen Jing", "chen.jing"), ("Yang Lei", "yang.lei"), ("Zhao Min", "zhao.min"), ("Huang Tao", "huang.tao")]
_MAIL_DOMAIN = "partners.example.com"


class _Dumper(yaml.SafeDumper):
    """Block-style YAML, keys in the order written."""


def _split_gmv(weights: list[float]) -> list[Decimal]:
    """Shares of the scenario target in whole yuan that add up to it exactly."""
    total = sum(weights)
    raw = [SCENARIO_GMV_TARGET * Decimal(w / total) for w in weights]
    floors = [r.quantize(Decimal(1), rounding=ROUND_DOWN) for r in raw]
    short = int(SCENARIO_GMV_TARGET - sum(floors))
    by_remainder = sorted(range(len(raw)), key=lambda i: (raw[i] - floors[i], -i), reverse=True)
    for i in by_remainder[:short]:
        floors[i] += 1
    return floors


def _brand_name(i: int, rng: random.Random) -> str:
    return f"{rng.choice(_STEMS)}{rng.choice(_STEMS).lower()} {_SUFFIXES[i % len(_SUFFIXES)]}"


def _commitments(rng: random.Random, year: int, size_rank: float) -> list[dict[str, Any]]:
    """The commitments of one agreement; larger brands (size_rank near 1) promise more."""
    d = lambda m, day: date(year, m, day).isoformat()  # noqa: E731
    launch_month = rng.choice([2, 3, 3, 4])
    slot_due = date(year, launch_month, 1) - timedelta(days=14)
    out: list[dict[str, Any]] = [
        {
            "id": "launch-slot", "title": "Grant launch slots and home-page traffic for the new collection",
            "pillar": "marketing", "service": "new_product_launch", "obligor": "platform", "kind": "deliverable",
            "due": slot_due.isoformat(),
            "evidence": {"type": "campaign_execution", "match": {"campaign_type": "new_product_launch"}},
            "grace": {"business_days": 2}, "weight": 2,
            "remedy": "The brand may move the launch to a date of its choosing without penalty.",
        },
        {
            "id": "new-collection-launch", "title": "Launch the spring collection on the platform first",
            "pillar": "marketing", "service": "new_product_launch", "obligor": "brand", "kind": "deliverable",
            "due": d(launch_month, 1),
            "evidence": {"type": "channel_listing", "match": {"retail_format": "new", "channel": "online"}},
            "grace": {"days": 3}, "depends_on": "launch-slot", "weight": 3,
            "remedy": "The platform may reassign the launch slot to another brand.",
        },
        {
            "id": "prospect-segments",
            "title": "Deliver monthly prospect audience segments (potential customer programme)",
            "pillar": "data_operations", "service": "prospect_program", "obligor": "platform", "kind": "recurring",
            "recurrence": {"every": "month", "due_after": {"business_days": 5}},
            "evidence": {"type": "data_delivery", "match": {"deliverable_type": "prospect_segment"}},
            "weight": 2, "remedy": "Service credit of one month's data-service fee.",
        },
        {
            "id": "monthly-data-report", "title": "Monthly data report on consumer assets and campaign results",
            "pillar": "data_operations", "service": "data_report", "obligor": "platform", "kind": "recurring",
            "recurrence": {"every": "month", "due_after": {"business_days": 5}},
            "evidence": {"type": "data_delivery", "match": {"deliverable_type": "monthly_data_report"}},
            "weight": 1, "remedy": "The brand may request an ad-hoc report at no charge.",
        },
        {
            "id": "traffic-campaigns", "title": "Traffic campaigns over the term",
            "pillar": "marketing", "service": "traffic", "obligor": "platform", "kind": "quota",
            "quota": {"target": 6 + int(6 * size_rank), "pacing": "seasonal", "tolerance": 0.15},
            "evidence": {"type": "campaign_execution", "match": {"campaign_type": "traffic"}},
            "weight": 2, "remedy": "Make-good traffic in the following quarter.",
        },
        {
            "id": "ship-within-48h", "title": "Ship at least 95% of paid orders within 48 hours, each month",
            "pillar": "logistics", "service": "fulfilment_sla", "obligor": "brand", "kind": "threshold",
            "threshold": {"metric": "shipped_within_48h_share", "comparison": "at_least", "target": 0.95,
                          "window": "month", "min_sample": 200, "error_budget": 1},
            "evidence": {"type": "shipment"}, "weight": 3,
            "remedy": "Search ranking penalty for the following month.",
        },
        {
            "id": "clearance-outlet", "title": "List off-season and clearance stock in the outlet channel",
            "pillar": "channel", "service": "retail_format", "obligor": "brand", "kind": "deliverable",
            "opens": d(6, 1), "due": d(rng.choice([7, 8]), 15),
            "evidence": {"type": "channel_listing", "match": {"retail_format": "clearance", "channel": "outlet"}},
            "grace": {"business_days": 5}, "weight": 1,
            "remedy": "The platform may run the clearance event without the brand's stock.",
        },
    ]
    if size_rank > 0.5:
        out.append({
            "id": "celebrity-activations", "title": "Celebrity activations over the term",
            "pillar": "marketing", "service": "celebrity_resources", "obligor": "platform", "kind": "quota",
            "quota": {"target": 2 + int(3 * size_rank), "pacing": "pro_rata", "tolerance": 0.25},
            "evidence": {"type": "campaign_execution", "match": {"campaign_type": "celebrity"}},
            "weight": 2, "remedy": "One extra super-brand-day slot.",
        })
        out.append({
            "id": "o2o-store-pickup",
            "title": "Offline stores take at least 3% of orders (pickup and in-store returns)",
            "pillar": "channel", "service": "o2o", "obligor": "brand", "kind": "threshold",
            "threshold": {"metric": "o2o_order_share", "comparison": "at_least", "target": 0.03,
                          "window": "quarter", "min_sample": 500, "error_budget": 1},
            "evidence": {"type": "order", "match": {"channel": "o2o_store"}}, "weight": 1,
            "remedy": "O2O traffic support is withdrawn for the next quarter.",
        })
    if rng.random() < 0.5:
        out.append({
            "id": "brand-co-marketing", "title": "Co-funded brand marketing campaigns each quarter",
            "pillar": "marketing", "service": "brand_marketing", "obligor": "brand", "kind": "recurring",
            "recurrence": {"every": "quarter", "due_after": {"days": 0}},
            "evidence": {"type": "campaign_execution", "match": {"campaign_type": "brand_marketing"}},
            "grace": {"days": 7}, "weight": 1, "remedy": "The platform may reduce matching marketing funds.",
        })
    return out


def sample_documents(*, brands: int = 160, groups: int = 110, seed: int = 2015, year: int = 2026) -> list[dict]:
    """The corpus as documents (format v1), ordered by agreement id."""
    if not 1 <= groups <= brands:
        raise ValueError(f"need 1 <= groups <= brands, got groups={groups}, brands={brands}")
    rng = random.Random(seed)
    weights = [rng.paretovariate(1.16) for _ in range(brands)]
    gmv = _split_gmv(weights)
    ranks = {i: r / max(1, brands - 1) for r, i in enumerate(sorted(range(brands), key=lambda i: weights[i]))}
    # every group has a brand; the rest go mostly to the first (larger) groups
    group_of = list(range(groups)) + [int(groups * rng.random() ** 2) for _ in range(brands - groups)]
    rng.shuffle(group_of)
    group_names = [f"{rng.choice(_STEMS)}{rng.choice(_STEMS).lower()} {rng.choice(_GROUP_SUFFIXES)}"
                   for _ in range(groups)]
    docs = []
    for i in range(brands):
        manager, handle = _MANAGERS[i % len(_MANAGERS)]
        lead, lead_handle = _MANAGERS[(i + 3) % len(_MANAGERS)]
        g = group_of[i]
        docs.append({
            "format_version": 1,
            "agreement_id": f"TM-{year}-{i + 1:04d}",
            "version": 1,
            "title": f"Strategic cooperation agreement {year}",
            "brand": {"id": f"B{i + 1:04d}", "name": _brand_name(i, rng)},
            "group": {"id": f"G{g + 1:04d}", "name": group_names[g]},
            "signed_date": date(year - 1, 12, 1 + rng.randrange(20)).isoformat(),
            "term": {"start": date(year, 1, 1).isoformat(), "end": date(year, 12, 31).isoformat()},
            "timezone": DEFAULT_TIMEZONE,
            "account_manager": {"name": manager, "email": f"{handle}@{_MAIL_DOMAIN}"},
            "escalation_contacts": [
                {"name": lead, "email": f"{lead_handle}.lead@{_MAIL_DOMAIN}", "role": "partnership lead"},
                {"name": "Partnership Operations", "email": f"partner-ops@{_MAIL_DOMAIN}", "role": "ops on duty"},
            ],
            "gmv_target": {"amount": int(gmv[i]), "currency": CURRENCY},
            "commitments": _commitments(rng, year, ranks[i]),
        })
    return docs


def write_sample_corpus(out: Path, **kwargs: Any) -> list[Path]:
    """Write one YAML file per agreement under `out`; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in sample_documents(**kwargs):
        path = out / f"{doc['agreement_id']}.v{doc['version']}.yaml"
        text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
