"""tests/perf is `make bench`, not part of `make test`: pytest collects nothing here."""

collect_ignore = ["bench.py"]
