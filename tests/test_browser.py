"""The HTML reports in a real browser: headless Chromium driven by Selenium (chromium-driver).

For every example's report (and a diff page, and a page of hostile names): no console errors
(a blocked script or request would be one: the pages forbid both), the diagram and every chart
drew (non-empty SVG boxes, bars present), a block folds and unfolds on click, a column sorts,
zoom changes the view, a click on a node shows its row. Screenshots go to tests/artifacts/browser/
(ignored by git), with each page.

Skips, with the reason, where Chromium, chromedriver, selenium, Graphviz or plotly is missing;
.ci/run installs them all (apt-get install chromium chromium-driver graphviz).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import shutil
from pathlib import Path

import pytest

from nnshape.pictures import analyze_for_picture
from nnshape.pictures import report as reportmod

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver")


@functools.cache
def _missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM is None or DRIVER is None:
        return "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
    if shutil.which("dot") is None:
        return "Graphviz's dot is not installed (apt-get install graphviz)"
    try:
        reportmod.plotly_js()
    except reportmod.PlotlyMissingError:
        return "plotly is not installed (pip install 'nnshape[report]')"
    return None



READY = "return document.body.dataset.ready === '1' && Array.from(document.querySelectorAll('.chart')).every(c => c.querySelector('svg.main-svg'))"


@pytest.fixture(scope="module")
def browser():
    if _missing() is not None:
        pytest.skip(_missing())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(120)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def open_page(driver, path: Path):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(path.as_uri())
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(READY))
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def write_report(spec, name: str, **options) -> Path:
    summary, plan = analyze_for_picture(spec)
    if options:
        summary = dataclasses.replace(summary, **options)
    path = ARTIFACTS / f"{name}.html"
    path.write_text(reportmod.report_html(summary, plan), encoding="utf-8")
    return path


def boxes(driver) -> dict:
    return driver.execute_script(
        """
        const out = {charts: {}};
        document.querySelectorAll('.chart').forEach(c => {
          const svg = c.querySelector('svg.main-svg');
          const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
          out.charts[c.id] = {width: r.width, height: r.height, bars: c.querySelectorAll('g.point path').length};
        });
        const d = document.querySelector('svg.diagram');
        const b = d ? d.getBBox() : {width: 0, height: 0};
        out.diagram = {width: b.width, height: b.height, nodes: d ? d.querySelectorAll('g.node').length : 0};
        return out;"""
    )


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_report_renders(browser, spec):
    page = write_report(spec, spec.stem)
    errors = open_page(browser, page)
    assert errors == [], errors
    seen = boxes(browser)
    assert seen["diagram"]["width"] > 0 and seen["diagram"]["height"] > 0 and seen["diagram"]["nodes"] >= 3
    expected = {"chart-layers", "chart-memory"} | ({"chart-blocks"} if spec.stem not in ("lstm",) else set())
    assert set(seen["charts"]) >= expected
    for name, box in seen["charts"].items():
        assert box["width"] > 100 and box["height"] > 100 and box["bars"] > 0, (name, box)
    browser.save_screenshot(str(ARTIFACTS / f"{spec.stem}.png"))
    browser.execute_script("document.getElementById('charts').scrollIntoView()")
    browser.save_screenshot(str(ARTIFACTS / f"{spec.stem}-charts.png"))


def test_blocks_fold_and_columns_sort(browser):
    page = write_report(ROOT / "examples" / "resnet18.nn", "resnet18-interactions")
    assert open_page(browser, page) == []
    visible = "return Array.from(document.querySelectorAll('#layers-table tbody tr')).filter(r => !r.hidden).length"
    total = browser.execute_script(visible)
    layer1 = browser.find_element("css selector", 'tr[data-path="layer1"] .toggle')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", layer1)
    layer1.click()
    folded = browser.execute_script(visible)
    inside = browser.execute_script("return Array.from(document.querySelectorAll('#layers-table tbody tr')).filter(r => r.dataset.path.startsWith('layer1.')).map(r => r.hidden)")
    assert folded == total - len(inside) and all(inside) and len(inside) == 10
    assert layer1.get_attribute("aria-expanded") == "false"
    browser.save_screenshot(str(ARTIFACTS / "resnet18-folded.png"))
    layer1.click()
    assert browser.execute_script(visible) == total

    macs = browser.find_element("css selector", '#layers-table th[data-col="3"]')
    order = "return Array.from(document.querySelectorAll('#layers-table tbody tr')).filter(r => r.dataset.parent === '').map(r => r.cells[3].dataset.v === '' ? null : Number(r.cells[3].dataset.v))"
    original = browser.execute_script(order)
    macs.click()
    ascending = browser.execute_script(order)
    assert ascending == sorted(original) and macs.get_attribute("aria-sort") == "ascending"
    macs.click()
    assert browser.execute_script(order) == sorted(original, reverse=True)
    first = browser.execute_script("return document.querySelector('#layers-table tbody tr').dataset.path")
    assert first == "layer1"  # the costliest top-level row (462 M MACs)
    browser.save_screenshot(str(ARTIFACTS / "resnet18-sorted.png"))
    macs.click()
    assert browser.execute_script(order) == original and macs.get_attribute("aria-sort") == "none"
    paths = browser.execute_script("return Array.from(document.querySelectorAll('#layers-table tbody tr')).map(r => r.dataset.path)")
    assert paths[:6] == ["conv1", "bn1", "2", "maxpool", "layer1", "layer1.0"]  # children follow their block again


def test_diagram_zooms_recolours_and_links_to_rows(browser):
    page = write_report(ROOT / "examples" / "lenet5.nn", "lenet5-interactions")
    assert open_page(browser, page) == []
    view = "return document.querySelector('svg.diagram').getAttribute('viewBox').split(' ').map(Number)"
    before = browser.execute_script(view)
    browser.find_element("css selector", '#diagram [data-zoom="in"]').click()
    after = browser.execute_script(view)
    assert after[2] < before[2] and after[3] < before[3]
    browser.find_element("css selector", '#diagram [data-zoom="fit"]').click()
    fill = "return document.querySelector('[id=\"nn-n1\"] path, [id=\"nn-n1\"] polygon').getAttribute('fill')"
    by_kind = browser.execute_script(fill)
    browser.execute_script("const s = document.querySelector('#diagram select.shade'); s.value = 'macs'; s.dispatchEvent(new Event('change'))")
    assert browser.execute_script(fill) != by_kind
    browser.execute_script("document.querySelector('[id=\"nn-n3\"]').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    flashed = browser.execute_script("return Array.from(document.querySelectorAll('tr.flash')).map(r => r.dataset.path)")
    assert flashed == ["2"]  # n3 is the third layer (n0 is the input)
    assert browser.get_log("browser") == []


def test_diff_page_renders(browser, tmp_path):
    from click.testing import CliRunner

    from nnshape.cli import main

    new = tmp_path / "new.nn"
    new.write_text((ROOT / "examples" / "resnet18.nn").read_text().replace("linear 1000", "linear 10").replace("basic 512", "basic_down 512 1"))
    result = CliRunner().invoke(main, ["diff", str(ROOT / "examples" / "resnet18.nn"), str(new), "--format", "html"])
    assert result.exit_code == 0
    page = ARTIFACTS / "diff.html"
    page.write_text(result.stdout, encoding="utf-8")
    assert open_page(browser, page) == []
    nodes = browser.execute_script("return ['diagram-old', 'diagram-new'].map(id => document.querySelectorAll('#' + id + ' svg g.node').length)")
    assert all(n > 10 for n in nodes)
    marked = browser.execute_script("return document.querySelectorAll('#diagram-new svg g.node path[stroke=\"#bf8700\"], #diagram-new svg g.node polygon[stroke=\"#bf8700\"]').length")
    assert marked >= 1
    browser.save_screenshot(str(ARTIFACTS / "diff.png"))


def test_hostile_names_do_not_run(browser):
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    summary, plan = analyze_for_picture(ROOT / "examples" / "lenet5.nn")
    rows = tuple(r._replace(label=hostile + r.label, path=hostile + r.path) for r in summary.layers)
    summary = dataclasses.replace(summary, layers=rows, source=hostile)
    page = ARTIFACTS / "hostile.html"
    page.write_text(reportmod.report_html(summary, plan), encoding="utf-8")
    assert open_page(browser, page) == []
    assert browser.execute_script("return window.__pwned === undefined && document.querySelectorAll('img').length === 0")
    assert hostile in browser.execute_script("return document.querySelector('h1').textContent")
    browser.save_screenshot(str(ARTIFACTS / "hostile.png"))


def test_browser_runs_in_ci():
    """CI (which sets CI=true) installs everything these tests need: there a skip would hide a
    broken install, so it fails instead."""
    import os

    if os.environ.get("CI", "").lower() in ("true", "1") and _missing():
        pytest.fail(f"the browser tests cannot run in CI: {_missing()}")
