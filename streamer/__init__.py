"""streamer: animate an illustrated character from pre-rendered frames, live and to video."""

__version__ = "0.1.0"
