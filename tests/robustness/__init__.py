"""Robustness tests: a generated corpus of bad inputs, app limits, NaN/OOM guards."""
