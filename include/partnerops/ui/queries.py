"""What the Partnerships view shows, read from the dbt marts with parametrised SQL.

Every function takes an open cursor (psycopg2, dict rows) and an as-of date, and reads
only the public marts (schema `marts`) and the status history (`snapshots`). Nothing
here writes. The pages (`partnerops.ui.app`) and the CSV download share these results,
so what is downloaded is what is shown.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from partnerops.ui.words import ATTENTION_STATUSES, PILLARS, SIDES, STATUSES, status_rank, worst_status

__all__ = [
    "SORT_KEYS", "Filters", "MartsInfo", "NoMarts", "agreement_detail", "attention_queue", "filter_options",
    "group_rows", "marts_info", "portfolio", "portfolio_headline",
]

Row = dict[str, Any]


class NoMarts(LookupError):
    """The marts are missing or hold no statuses (for the date asked)."""


@dataclass(frozen=True)
class MartsInfo:
    as_of: date
    dates: list[date]
    built_at: datetime | None

    @property
    def is_latest(self) -> bool:
        return bool(self.dates) and self.as_of == self.dates[0]


def marts_info(cur: Any, as_of: date | None) -> MartsInfo:
    """The as-of dates the marts hold (newest first), the date to show, and when the marts were built."""
    cur.execute("select to_regclass('marts.commitment_statuses') is not null as ok")
    if not cur.fetchone()["ok"]:
        raise NoMarts("the marts have not been built yet: run commitment tracking (the commitment_tracking DAG "
                      "or `partnerops status --refresh`)")
    cur.execute("select distinct as_of_date from marts.commitment_statuses order by as_of_date desc")
    dates = [r["as_of_date"] for r in cur.fetchall()]
    if not dates:
        raise NoMarts("the marts hold no commitment statuses yet: run commitment tracking")
    if as_of is not None and as_of not in dates:
        raise NoMarts(f"the marts hold no statuses as of {as_of}; pick one of the dates they hold")
    built_at = None
    cur.execute("select to_regclass('marts.mart_builds') is not null as ok")
    if cur.fetchone()["ok"]:
        cur.execute("select max(built_at) as built_at from marts.mart_builds")
        built_at = cur.fetchone()["built_at"]
    return MartsInfo(as_of=as_of or dates[0], dates=dates, built_at=built_at)


# -- portfolio -------------------------------------------------------------------------------------

#: Sortable columns of the portfolio and group lists: key -> (label, row key).
SORT_KEYS: dict[str, str] = {
    "brand": "brand_name", "group": "group_name", "account_manager": "account_manager_email",
    "term": "term_start_date", "platform_score": "platform_score", "brand_score": "brand_score",
    "at_risk": "at_risk_count", "breached": "breached_count", "gmv_pace": "pace_index", "agreement": "agreement_id",
}


@dataclass(frozen=True)
class Filters:
    """The portfolio's filters; empty means all. pillar/side/status select agreements with such an instance."""

    account_manager: str | None = None
    group_id: str | None = None
    pillar: str | None = None
    side: str | None = None
    status: str | None = None
    sort: str = "brand"
    descending: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (("pillar", PILLARS), ("side", SIDES), ("status", STATUSES)):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if self.sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {self.sort!r}")

    def params(self) -> dict[str, str]:
        """The filters as query parameters (for links and the CSV download)."""
        out = {k: v for k, v in (("account_manager", self.account_manager), ("group", self.group_id),
                                 ("pillar", self.pillar), ("side", self.side), ("status", self.status)) if v}
        out["sort"] = self.sort
        if self.descending:
            out["desc"] = "1"
        return out


