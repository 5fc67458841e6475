"""The convention lifecycle: deterministic orchestration only, one module per stage."""
