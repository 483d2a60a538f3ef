"""No secret in the repository: detect-secrets scans every file git would commit.

`.secrets.baseline` lists what the scan finds today, each one reviewed and not a secret
(placeholders such as `postgresql://user:password@host`, and the names of Kubernetes
secrets). A finding that is not in it fails the test: remove the secret (read it from the
environment or a secret store), or, for a false alarm, mark the line with
`# pragma: allowlist secret` or refresh the baseline and review it:

    .venv/bin/detect-secrets scan --baseline .secrets.baseline && .venv/bin/detect-secrets audit .secrets.baseline
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from detect_secrets.core import baseline
from detect_secrets.core.secrets_collection import SecretsCollection

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = REPO_ROOT / ".secrets.baseline"


def repository_files() -> list[str]:
    """What `git add -A` would commit (tracked files and new ones .gitignore lets through), but the baseline."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                         check=True, capture_output=True).stdout.decode()
    return sorted(f for f in out.split("\0") if f and f != BASELINE.name and (REPO_ROOT / f).is_file())


def new_secrets(files: list[str], root: Path = REPO_ROOT) -> list[str]:
    """Findings in `files` (paths relative to `root`) that the baseline does not list, as `file:line: type`."""
    known = baseline.load(baseline.load_from_file(str(BASELINE)), str(BASELINE))  # also applies its settings
    found = SecretsCollection()
    cwd = os.getcwd()
    os.chdir(root)  # findings are compared by file name, relative as in the baseline
    try:
        # no process pool: its children would inherit the test run's signal handlers
        found.scan_files(*files, num_processors=1)
    finally:
        os.chdir(cwd)
    return sorted(f"{name}:{secret.line_number}: {secret.type}" for name, secret in (found - known))


def test_the_repository_holds_no_secret_beyond_the_reviewed_baseline() -> None:
    files = repository_files()
    assert "README.md" in files and "tests/test_secrets.py" in files
    new = new_secrets(files)
    assert new == [], "possible secrets (see this test's docstring):\n" + "\n".join(new)


def test_a_committed_secret_would_be_found(tmp_path: Path) -> None:
    """The scan is not blind: a key and a URL with a password in a new file fail it."""
    leak = tmp_path / "settings_local.py"
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Jd0aQ3b"  # pragma: allowlist secret
    url = "postgresql://partnerops:Tr0ub4dor-and-3@db.internal:5432/partnerops"  # pragma: allowlist secret
    leak.write_text(f'AWS_SECRET_ACCESS_KEY = "{key}"\nDATABASE_URL = "{url}"\n')
    new = new_secrets([leak.name], root=tmp_path)
    assert any(line.startswith("settings_local.py:1:") for line in new), new
    assert "settings_local.py:2: Basic Auth Credentials" in new, new
