"""Live stage: directory and integration providers (the impure edges)."""
