"""The servers the benchmarks start, one module per app (``python -m bench.apps.<app>``)."""
