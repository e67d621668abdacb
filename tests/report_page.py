"""report.html opened in a real headless Chromium (Debian's `chromium`, driven by Playwright), and
the checks every HTML-report test makes: no console error, no request leaving the file, every
plot inked in its lanes' colours, and the numbers on the page equal to the manifest's.

Shared by the unit test (a sample stored run) and the integration test (real SmolLM2 bakeoffs);
pytest puts tests/ on sys.path because tests/conftest.py lives there.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def browser_or_skip():
    """Playwright's sync API, or skip the test (fail in CI, where .ci/run installs both)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM and sync_playwright:
        return sync_playwright
    if os.environ.get("CI") == "true":
        pytest.fail("CI must install chromium (apt) and playwright (pip) for the HTML report test")
    pytest.skip("needs Debian's chromium and the playwright package")


@contextlib.contextmanager
def opened(html: Path, user_data_dir: Path):
    """(page, events) for `html` once every plot has drawn; events holds console errors and warnings,
    page errors, and every URL the page requested."""
    sync_playwright = browser_or_skip()
    events: dict[str, list] = {"errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=CHROMIUM, headless=True, viewport={"width": 1280, "height": 900},
            args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page()
            pg.on("console", lambda m: events["errors"].append(f"{m.type}: {m.text}")
                  if m.type in ("error", "warning") else None)
            pg.on("pageerror", lambda e: events["errors"].append(f"pageerror: {e}"))
            pg.on("request", lambda r: events["requests"].append(r.url))
            pg.goto(html.as_uri(), wait_until="load")
            pg.wait_for_function("Array.from(document.querySelectorAll('.plot'))"
                                 ".every(d => d.querySelector('.main-svg'))", timeout=60_000)
            yield pg, events
        finally:
            browser.close()


def assert_clean_offline_load(events: dict[str, list]) -> None:
    """No console error or warning, and no request for anything but the file itself."""
    assert events["errors"] == []
    assert [u for u in events["requests"] if not u.startswith("file://")] == []


def _colour_present(pixels, hex_colour: str, opacity: float = 1.0, tolerance: int = 40) -> bool:
    """Some pixel within `tolerance` of the colour (blended on white when drawn faded)."""
    import numpy as np

    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=float)
    want = opacity * rgb + (1 - opacity) * 255.0
    return bool((np.abs(pixels - want) <= tolerance).all(axis=2).any())


def assert_plots_render(pg, manifest: dict[str, Any]) -> None:
    """Each figure of the manifest is on the page, its screenshot is not blank, and every lane
    trace's colour shows in it."""
    import numpy as np
    from PIL import Image

    for fig in manifest["figures"]:
        shot = Image.open(io.BytesIO(pg.locator(f"#fig-{fig['id']}").screenshot())).convert("RGB")
        pixels = np.asarray(shot, dtype=float)
        inked = float((pixels.min(axis=2) < 235).mean())  # anything drawn: axes, text, marks
        assert inked > 0.005, f"{fig['id']} looks blank ({inked:.1%} inked)"
        for t in fig["traces"]:
            if t["lane"]:
                opacity = 0.35 if t["faded"] else 1.0
                assert _colour_present(pixels, t["colour"], opacity), f"{fig['id']}: no pixel of {t['name']}"


def _expected(lane: dict[str, Any], metric: str) -> float:
    single, summary = lane["bench"]["single"], lane["eval"]["summary"] if lane.get("eval") else {}
    if metric == "weights_gb":
        return lane["sizing"]["weights_bytes"] / 1e9
    if metric == "pct_of_ceiling":
        return 100 * single["decode_tok_s"] / lane["sizing"]["decode_ceiling_tok_s"]
    replay = lane["bench"].get("replay") or (lane["bench"].get("extra") or {}).get("replay") or {}
    if metric == "turn_s":
        return replay["turn_s"]["point"]
    if metric == "prefix_reuse":
        return replay["prefix_reuse_after_first"]
    if metric in ("decode_tok_s", "ttft_ms"):  # the interval's point when the bakeoff computed one
        iv = (lane["bench"].get("intervals") or {}).get(metric) or {}
        return iv["point"] if iv.get("point") is not None else single[metric]
    return summary[metric]


def _shown(metric: str, value: float) -> str:
    return {"decode_tok_s": f"{value:.1f}", "ttft_ms": f"{value:.0f}", "weights_gb": f"{value:.2f}",
            "turn_s": f"{value:.2f}",
            "pct_of_ceiling": f"{value:.1f}%" if value < 10 else f"{value:.0f}%"}.get(metric, f"{value:.0%}")


def assert_numbers_match(pg, manifest: dict[str, Any], metrics_per_lane: int) -> None:
    """Every table cell that carries a number holds the manifest's and shows it rounded; the verdict,
    the plotted speeds and sweep points are the manifest's."""
    lanes = {x["name"]: x for x in manifest["lanes"]}
    cells = pg.eval_on_selector_all("td[data-metric][data-value]", "els => els.map(e => ({lane: e.dataset.lane, "
                                    "metric: e.dataset.metric, value: Number(e.dataset.value), text: e.innerText}))")
    seen = set()
    for c in cells:
        assert c["value"] == pytest.approx(_expected(lanes[c["lane"]], c["metric"]), rel=1e-12), c
        assert c["text"].startswith(_shown(c["metric"], c["value"])), c
        seen.add((c["lane"], c["metric"]))
    assert {(n, "decode_tok_s") for n in lanes} <= seen and len(seen) == metrics_per_lane * len(lanes)
    assert pg.inner_text("#verdict") == manifest["verdict"]
    plotted = pg.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('.plot')).map("
                          "d => [d.id, d.data.map(t => ({name: t.name, x: t.x, y: t.y}))]))")
    speed = {t["name"]: t["y"][0] for t in plotted["fig-speed"] if t["name"] in lanes}
    assert speed == pytest.approx({n: _expected(x, "decode_tok_s") for n, x in lanes.items()}, rel=1e-12)
    for name, x in lanes.items():
        agg = next(t for t in plotted["fig-sweep"] if t["name"] == f"{name} · aggregate")
        levels = x["bench"]["sweep"]["levels"]
        assert agg["x"] == [lv["concurrency"] for lv in levels] and agg["y"] == [lv["aggregate_tok_s"] for lv in levels]
