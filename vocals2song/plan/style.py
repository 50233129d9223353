"""The accompaniment's style: the names a person chooses from, one list for the arranger, the B channel and the UI.

A style names a kind of band (instruments, patterns, feel). The arranger (:mod:`vocals2song.arrange`) plays a plan in
each of them; a generator trained on styled pairs reads the style from the B channel (:mod:`vocals2song.plan.channel`)
and lists the styles it knows in its config (:attr:`vocals2song.config.ModelConfig.styles`).
"""

from __future__ import annotations

from vocals2song.errors import PlanError

# Order matters: a style's index is its code in the B channel. Append new styles; never reorder.
STYLES = ("pop", "ballad", "folk", "jazz", "rock", "strings", "chamber")
DEFAULT_STYLE = "pop"
DESCRIPTIONS = {
    "pop": "piano or guitar comping, bass on roots and fifths, backbeat drums",
    "ballad": "arpeggiated piano over a pad, sparse drums",
    "folk": "strummed acoustic guitar, bass, light percussion",
    "jazz": "shell-voiced sevenths, walking bass, swing ride and brushes",
    "rock": "power chords in driving eighths, bass, drums with a crash on downbeats",
    "strings": "a sustained string ensemble over a pizzicato bass, no drums",
    "chamber": "a score's own lower parts, as the classical pieces were written",
}


def check_style(style: str) -> str:
    """``style`` if it is one of :data:`STYLES` (case and surrounding spaces ignored); PlanError otherwise."""
    name = str(style).strip().lower() if isinstance(style, str) else None
    if name not in STYLES:
        raise PlanError(f"The style must be one of {', '.join(STYLES)}, not {style!r}.")
    return name
