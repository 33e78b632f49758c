"""Small builders for the issue-4 tests: a tiny random model, a random token dataset, a TopK SAE.

Tests stay fast and independent of shipped weights: nothing here loads the default model.
"""

import torch
from datasets import Dataset
from sae_lens import HookedSAETransformer, TopKSAE, TopKSAEConfig
from transformer_lens import HookedTransformerConfig

HOOK = "blocks.0.hook_resid_post"
D_MODEL = 16
VOCAB = 50
CTX = 16


def tiny_model(seed: int = 0) -> HookedSAETransformer:
    torch.manual_seed(seed)
    cfg = HookedTransformerConfig(
        n_layers=1,
        d_model=D_MODEL,
        d_head=8,
        n_heads=2,
        d_mlp=32,
        d_vocab=VOCAB,
        n_ctx=CTX,
        act_fn="relu",
        normalization_type="LN",
        device="cpu",
        seed=seed,
    )
    return HookedSAETransformer(cfg)


def token_dataset(n_rows: int, seed: int = 0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    return Dataset.from_dict(
        {"tokens": torch.randint(0, VOCAB, (n_rows, CTX), generator=g).tolist()}
    )


def random_topk_sae(k: int, d_sae: int = 64, seed: int = 0) -> TopKSAE:
    torch.manual_seed(seed)
    sae = TopKSAE(TopKSAEConfig(d_in=D_MODEL, d_sae=d_sae, k=k, rescale_acts_by_decoder_norm=True))
    with torch.no_grad():
        sae.W_enc.normal_()
        sae.W_dec.normal_().div_(sae.W_dec.norm(dim=-1, keepdim=True))
        sae.b_enc.normal_(mean=0.5)  # mostly positive pre-activations: every top-k value is live
    sae.cfg.metadata.hook_name = HOOK
    return sae
