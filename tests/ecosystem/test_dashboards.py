"""SAEDashboard pages per budget: they render offline in headless Chromium, load nothing from
outside their folder, and show the top activations of the SAE at that budget."""

from __future__ import annotations

import re

import pytest
import torch
from ecosystem_browser import chromium_driver, console_errors, open_page, outside
from route_helpers import ROUTE_HOOK
from sae_lens import TopKSAE, TopKSAEConfig
from sae_lens.saes.sae import SAEMetadata
from torch.testing import assert_close

pytestmark = pytest.mark.ecosystem
pytest.importorskip("sae_dashboard")

from saelens_hierarchical.budget import at_budget  # noqa: E402
from saelens_hierarchical.ecosystem.dashboards import write_dashboards  # noqa: E402
from saelens_hierarchical.ecosystem.sae_folder import load_sae  # noqa: E402

BUDGETS = [4, 16]

# The top-activation group of the shown feature: its title and, per sequence, the value in the
# tooltip of the bold (top-activating) token.
READ_TOP_GROUP = """
const group = [...document.querySelectorAll('.seq-group')]
    .find(g => g.querySelector('h4').textContent.startsWith('TOP ACTIVATIONS'));
const values = [...group.querySelectorAll('.seq')].map(seq => {
    const bold = [...seq.querySelectorAll('span.token')].find(t => t.style.fontWeight === 'bold');
    const row = [...bold.parentElement.nextElementSibling.querySelectorAll('tr')]
        .find(r => r.textContent.startsWith('Feature activation'));
    return row.lastElementChild.textContent;
});
return [group.querySelector('h4').textContent, values];
"""


def _feature_acts(sae, model, tokens, k):
    hook = sae.cfg.metadata.hook_name
    with torch.no_grad(), at_budget(sae, k):
        _, cache = model.run_with_cache(tokens, names_filter=[hook])
        return sae.encode(cache[hook].flatten(2))  # [batch, pos, d_sae]; 4-D hooks flattened


def _expected(acts, feature, n):
    """SAEDashboard's top group: the max over all tokens, and the n largest activations away from
    the row ends (its default buffer keeps 5 tokens of context each side, and 1 more before)."""
    feat = acts[..., feature]
    return feat.max(), feat[:, 6:-5].flatten().topk(n).values


@pytest.fixture(scope="module")
def dashboards(tmp_path_factory, default_model, token_rows, sae_dir):
    sae = load_sae(sae_dir)
    tokens = torch.tensor(token_rows[:48]["tokens"])
    firing = (_feature_acts(sae, default_model, tokens, BUDGETS[0]) > 0).sum((0, 1))
    features = firing.topk(3).indices.tolist()  # features active at the smallest budget
    out = tmp_path_factory.mktemp("dash") / "dashboards"
    return (
        sae,
        tokens,
        features,
        write_dashboards(sae, default_model, tokens, BUDGETS, features, out),
    )


def _check_pages(driver, dash, sae, model, tokens, features, shots):
    """Each page: offline, no console error, top activations equal the SAE's at its budget."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for k, page in dash.pages.items():
        urls = open_page(driver, page)
        assert outside(urls, page.parent) == [], "the page fetched from outside its folder"
        assert any(u.endswith("/plotly.min.js") for u in urls)
        assert console_errors(driver) == []
        acts = _feature_acts(sae, model, tokens, k)
        for feature in features:
            Select(driver.find_element(By.ID, "select-0")).select_by_value(str(feature))
            title, shown = driver.execute_script(READ_TOP_GROUP)
            top_max, top_values = _expected(acts, feature, len(shown))
            # the page prints 3 decimals: agreement to 1e-3 is exact up to that rounding
            shown_max = float(re.search(r"MAX = ([\d.]+)", title).group(1))
            assert_close(torch.tensor(shown_max), top_max, atol=1e-3, rtol=0)
            assert_close(torch.tensor([float(v) for v in shown]), top_values, atol=1e-3, rtol=0)
        shot = shots / f"dashboard_budget_{k}.png"
        driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}")


def test_every_budget_page_renders_offline_with_the_sae_top_activations_at_that_budget(
    dashboards, default_model, tmp_path
):
    from selenium.webdriver.common.by import By

    sae, tokens, features, dash = dashboards
    driver = chromium_driver()
    try:
        _check_pages(driver, dash, sae, default_model, tokens, features, tmp_path)
        open_page(driver, dash.index)
        assert console_errors(driver) == []
        frames = driver.find_elements(By.TAG_NAME, "iframe")
        assert [f.get_attribute("src").rsplit("/", 1)[1] for f in frames] == [
            f"budget_{k}.html" for k in BUDGETS
        ]
    finally:
        driver.quit()


def test_sae_on_a_lime_route_hook_gets_pages_without_logit_panels(
    tmp_path, route_model, route_tokens, route_sae
):
    model, sae, hook = route_model, route_sae, ROUTE_HOOK  # SAELens reads the 4-D route flattened
    tokens = torch.as_tensor(route_tokens[:32]["tokens"])
    firing = (_feature_acts(sae, model, tokens, 2) > 0).sum((0, 1))
    features = firing.topk(2).indices.tolist()
    dash = write_dashboards(sae, model, tokens, [2, 4], features, tmp_path / "lime")
    assert "NEGATIVE LOGITS" not in dash.pages[2].read_text()  # a route has no logit direction
    driver = chromium_driver()
    try:
        _check_pages(driver, dash, sae, model, tokens, features, tmp_path)
    finally:
        driver.quit()
    with pytest.raises(ValueError, match="SAE d_in=3 does not read hook"):
        narrow = TopKSAE(TopKSAEConfig(d_in=3, d_sae=8, k=2, metadata=SAEMetadata(hook_name=hook)))
        write_dashboards(narrow, model, tokens, [2], [0], tmp_path / "narrow")


def test_pages_differ_across_budgets_as_the_sae_does(dashboards, default_model):
    sae, tokens, features, dash = dashboards
    small, large = (_feature_acts(sae, default_model, tokens, k) for k in BUDGETS)
    assert (small > 0).sum() < (large > 0).sum()  # the smaller budget keeps fewer latents
    assert dash.pages[4].read_text() != dash.pages[16].read_text()


def test_bad_budget_feature_and_folder_are_refused_naming_them(sae_dir, default_model, tmp_path):
    sae = load_sae(sae_dir)
    tokens = torch.zeros(2, 16, dtype=torch.long)
    with pytest.raises(ValueError, match=r"budgets must be in 1\.\.K=16; got \[4, 17\]"):
        write_dashboards(sae, default_model, tokens, [4, 17], [0], tmp_path / "a")
    with pytest.raises(ValueError, match=r"features must be in 0\.\.255; got \[256\]"):
        write_dashboards(sae, default_model, tokens, [4], [256], tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="SAE folder .*missing does not exist"):
        load_sae(tmp_path / "missing")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
