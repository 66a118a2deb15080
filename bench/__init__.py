"""Benchmarks of the drift worker (`python bench/run.py`)."""
