"""Landing files into raw and quarantine tables."""
