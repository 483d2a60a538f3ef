"""The registry snapshot: the current agreements and their commitments, as a small JSON file.

Intake writes it after every run; DAG files read it at parse time, so that generating one
DAG per agreement never touches the database. Keep `read_registry` free of heavy imports.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

REGISTRY_FORMAT = 1


def registry_entry(agreement: Any) -> dict[str, Any]:
    """The registry's view of one `Agreement`: enough for DAG ids, tags and doc_md."""
    return {
        "agreement_id": agreement.agreement_id,
        "version": agreement.version,
        "title": agreement.title,
        "brand": {"id": agreement.brand_id, "name": agreement.brand_name},
        "group": {"id": agreement.group_id, "name": agreement.group_name},
        "signed_date": agreement.signed_date.isoformat(),
        "term": {"start": agreement.term_start.isoformat(), "end": agreement.term_end.isoformat()},
        "timezone": agreement.timezone,
        "account_manager": {"name": agreement.account_manager.name, "email": agreement.account_manager.email},
        "gmv_target": {"amount": agreement.gmv_target_amount, "currency": agreement.gmv_target_currency},
        "pillars": agreement.pillars,
        "commitments": [
            {
                "id": c.id,
                "title": c.title,
                "pillar": c.pillar,
                "service": c.service,
                "obligor": c.obligor,
                "kind": c.kind,
                "due": c.due.isoformat() if c.due else None,
                "weight": c.weight,
                "depends_on": c.depends_on,
            }
            for c in agreement.commitments
        ],
    }


def write_registry(path: Path, entries: list[dict[str, Any]]) -> bool:
    """Write the snapshot atomically; returns False (and leaves the file alone) if unchanged.

    Leaving an unchanged file untouched keeps its mtime, so Airflow does not re-parse the
    per-agreement DAG files for nothing.
    """
    body = json.dumps(
        {"format": REGISTRY_FORMAT, "agreements": sorted(entries, key=lambda e: e["agreement_id"])},
        ensure_ascii=False,
        indent=1,
        sort_keys=True,
    )
    if path.exists() and path.read_text("utf-8") == body:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".agreements.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(body)
    os.replace(tmp, path)
    return True


def read_registry(path: Path) -> list[dict[str, Any]]:
    """The current agreements from the snapshot; an absent snapshot means none yet."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        return []
    return list(data.get("agreements", []))
