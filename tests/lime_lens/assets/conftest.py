import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # r_xdr, next to the tests that use it
