"""report.html in a real headless Chromium (Debian's `chromium`, driven by Playwright): it loads
offline with no console errors and no request leaving the file, every plot renders (its
screenshot is not blank and shows the lanes' colours), and the numbers on the page — table and
plots — are the manifest's.

Needs `chromium` (apt) and `playwright` (the test extra); skipped without them, except in CI
(`CI=true`), where .ci/run installs both and a missing browser is a failure.
"""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest
from sample_run import store_run

from lanekit.report.profile import write_profile
from lanekit.report.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM and sync_playwright:
        return sync_playwright
    if os.environ.get("CI") == "true":
        pytest.fail("CI must install chromium (apt) and playwright (pip) for the HTML report test")
    pytest.skip("needs Debian's chromium and the playwright package")


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
    sync_playwright = _browser_or_skip()
    out, _ = profile
    events: dict[str, list] = {"errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium")), executable_path=CHROMIUM, headless=True,
            viewport={"width": 1280, "height": 900},
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        pg = browser.new_page()
        pg.on("console", lambda m: events["errors"].append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
              else None)
        pg.on("pageerror", lambda e: events["errors"].append(f"pageerror: {e}"))
        pg.on("request", lambda r: events["requests"].append(r.url))
        pg.goto((out / "report.html").as_uri(), wait_until="load")
        pg.wait_for_function("Array.from(document.querySelectorAll('.plot')).every(d => d.querySelector('.main-svg'))",
                             timeout=60_000)
        yield pg, events
        browser.close()


def test_the_page_loads_offline_without_console_errors(page):
    pg, events = page
    assert events["errors"] == []
    assert [u for u in events["requests"] if not u.startswith("file://")] == []
    assert pg.title().startswith("lanekit profile — sample-plan")


def _colour_present(pixels, hex_colour: str, opacity: float = 1.0, tolerance: int = 40) -> bool:
    """Some pixel within `tolerance` of the colour (blended on white when drawn faded)."""
    import numpy as np

    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    want = opacity * rgb + (1 - opacity) * 255.0
    return bool((np.abs(pixels - want) <= tolerance).all(axis=2).any())


def test_every_plot_renders_its_lanes(page, profile):
    import numpy as np
    from PIL import Image

    pg, _ = page
    _, manifest = profile
    ids = [f["id"] for f in manifest["figures"]]
    assert {"speed", "sweep", "sustained", "quality", "quant_ab"} <= set(ids)
    for fig in manifest["figures"]:
        shot = Image.open(io.BytesIO(pg.locator(f"#fig-{fig['id']}").screenshot())).convert("RGB")
        pixels = np.asarray(shot, dtype=float)
        inked = float((pixels.min(axis=2) < 235).mean())  # anything drawn: axes, text, marks
        assert inked > 0.005, f"{fig['id']} looks blank ({inked:.1%} inked)"
        for t in fig["traces"]:
            if t["lane"]:
                opacity = 0.35 if t["faded"] else 1.0
                assert _colour_present(pixels, t["colour"], opacity), f"{fig['id']}: no pixel of {t['name']}"


def test_numbers_in_the_page_are_the_manifests(page, profile):
    pg, _ = page
    _, manifest = profile
    lanes = {x["name"]: x for x in manifest["lanes"]}
    cells = pg.eval_on_selector_all("td[data-metric][data-value]", "els => els.map(e => ({lane: e.dataset.lane, "
                                    "metric: e.dataset.metric, value: Number(e.dataset.value), text: e.innerText}))")
    seen = set()
    for c in cells:
        x = lanes[c["lane"]]
        expected = {"decode_tok_s": x["bench"]["single"]["decode_tok_s"], "ttft_ms": x["bench"]["single"]["ttft_ms"],
                    "weights_gb": x["sizing"]["weights_bytes"] / 1e9,
                    "format_error_rate": x["eval"]["summary"]["format_error_rate"],
                    "clean_run_rate": x["eval"]["summary"]["clean_run_rate"],
                    "task_success_rate": x["eval"]["summary"]["task_success_rate"],
                    "pct_of_ceiling": 100 * x["bench"]["single"]["decode_tok_s"] / x["sizing"]["decode_ceiling_tok_s"]}
        assert c["value"] == pytest.approx(expected[c["metric"]], rel=1e-12), c
        shown = {"decode_tok_s": f"{c['value']:.1f}", "ttft_ms": f"{c['value']:.0f}", "weights_gb": f"{c['value']:.2f}",
                 "pct_of_ceiling": f"{c['value']:.1f}%" if c["value"] < 10 else f"{c['value']:.0f}%"}.get(
                     c["metric"], f"{c['value']:.0%}")
        assert c["text"].startswith(shown), c
        seen.add((c["lane"], c["metric"]))
    assert {(n, "decode_tok_s") for n in lanes} <= seen and len(seen) == 7 * len(lanes)
    assert pg.inner_text("#verdict") == manifest["verdict"]
    plotted = pg.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('.plot')).map("
                          "d => [d.id, d.data.map(t => ({name: t.name, x: t.x, y: t.y}))]))")
    speed = {t["name"]: t["y"][0] for t in plotted["fig-speed"] if t["name"] in lanes}
    assert speed == {n: x["bench"]["single"]["decode_tok_s"] for n, x in lanes.items()}
    for name, x in lanes.items():
        agg = next(t for t in plotted["fig-sweep"] if t["name"] == f"{name} · aggregate")
        levels = x["bench"]["sweep"]["levels"]
        assert agg["x"] == [lv["concurrency"] for lv in levels] and agg["y"] == [lv["aggregate_tok_s"] for lv in levels]
    assert pg.locator("#compare").count() == 1
