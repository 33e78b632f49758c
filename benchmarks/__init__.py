"""Benchmarks: scripts (``python benchmarks/X.py``) and the table renderer, importable as a package by the tests."""
