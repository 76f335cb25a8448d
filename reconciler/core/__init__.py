"""The pure core: desired, matching, planning and render. No I/O, no clock."""
