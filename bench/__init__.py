"""Benchmarks that measure Hearth fairly against its peers (OpenVINO GenAI in-process and `transformers serve`
for text, the in-process pipeline for images) and print each target with PASS/FAIL, or NO VERDICT when the
machine was busy. docs/performance.md describes the method.

Run with ``python -m bench text|image|all [--quick]`` from the repository root.
"""
