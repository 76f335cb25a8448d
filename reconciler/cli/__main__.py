"""`python -m reconciler.cli` runs the CLI."""

from reconciler.cli import main

main()
