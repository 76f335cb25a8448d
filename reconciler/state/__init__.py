"""State: the embedded store of what we manage, journal and locks."""