_PORTFOLIO_SQL = """
with statuses as (
    select * from marts.commitment_statuses
     where as_of_date = %(as_of)s and status <> 'superseded'
),
chosen as (
    select distinct agreement_id from statuses
     where (%(am)s::text is null or account_manager_email = %(am)s)
       and (%(group_id)s::text is null or group_id = %(group_id)s)
       and (%(pillar)s::text is null or pillar = %(pillar)s)
       and (%(side)s::text is null or obligor = %(side)s)
       and (%(status)s::text is null or status = %(status)s)
)
select fulfilment.*, versions.term_start_date, versions.term_end_date, versions.agreement_version
  from marts.agreement_fulfilment as fulfilment
  join chosen using (agreement_id)
  left join lateral (
      select v.term_start_date, v.term_end_date, v.agreement_version
        from marts.agreement_versions as v
       where v.agreement_id = fulfilment.agreement_id
         and v.agreement_version = (select max(agreement_version) from statuses s
                                     where s.agreement_id = fulfilment.agreement_id)
  ) as versions on true
 where fulfilment.as_of_date = %(as_of)s
"""

_COUNTS = ("at_risk", "breached", "delivered", "delivered_late", "on_track", "pending", "insufficient_data",
           "excused", "waived")


def _sort(rows: list[Row], key: str, descending: bool) -> list[Row]:
    field_name = SORT_KEYS[key]

    def value(row: Row) -> tuple:
        v = row.get(field_name)
        # empty values last in either direction
        return (v is None, v if v is not None else 0, row["agreement_id"] if "agreement_id" in row else "")

    present = [r for r in rows if r.get(field_name) is not None]
    missing = [r for r in rows if r.get(field_name) is None]
    present.sort(key=value, reverse=descending)
    missing.sort(key=lambda r: r.get("agreement_id") or r.get("group_id") or "")
    return present + missing


def portfolio(cur: Any, as_of: date, filters: Filters) -> list[Row]:
    """One row per agreement with both sides' scores and counts, the heat map and GMV, filtered and sorted."""
    cur.execute(_PORTFOLIO_SQL, {"as_of": as_of, "am": filters.account_manager, "group_id": filters.group_id,
                                 "pillar": filters.pillar, "side": filters.side, "status": filters.status})
    by_agreement: dict[str, Row] = {}
    for f in cur.fetchall():
        row = by_agreement.setdefault(f["agreement_id"], {
            "agreement_id": f["agreement_id"], "agreement_version": f["agreement_version"],
            "brand_id": f["brand_id"], "brand_name": f["brand_name"], "group_id": f["group_id"],
            "group_name": f["group_name"], "account_manager_email": f["account_manager_email"],
            "term_start_date": f["term_start_date"], "term_end_date": f["term_end_date"],
            "at_risk_count": 0, "breached_count": 0,
        })
        side = f["obligor"]
        row[f"{side}_score"] = f["weighted_score"]
        row[f"{side}_counts"] = {s: f[f"{s}_count"] for s in _COUNTS if f[f"{s}_count"]}
        row["at_risk_count"] += f["at_risk_count"]
        row["breached_count"] += f["breached_count"]
    if not by_agreement:
        return []
    ids = list(by_agreement)
    for row in by_agreement.values():
        row["heat"] = {}
        row.setdefault("platform_score", None)
        row.setdefault("brand_score", None)
        row.setdefault("platform_counts", {})
        row.setdefault("brand_counts", {})
        row.update(gmv_target_amount=None, gmv_target_currency=None, actual_gmv=None, planned_to_date_gmv=None,
                   pace_index=None)
    cur.execute("""select agreement_id, pillar, obligor, array_agg(status) as statuses
                     from marts.commitment_statuses
                    where as_of_date = %s and status <> 'superseded' and agreement_id = any(%s)
                    group by agreement_id, pillar, obligor""", (as_of, ids))
    for cell in cur.fetchall():
        counts: dict[str, int] = defaultdict(int)
        for s in cell["statuses"]:
            counts[s] += 1
        by_agreement[cell["agreement_id"]]["heat"][(cell["pillar"], cell["obligor"])] = {
            "worst": worst_status(cell["statuses"]),
            "counts": dict(sorted(counts.items(), key=lambda kv: status_rank(kv[0]))),
        }
    cur.execute("""select agreement_id, max(gmv_target_amount) as gmv_target_amount,
                          max(gmv_target_currency) as gmv_target_currency,
                          max(actual_cumulative_gmv) as actual_gmv, max(planned_to_date_gmv) as planned_to_date_gmv,
                          max(pace_index) as pace_index
                     from marts.gmv_pacing where as_of_date = %s and agreement_id = any(%s)
                    group by agreement_id""", (as_of, ids))
    for g in cur.fetchall():
        by_agreement[g["agreement_id"]].update({k: v for k, v in g.items() if k != "agreement_id"})
    return _sort(list(by_agreement.values()), filters.sort, filters.descending)


