"""Alignment: a transcript's words and phonemes placed in a recording (offline aligner, loudness mouth, providers)."""
