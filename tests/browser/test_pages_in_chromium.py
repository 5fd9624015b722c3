"""What people do in the browser: sign in, issue an invoice and download it, import a CSV and read its
rejected rows, replay a dead letter, watch a job live, and look at Flower. Each page is saved as a screenshot."""
from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.conftest import Site, screenshot
from tests.integration.test_etl_import import BAD_ROWS, orders_file
from tests.support.processes import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser,
              pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def mark_page(page: Page) -> None:
    """Leave a mark in the page's JavaScript; a reload would wipe it."""
    page.evaluate("window.__sameDocument = true")


def still_same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def test_home_page_shows_jobs_queues_and_the_outbox(site: Site, page: Page) -> None:
    page.goto(site.live.url + "/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator('[data-queue="diagnostics.dead"]')).to_have_text("0")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dead letters")).to_be_visible()
    site.api("POST", "/api/diagnostics/sleep", {"seconds": 0})
    expect(page.locator("#overview-status")).to_contain_text("Updated", timeout=15_000)  # refreshed without a reload
    screenshot(page, "home")


def test_invoice_form_explains_a_bad_field_then_issues_a_two_line_invoice(site: Site, page: Page) -> None:
    page.goto(site.live.url + "/invoices/new")
    page.get_by_label("Name", exact=True).first.fill("Lovelace Analytics GmbH")
    page.locator("#customer-email").fill("not-an-email")
    page.locator("#items-0-description").fill("Consulting, November")
    page.locator("#items-0-quantity").fill("12")
    page.locator("#items-0-unit_price").fill("95.00")
    page.locator("#items-0-tax_rate").fill("19")
    page.get_by_role("button", name="Create invoice").click()
    error = page.locator("#customer-email-error")
    expect(error).to_be_visible()
    expect(page.locator("#customer-email")).to_have_attribute("aria-describedby", "customer-email-error")
    screenshot(page, "invoice-form-error")

    page.locator("#customer-email").fill("billing@lovelace.example")
    page.get_by_role("button", name="Add a line").click()
    page.locator("#items-1-description").fill("Travel expenses")
    page.locator("#items-1-quantity").fill("1")
    page.locator("#items-1-unit_price").fill("310.40")
    page.locator("#items-1-tax_rate").fill("0")
    page.get_by_role("button", name="Create invoice").click()
    page.wait_for_url("**/jobs/*")
    mark_page(page)
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    assert still_same_document(page), "the job page reloaded itself"
    link = page.locator("#job-pdf")
    expect(link).to_be_visible()
    number = link.inner_text().split()[2]
    with page.expect_download() as download:
        link.click()
    text = "".join(p.extract_text() for p in PdfReader(download.value.path()).pages)
    assert number in text and "Consulting, November" in text and "Travel expenses" in text
    assert "1,667.00 EUR" in text  # 12 × 95.00 × 1.19 + 310.40


def test_job_page_follows_progress_live(site: Site, page: Page) -> None:
    job = site.api("POST", "/api/diagnostics/sleep", {"seconds": 5, "steps": 10})  # under the tests' 6 s limit
    page.goto(f"{site.live.url}/jobs/{job['id']}")
    mark_page(page)
    expect(page.locator("#job-state")).to_have_text("running", timeout=30_000)
    wait_for(lambda: 2 <= float(page.locator("#job-progress").get_attribute("value") or 0) <= 8, 30,
             what="the progress bar to move")
    expect(page.locator("#job-live")).to_have_text("live")  # Server-Sent Events, not polling
    screenshot(page, "job-progress")
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=30_000)
    assert page.locator("#job-progress").get_attribute("value") == "10"
    expect(page.locator("#job-attempts tbody tr")).to_have_count(1)
    assert still_same_document(page)


