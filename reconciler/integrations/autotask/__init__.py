"""Autotask PSA integration folder: spec.py (settings + facts), client.py, sandbox.py."""
