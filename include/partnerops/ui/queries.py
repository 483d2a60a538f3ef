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

from partnerops.ui.words import ATTENTION_STATUSES, PILLARS, SIDES, STATUS_LABELS, STATUSES, status_rank

__all__ = [
    "SORT_KEYS", "Filters", "MartsInfo", "NoMarts", "Page", "agreement_detail", "attention_queue", "fetch_all",
    "fetch_one", "filter_options", "group_rows", "marts_info", "portfolio", "portfolio_headline",
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
    if not fetch_one(cur)["ok"]:
        raise NoMarts("the marts have not been built yet: run commitment tracking (the commitment_tracking DAG "
                      "or `partnerops status --refresh`)")
    # the dates, newest first, by a skip scan of the primary key (as_of_date, commitment_instance_id)
    cur.execute("""with recursive dates as (
                       select max(as_of_date) as as_of_date from marts.commitment_statuses
                       union all
                       select (select max(as_of_date) from marts.commitment_statuses as s
                                where s.as_of_date < d.as_of_date)
                         from dates d where d.as_of_date is not null
                   )
                   select as_of_date from dates where as_of_date is not null""")
    dates = [r["as_of_date"] for r in fetch_all(cur)]
    if not dates:
        raise NoMarts("the marts hold no commitment statuses yet: run commitment tracking")
    if as_of is not None and as_of not in dates:
        raise NoMarts(f"the marts hold no statuses as of {as_of}; pick one of the dates they hold")
    built_at = None
    cur.execute("select to_regclass('marts.mart_builds') is not null as ok")
    if fetch_one(cur)["ok"]:
        cur.execute("select max(built_at) as built_at from marts.mart_builds")
        built_at = fetch_one(cur)["built_at"]
    return MartsInfo(as_of=as_of or dates[0], dates=dates, built_at=built_at)


# -- portfolio -------------------------------------------------------------------------------------

#: The portfolio's sort keys (query parameter `sort`).
SORT_KEYS: tuple[str, ...] = ("brand", "group", "account_manager", "term", "platform_score", "brand_score",
                              "at_risk", "breached", "gmv_pace", "agreement")


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


#: The portfolio's sort keys, as the SQL expressions they order by (never user input).
_SORT_SQL: dict[str, str] = {
    "brand": "brand_name", "group": "group_name", "account_manager": "account_manager_email",
    "term": "term_start_date", "platform_score": "platform_score", "brand_score": "brand_score",
    "at_risk": "at_risk_count", "breached": "breached_count", "gmv_pace": "pace_index", "agreement": "agreement_id",
}

_FULFILMENT_CTE = """
fulfilment as (
    select agreement_id, min(brand_id) as brand_id, min(brand_name) as brand_name, min(group_id) as group_id,
           min(group_name) as group_name, min(account_manager_email) as account_manager_email,
           max(weighted_score) filter (where obligor = 'platform') as platform_score,
           max(weighted_score) filter (where obligor = 'brand') as brand_score,
           sum(at_risk_count)::integer as at_risk_count, sum(breached_count)::integer as breached_count
      from marts.agreement_fulfilment
     where as_of_date = %(as_of)s
       and (%(am)s::text is null or account_manager_email = %(am)s)
       and (%(group_id)s::text is null or group_id = %(group_id)s)
     group by agreement_id
),
matching as (
    -- with a pillar, side or status filter: the agreements with an instance that matches all three
    select distinct agreement_id
      from marts.commitment_statuses
     where as_of_date = %(as_of)s and status <> 'superseded'
       and (%(pillar)s::text is null or pillar = %(pillar)s)
       and (%(side)s::text is null or obligor = %(side)s)
       and (%(status)s::text is null or status = %(status)s)
),
chosen as (
    select fulfilment.* from fulfilment
     where not %(by_instance)s or agreement_id in (select agreement_id from matching)
)"""

_GMV_TERMS_CTE = """
gmv as (
    select agreement_id, max(gmv_target_amount) as gmv_target_amount,
           max(gmv_target_currency) as gmv_target_currency, max(actual_cumulative_gmv) as actual_gmv,
           max(planned_to_date_gmv) as planned_to_date_gmv, max(pace_index) as pace_index
      from marts.gmv_pacing
     where as_of_date = %(as_of)s and agreement_id in (select agreement_id from {scope})
     group by agreement_id
),
terms as (
    -- the term of the version that applies on the as-of date
    select distinct on (agreement_id) agreement_id, agreement_version, term_start_date, term_end_date
      from marts.agreement_versions
     where effective_from_date <= %(as_of)s and agreement_id in (select agreement_id from {scope})
     order by agreement_id, agreement_version desc
)"""

_PORTFOLIO_COLUMNS = """{rows}.*, terms.agreement_version, terms.term_start_date, terms.term_end_date,
       gmv.actual_gmv, gmv.planned_to_date_gmv, gmv.gmv_target_amount, gmv.gmv_target_currency, gmv.pace_index"""

#: Sorting by a column of the agreement's scores: page first, then GMV and terms for the page only.
_PORTFOLIO_PAGE_FIRST_SQL = """with {fulfilment},
page as (
    select * from chosen order by {order} nulls last, agreement_id limit %(limit)s offset %(offset)s
),
{gmv_terms}
select {columns}
  from page left join gmv using (agreement_id) left join terms using (agreement_id)
 order by {order} nulls last, agreement_id"""

#: Sorting by GMV pace or term: those for every chosen agreement, then the page.
_PORTFOLIO_JOIN_FIRST_SQL = """with {fulfilment},
{gmv_terms}
select {columns}
  from chosen left join gmv using (agreement_id) left join terms using (agreement_id)
 order by {order} nulls last, agreement_id
 limit %(limit)s offset %(offset)s"""

_COUNTS = ("at_risk", "breached", "delivered", "delivered_late", "on_track", "pending", "insufficient_data",
           "excused", "waived")


def fetch_all(cur: Any) -> list[Row]:
    """The cursor's rows as dicts (faster than a dict cursor for wide results)."""
    names = [c.name for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fetch_one(cur: Any) -> Row | None:
    row = cur.fetchone()
    return None if row is None else dict(zip([c.name for c in cur.description], row, strict=True))


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    total: int
    offset: int
    limit: int | None


def portfolio(cur: Any, as_of: date, filters: Filters, *, limit: int | None = None, offset: int = 0,
              details: bool = True) -> Page:
    """The agreements matching the filters, sorted, `limit` of them from `offset`.

    Each row has brand, group, account manager, term, both sides' scores, at-risk and
    breached counts and GMV; with `details`, also counts by status per side and the
    pillar × side heat map (`heat_cells`: per side, per pillar, the worst status and a title).
    """
    params = {"as_of": as_of, "am": filters.account_manager, "group_id": filters.group_id,
              "pillar": filters.pillar, "side": filters.side, "status": filters.status,
              "by_instance": bool(filters.pillar or filters.side or filters.status), "limit": limit, "offset": offset}
    order = _SORT_SQL[filters.sort] + (" desc" if filters.descending else "")
    page_first = filters.sort not in ("gmv_pace", "term")
    template = _PORTFOLIO_PAGE_FIRST_SQL if page_first else _PORTFOLIO_JOIN_FIRST_SQL
    scope = "page" if page_first else "chosen"
    cur.execute(template.format(fulfilment=_FULFILMENT_CTE.strip(),
                                gmv_terms=_GMV_TERMS_CTE.strip().format(scope=scope),
                                columns=_PORTFOLIO_COLUMNS.format(rows=scope), order=order), params)
    rows = fetch_all(cur)
    total = len(rows) + offset
    if limit is not None and (len(rows) == limit or (not rows and offset)):
        cur.execute(f"with {_FULFILMENT_CTE.strip()} select count(*) as n from chosen", params)
        total = fetch_one(cur)["n"]
    if rows and details:
        _add_details(cur, as_of, rows)
    return Page(rows=rows, total=total, offset=offset, limit=limit)


def _add_details(cur: Any, as_of: date, rows: list[Row]) -> None:
    by_id = {r["agreement_id"]: r for r in rows}
    ids = list(by_id)
    for row in rows:
        row["platform_counts"], row["brand_counts"] = {}, {}
        row["heat"] = {}
    cur.execute("""select agreement_id, pillar, obligor, status, count(*) as n
                     from marts.commitment_statuses
                    where as_of_date = %s and status <> 'superseded' and agreement_id = any(%s)
                    group by agreement_id, pillar, obligor, status""", (as_of, ids))
    for agreement_id, pillar, side, status, n in cur.fetchall():
        row = by_id[agreement_id]
        counts = row.setdefault(f"{side}_counts", {})
        counts[status] = counts.get(status, 0) + n
        row["heat"].setdefault((pillar, side), {})[status] = n
    for row in rows:
        for side in SIDES:
            row[f"{side}_counts"] = dict(sorted(row[f"{side}_counts"].items(), key=lambda kv: status_rank(kv[0])))
        cells = []
        for side in SIDES:
            line = []
            for pillar in PILLARS:
                counts = row["heat"].get((pillar, side))
                if not counts:
                    line.append(("none", f"{pillar} · {side}: nothing owed"))
                    continue
                ordered = sorted(counts.items(), key=lambda kv: status_rank(kv[0]))
                line.append((ordered[0][0], f"{pillar} · {side}: "
                             + ", ".join(f"{n} {STATUS_LABELS.get(s, s).lower()}" for s, n in ordered)))
            cells.append(line)
        row["heat_cells"] = cells


def portfolio_headline(cur: Any, as_of: date) -> Row:
    """The whole portfolio: agreements, GMV target and to date against plan, at risk and breached by side."""
    cur.execute("""select count(distinct agreement_id) as agreements, count(distinct group_id) as groups_count
                     from marts.agreement_fulfilment where as_of_date = %s""", (as_of,))
    head: Row = fetch_one(cur) or {}
    cur.execute("""select obligor, sum(at_risk_count)::integer as at_risk, sum(breached_count)::integer as breached
                     from marts.agreement_fulfilment where as_of_date = %s group by obligor""", (as_of,))
    head["by_side"] = {side: {s: 0 for s in ATTENTION_STATUSES} for side in SIDES}
    for r in fetch_all(cur):
        head["by_side"][r["obligor"]] = {"at_risk": r["at_risk"], "breached": r["breached"]}
    cur.execute("""select sum(target) as target, sum(actual) as actual, sum(planned) as planned,
                          min(currency) as currency, count(*) as agreements
                     from (select agreement_id, max(gmv_target_amount) as target, max(gmv_target_currency) as currency,
                                  max(actual_cumulative_gmv) as actual, max(planned_to_date_gmv) as planned
                             from marts.gmv_pacing where as_of_date = %s group by agreement_id) per_agreement""",
                (as_of,))
    gmv = fetch_one(cur)
    head["gmv_target"] = gmv["target"]
    head["gmv_actual"] = gmv["actual"]
    head["gmv_planned"] = gmv["planned"]
    head["gmv_currency"] = (gmv["currency"] or "").strip() or "CNY"
    head["gmv_agreements"] = gmv["agreements"]
    head["share_of_plan"] = (gmv["actual"] / gmv["planned"]) if gmv["actual"] is not None and gmv["planned"] else None
    return head


def filter_options(cur: Any, as_of: date) -> Row:
    """The values the portfolio's filters offer, from the date's statuses."""
    cur.execute("""select distinct account_manager_email from marts.agreement_fulfilment
                    where as_of_date = %s order by 1""", (as_of,))
    ams = [r["account_manager_email"] for r in fetch_all(cur)]
    cur.execute("""select distinct group_id, group_name from marts.agreement_fulfilment
                    where as_of_date = %s order by group_name, group_id""", (as_of,))
    groups = [(r["group_id"], r["group_name"]) for r in fetch_all(cur)]
    return {"account_managers": ams, "groups": groups, "pillars": PILLARS, "sides": SIDES, "statuses": STATUSES}


# -- attention queue -------------------------------------------------------------------------------

_ATTENTION_COLUMNS = (
    "commitment_instance_id", "agreement_id", "brand_name", "account_manager_email", "commitment_id", "instance_key",
    "commitment_title", "pillar", "obligor", "kind", "status", "status_reason", "is_disputed", "due_date",
    "breach_date", "warning_date", "evidence_count", "progress_value", "progress_target", "weight", "as_of_date",
)
_ATTENTION_ORDER = "due_date, (status = 'breached') desc, weight desc, agreement_id, commitment_id, instance_key"


def attention_queue(cur: Any, as_of: date, account_manager: str | None = None, *, limit: int | None = None,
                    offset: int = 0) -> Page:
    """Every at-risk or breached instance on the date, most urgent first, with its decisions so far.

    Most urgent: the earliest due date (the longest overdue), then breached before at
    risk, then the heaviest. `awaiting_decision`: nobody has decided on it or disputed it.
    """
    cur.execute(
        f"""with queue as (
                select {", ".join(_ATTENTION_COLUMNS)}, (due_date - as_of_date) as days_to_due
                  from marts.commitment_statuses
                 where as_of_date = %(as_of)s and status = any(%(statuses)s)
                   and (%(am)s::text is null or account_manager_email = %(am)s)
                 order by {_ATTENTION_ORDER}
                 limit %(limit)s offset %(offset)s
            )
            select queue.*, decided.decisions
              from queue
              left join lateral (
                  select array_agg(d.decision || ' by ' || d.decided_by order by d.recorded_at) as decisions
                    from marts.commitment_decisions as d
                   where d.agreement_id = queue.agreement_id and d.commitment_id = queue.commitment_id
                     and (d.instance_key is null or d.instance_key = queue.instance_key)
                     and d.recorded_at < queue.as_of_date + 1
              ) as decided on true
             order by {_ATTENTION_ORDER}""",
        {"as_of": as_of, "statuses": list(ATTENTION_STATUSES), "am": account_manager, "limit": limit,
         "offset": offset},
    )
    rows = fetch_all(cur)
    for row in rows:
        row["awaiting_decision"] = not row["decisions"] and not row["is_disputed"]
    total = len(rows) + offset
    if limit is not None and (len(rows) == limit or (not rows and offset)):
        cur.execute("""select count(*) as n from marts.commitment_statuses
                        where as_of_date = %(as_of)s and status = any(%(statuses)s)
                          and (%(am)s::text is null or account_manager_email = %(am)s)""",
                    {"as_of": as_of, "statuses": list(ATTENTION_STATUSES), "am": account_manager})
        total = fetch_one(cur)["n"]
    return Page(rows=rows, total=total, offset=offset, limit=limit)


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
    rows = fetch_all(cur)
    if not rows:
        return None
    current = [r for r in rows if r["status"] != "superseded"]
    version = max((r["agreement_version"] for r in current), default=max(r["agreement_version"] for r in rows))
    cur.execute("""select * from marts.agreement_versions where agreement_id = %s order by agreement_version""",
                (agreement_id,))
    versions = fetch_all(cur)
    header = next((v for v in versions if v["agreement_version"] == version), None) or {
        "brand_name": rows[0]["brand_name"], "group_name": rows[0]["group_name"], "group_id": rows[0]["group_id"],
        "account_manager_email": rows[0]["account_manager_email"], "agreement_version": version}
    versions = [v for v in versions if v["agreement_version"] <= version]
    cur.execute("""select * from marts.agreement_fulfilment where as_of_date = %s and agreement_id = %s""",
                (as_of, agreement_id))
    fulfilment = {r["obligor"]: r for r in fetch_all(cur)}

    # status history: the snapshot's spells up to the date, one lane per current instance
    cur.execute("""select h.commitment_instance_id, h.status, h.dbt_valid_from::date as valid_from,
                          h.dbt_valid_to::date as valid_to
                     from snapshots.commitment_status_snapshots as h
                    where h.agreement_id = %s and h.dbt_valid_from::date <= %s
                    order by h.commitment_instance_id, h.dbt_valid_from""", (agreement_id, as_of))
    timeline: dict[str, list[Row]] = defaultdict(list)
    for r in fetch_all(cur):
        timeline[r["commitment_instance_id"]].append(r)
    lanes = {r["commitment_instance_id"] for r in current}
    timeline = {k: v for k, v in timeline.items() if k in lanes}
    starts = [s["valid_from"] for spells in timeline.values() for s in spells]

    cur.execute("""select * from marts.recurring_on_time_rates where as_of_date = %s and agreement_id = %s
                      and agreement_version = %s order by obligor, pillar, commitment_id""",
                (as_of, agreement_id, version))
    on_time = fetch_all(cur)
    cur.execute("""select * from marts.threshold_windows where as_of_date = %s and agreement_id = %s
                    order by commitment_id, window_start_date""", (as_of, agreement_id))
    windows = fetch_all(cur)
    cur.execute("""select as_of_date, commitment_id, instance_key, progress_value, progress_target, status
                     from marts.commitment_statuses
                    where agreement_id = %s and kind = 'quota' and as_of_date <= %s and status <> 'superseded'
                    order by commitment_id, instance_key, as_of_date""", (agreement_id, as_of))
    quota: dict[str, list[Row]] = defaultdict(list)
    for r in fetch_all(cur):
        quota[f"{r['commitment_id']} {r['instance_key']}".strip()].append(r)
    cur.execute("""select * from marts.gmv_pacing where as_of_date = %s and agreement_id = %s order by pacing_month""",
                (as_of, agreement_id))
    gmv = fetch_all(cur)
    cur.execute("""select * from marts.commitment_decisions where agreement_id = %s and recorded_at < %s::date + 1
                    order by recorded_at""", (agreement_id, as_of))
    decisions = fetch_all(cur)
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
    for r in fetch_all(cur):
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
    counts = {r["group_id"]: r["agreements"] for r in fetch_all(cur)}
    for g in groups.values():
        g["agreement_count"] = counts.get(g["group_id"], g["agreement_count"])
        for side in SIDES:
            w = g["_w"].get(side)
            g[f"{side}_score"] = round(g["_ws"][side] / w, 4) if w else None
        del g["_w"], g["_ws"]
    return list(groups.values())
