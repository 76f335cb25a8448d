"""The integration table: one folder per vendor (settings, client, facts), one
registry line each in `reconciler.integrations.table`. This package's top level
is pure (no HTTP): config and the core read the kinds and facts from it."""
