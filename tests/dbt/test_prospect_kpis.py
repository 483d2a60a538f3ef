"""Prospect KPIs kept by difference: run after run as orders arrive, they equal a count of everything at once.

One brand's customers over 2026, with the cases the differences must get right: a customer who
becomes a repeat customer between two runs (c2), one who comes back after 8 months (c1:
dormant in between, then reactivated), one retained (c3), an order that arrives late for an
earlier month after that month's KPIs were counted (c4), and a late order for a month before
a customer's first one, which turns that customer's first month from March into February (c5).
"""

from __future__ import annotations

from datetime import date

import pytest
from tracking_data import add_order, dbt, local, query

pytestmark = pytest.mark.integration

SELECT = ("--select", "+prospect_kpis", "--exclude", "test_type:unit")
ORDERS = [  # id, customer, business date, delivered
    ("P1", "c1", date(2026, 1, 10), date(2026, 1, 11)),
    ("P2", "c2", date(2026, 1, 12), date(2026, 1, 13)),
    ("P3", "c2", date(2026, 1, 20), date(2026, 1, 21)),
    ("P4", "c3", date(2026, 2, 3), date(2026, 2, 4)),
    ("P5", "c3", date(2026, 3, 1), date(2026, 3, 2)),
    ("P6", "c4", date(2026, 2, 27), date(2026, 3, 20)),
    ("P7", "c5", date(2026, 3, 5), date(2026, 3, 6)),
    ("P8", "c5", date(2026, 2, 10), date(2026, 4, 2)),
    ("P9", "c1", date(2026, 9, 5), date(2026, 9, 6)),
]
KPIS = """select to_char(kpi_month, 'YYYY-MM'), active_customers, new_customers, retained_customers,
                 reactivated_customers, dormant_customers, repeat_customers, order_count
            from marts.prospect_kpis order by kpi_month"""


def _arrive(url: str, by: date) -> None:
    for order_id, customer, day, delivered in ORDERS:
        if delivered <= by and not query(url, "select 1 from raw.orders where order_id = %s", (order_id,)):
            add_order(url, order_id, "B0001", customer, day, local(delivered, 0))


def _kpis(url: str) -> dict[str, tuple]:
    return {month: rest for month, *rest in query(url, KPIS)}


def test_prospect_kpis_by_difference_equal_a_full_count(dbt_db_url, dbt_target):
    url = dbt_db_url
    seen = {}
    for as_of in (date(2026, 1, 15), date(2026, 1, 31), date(2026, 3, 10), date(2026, 3, 31), date(2026, 4, 5),
                  date(2026, 9, 30)):
        _arrive(url, as_of)
        dbt(url, dbt_target, "build", *SELECT, as_of=as_of)
        seen[as_of] = _kpis(url)

    # month: active, new, retained, reactivated, dormant, repeat, orders
    assert seen[date(2026, 1, 15)] == {"2026-01": [2, 2, 0, 0, 0, 0, 2]}
    assert seen[date(2026, 1, 31)]["2026-01"] == [2, 2, 0, 0, 0, 1, 3]  # c2's second order: a repeat customer
    assert seen[date(2026, 3, 31)]["2026-02"] == [2, 2, 0, 0, 0, 0, 2]  # c4's late February order counted
    assert seen[date(2026, 3, 31)]["2026-03"] == [2, 1, 1, 0, 0, 0, 2]  # c5 new in March, c3 retained
    final = seen[date(2026, 9, 30)]
    assert final == {
        "2026-01": [2, 2, 0, 0, 0, 1, 3],
        "2026-02": [3, 3, 0, 0, 0, 0, 3],  # c5's late February order makes February c5's first month
        "2026-03": [2, 0, 2, 0, 0, 0, 2],
        "2026-04": [0, 0, 0, 0, 0, 0, 0],
        "2026-05": [0, 0, 0, 0, 0, 0, 0],
        "2026-06": [0, 0, 0, 0, 0, 0, 0],
        "2026-07": [0, 0, 0, 0, 2, 0, 0],  # c1 and c2, 6 months after January
        "2026-08": [0, 0, 0, 0, 3, 0, 0],  # and c4, 6 months after February
        "2026-09": [1, 0, 0, 1, 4, 0, 1],  # c1 back (reactivated, no longer dormant); c3 and c5 dormant
    }

    # the growing tables gathered their statistics themselves (macro analyze_when_changed): the day's
    # filters on them are planned as a day's rows, whether autovacuum runs or not
    analyzed = query(url, """select relname from pg_stat_user_tables
                              where schemaname = 'marts' and last_analyze is not null order by 1""")
    assert {"customer_months", "prospect_kpi_counts"} <= {name for (name,) in analyzed}
    assert query(url, "select count(*) from pg_stats where schemaname = 'marts' and tablename = 'customer_months'")[0][0]

    counts = query(url, "select * from marts.prospect_kpi_counts order by 1")
    dbt(url, dbt_target, "build", *SELECT, "--full-refresh", as_of=date(2026, 9, 30))
    assert _kpis(url) == final
    recounted = query(url, "select * from marts.prospect_kpi_counts order by 1")

    def nonzero(rows):  # a difference that came to nothing leaves a row of zeros behind
        return [r for r in rows if any(v for v in r[3:11])]

    assert nonzero(recounted) == nonzero(counts)
