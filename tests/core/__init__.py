"""Plain unit tests for the pure core (no event loop, no I/O beyond reading test data)."""
