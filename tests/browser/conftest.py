"""Browser tests: Playwright's sync API driving Debian's Chromium against a live server.

Without /usr/bin/chromium these tests skip with a message, except under CI=true, where a
missing browser fails the run."""
import os
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _browser_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


MISSING = f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package to run browser tests"


def pytest_collection_modifyitems(config, items):
    # Under CI=true the browser tests run, and each fails on the missing browser
    # (browser_type_launch_args); a UsageError raised here would reach the user as an xdist
    # worker's crash without its message.
    if _browser_available() or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, pointed at Debian's Chromium."""
    if not _browser_available():
        pytest.fail(MISSING + " (CI=true: a missing browser fails the run)", pytrace=False)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS,
            "headless": True}


@pytest.fixture(scope="session")
def live_server(app):
    """The app served on a free local port in a thread, for the whole run."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(params=list(VIEWPORTS), ids=list(VIEWPORTS))
def viewport(request):
    return request.param


@pytest.fixture
def page(browser, live_server, viewport):
    """A fresh browser page at desktop (1280x800) or phone (390x844) size."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=live_server,
                                  locale="en-US", is_mobile=viewport == "phone",
                                  has_touch=viewport == "phone")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshot(viewport):
    """Save a screenshot for the README when UPDATE_SCREENSHOTS=1."""
    def _shot(page, name: str):
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / f"{name}-{viewport}.png"), full_page=False)
    return _shot


@pytest.fixture
def browser_login(live_server):
    """Log a page in through the real login form."""
    from tests.conftest import TEST_PASSWORD

    def _login(page, user, password=TEST_PASSWORD):
        if page.url != "about:blank":
            # Fragments a page loads after itself (the pool badge, the duplicate hint, the pool
            # panel) may still be in flight: answered after the test cleared the cookies, they
            # send the page to /login by themselves and abort this navigation.
            page.wait_for_load_state("networkidle")
        page.goto("/login")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", password)
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page
    return _login


# Elements htmx marks while a request is in flight, a swap under way or new content settling.
HTMX_BUSY = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"


def htmx_settled(page):
    """Wait until the page has loaded and htmx is idle: its `load`/`revealed` requests (fired
    while htmx processes the page) answered, swapped and settled. What the page will show,
    without networkidle's 500 ms of silence; a locator, not an evaluated string, so the
    page's CSP (no unsafe-eval) does not refuse it."""
    page.wait_for_load_state("load")
    expect(page.locator(HTMX_BUSY)).to_have_count(0)


def open_section(page, selector: str):
    """Open the folded record-page section (details.phone-section) that holds `selector`, as
    a phone user taps its title; a no-op where it is open already (every section is, on a
    desktop). It waits for the page's scripts first: app.js folds the sections as it loads."""
    page.wait_for_load_state("domcontentloaded")
    section = page.locator("details.phone-section", has=page.locator(selector)).first
    if section.count() and not section.evaluate("d => d.open"):
        section.locator("> summary").click()
    expect(page.locator(selector).first).to_be_visible()
