"""Pydantic models: the single definition of every payload Pacte reads, stores or sends."""
