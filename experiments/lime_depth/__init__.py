"""LIMe's depth claim at small scale (paper v2 §5.5): the tiny recipe at 4 to 32 layers."""
