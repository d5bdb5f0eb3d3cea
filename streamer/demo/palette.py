"""The demo character's colours and line weights (pure, no I/O)."""

from __future__ import annotations

from streamer.demo.raster import rgb

OUTLINE = rgb("#4a2a2b")
SKIN = rgb("#ffe1cd")
SKIN_LIGHT = rgb("#fff3e9")
SKIN_SHADE = rgb("#f5b9a3")
SKIN_DEEP = rgb("#d98a80")
BLUSH = rgb("#ff8793")
HAIR = rgb("#a9552f")
HAIR_SHADE = rgb("#7a3522")
HAIR_BACK = rgb("#66291b")
HAIR_HI = rgb("#e39a62")
BROW = rgb("#6b2f22")
EYE_WHITE = rgb("#fffdf9")
EYE_SHADE = rgb("#dccbd6")
IRIS_DARK = rgb("#1d4a68")
IRIS_LIGHT = rgb("#86d6df")
PUPIL = rgb("#17202e")
CATCH_LIGHT = (1.0, 1.0, 1.0)
LASH = rgb("#3a1f22")
MOUTH = rgb("#7a2737")
MOUTH_DEEP = rgb("#561827")
TONGUE = rgb("#f07a87")
TEETH = rgb("#ffffff")
TEETH_SHADE = rgb("#e6e0e8")
LIPS = rgb("#f1998f")
SHIRT = rgb("#3ba497")
SHIRT_SHADE = rgb("#287a78")
SHIRT_LIGHT = rgb("#62c2b0")
COLLAR = rgb("#fff7e8")
COLLAR_SHADE = rgb("#ecd8c0")
STAR = rgb("#ffcb4d")
STAR_SHADE = rgb("#f4a63a")

# line weights, in scale units (1.0 = canvas width at 2:3)
LINE = 0.0072  # silhouettes and main shapes
THIN = 0.0045  # inner details
