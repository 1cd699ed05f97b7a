"""The review page in a real browser: Debian's chromium, driven by selenium through chromium-driver.

The gateway, in front of the tests' model bench, is served by a real uvicorn server on 127.0.0.1.
Two flagged answers are queued over HTTP; the browser opens the page, takes the reviewer's key,
opens each item, approves the first and approves the second with an edited answer. The items'
status and the audit records of both decisions are then read back. `make test` installs chromium
and chromium-driver first (`make browser`); without them (no root, no apt-get) the tests skip.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from platform_facts import project
from services.gateway import GatewayMiddleware
from services.gateway.errors import InvalidRequestError
from tests.fixtures.ports import free_loopback_port
from tests.gateway.harness import KEYS, ModelBench, auth, chat_body

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (`make browser` installs them; needs root and apt-get)",
)

# Headless and offline: no sandbox (root in CI), nothing fetched from Google's services.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
)
TOXIC = "you are an idiot and I hate you, stupid moron"
# Attacker-controlled text must reach the reviewer as text, never as markup.
MARKUP_PROMPT = "<img src=x id=planted> What is the <b>serve config</b>?"


@dataclass
class LiveGateway:
    base_url: str
    gateway: GatewayMiddleware
    bench: ModelBench

    def queue_flagged(self, prompt: str, answer: str) -> tuple[str, str]:
        """A chat request whose answer the output scanners flag; returns (review id, request id)."""
        self.bench.answers["gen-v1"] = answer
        response = httpx.post(f"{self.base_url}/v1/chat/completions", json=chat_body(prompt), headers=auth("northwind"))
        assert response.status_code == 200, response.text
        return response.json()[project.PROJECT_NAME]["review_id"], response.headers["x-request-id"]

    def item(self, item_id: str) -> dict[str, Any]:
        item: dict[str, Any] = httpx.get(f"{self.base_url}/v1/review/items/{item_id}", headers=auth("reviewer")).json()
        return item


@pytest.fixture
def live(gateway: GatewayMiddleware, bench: ModelBench) -> Iterator[LiveGateway]:
    port = free_loopback_port()
    config = uvicorn.Config(gateway, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield LiveGateway(f"http://127.0.0.1:{port}", gateway, bench)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium never runs Selenium Manager (which would try to download one).
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def wait_for_message(browser: webdriver.Chrome, text: str) -> None:
    try:
        WebDriverWait(browser, 10).until(expected_conditions.text_to_be_present_in_element((By.ID, "message"), text))
    except TimeoutException:
        pytest.fail(f"#message never said {text!r}; it says {browser.find_element(By.ID, 'message').text!r}")


def enter_key(browser: webdriver.Chrome, key: str) -> None:
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "use-key").click()


def open_item(browser: webdriver.Chrome, item_id: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f"button.open[data-item-id='{item_id}']").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "detail-id"), item_id)
    )


def sections(browser: webdriver.Chrome) -> dict[str, list[str]]:
    """The open item's content: section heading → the texts shown under it."""
    shown: dict[str, list[str]] = {}
    for section in browser.find_elements(By.CSS_SELECTOR, "#content section"):
        heading = section.find_element(By.TAG_NAME, "h3").text
        shown[heading] = [block.text for block in section.find_elements(By.TAG_NAME, "pre")]
    return shown


def console_errors(browser: webdriver.Chrome) -> list[str]:
    """Errors the page logged (a refused script or style shows up here as a CSP violation)."""
    logs: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]  # selenium leaves it untyped
    return [entry["message"] for entry in logs if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]


