"""Recorded histories that CI replays against the workflows of this code (see record.py)."""
