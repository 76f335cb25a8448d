"""Test helpers users can import: simulators of the vendor APIs on loopback."""
