import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # r_xdr, next to the tests that use it
# The shipped tiny models' training recipe lives with the scripts that train them (scripts/ is
# not a package: the scripts import each other as top-level modules, as `python scripts/X.py` does).
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
