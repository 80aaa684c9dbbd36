"""The console in a real browser: Debian's Chromium driven by Selenium against the real app on loopback.

Signs in with the keyboard, reads the board breached-first, opens a timeline, retries a dead letter,
switches compliance to weeks and downloads the CSV, checks the charts, labels, contrast and a 375 px
wide screen. Screenshots go to ``$SLABRIDGE_TEST_ARTIFACTS`` (default: the test's temporary folder).
"""

import csv
import os
import shutil
import time
from pathlib import Path

import pytest

from slabridge.board import RANK

from ..conftest import LiveServer
from .conftest import PHI, TOKEN

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed in CI (.ci/run installs them)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("SLABRIDGE_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


CONTRAST = """
function lum(c) { const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(v => {
  v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
function bg(el) { while (el) { const c = getComputedStyle(el).backgroundColor;
  if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c; el = el.parentElement; }
  return 'rgb(255, 255, 255)'; }
const worst = [];
for (const el of document.querySelectorAll(arguments[0])) {
  if (!el.textContent.trim() || !el.offsetParent) continue;
  const a = lum(getComputedStyle(el).color), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) worst.push(el.tagName + '.' + el.className + ': ' + ratio.toFixed(2));
}
return worst;
"""

UNLABELLED = """
return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(el => !(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.closest('label')
                && !el.getAttribute('aria-label'))
  .map(el => el.name || el.outerHTML.slice(0, 60));
"""


def left_behind(page):
    """A wait condition: ``page`` (an element of the page just left) is gone. Chrome at times answers "Node with
    given id does not belong to the document" where it should say "stale" (SeleniumHQ/selenium#15401): gone too."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_browser) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False
    return gone


def test_an_operator_works_through_the_console_in_a_browser(browser, console_app, dead_write, artifacts, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def follow(element) -> None:
        """Click a link or button and wait until the next page has replaced this one."""
        page = browser.find_element(By.TAG_NAME, "html")
        element.click()
        WebDriverWait(browser, 10).until(left_behind(page))

    with LiveServer(console_app) as server:
        browser.get(f"{server.url}/console/")
        assert "/console/sign-in" in browser.current_url
        assert browser.execute_script("return document.documentElement.lang") == "en"
        # Keyboard only: the token field has focus, Enter submits.
        active = browser.switch_to.active_element
        assert active.get_attribute("id") == "token"
        page = browser.find_element(By.TAG_NAME, "html")
        active.send_keys(TOKEN + Keys.ENTER)
        WebDriverWait(browser, 10).until(left_behind(page))
        assert browser.find_element(By.TAG_NAME, "h1").text == "SLA board"

        states = [row.get_attribute("data-state") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-state]")]
        assert states and states[0] == "breached"
        assert [RANK[s] for s in states] == sorted(RANK[s] for s in states)
        assert PHI not in browser.page_source
        assert browser.execute_script(UNLABELLED) == []
        for selector in ("td", "th", "header nav a", ".badge", "p", "button"):
            assert browser.execute_script(CONTRAST, selector) == [], selector
        browser.save_screenshot(str(artifacts / "board.png"))

        follow(browser.find_element(By.CSS_SELECTOR, "#board tbody tr a"))
        assert browser.find_elements(By.CSS_SELECTOR, "li.event") and browser.find_elements(By.CSS_SELECTOR, "li.decision")
        browser.save_screenshot(str(artifacts / "timeline.png"))

        follow(browser.find_element(By.LINK_TEXT, "Dead letters"))
        dead = dead_write
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-id="write-{dead["id"]}"]')
        follow(row.find_element(By.XPATH, ".//button[normalize-space()='Retry']"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Dead letters"
        assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-id="write-{dead["id"]}"]')

        follow(browser.find_element(By.LINK_TEXT, "Compliance"))
        Select(browser.find_element(By.ID, "period")).select_by_visible_text("week")
        follow(browser.find_element(By.XPATH, "//button[normalize-space()='Show']"))
        bars = browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.bar")
        rows = browser.find_elements(By.CSS_SELECTOR, "#compliance tbody tr")
        assert len(bars) == len(rows) > 0
        for bar, row in zip(bars, rows):  # one bar per row, as long as its met % (220 px is 100 %)
            cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
            assert bar.get_attribute("data-label") == " ".join(c for c in (cells[0], cells[2], cells[3], cells[4])
                                                               if c != "—")  # period, severity, metric, window
            met = 0.0 if cells[8] == "—" else float(cells[8])
            assert abs(float(bar.get_attribute("width")) - met * 2.2) < 0.1
        browser.save_screenshot(str(artifacts / "compliance.png"))
        browser.find_element(By.LINK_TEXT, "Download CSV").click()
        download = tmp_path / "downloads" / "compliance.csv"
        for _ in range(50):
            if download.exists():
                break
            time.sleep(0.1)
        with download.open() as handle:
            downloaded = list(csv.DictReader(handle))
        assert len(downloaded) == len(rows) and "period" in downloaded[0]

        browser.set_window_size(375, 812)
        for page in ("/console/", "/console/dead", "/console/compliance?period=week", "/console/connectors",
                     "/console/contracts"):
            browser.get(server.url + page)
            overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (page, overflow)
        browser.get(server.url + "/console/")
        browser.save_screenshot(str(artifacts / "board-375px.png"))