def portfolio_headline(cur: Any, as_of: date) -> Row:
    """The whole portfolio: agreements, GMV target and to date against plan, at risk and breached by side."""
    cur.execute("""select count(distinct agreement_id) as agreements,
                          count(distinct group_id) as groups_count
                     from marts.commitment_statuses where as_of_date = %s""", (as_of,))
    head: Row = dict(cur.fetchone())
    cur.execute("""select obligor, status, count(*) as n from marts.commitment_statuses
                    where as_of_date = %s and status = any(%s) group by obligor, status""",
                (as_of, list(ATTENTION_STATUSES)))
    head["by_side"] = {side: {s: 0 for s in ATTENTION_STATUSES} for side in SIDES}
    for r in cur.fetchall():
        head["by_side"].setdefault(r["obligor"], {})[r["status"]] = r["n"]
    cur.execute("""select sum(target) as target, sum(actual) as actual, sum(planned) as planned,
                          min(currency) as currency, count(*) as agreements
                     from (select agreement_id, max(gmv_target_amount) as target, max(gmv_target_currency) as currency,
                                  max(actual_cumulative_gmv) as actual, max(planned_to_date_gmv) as planned
                             from marts.gmv_pacing where as_of_date = %s group by agreement_id) per_agreement""",
                (as_of,))
    gmv = cur.fetchone()
    head["gmv_target"] = gmv["target"]
    head["gmv_actual"] = gmv["actual"]
    head["gmv_planned"] = gmv["planned"]
    head["gmv_currency"] = (gmv["currency"] or "").strip() or "CNY"
    head["gmv_agreements"] = gmv["agreements"]
    head["share_of_plan"] = (gmv["actual"] / gmv["planned"]) if gmv["actual"] is not None and gmv["planned"] else None
    return head


def filter_options(cur: Any, as_of: date) -> Row:
    """The values the portfolio's filters offer, from the date's statuses."""
    cur.execute("""select distinct account_manager_email from marts.commitment_statuses
                    where as_of_date = %s order by 1""", (as_of,))
    ams = [r["account_manager_email"] for r in cur.fetchall()]
    cur.execute("""select distinct group_id, group_name from marts.commitment_statuses
                    where as_of_date = %s order by group_name, group_id""", (as_of,))
    groups = [(r["group_id"], r["group_name"]) for r in cur.fetchall()]
    return {"account_managers": ams, "groups": groups, "pillars": PILLARS, "sides": SIDES, "statuses": STATUSES}


# -- attention queue -------------------------------------------------------------------------------

def attention_queue(cur: Any, as_of: date, account_manager: str | None = None) -> list[Row]:
    """Every at-risk or breached instance on the date, most urgent first, with its decisions so far."""
    cur.execute(
        """select s.*, (s.due_date - s.as_of_date) as days_to_due,
                  decided.decisions
             from marts.commitment_statuses as s
             left join lateral (
                 select array_agg(d.decision || ' by ' || d.decided_by order by d.recorded_at) as decisions
                   from marts.commitment_decisions as d
                  where d.agreement_id = s.agreement_id and d.commitment_id = s.commitment_id
                    and (d.instance_key is null or d.instance_key = s.instance_key)
                    and d.recorded_at < s.as_of_date + 1
             ) as decided on true
            where s.as_of_date = %(as_of)s and s.status = any(%(statuses)s)
              and (%(am)s::text is null or s.account_manager_email = %(am)s)
            order by s.due_date, (s.status = 'breached') desc, s.weight desc, s.agreement_id, s.commitment_id,
                     s.instance_key""",
        {"as_of": as_of, "statuses": list(ATTENTION_STATUSES), "am": account_manager},
    )
    rows = [dict(r) for r in cur.fetchall()]
    for row in rows:
        row["awaiting_decision"] = not row["decisions"] and not row["is_disputed"]
    return rows


