"""Lip-sync: phonemes to mouth shapes and v1 timelines (pure, no I/O)."""
