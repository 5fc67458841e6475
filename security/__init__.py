"""Security checks run by tools the project did not write (see security/wapiti_scan.py)."""
