"""Headless Chromium (Debian's `chromium`, driven by Playwright's Python client) for the UI tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium() -> Iterator[object]:
    """A launched headless browser (Playwright's `Browser`), closed on exit."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield instance
        finally:
            instance.close()


def required_action_form(base_url: str, token: str, path: str, option: str, comment: str, screenshot: Path
                         ) -> tuple[bool, bool, bool]:
    """A Required Action's page in the Airflow UI (`path`), as the person the API token is for.

    Returns (the decision button `option` is disabled with the comment blank, "This field is
    required" is shown, the button is enabled once the comment is filled in); nothing is sent.
    """
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])  # the UI's login cookie
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        tab.goto(f"{base_url}{path}")
        button = tab.get_by_role("button", name=option, exact=True)
        button.wait_for()
        blank_refused = button.is_disabled()
        required_shown = _shows(tab.get_by_text("This field is required").first)
        tab.locator("#element_comment").fill(comment)
        tab.wait_for_function("b => !b.disabled", arg=button.element_handle(), timeout=10_000)
        filled_accepted = button.is_enabled()
        tab.screenshot(path=str(screenshot), full_page=True)
    return blank_refused, required_shown, filled_accepted


def _shows(locator, timeout_ms: int = 10_000) -> bool:
    """Whether the page shows `locator` within `timeout_ms`: the UI renders a form's messages a
    moment after its buttons, later still on a busy machine."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True