def test_import_lists_its_rejected_rows_in_errors_csv(site: Site, page: Page) -> None:
    bad = [line for line, _column, _reason in BAD_ROWS[:3]]
    page.goto(site.live.url + "/imports/new")
    page.get_by_label("Dataset").select_option("orders")
    page.locator("#file").set_input_files(files=[{"name": "orders.csv", "mimeType": "text/csv",
                                                  # under the 5 % reject threshold
                                                  "buffer": orders_file(100, extra=bad)}])
    page.get_by_role("button", name="Upload and import").click()
    page.locator("#new-import-job").click()
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#job-summary")).to_contain_text("rows rejected")
    screenshot(page, "import-summary")
    with page.expect_download() as download:
        page.locator("#job-errors").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 3
    for row, (_line, column, reason) in zip(rows, BAD_ROWS[:3], strict=True):
        assert reason in " ".join(row.values()) and column in " ".join(row.values())


def test_a_failed_job_is_replayed_from_the_dead_letters_and_succeeds(site: Site, page: Page) -> None:
    job = site.api("POST", "/api/diagnostics/sleep", {"seconds": 0, "fail_times": 3})  # JOB_MAX_RETRIES is 2
    wait_for(lambda: site.api("GET", f"/api/jobs/{job['id']}")["state"] == "failed", 60, what="the job to fail")
    page.goto(site.live.url + "/dead-letters")
    row = page.locator("tr", has_text=job["id"][:8])
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_contain_text("planned transient failure")
    screenshot(page, "dead-letters")
    row.get_by_role("button", name="Replay").click()
    page.get_by_role("button", name="Yes, replay").click()  # the confirmation step
    expect(page.get_by_role("status")).to_contain_text("eplay")
    page.goto(f"{site.live.url}/jobs/{job['id']}")
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#job-attempts tbody tr")).to_have_count(4)


def test_a_schedule_is_run_now_and_resumed_from_its_page(site: Site, page: Page) -> None:
    schedule = site.api("POST", "/api/schedules", {"name": "nightly-check", "kind": "diagnostics.sleep",
                                                   "params": {"seconds": 0}, "rule": "0 3 * * *",
                                                   "timezone": "Europe/Madrid", "enabled": False})
    page.goto(site.live.url + "/schedules")
    section = page.locator(f"#schedule-{schedule['id']}")
    expect(section.locator(".badge").first).to_have_text("paused")
    section.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("submitted")
    section = page.locator(f"#schedule-{schedule['id']}")
    section.locator(".audit").get_by_role("link").first.click()  # the audit entry links the job it ran
    expect(page.locator("#job-state")).to_have_text("succeeded", timeout=60_000)
    page.goto(site.live.url + "/schedules")
    page.locator(f"#schedule-{schedule['id']}").get_by_role("button", name="Resume").click()
    section = page.locator(f"#schedule-{schedule['id']}")
    expect(section.locator(".badge").first).to_have_text("enabled")
    expect(section.locator(".audit")).to_contain_text("resumed by")
    screenshot(page, "schedules")
    site.api("POST", f"/api/schedules/{schedule['id']}/pause")


def test_flower_shows_the_workers_tasks_through_the_app(site: Site, page: Page) -> None:
    job = site.api("POST", "/api/diagnostics/sleep", {"seconds": 0.5, "steps": 2})
    wait_for(lambda: site.api("GET", f"/api/jobs/{job['id']}")["state"] == "succeeded", 30, what="the job to finish")
    page.goto(site.live.url + "/")
    page.get_by_role("link", name="Flower").click()  # the navigation's link: the app's /flower/, no second password
    page.wait_for_url(site.live.url + "/flower/")
    page.goto(site.live.url + "/flower/tasks")  # its table is a POST query: an operator's, through the proxy
    row = page.locator("table tbody tr", has_text=job["id"])  # a job's Celery task id is its job id
    expect(row).to_contain_text("diagnostics.sleep", timeout=30_000)
    expect(row).to_contain_text("SUCCESS")
    screenshot(page, "flower")
    with pytest.raises(urllib.error.HTTPError) as refused:  # Flower's own port wants its own credentials
        urllib.request.urlopen(site.live.flower_url + "/tasks", timeout=10)
    assert refused.value.code == 401
