"""Benchmarks that measure Hearth against in-process calls, the original single-file design and
`transformers serve`, all in one run, and print each target of the design document with PASS/FAIL.

Run with ``python -m bench text|image|all`` from the repository root.
"""
