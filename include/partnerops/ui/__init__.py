"""The Partnerships view: commitment health across the portfolio, served inside the Airflow UI.

`create_app()` is the FastAPI app (pages in `app.py`, SQL in `queries.py`, SVG charts in
`charts.py`, status words in `words.py`, templates in `partnerops/templates/ui/`);
`plugins/partnerops_plugin.py` mounts it under `MOUNT_PREFIX`.
"""

from partnerops.ui.app import DBT_DOCS_SLUG, create_app

#: Where the Airflow plugin mounts the app on the API server.
MOUNT_PREFIX = "/partnerops"

__all__ = ["DBT_DOCS_SLUG", "MOUNT_PREFIX", "create_app"]
