import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # train_helpers, next to the tests that use it
# The reproduction scripts (scripts/ is not a package: they import each other as top-level
# modules, as `python scripts/X.py` does).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
