"""Shared state under one base (`partnerops.state`, `PARTNEROPS_STATE_BASE`).

A `file://` base is used in place; any other base has a local copy that tasks pull from and
push to. The copying is the same for every filesystem of `ObjectStoragePath`, so it is tested
here between two local folders, the "remote" one named by a `file://` base.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from partnerops import state
from partnerops.settings import airflow_environ, get_settings


@pytest.fixture
def remote(tmp_path: Path):
    from airflow.sdk import ObjectStoragePath

    (tmp_path / "remote").mkdir()
    return ObjectStoragePath((tmp_path / "remote").as_uri())


def test_by_default_the_base_is_the_data_folder_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("PARTNEROPS_STATE_BASE", raising=False)
    monkeypatch.delenv("PARTNEROPS_AGREEMENTS_INBOX", raising=False)
    settings = get_settings()
    assert settings.state_base == (tmp_path / "var").as_uri() and not state.is_remote(settings)
    assert settings.registry_path == tmp_path / "var" / state.REGISTRY
    assert settings.dbt_manifest_path == tmp_path / "var" / state.MANIFEST
    assert settings.agreements_inbox == tmp_path / "var" / state.AGREEMENTS_INBOX
    assert state.pull(state.REGISTRY, settings) == 0 and state.push(state.REGISTRY, settings) == 0


def test_a_shared_folder_base_holds_the_state_of_every_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "host-a"))
    monkeypatch.setenv("PARTNEROPS_STATE_BASE", (tmp_path / "shared").as_uri())
    monkeypatch.delenv("PARTNEROPS_AGREEMENTS_INBOX", raising=False)
    settings = get_settings()
    assert settings.evidence_inbox == tmp_path / "shared" / state.EVIDENCE_INBOX
    assert settings.quarantine_dir == tmp_path / "shared" / state.QUARANTINE
    env = airflow_environ(settings)
    assert env["PARTNEROPS_STATE_BASE"] == (tmp_path / "shared").as_uri()
    assert str(tmp_path / "shared" / "dbt" / "docs") in env["AIRFLOW__COSMOS__DBT_DOCS_PROJECTS"]


def test_object_storage_has_a_local_copy_and_the_ui_reads_docs_from_the_base(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PARTNEROPS_STATE_BASE", "s3://aws_default@ops-bucket/partnerops")
    monkeypatch.delenv("PARTNEROPS_AGREEMENTS_INBOX", raising=False)
    settings = get_settings()
    assert state.is_remote(settings)
    assert settings.registry_path == tmp_path / "var" / "state" / state.REGISTRY
    assert settings.dbt_docs_location == "s3://aws_default@ops-bucket/partnerops/dbt/docs"


def test_pull_and_push_copy_files_and_folders_once(tmp_path: Path, remote):
    local = tmp_path / "local"
    inbox = remote / state.EVIDENCE_INBOX / "orders"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "orders_2026-05-01.csv").write_text("a,b\n1,2\n")
    (inbox / "orders_2026-05-02.csv").write_text("a,b\n3,4\n")
    assert state.pull(f"{state.EVIDENCE_INBOX}/orders", root=remote, local=local) == 2
    assert (local / state.EVIDENCE_INBOX / "orders" / "orders_2026-05-02.csv").read_text() == "a,b\n3,4\n"
    # delivered files do not change: a second pull copies only what is new
    (inbox / "orders_2026-05-03.csv").write_text("a,b\n5,6\n")
    assert state.pull(f"{state.EVIDENCE_INBOX}/orders", root=remote, local=local) == 1
    assert not list(local.rglob("*.part")), "a partial download is left behind"
    # a single file (the registry, the manifest) is always written whole, both ways
    (local / "registry").mkdir()
    (local / state.REGISTRY).write_text('{"agreements": []}')
    assert state.push(state.REGISTRY, root=remote, local=local) == 1
    assert (remote / state.REGISTRY).read_text() == '{"agreements": []}'
    (remote / state.REGISTRY).write_text('{"agreements": [1]}')
    assert state.pull(state.REGISTRY, root=remote, local=local) == 1
    assert (local / state.REGISTRY).read_text() == '{"agreements": [1]}'
    # nothing at the base: nothing to pull
    assert state.pull(state.MANIFEST, root=remote, local=local) == 0


def test_intake_pushes_its_registry_and_quarantine_to_an_object_storage_base(
        project_env: Path, db_url: str, tmp_path: Path, remote, monkeypatch: pytest.MonkeyPatch):
    """The wiring: with a base that is not the local folder, what intake writes reaches the base."""
    from partnerops.intake import run_intake

    monkeypatch.setattr(state, "is_remote", lambda settings=None: True)
    monkeypatch.setattr(state, "state_root", lambda settings=None: remote)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "broken.yaml").write_text("format: 1\nagreement_id: [not, valid\n")
    report = run_intake([docs], database_url=db_url, triggered_by="test")
    assert report.count("quarantined") == 1
    assert (remote / state.REGISTRY).exists()
    assert [p.name for p in (remote / state.QUARANTINE).iterdir() if p.name.endswith("broken.yaml")]
