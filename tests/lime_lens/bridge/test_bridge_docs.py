"""docs/lime/bridge.md: every hook name in its side-by-side table exists in the model it names."""

from pathlib import Path

import pytest
from bridge_helpers import boot, save_lime

DOC = Path(__file__).resolve().parents[3] / "docs" / "lime" / "bridge.md"


def table_names() -> list[tuple[str, str]]:
    """(HookedLIMeTransformer name, bridge name) of each table row, at layer 2."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].startswith("`") and cells[2].startswith("`"):
            rows.append(tuple(c.strip("`").replace("{l}", "2") for c in cells[1:3]))
    return rows


@pytest.mark.tl4
def test_the_table_lists_the_route_hooks():
    names = {bridge for _, bridge in table_names()}
    assert len(names) >= 25
    assert {"blocks.2.lime.hook_route", "blocks.2.attn.hook_k_raw", "blocks.2.attn.hook_k"} <= names


@pytest.mark.tl4
def test_every_bridge_name_in_the_table_is_a_bridge_hook(tmp_path):
    bridge = boot(save_lime(tmp_path / "lime", n_kv=2))
    missing = [b for _, b in table_names() if b not in bridge.hook_dict]
    assert missing == []


def test_every_hooked_name_in_the_table_is_a_hooked_lime_hook(tmp_path):
    pytest.importorskip("sae_lens")  # transformer-lens < 4: HookedLIMeTransformer
    from bridge_helpers import hf_model

    from lime_lens.hf.convert import hf_to_hooked

    hooked = hf_to_hooked(hf_model(save_lime(tmp_path / "lime", n_kv=2)))
    missing = [h for h, _ in table_names() if h not in hooked.hook_dict]
    assert missing == []