def test_a_reviewer_approves_one_answer_and_edits_another_in_the_browser(
    live: LiveGateway, browser: webdriver.Chrome
) -> None:
    first, first_request = live.queue_flagged(MARKUP_PROMPT, TOXIC)
    second, second_request = live.queue_flagged("Who runs the platform?", f"Nobody you need to know. {TOXIC}")

    browser.get(f"{live.base_url}/v1/review")  # redirected to /v1/review/
    assert browser.current_url == f"{live.base_url}/v1/review/"
    wait_for_message(browser, "Enter an API key with the review scopes")
    enter_key(browser, KEYS["reviewer"])
    wait_for_message(browser, "2 pending items.")
    rows = browser.find_elements(By.CSS_SELECTOR, "#items tbody tr")
    assert [row.get_attribute("data-item-id") for row in rows] == [first, second]
    cells = [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")]
    assert cells[1:] == ["flagged_output", "/v1/chat/completions", "northwind", "toxicity", "pending", "Open"]

    open_item(browser, first)
    assert sections(browser) == {
        "Prompt (as the input scanners left it)": [MARKUP_PROMPT],
        "Answer (as the output scanners left it)": [TOXIC],
        "Flagged by (input scanners for flagged_input, output scanners for flagged_output)": ["toxicity"],
    }
    assert browser.find_elements(By.ID, "planted") == [] and browser.find_elements(By.CSS_SELECTOR, "#content b") == []
    browser.find_element(By.ID, "note").send_keys("fine in context")
    browser.find_element(By.ID, "approve").click()
    wait_for_message(browser, f"Item {first} is now approved.")
    assert not browser.find_element(By.ID, "decision").is_displayed()
    WebDriverWait(browser, 10).until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "#items tbody tr")) == 1)

    open_item(browser, second)
    answer_box = browser.find_element(By.ID, "edited-answer")
    assert answer_box.get_property("value") == f"Nobody you need to know. {TOXIC}"
    answer_box.clear()
    answer_box.send_keys("Ops runs it; write to ops@corp.example.org.")
    browser.find_element(By.ID, "save-edit").click()
    wait_for_message(browser, f"Item {second} is now edited.")
    assert sections(browser)["Edited answer (approved in place of the model's)"] == ["Ops runs it; write to [EMAIL]."]
    assert browser.find_element(By.ID, "empty").is_displayed()

    # The key stayed in this tab's sessionStorage and never became a cookie.
    assert browser.execute_script(f"return sessionStorage.getItem('{project.PROJECT_NAME}.apiKey')") == KEYS["reviewer"]
    assert browser.get_cookies() == []
    assert console_errors(browser) == []

    approved, edited = live.item(first), live.item(second)
    assert (approved["status"], approved["decided_by"], approved["note"]) == ("approved", "reviewer", "fine in context")
    assert (edited["status"], edited["edited_answer"]) == ("edited", "Ops runs it; write to [EMAIL].")
    records = [json.loads(line) for line in live.gateway.audit.path.read_text().splitlines()]
    assert [record["review"] for record in records if "review" in record] == [
        {"item_id": first, "decision": "approved", "request_id": first_request},
        {"item_id": second, "decision": "edited", "request_id": second_request},
    ]


def test_the_reference_page_lists_the_gateway_api_with_its_scopes(live: LiveGateway, browser: webdriver.Chrome) -> None:
    browser.get(f"{live.base_url}/v1/reference/")
    wait_for_message(browser, "Enter an API key to load the reference.")
    enter_key(browser, KEYS["reviewer"])
    wait_for_message(browser, "404: no route GET /docs.json")  # the bench serves no inference schema
    assert "OpenAI-compatible routes" in browser.find_element(By.ID, "spec-note").text  # not in BentoML's schema
    browser.find_element(By.CSS_SELECTOR, "#spec option[value=gateway]").click()
    wait_for_message(browser, "The gateway's API: 8 operations.")
    assert not browser.find_element(By.ID, "spec-note").is_displayed()
    contents = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "#toc a")]
    assert "POST /v1/review/items/{item_id}/edit" in contents and "GET /v1/gateway/metrics" in contents
    assert "POST /v1/feedback" in contents
    edit = next(
        section for section in browser.find_elements(By.CSS_SELECTOR, "section.operation")
        if section.find_element(By.TAG_NAME, "h3").text == "POST /v1/review/items/{item_id}/edit"
    )
    assert "Needs the scope review:write." in edit.text
    errors = {cell.text for cell in edit.find_elements(By.CSS_SELECTOR, "tr.error td:first-child")}
    assert {str(InvalidRequestError.status), "401", "403", "404", "429"} <= errors
    assert browser.find_element(By.ID, "schema-ReviewEdit").is_displayed()
    assert console_errors(browser) == [
        f"{live.base_url}/docs.json - Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
