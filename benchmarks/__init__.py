"""Benchmarks of Pacte against bare Temporal and bare PostgreSQL baselines (docs/benchmarks/)."""
