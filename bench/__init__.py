"""The benchmark suite (issue #5): ``python bench/run.py``; see bench/run.py."""
