"""The Partnerships view: a FastAPI app of server-rendered pages over the dbt marts.

`create_app()` builds it; the Airflow plugin (`plugins/partnerops_plugin.py`) mounts it
under `/partnerops` and adds a "Partnerships" entry to the UI's navigation. Every route
requires an authenticated Airflow user, resolved by Airflow's own `get_user` (the JWT in
the `Authorization` header or the UI's `_token` cookie); an anonymous browser is sent to
the login page, any other anonymous request gets 401.

Pages (query parameter `as_of` picks any date the marts hold; default the latest):
- `/`: the portfolio, one row per agreement (filters, sorting, `/portfolio.csv`);
- `/attention`: every at-risk or breached instance, most urgent first;
- `/agreements/{agreement_id}`: one agreement, both sides, status timeline, pacing;
- `/groups` and `/groups/{group_id}`: the same roll-up by group.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
import psycopg2
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from partnerops.dbt import PG_OPTIONS
from partnerops.errors import UserError
from partnerops.settings import AIRFLOW_CONN_ID, DBT_DOCS_SLUG, FEED_TIMEZONE
from partnerops.ui import charts, queries
from partnerops.ui.words import PILLARS, SIDES, STATUS_LABELS, plain_reason

__all__ = ["DBT_DOCS_SLUG", "create_app"]

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "ui"

#: Rows per page of the portfolio and the attention queue (the CSV has every row).
PAGE_SIZE = 100

#: The columns of the portfolio table and its CSV, in order: (header, row key).
PORTFOLIO_COLUMNS: tuple[tuple[str, str], ...] = (
    ("agreement_id", "agreement_id"), ("brand", "brand_name"), ("group", "group_name"),
    ("account_manager", "account_manager_email"), ("term_start", "term_start_date"), ("term_end", "term_end_date"),
    ("platform_score", "platform_score"), ("brand_score", "brand_score"), ("at_risk", "at_risk_count"),
    ("breached", "breached_count"), ("gmv_to_date", "actual_gmv"), ("gmv_plan_to_date", "planned_to_date_gmv"),
    ("gmv_target", "gmv_target_amount"), ("gmv_pace", "pace_index"),
)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(STATUS_LABELS=STATUS_LABELS, PILLARS=PILLARS, SIDES=SIDES, plain_reason=plain_reason,
                       charts=charts)
    env.filters.update(score=_score, money=_money, pct=_pct, label=lambda s: STATUS_LABELS.get(s, s),
                       local=_local_time)
    return env


def _local_time(value: datetime) -> str:
    """An instant in the operations' time zone (the agreements' and the Airflow UI's default)."""
    return value.astimezone(ZoneInfo(FEED_TIMEZONE)).strftime("%Y-%m-%d %H:%M %Z")


def _score(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2f}"