# -- one agreement -------------------------------------------------------------------------------------

@dataclass
class AgreementDetail:
    agreement_id: str
    header: Row
    versions: list[Row]
    fulfilment: dict[str, Row]
    instances: list[Row]
    timeline: dict[str, list[Row]]
    timeline_start: date | None
    on_time_rates: list[Row]
    threshold_windows: list[Row]
    quota_history: dict[str, list[Row]]
    gmv: list[Row]
    decisions: list[Row]
    changes: dict[int, list[str]] = field(default_factory=dict)


def agreement_detail(cur: Any, as_of: date, agreement_id: str) -> AgreementDetail | None:
    """Everything the agreement page shows, as of the date; None if the marts know no such agreement then."""
    cur.execute("""select * from marts.commitment_statuses where as_of_date = %s and agreement_id = %s
                    order by pillar, obligor, commitment_id, agreement_version, instance_key""", (as_of, agreement_id))
    rows = [dict(r) for r in cur.fetchall()]
    if not rows:
        return None
    current = [r for r in rows if r["status"] != "superseded"]
    version = max((r["agreement_version"] for r in current), default=max(r["agreement_version"] for r in rows))
    cur.execute("""select * from marts.agreement_versions where agreement_id = %s order by agreement_version""",
                (agreement_id,))
    versions = [dict(r) for r in cur.fetchall()]
    header = next((v for v in versions if v["agreement_version"] == version), None) or {
        "brand_name": rows[0]["brand_name"], "group_name": rows[0]["group_name"], "group_id": rows[0]["group_id"],
        "account_manager_email": rows[0]["account_manager_email"], "agreement_version": version}
    versions = [v for v in versions if v["agreement_version"] <= version]
    cur.execute("""select * from marts.agreement_fulfilment where as_of_date = %s and agreement_id = %s""",
                (as_of, agreement_id))
    fulfilment = {r["obligor"]: dict(r) for r in cur.fetchall()}

    # status history: the snapshot's spells up to the date, one lane per current instance
    cur.execute("""select h.commitment_instance_id, h.status, h.dbt_valid_from::date as valid_from,
                          h.dbt_valid_to::date as valid_to
                     from snapshots.commitment_status_snapshots as h
                    where h.agreement_id = %s and h.dbt_valid_from::date <= %s
                    order by h.commitment_instance_id, h.dbt_valid_from""", (agreement_id, as_of))
    timeline: dict[str, list[Row]] = defaultdict(list)
    for r in cur.fetchall():
        timeline[r["commitment_instance_id"]].append(dict(r))
    lanes = {r["commitment_instance_id"] for r in current}
    timeline = {k: v for k, v in timeline.items() if k in lanes}
    starts = [s["valid_from"] for spells in timeline.values() for s in spells]

    cur.execute("""select * from marts.recurring_on_time_rates where as_of_date = %s and agreement_id = %s
                      and agreement_version = %s order by obligor, pillar, commitment_id""",
                (as_of, agreement_id, version))
    on_time = [dict(r) for r in cur.fetchall()]
    cur.execute("""select * from marts.threshold_windows where as_of_date = %s and agreement_id = %s
                    order by commitment_id, window_start_date""", (as_of, agreement_id))
    windows = [dict(r) for r in cur.fetchall()]
    cur.execute("""select as_of_date, commitment_id, instance_key, progress_value, progress_target, status
                     from marts.commitment_statuses
                    where agreement_id = %s and kind = 'quota' and as_of_date <= %s and status <> 'superseded'
                    order by commitment_id, instance_key, as_of_date""", (agreement_id, as_of))
    quota: dict[str, list[Row]] = defaultdict(list)
    for r in cur.fetchall():
        quota[f"{r['commitment_id']} {r['instance_key']}".strip()].append(dict(r))
    cur.execute("""select * from marts.gmv_pacing where as_of_date = %s and agreement_id = %s order by pacing_month""",
                (as_of, agreement_id))
    gmv = [dict(r) for r in cur.fetchall()]
    cur.execute("""select * from marts.commitment_decisions where agreement_id = %s and recorded_at < %s::date + 1
                    order by recorded_at""", (agreement_id, as_of))
    decisions = [dict(r) for r in cur.fetchall()]
    return AgreementDetail(
        agreement_id=agreement_id, header=header, versions=versions, fulfilment=fulfilment,
        instances=sorted(current, key=lambda r: (PILLARS.index(r["pillar"]) if r["pillar"] in PILLARS else 9,
                                                r["obligor"], r["commitment_id"], r["instance_key"] or "")),
        timeline=dict(sorted(timeline.items())), timeline_start=min(starts) if starts else None,
        on_time_rates=on_time, threshold_windows=windows, quota_history=dict(quota), gmv=gmv, decisions=decisions,
        changes=version_changes(rows),
    )


