"""The LIMe routing ablations of paper v2 App. D (Table 7) at small scale."""
