import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # train_helpers, next to the tests that use it
