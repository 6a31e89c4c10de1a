"""The real service on a free local port, with the demo county, driven by Debian's Chromium.

The service runs as ./scripts/run runs it (gunicorn, the app factory, the demo county on the
emulator), with a publicity period of zero days so a product can be certified within a test.
Screenshots, PDFs and the service's log go to test-artifacts/, or to the directory TEST_ARTIFACTS_DIR
names; the run's summary says where.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts").resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DEMO_PASSWORD = "demo-pass-2020"
# Chromium on a closed network: no background calls home, no sandbox as root, a fresh profile.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_SECONDS = 300

pytestmark = pytest.mark.browser


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(f"Browser test artefacts (screenshots, PDFs, the service's log): {ARTIFACTS}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the service did not start in {START_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """The service as ./scripts/run starts it, on a free port, with the demo county loaded."""
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "service.log"
    env = {key: value for key, value in os.environ.items() if key not in {"MONGO_URI", "TEST_MONGO_URI"}}
    env.update(
        {
            "PORT": str(port),
            "DEMO_ON_START": "true",
            "PUBLICITY_DAYS": "0",
            "SECRET_KEY": "browser-test-secret",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [gunicorn, "--config", "gunicorn.conf.py", "service:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium.")
    with sync_playwright() as playwright:
        # Playwright starts Chromium headless with a new, empty profile directory every time.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Browser, base_url: str):
    """new_page(width=1366, height=768) -> a Page in a fresh context (no cookies) on the service."""
    contexts = []

    def _new(width: int = 1366, height: int = 768) -> Page:
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}, locale="zh-CN"
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        # Confirmation prompts (data-confirm) are answered yes, as the clerk would.
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    yield _new
    for context in contexts:
        context.close()


def log_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_contain_text(username)


def yuan_to_fen(text: str) -> int:
    """The first yuan figure in a page's text ('销售额 1,234.56元') as integer fen."""
    found = re.search(r"(-?)([\d,]+)\.(\d{2})", text)
    assert found, f"no yuan amount in {text!r}"
    sign, whole, cents = found.groups()
    return (-1 if sign else 1) * (int(whole.replace(",", "")) * 100 + int(cents))


def screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
