"""Runnable examples: `python -m ferrograd.examples.digits`."""
