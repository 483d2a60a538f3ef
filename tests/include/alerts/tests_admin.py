"""The test server, for the alert tests that need a database of their own."""

from __future__ import annotations

import os

ADMIN_URL = os.environ.get("PARTNEROPS_TEST_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
