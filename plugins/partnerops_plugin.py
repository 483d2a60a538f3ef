"""The Partnerships view in the Airflow UI.

Mounts the FastAPI app of `partnerops.ui` under `/partnerops` and adds a top-level
"Partnerships" entry to the navigation, which shows the app inside the UI
(`/plugin/partnerships`). The pages read the dbt marts through the `partnerops_db`
connection and require a logged-in Airflow user, as do the dbt docs that Cosmos' plugin
serves under `/cosmos/partnerops/`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from partnerops.settings import DBT_DOCS_SLUG
from partnerops.ui import MOUNT_PREFIX, create_app
from partnerops.ui.login import RequireLogin

_BASE_PATH = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


class PartnershipsPlugin(AirflowPlugin):
    name = "partnerops"
    fastapi_apps: list[dict[str, Any]] = [
        {"name": "partnerships", "app": create_app(airflow_base=_BASE_PATH), "url_prefix": MOUNT_PREFIX},
    ]
    # Cosmos' dbt docs plugin does not check the login; the docs need the same login as these pages.
    fastapi_root_middlewares: list[dict[str, Any]] = [
        {"name": "dbt docs login", "middleware": RequireLogin, "args": [],
         "kwargs": {"prefixes": [f"{_BASE_PATH}/cosmos/{DBT_DOCS_SLUG}"]}},
    ]
    external_views: list[dict[str, Any]] = [
        {
            "name": "Partnerships",
            "href": f"{_BASE_PATH}{MOUNT_PREFIX}/",
            "url_route": "partnerships",
            "destination": "nav",
            "nav_top_level": True,
        },
    ]
