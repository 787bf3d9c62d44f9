"""The class report: its numbers add up, and it renders in headless Chromium with no server."""
from __future__ import annotations

import subprocess

import pytest

from conftest import REPO, require_chromium
from dvwcourse.class_report import check_rates, write_class_report

pytestmark = pytest.mark.integration  # grades the corpus, starts Chromium


ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def corpus_reports(graded_corpus):
    _, _, reports = graded_corpus
    return list(reports.values())


def test_every_checks_pass_rate_adds_up_to_the_corpus(graded_corpus, corpus_reports):
    _, grader, _ = graded_corpus
    rates = check_rates(corpus_reports)
    assert len(rates) == sum(grader.master_data()["checks"].values())  # every check the master makes, once
    for rate in rates:
        assert rate.passed + rate.failed == len(corpus_reports)
    correct_like = sum(r.score == r.max_score for r in corpus_reports)
    assert all(rate.passed >= correct_like for rate in rates)
    by_name = {(r.cell, r.name): r for r in rates}
    assert by_name[("test_make_data", "y tracks gradients")].rate < by_name[("test_make_data", "first input from make_data")].rate


def test_report_renders_in_headless_chromium(corpus_reports, course, tmp_path):
    page = write_class_report(course, corpus_reports, tmp_path / "class-report.html", "sandboxed")
    html = page.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing fetched
    for section in ["Score distribution", "Which checks the class fails", "Grading time per submission", "Flagged submissions"]:
        assert section in html
    assert "malformed_json" in html and "kill_kernel" in html  # flagged
    chromium = require_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "class-report.png"
    shot.unlink(missing_ok=True)
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 50_000  # a rendered page with its plots, not a blank one
