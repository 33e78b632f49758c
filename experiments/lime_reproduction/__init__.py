"""LIMe at small scale against an equal-size vanilla (paper v2 §5.2, Table 2): the tiny recipe on
the embedded Austen corpus, 3 seeds, plus the mod-10 arithmetic smoke task."""
