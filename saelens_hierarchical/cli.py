"""``saelens-hierarchical-train``: SAELens's own LM-runner CLI, with hierarchical_topk available.

The stock ``python -m sae_lens.llm_sae_training_runner`` builds its ``--architecture`` choices
from the training registry when it starts, before any plugin could register, so it cannot
offer ``hierarchical_topk``. This entry point imports the plugin first, then hands the
arguments to SAELens's parser and runner unchanged, e.g.

    saelens-hierarchical-train --architecture hierarchical_topk --d_in 768 --d_sae 16384 \\
        --k 64 --model_name gpt2 --hook_name blocks.8.hook_resid_pre --dataset_path ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import saelens_hierarchical  # noqa: F401  (registers "hierarchical_topk")


def _saelens_cli() -> Callable[[Sequence[str]], None]:
    # _run_cli is private in SAELens 6.54: fail with a clear message if it moves.
    try:
        from sae_lens.llm_sae_training_runner import _run_cli
    except ImportError as error:
        import sae_lens

        raise ImportError(
            "saelens-hierarchical-train wraps sae_lens.llm_sae_training_runner._run_cli, which "
            f"this SAELens ({sae_lens.__version__}) no longer has; use "
            "LanguageModelSAETrainingRunner(LanguageModelSAERunnerConfig("
            "sae=HierarchicalTopKTrainingSAEConfig(...))) from Python instead"
        ) from error
    return _run_cli


def main(argv: Sequence[str] | None = None) -> None:
    """Run SAELens's training CLI with ``--architecture hierarchical_topk`` available."""
    _saelens_cli()(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
