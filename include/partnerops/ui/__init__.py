"""The Partnerships view: commitment health across the portfolio, served inside the Airflow UI.

`create_app()` is the FastAPI app (pages in `app.py`, SQL in `queries.py`, SVG charts in
`charts.py`, status words in `words.py`, templates in `partnerops/templates/ui/`);
`plugins/partnerops_plugin.py` mounts it under `MOUNT_PREFIX`. The app is imported on first
use, so that tasks naming statuses through `partnerops.ui.words` do not load FastAPI.
"""

from typing import Any

#: Where the Airflow plugin mounts the app on the API server.
MOUNT_PREFIX = "/partnerops"

__all__ = ["DBT_DOCS_SLUG", "MOUNT_PREFIX", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "DBT_DOCS_SLUG"):
        from partnerops.ui import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
