"""report.html in a real headless Chromium (Debian's `chromium`, driven by Playwright): it loads
offline with no console errors and no request leaving the file, every plot renders (its
screenshot is not blank and shows the lanes' colours), and the numbers on the page — table and
plots — are the manifest's. The same checks run on real SmolLM2 bakeoffs in
tests/integration/test_report_real_runs.py.

Needs `chromium` (apt) and `playwright` (the test extra); skipped without them, except in CI
(`CI=true`), where .ci/run installs both and a missing browser is a failure.
"""

from __future__ import annotations

import json

import pytest
from report_page import assert_clean_offline_load, assert_numbers_match, assert_plots_render, opened
from sample_run import store_run

from lanekit.report.profile import write_profile
from lanekit.report.store import Store


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    with Store(root / "r.sqlite") as store:
        store_run(store, created_offset_s=-60)
        run = store_run(store, scale=1.2, engine_version="version: 2 (def)")
        out = write_profile(store, run, root / "prof")
    return out, json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def page(profile, tmp_path_factory):
    out, _ = profile
    with opened(out / "report.html", tmp_path_factory.mktemp("chromium")) as (pg, events):
        yield pg, events


def test_the_page_loads_offline_without_console_errors(page):
    pg, events = page
    assert_clean_offline_load(events)
    assert pg.title().startswith("lanekit profile — sample-plan")


def test_every_plot_renders_its_lanes(page, profile):
    pg, _ = page
    _, manifest = profile
    assert {"speed", "sweep", "sustained", "quality", "quant_ab"} <= {f["id"] for f in manifest["figures"]}
    assert_plots_render(pg, manifest)


def test_numbers_in_the_page_are_the_manifests(page, profile):
    pg, _ = page
    _, manifest = profile
    assert_numbers_match(pg, manifest, metrics_per_lane=7)
    assert pg.locator("#compare").count() == 1
