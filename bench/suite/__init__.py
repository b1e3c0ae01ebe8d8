"""`make bench`: the benchmark suite's runner (run.py), its report, and the helpers it shares."""
