"""Benchmarks: every scenario measured against baselines in the same run (`make bench`)."""
