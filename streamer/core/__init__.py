"""The pure core: rig model, routing, timelines and schedules. No I/O, no event loop.

Only the standard library (and numpy where it must) may be imported here; a test enforces it.
"""
