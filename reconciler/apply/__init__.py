"""Apply: executes a saved plan against providers and the state store."""
