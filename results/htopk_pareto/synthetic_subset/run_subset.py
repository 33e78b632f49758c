"""Mechanism check: htopk trained on the evaluated budgets only (paper's optional subset J)."""
import pandas as pd
from saelens_hierarchical.synthetic import run_synthetic_comparison, small_config
cfg = small_config()
cfg.baselines.methods = ("hierarchical_topk",)
cfg.baselines.extra_sae_kwargs = {"budgets": [2, 4, 8, 16]}
out = run_synthetic_comparison(cfg, "/tmp/i4_runs/synthetic_subset")
sub = out["table"].set_index("budget")["explained_variance"]
main = pd.read_csv("results/htopk_pareto/synthetic/synthetic.csv")
topk = main[main.method == "topk"].set_index("budget")["explained_variance"]
full = main[main.method == "hierarchical_topk"].set_index("budget")["explained_variance"]
print(pd.DataFrame({"htopk_all_prefixes": full, "htopk_J=2,4,8,16": sub, "topk": topk,
                    "diff_all": full - topk, "diff_subset": sub - topk}).round(4).to_string())