def version_changes(rows: list[Row]) -> dict[int, list[str]]:
    """What each version changed against the one before, from the commitments both list on the date."""
    by_version: dict[int, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        by_version[r["agreement_version"]].setdefault(r["commitment_id"], r)
    out: dict[int, list[str]] = {}
    versions = sorted(by_version)
    for before, after in zip(versions, versions[1:], strict=False):
        old, new = by_version[before], by_version[after]
        notes = [f"added {c}" for c in sorted(new.keys() - old.keys())]
        notes += [f"removed {c}" for c in sorted(old.keys() - new.keys())]
        for c in sorted(old.keys() & new.keys()):
            for col, label in (("due_date", "due"), ("weight", "weight"), ("commitment_title", "title")):
                if col == "due_date" and new[c]["kind"] == "recurring":
                    continue
                if old[c][col] != new[c][col]:
                    notes.append(f"{c}: {label} {_fmt(old[c][col])} → {_fmt(new[c][col])}")
        out[after] = notes
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, Decimal) and value == int(value):
        return str(int(value))
    return str(value)


# -- groups ---------------------------------------------------------------------------------------------

def group_rows(cur: Any, as_of: date, group_id: str | None = None) -> list[Row]:
    """One row per group: agreements, both sides' weighted scores and counts, the pillar × side heat map."""
    cur.execute("""select * from marts.group_scorecards where as_of_date = %s
                      and (%s::text is null or group_id = %s) order by group_name, group_id""",
                (as_of, group_id, group_id))
    groups: dict[str, Row] = {}
    for r in cur.fetchall():
        g = groups.setdefault(r["group_id"], {"group_id": r["group_id"], "group_name": r["group_name"],
                                              "agreement_count": 0, "heat": {}, "warning_count": 0,
                                              "breached_count": 0, "insufficient_data_count": 0,
                                              "_w": defaultdict(Decimal), "_ws": defaultdict(Decimal)})
        g["agreement_count"] = max(g["agreement_count"], r["agreement_count"])
        g["warning_count"] += r["warning_count"]
        g["breached_count"] += r["breached_count"]
        g["insufficient_data_count"] += r["insufficient_data_count"]
        g["heat"][(r["pillar"], r["obligor"])] = {"score": r["weighted_score"], "breached": r["breached_count"],
                                                  "warning": r["warning_count"], "instances": r["instance_count"]}
        if r["weighted_score"] is not None and r["scored_weight"]:
            g["_w"][r["obligor"]] += r["scored_weight"]
            g["_ws"][r["obligor"]] += r["scored_weight"] * r["weighted_score"]
    cur.execute("""select group_id, count(distinct agreement_id) as agreements from marts.commitment_statuses
                    where as_of_date = %s and (%s::text is null or group_id = %s) group by group_id""",
                (as_of, group_id, group_id))
    counts = {r["group_id"]: r["agreements"] for r in cur.fetchall()}
    for g in groups.values():
        g["agreement_count"] = counts.get(g["group_id"], g["agreement_count"])
        for side in SIDES:
            w = g["_w"].get(side)
            g[f"{side}_score"] = round(g["_ws"][side] / w, 4) if w else None
        del g["_w"], g["_ws"]
    return list(groups.values())
