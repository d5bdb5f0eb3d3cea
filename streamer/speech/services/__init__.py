"""Hosted services: ElevenLabs (speech, forced alignment) and OpenAI (Whisper, emotion planning) (I/O: HTTPS)."""
