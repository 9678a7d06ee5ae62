"""Benchmarks: each prints its figures beside the baseline it ran with."""
