"""charts: the rates over time as uPlot charts, live at /mtls/charts (and in the mTLS tab)
and in the --html report; a headless Chromium draws them during a run."""

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.engine.timeline import SERIES, Timeline
from locust_mtls.locust import charts

from conftest import LocustWithWebUI, run_locust

REPO = Path(__file__).resolve().parent.parent
STRATEGIES = str(REPO / "locustfiles" / "strategies.py")
MTLS = str(REPO / "locustfiles" / "mtls.py")


def sample_timeline(row_name: str = "shared-context") -> Timeline:
    stats, timeline = MtlsStats(), Timeline()
    row = stats.row(row_name)
    for second in range(3):
        row.record(failed=True, failure_kind="bleed", identity_name=None)
        timeline.sample(stats, now=float(second))
    return timeline


def inlined_data(section: str) -> dict:
    return json.loads(re.search(r"MtlsCharts\.render\([^,]+, (\{.*\})\);</script>", section)[1])


def test_report_section_inlines_the_library_and_the_series():
    section = charts.html_section(sample_timeline())
    assert "uPlot" in section and "MtlsCharts" in section and "cdn" not in section.lower()
    data = inlined_data(section)
    assert data["series"] == [list(entry) for entry in SERIES]
    assert data["rows"]["shared-context"]["bleed_pct"] == [100.0, 100.0]


def test_a_row_name_cannot_close_the_script_and_a_second_insert_replaces_the_first():
    hostile = sample_timeline("x</script><script>alert(1)//")
    report = "<html><body><p>locust</p></body></html>"
    once = charts.insert_into_report(report, hostile)
    assert "</script><script>alert" not in once
    twice = charts.insert_into_report(once, sample_timeline())
    assert twice.count(f'<section id="{charts.SECTION_ID}"') == 1
    assert "<p>locust</p>" in twice and twice.endswith("</body></html>")


def test_no_rows_no_section_and_every_static_file_ships():
    assert charts.html_section(Timeline()) == ""
    for name in charts.STATIC_FILES:
        assert charts.static_text(name)
    assert "MIT" in charts.static_text("uPlot.LICENSE")


def test_html_report_carries_the_charts_with_data(tmp_path):
    done = run_locust("-f", MTLS, "--html", "report.html", cwd=tmp_path, users=2, run_time="5s")
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "report.html").read_text()
    assert report.count(f'<section id="{charts.SECTION_ID}"') == 1
    (row,) = inlined_data(report[report.index(charts.SECTION_ID) :])["rows"].values()
    assert row["strategy"] == "identity-cache" and max(row["requests_per_s"]) > 0


def dump_dom(url: str, *flags: str) -> str:
    """The page's DOM after 5 s of (virtual) time in Debian's headless Chromium (`flags`:
    e.g. --force-dark-mode, which makes prefers-color-scheme dark, as Locust's UI follows)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("needs Debian's chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu"]
        command += ["--disable-background-networking", "--disable-component-update"]
        command += ["--disable-sync", "--no-first-run", f"--user-data-dir={profile}"]
        command += [*flags, "--virtual-time-budget=5000", "--dump-dom", url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return done.stdout


@pytest.mark.browser
def test_chromium_draws_the_live_charts_and_the_tab_frames_them(tmp_path):
    args = ["-f", STRATEGIES, "SharedContextUser", "IdentityCacheUser"]
    args += ["-u", "4", "-r", "4", "-t", "40s", "--autoquit", "0"]
    with LocustWithWebUI(args, tmp_path) as locust:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            timeline = json.loads(locust.get("/mtls/timeline") or '{"rows": {}}')
            if len(timeline["rows"]) == 2 and len(timeline["rows"]["identity-cache"]["t"]) > 1:
                break
            time.sleep(1)
        page = dump_dom(locust.url("/mtls/charts"))
        dark = dump_dom(locust.url("/mtls/charts"), "--force-dark-mode")
        tab = dump_dom(locust.url("/?tab=mtls"))
    container = re.search(r'<div id="mtls-charts"[^>]*>', page)
    assert container, page[-2000:]
    assert int(re.search(r'data-rows="(\d+)"', container[0])[1]) == 2
    assert int(re.search(r'data-points="(\d+)"', container[0])[1]) > 0
    assert page.count("<canvas") == len(SERIES)
    assert "shared-context" in page and "identity-cache" in page  # the legends
    assert 'id="mtls-charts-frame"' in tab and 'src="./mtls/charts"' in tab
    # Titles, axes and legends are drawn in the page's text colour, on its background.
    for dom, theme in ((page, "light"), (dark, "dark")):
        container = re.search(r'<div id="mtls-charts"[^>]*>', dom)[0]
        text, background = (colour(container, name) for name in ("text", "background"))
        assert (luminance(background) < 0.1) == (theme == "dark"), (theme, background)
        assert contrast(text, background) >= 4.5, (theme, text, background)  # WCAG AA


def colour(element: str, name: str) -> tuple[int, ...]:
    """data-NAME="rgb(r,g,b)" of an element's opening tag, as (r, g, b)."""
    return tuple(
        int(n) for n in re.search(rf'data-{name}="rgb\(([\d,]+)\)"', element)[1].split(",")
    )


def luminance(rgb: tuple[int, ...]) -> float:
    """WCAG 2's relative luminance of an sRGB colour."""
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """WCAG 2's contrast ratio, 1 (none) to 21 (black on white)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
