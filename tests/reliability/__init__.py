"""Reliability tests: real faults, concurrent runs, bad input and safety (see RELIABILITY.md)."""
