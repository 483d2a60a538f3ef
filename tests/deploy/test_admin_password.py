"""`partnerops admin-password`: the deployment's UI login, from AIRFLOW_ADMIN_PASSWORD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from partnerops.cli import main


def test_admin_password_sets_and_resets_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    passwords = tmp_path / "airflow" / "simple_auth_manager_passwords.json"
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "first0pass")
    assert main(["admin-password"]) == 0
    assert json.loads(passwords.read_text()) == {"admin": "first0pass"}
    assert passwords.stat().st_mode & 0o077 == 0
    assert "first0pass" not in capsys.readouterr().out
    # Running it again is safe; a new value in .env replaces the old one, other users stay.
    passwords.write_text(json.dumps({"admin": "first0pass", "viewer": "v"}))
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "second0pass")
    assert main(["admin-password"]) == 0 and main(["admin-password"]) == 0
    assert json.loads(passwords.read_text()) == {"admin": "second0pass", "viewer": "v"}


def test_admin_password_without_the_variable_is_a_plain_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PARTNEROPS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_ADMIN_PASSWORD", raising=False)
    assert main(["admin-password"]) == 1
    assert "AIRFLOW_ADMIN_PASSWORD is not set" in capsys.readouterr().err
    assert not (tmp_path / "airflow").exists()
