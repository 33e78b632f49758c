"""The package-data scripts that replace SAEDashboard's CDN tags: their provenance hashes match,
and a page loading any other remote script is refused rather than written to render blank."""

from __future__ import annotations

import hashlib

import pytest

from saelens_hierarchical.ecosystem.offline_assets import (
    CDN_SCRIPTS,
    localize_page,
    provenance,
    script_path,
)


def test_every_local_script_matches_its_recorded_sha256_and_licence():
    recorded = provenance()
    assert sorted(recorded) == sorted(CDN_SCRIPTS.values())
    for name, entry in recorded.items():
        assert hashlib.sha256(script_path(name).read_bytes()).hexdigest() == entry["sha256"]
        assert entry["licence"] in {"MIT", "BSD-3-Clause"}
    assert "d3@6.7.0" in recorded["d3.min.js"]["package"]  # the v6 SAEDashboard asks for


def test_cdn_tags_become_local_files_and_unknown_remote_scripts_are_refused():
    page = "".join(f'<script src="{url}"></script>' for url in CDN_SCRIPTS)
    assert (
        localize_page(page)
        == '<script src="d3.min.js"></script><script src="plotly.min.js"></script>'
    )
    with pytest.raises(ValueError, match="remote script .*cdn.example"):
        localize_page(page + '<script src="https://cdn.example/x.js"></script>')
