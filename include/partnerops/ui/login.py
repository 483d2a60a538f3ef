"""A login requirement for paths of other plugins that do not check it themselves.

Cosmos' dbt docs plugin serves `/cosmos/...` to anyone who can reach the API server. The
Partnerships plugin installs `RequireLogin` as a root middleware for that prefix, so the
docs it links to ask for the same Airflow login as its own pages: a valid JWT in the
`Authorization` header or the UI's `_token` cookie, else 401.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse

__all__ = ["RequireLogin"]


class RequireLogin:
    """ASGI middleware: requests under `prefixes` need an authenticated Airflow user."""

    def __init__(self, app: Any, prefixes: Sequence[str]) -> None:
        self.app = app
        self.prefixes = tuple(p.rstrip("/") + "/" for p in prefixes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (scope["path"].rstrip("/") + "/").startswith(self.prefixes):
            from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
            from airflow.api_fastapi.core_api.security import resolve_user_from_token

            request = Request(scope)
            scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
            token = credentials if scheme.lower() == "bearer" else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
            try:
                await resolve_user_from_token(token)
            except HTTPException as exc:
                await PlainTextResponse(str(exc.detail), status_code=exc.status_code)(scope, receive, send)
                return
        await self.app(scope, receive, send)
