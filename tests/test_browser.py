"""End to end in a real headless Chromium, against the demo served by ``python -m demo``.

The demo runs in a subprocess, exactly as the README starts it (on its
embedded defaults, with a temporary SQLite file and a free port), and
Playwright drives Debian's Chromium. Screenshots of every step go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _missing_service

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_PASSWORD = "browser-test-password"
TIMEOUT_MS = 20_000


@dataclass
class Demo:
    base_url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        _missing_service(f"no browser at {CHROMIUM}: install it with `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_service("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    """``python -m demo --port P`` on a temporary SQLite database, local-memory cache."""
    workdir = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "DEMO_BASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'demo.sqlite3'}",
        DEMO_ADMIN_PASSWORD=ADMIN_PASSWORD,
        PYTHONUNBUFFERED="1",
    )
    log = workdir / "demo.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"python -m demo exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(base_url + "/", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the demo did not answer on {base_url}:\n{log.read_text()}")
                time.sleep(0.3)
        yield Demo(base_url=base_url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def page(chromium, demo):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(base_url=demo.base_url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


@contextmanager
def evidence(demo: Demo, *pages) -> Iterator[None]:
    """On failure, screenshot every open page and print the end of the demo's log."""
    try:
        yield
    except BaseException:
        for number, open_page in enumerate(pages):
            for tab in open_page.context.pages:
                with suppress(Exception):
                    tab.screenshot(path=str(ARTIFACTS / f"failure-{number}.png"), full_page=True)
        print("--- end of the demo's log ---")
        print("\n".join(demo.log.read_text().splitlines()[-40:]))
        raise


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def issue_invitation(page, first_name: str) -> tuple[str, str]:
    """Issue an invitation in the admin; return its one-link URL and uuid, read from the page."""
    page.goto("/admin/django_ticketoffice/ticket/add/")
    page.select_option("#id_target", "museum:visit")
    page.fill("#id_data", f'{{"first_name": "{first_name}"}}')
    page.fill("#id_lifetime", "3d")
    page.click("input[name=_save]")
    link = page.locator("#ticketoffice-url")
    link.wait_for()
    token = page.locator("#ticketoffice-token").inner_text().strip()
    url = link.get_attribute("href")
    assert url is not None
    assert token and url.endswith(f"?ticket={token}"), (token, url)
    return url, page.locator(".ticketoffice-ticket").first.inner_text().strip()


def ticket_count(demo: Demo) -> int:
    with sqlite3.connect(demo.log.parent / "demo.sqlite3") as connection:
        return int(
            connection.execute("SELECT COUNT(*) FROM django_ticketoffice_ticket").fetchone()[0]
        )


def test_invitation_in_a_real_browser(page, demo):
    with evidence(demo, page):
        check_invitation_journey(page, demo)