def _money(value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    for size, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(v) >= size:
            return f"{v / size:,.2f}{suffix}"
    return f"{v:,.0f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{float(value) * 100:.0f}%"


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _parse_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise HTTPException(400, f"as_of must be a date written YYYY-MM-DD, not {raw!r}") from None


def create_app(*, database_url: Callable[[], str] | str | None = None, airflow_base: str = "") -> FastAPI:
    """The Partnerships app; `database_url` (or a function giving it) defaults to the `partnerops_db` connection.

    `airflow_base` is the path Airflow's UI is served under (empty at the root), for links
    to DAGs, Required Actions and the dbt docs.
    """
    from airflow.api_fastapi.core_api.security import get_user  # the UI's own user resolution

    app = FastAPI(title="Partnerships", dependencies=[Depends(get_user)], docs_url=None, redoc_url=None,
                  openapi_url=None)
    templates = _templates()
    resolved: dict[str, str] = {}

    def url() -> str:
        if "url" not in resolved:
            from partnerops.db import database_url as resolve

            resolved["url"] = ((database_url() if callable(database_url) else database_url)
                               or resolve(conn_id=AIRFLOW_CONN_ID))
        return resolved["url"]

    @contextmanager
    def cursor() -> Iterator[Any]:
        try:
            target = url()
        except UserError as exc:  # no connection `partnerops_db`: say how to define it
            raise HTTPException(503, str(exc)) from None
        try:
            # JIT compilation costs seconds on these short queries and saves nothing (as for dbt)
            conn = psycopg2.connect(target, application_name="partnerops-ui", connect_timeout=10, options=PG_OPTIONS)
        except psycopg2.Error as exc:
            log.warning("Partnerships view: cannot connect to the project database: %s", exc)
            raise HTTPException(503, f"cannot reach the project database (connection {AIRFLOW_CONN_ID!r}): "
                                     f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") from None
        try:
            conn.set_session(readonly=True, autocommit=False)
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (401, 403) and "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            try:
                login = get_auth_manager().get_url_login(next_url=str(request.url))
            except Exception:  # noqa: BLE001 - no login page known: plain 401
                login = None
            if login:
                return RedirectResponse(login, status_code=303)
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_error_page(exc.status_code, str(exc.detail)), status_code=exc.status_code)
        return Response(str(exc.detail), status_code=exc.status_code, media_type="text/plain",
                        headers=getattr(exc, "headers", None))

    def page(request: Request, template: str, info: queries.MartsInfo | None, **context: Any) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")

        def link(path: str, **params: Any) -> str:
            query = {k: v for k, v in params.items() if v not in (None, "")}
            if info is not None and not info.is_latest and "as_of" not in query:
                query["as_of"] = info.as_of.isoformat()
            return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")

        body = templates.get_template(template).render(
            info=info, link=link, base=base, airflow=airflow_base.rstrip("/"),
            docs=f"{airflow_base.rstrip('/')}/cosmos/{DBT_DOCS_SLUG}/dbt_docs_index.html",
            path=request.url.path, query=dict(request.query_params), **context)
        return HTMLResponse(body)

    def load(as_of_raw: str | None, cur: Any) -> queries.MartsInfo:
        try:
            return queries.marts_info(cur, _parse_date(as_of_raw))
        except queries.NoMarts as exc:
            raise HTTPException(404, str(exc)) from None

    def filters_from(request: Request) -> queries.Filters:
        q = request.query_params
        try:
            return queries.Filters(account_manager=q.get("account_manager") or None, group_id=q.get("group") or None,
                                   pillar=q.get("pillar") or None, side=q.get("side") or None,
                                   status=q.get("status") or None, sort=q.get("sort") or "brand",
                                   descending=q.get("desc") in ("1", "true"))
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def portfolio_page(request: Request, as_of: str | None = None, page_number: int = Query(1, alias="page", ge=1),
                       ) -> HTMLResponse:
        filters = filters_from(request)
        with cursor() as cur:
            info = load(as_of, cur)
            shown = queries.portfolio(cur, info.as_of, filters, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
            headline = queries.portfolio_headline(cur, info.as_of)
            options = queries.filter_options(cur, info.as_of)
        return page(request, "portfolio.html", info, shown=shown, rows=shown.rows, headline=headline,
                    options=options, filters=filters, page_number=page_number)

    @app.get("/portfolio.csv")
    def portfolio_csv(request: Request, as_of: str | None = None) -> Response:
        filters = filters_from(request)
        with cursor() as cur:
            info = load(as_of, cur)
            rows = queries.portfolio(cur, info.as_of, filters, details=False).rows
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([h for h, _ in PORTFOLIO_COLUMNS])
        for row in rows:
            writer.writerow([_csv_value(row.get(key)) for _, key in PORTFOLIO_COLUMNS])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="portfolio_{info.as_of.isoformat()}.csv"'})

    @app.get("/attention", response_class=HTMLResponse)
    def attention_page(request: Request, as_of: str | None = None, account_manager: str | None = None,
                       page_number: int = Query(1, alias="page", ge=1)) -> HTMLResponse:
        with cursor() as cur:
            info = load(as_of, cur)
            shown = queries.attention_queue(cur, info.as_of, account_manager or None, limit=PAGE_SIZE,
                                            offset=(page_number - 1) * PAGE_SIZE)
            options = queries.filter_options(cur, info.as_of)
        return page(request, "attention.html", info, shown=shown, rows=shown.rows, options=options,
                    account_manager=account_manager or "", page_number=page_number)

    @app.get("/agreements/{agreement_id}", response_class=HTMLResponse)
    def agreement_page(request: Request, agreement_id: str, as_of: str | None = None) -> HTMLResponse:
        with cursor() as cur:
            info = load(as_of, cur)
            detail = queries.agreement_detail(cur, info.as_of, agreement_id)
        if detail is None:
            raise HTTPException(404, f"no agreement {agreement_id!r} in the marts as of {info.as_of}")
        return page(request, "agreement.html", info, a=detail)

    @app.get("/groups", response_class=HTMLResponse)
    def groups_page(request: Request, as_of: str | None = None) -> HTMLResponse:
        with cursor() as cur:
            info = load(as_of, cur)
            groups = queries.group_rows(cur, info.as_of)
        return page(request, "groups.html", info, groups=groups)

    @app.get("/groups/{group_id}", response_class=HTMLResponse)
    def group_page(request: Request, group_id: str, as_of: str | None = None) -> HTMLResponse:
        with cursor() as cur:
            info = load(as_of, cur)
            groups = queries.group_rows(cur, info.as_of, group_id)
            if not groups:
                raise HTTPException(404, f"no group {group_id!r} in the marts as of {info.as_of}")
            rows = queries.portfolio(cur, info.as_of, queries.Filters(group_id=group_id)).rows
        return page(request, "group.html", info, g=groups[0], rows=rows)

    return app


def _error_page(status: int, message: str) -> str:
    from markupsafe import escape

    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Partnerships: {status}</title></head>"
            f"<body style='font-family:sans-serif;margin:2em'><h1>Partnerships</h1><p>{escape(message)}</p>"
            f"<p><a href='./'>Back to the portfolio</a></p></body></html>")
