"""Speech synthesis: text to audio with word and phoneme timings (espeak-ng in process; see the providers)."""
