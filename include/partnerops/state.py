"""Shared state off the local disk: one base, `PARTNEROPS_STATE_BASE`, read and written through
Airflow's `ObjectStoragePath`.

Everything several hosts must see lives under that base, in the same layout as `var/`:

    registry/agreements.json   the registry snapshot (intake writes it; agreement DAG files read it)
    dbt/manifest.json          the dbt manifest (`partnerops dbt-manifest`; the tracking DAG renders from it)
    dbt/docs/                  the dbt docs (the tracking DAG writes them; the UI's dbt docs page serves them)
    inbox/agreements/          agreement documents delivered for intake
    inbox/evidence/<feed>/     evidence feed files delivered for loading
    quarantine/                agreement documents set aside by intake, next to a note of why

- A `file://` base (the default is `file://<PARTNEROPS_DATA_DIR>`) is used in place: a shared
  volume mounted on every host, or one host's `var/`. Nothing is copied.
- Any other base (`s3://<conn_id>@bucket/prefix`, `gs://...`, through the provider's
  filesystem) has a local copy under `<PARTNEROPS_DATA_DIR>/state` (`Settings.shared_dir`):
  a task `pull`s what it reads before its work and `push`es what it wrote after it. dbt,
  Cosmos' parser and PostgreSQL's COPY read local files, so they work on that copy.

DAG parsing reads object storage (the registry, the manifest), never the database.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from partnerops.settings import Settings, get_settings

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "REGISTRY", "DBT_DOCS", "AGREEMENTS_INBOX", "EVIDENCE_INBOX", "QUARANTINE",
           "state_root", "is_remote", "pull", "push"]

#: Places under the base (relative paths, the same under the local copy).
REGISTRY = "registry/agreements.json"
MANIFEST = "dbt/manifest.json"
DBT_DOCS = "dbt/docs"
AGREEMENTS_INBOX = "inbox/agreements"
EVIDENCE_INBOX = "inbox/evidence"
QUARANTINE = "quarantine"


def state_root(settings: Settings | None = None) -> Any:
    """The base as an `ObjectStoragePath`."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath((settings or get_settings()).state_base)


def is_remote(settings: Settings | None = None) -> bool:
    """Whether the base is object storage with a local copy (anything but `file://`)."""
    return not (settings or get_settings()).state_base.startswith("file://")


def pull(relative: str, settings: Settings | None = None, *, root: Any = None, local: Path | None = None) -> int:
    """Copy `relative` (a file, or a folder and everything in it) from the base to the local copy.

    A file already there with the same size is kept (feed files and documents do not change
    once delivered; the registry and the manifest are rewritten whole, so a new one differs).
    Returns the number of files copied; a no-op for a `file://` base. `root`/`local` replace
    the base and the local copy (tests).
    """
    settings = settings or get_settings()
    if root is None and not is_remote(settings):
        return 0
    root = root if root is not None else state_root(settings)
    local = local if local is not None else settings.shared_dir
    source = root / relative
    if not source.exists():
        return 0
    files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
    copied = 0
    for remote in files:
        target = local / relative / str(remote.relative_to(source)) if remote != source else local / relative
        if target.is_file() and target.stat().st_size == remote.stat()["size"] and remote != source:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as out, remote.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
        copied += 1
    if copied:
        log.info("pulled %d file(s) of %s from %s", copied, relative, root)
    return copied


def push(relative: str, settings: Settings | None = None, *, root: Any = None, local: Path | None = None) -> int:
    """Copy `relative` (a file, or a folder and everything in it) from the local copy to the base.

    Files already there with the same size are skipped, except a single file, which is
    always written (the registry, the manifest). Returns the number of files copied; a no-op
    for a `file://` base.
    """
    settings = settings or get_settings()
    if root is None and not is_remote(settings):
        return 0
    root = root if root is not None else state_root(settings)
    local = local if local is not None else settings.shared_dir
    source = local / relative
    if not source.exists():
        return 0
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    copied = 0
    for path in files:
        target = root / relative / str(path.relative_to(source)) if path != source else root / relative
        if path != source and target.exists() and target.stat()["size"] == path.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        copied += 1
    if copied:
        log.info("pushed %d file(s) of %s to %s", copied, relative, root)
    return copied
