"""Local copies of the scripts SAEDashboard pages load from CDNs, so that the pages render offline.

``sae_dashboard/html_fns.py`` writes ``<script src="https://d3js.org/d3.v6.min.js">`` and
``https://cdn.plot.ly/plotly-latest.min.js``; offline (or behind a proxy) the page is blank with
"d3 is not defined". Local copies replace them: d3 6.7.0 (npm) from our package data under
``assets/``, and plotly.js from the installed ``plotly`` package (a dependency), which ships it
as ``plotly/package_data/plotly.min.js``, so the library carries no second 4.7 MB copy.
Versions, licences and sha256 in ``assets/PROVENANCE.json`` (d3 rebuilt by
``scripts/build_assets.py --web-only``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
CDN_SCRIPTS = {
    "https://d3js.org/d3.v6.min.js": "d3.min.js",
    "https://cdn.plot.ly/plotly-latest.min.js": "plotly.min.js",
}


def script_path(name: str) -> Path:
    """The local copy of one of ``CDN_SCRIPTS``' files (or a licence next to them)."""
    if name != "plotly.min.js":
        return ASSETS_DIR / name
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("plotly.min.js comes from the plotly package: pip install plotly")
    return Path(spec.origin).parent / "package_data" / name


def provenance() -> dict[str, dict[str, str]]:
    """Package, version, licence and sha256 of each local script."""
    return json.loads((ASSETS_DIR / "PROVENANCE.json").read_text())


def localize_page(html: str) -> str:
    """The page with every CDN script replaced by its file name (served from the page's folder).

    Raises ValueError if the page loads a script from anywhere else, so that a new SAEDashboard
    release with other URLs fails here rather than rendering blank offline.
    """
    for url, name in CDN_SCRIPTS.items():
        html = html.replace(f'src="{url}"', f'src="{name}"')
    if 'src="http' in html:
        start = html.index('src="http')
        raise ValueError(
            f"page loads a remote script we have no local copy of: {html[start : start + 80]}"
        )
    return html


def copy_scripts(folder: Path) -> None:
    """Put the local scripts (and their licences) next to the pages in ``folder``."""
    for name in [*CDN_SCRIPTS.values(), "LICENSE-d3.txt", "LICENSE-plotly.txt"]:
        shutil.copyfile(script_path(name), folder / name)
