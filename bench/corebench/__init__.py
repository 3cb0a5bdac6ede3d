"""Helpers of ``bench/bench_core.py`` (the platform-core benchmark); not part of the product."""
