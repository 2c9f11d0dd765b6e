"""Baseline learner models for the benchmark (no Django)."""