def check_invitation_journey(page, demo):
    base = demo.base_url

    # 1. Staff log in and issue an invitation; the page shows its link once.
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    url, _uuid = issue_invitation(page, "Grace")
    assert url.startswith(f"{base}/visit/?ticket=")
    # The copy buttons put the token and the link on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    token = page.locator("#ticketoffice-token").inner_text().strip()
    page.click("[data-ticketoffice-copy=ticketoffice-token]")
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.click("[data-ticketoffice-copy=ticketoffice-url]")
    assert page.evaluate("navigator.clipboard.readText()") == url
    shot(page, "1-admin-issued-invitation")
    # Shown once: a reload (which resends the form) shows no credential, issues nothing.
    issued = ticket_count(demo)
    page.reload()
    assert page.locator("#ticketoffice-token").count() == 0
    assert ticket_count(demo) == issued

    # 2. The guest follows the link, lands without the credential in the address bar,
    #    and confirms the visit.
    guest = page.context.browser.new_context(base_url=base)
    visitor = guest.new_page()
    visitor.set_default_timeout(TIMEOUT_MS)
    response = visitor.goto(url)
    assert response is not None and response.status == 200
    assert visitor.url == f"{base}/visit/"
    assert "ticket=" not in visitor.url
    assert visitor.locator("#greeting").inner_text() == "Welcome Grace"
    shot(visitor, "2a-visit-page")
    visitor.click("#confirm")
    visitor.locator("#confirmed").wait_for()
    assert "Your visit is confirmed" in visitor.content()
    shot(visitor, "2b-visit-confirmed")

    # 3. The same link again: "already used".
    response = visitor.goto(url)
    assert response is not None and response.status == 403
    assert visitor.locator("[data-reason]").get_attribute("data-reason") == "used"
    assert "already been used" in visitor.locator("h1").inner_text()
    shot(visitor, "3-link-already-used")

    # 4a. Staff revoke a second invitation with the changelist action, once confirmed.
    second, ticket_uuid = issue_invitation(page, "Hopper")
    page.goto(f"/admin/django_ticketoffice/ticket/?q={ticket_uuid}")
    page.check("input.action-select")
    page.select_option("select[name=action]", "revoke")
    page.click("button[name=index]")
    assert "Revoke 1 ticket?" in page.locator("#ticketoffice-confirm-question").inner_text()
    shot(page, "4a-admin-revoke-confirmation")
    page.click("#ticketoffice-confirm")
    assert "1 ticket was revoked" in page.locator(".messagelist").inner_text()
    shot(page, "4a-admin-revoked-by-action")
    response = visitor.goto(second)
    assert response is not None and response.status == 403
    assert visitor.locator("[data-reason]").get_attribute("data-reason") == "revoked"
    shot(visitor, "4b-revoked-link-refused")

    # 4c. And a third one with the revoke button of its change page.
    third, _uuid = issue_invitation(page, "Lovelace")
    page.click(".ticketoffice-ticket")
    page.click("#ticketoffice-revoke")
    page.click("#ticketoffice-confirm")
    assert "The ticket was revoked" in page.locator(".messagelist").inner_text()
    shot(page, "4c-admin-revoked-by-button")
    response = visitor.goto(third)
    assert response is not None and response.status == 403
    assert visitor.locator("[data-reason]").get_attribute("data-reason") == "revoked"
    shot(visitor, "4d-revoked-link-refused")

    # 5. Re-issue the revoked ticket: a fresh link, shown once, that works.
    page.click("#ticketoffice-reissue")
    page.click("#ticketoffice-confirm")
    fresh = page.locator("#ticketoffice-url").get_attribute("href")
    assert fresh is not None and fresh != third
    shot(page, "5-admin-reissued")
    response = visitor.goto(fresh)
    assert response is not None and response.status == 200
    assert visitor.locator("#greeting").inner_text() == "Welcome Lovelace"
    guest.close()

    # 6. The changelist fits a 1366-pixel screen: no horizontal scrolling.
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/admin/django_ticketoffice/ticket/")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth,"
        " document.querySelector('#result_list').getBoundingClientRect().right]"
    )
    shot(page, "6-changelist-1366")
    assert widths[0] <= 1366 and widths[1] <= 1366, widths


def test_sign_in_with_a_code_in_a_real_browser(page, demo, chromium):
    with evidence(demo, page):
        check_code_journey(page, demo, chromium)


def check_code_journey(page, demo, chromium):
    base = demo.base_url

    # 1. Ask for a code with the admin's address; the demo's mailbox shows it.
    page.goto("/accounts/sign-in/")
    page.fill("#id_email", "admin@example.com")
    page.click("#ask-code")
    page.locator("#code-form").wait_for()
    code = page.locator("#demo-code").inner_text().strip()
    link = page.locator("#demo-link").get_attribute("href")
    assert len(code) == 6 and code.isdigit() and link is not None
    shot(page, "5a-code-sent")

    # 2. The same code typed in another browser (another session) is refused.
    other = chromium.new_context(base_url=base)
    stranger = other.new_page()
    stranger.set_default_timeout(TIMEOUT_MS)
    stranger.goto("/accounts/sign-in/")
    stranger.fill("#id_email", "someone@example.com")
    stranger.click("#ask-code")
    stranger.locator("#code-form").wait_for()
    stranger.fill("#id_code", code)
    with stranger.expect_response(lambda r: r.request.method == "POST") as answer:
        stranger.click("#send-code")
    assert answer.value.status == 403
    assert "This code is not valid" in stranger.content()
    shot(stranger, "5b-code-refused-in-another-browser")
    other.close()

    # 3. A typo first (refused, nothing echoed), then the code, typed as a person would.
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    page.fill("#id_code", wrong)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#send-code")
    assert answer.value.status == 403
    assert page.locator("#id_code").input_value() == ""
    page.locator("#id_code").press_sequentially(f"{code[:3]} {code[3:]}")
    page.click("#send-code")
    page.wait_for_url(f"{base}/accounts/sign-in/confirm/")
    assert "Sign in as admin?" in page.locator("h1").inner_text()
    shot(page, "5c-code-accepted")
    page.click("#sign-in")
    page.locator("#signed-in").wait_for()
    assert page.locator("#signed-in").inner_text() == "Signed in as admin"
    shot(page, "5d-signed-in")

    # 4. The link of the same mail: its ticket is used now.
    guest = chromium.new_context(base_url=base)
    visitor = guest.new_page()
    response = visitor.goto(link)
    assert response is not None and response.status == 403
    assert visitor.locator("[data-reason]").get_attribute("data-reason") == "used"
    shot(visitor, "5e-link-already-used")
    guest.close()
