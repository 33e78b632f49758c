"""Set-up and asset builders (``python scripts/build_assets.py``); importable as a package so
their tests need no ``sys.path`` edits. Nothing here ships in the wheel."""
