"""LIMe on the paper's step-by-step arithmetic task (v2 §5.3.2, App. A/B)."""
