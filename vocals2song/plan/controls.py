"""The person's plan controls, checked once: :class:`PlanControls`.

The app maps its labels onto these fields, the CLI its flags, and :func:`vocals2song.inference.vocals_to_song`
and :func:`vocals2song.plan.estimate.estimate_harmony` take one. The bounds and defaults live here only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vocals2song.errors import PlanError
from vocals2song.plan.harmony import MODES, parse_key

MIN_TEMPO_BPM, MAX_TEMPO_BPM = 30.0, 300.0
DEFAULT_JAZZ = 0.5
# How often the chords may change: "bar" (one per bar, two where the melody clearly asks for it), "half" (per half
# bar), "beat" (at most one per beat).
CHORD_RHYTHMS = ("bar", "half", "beat")
DEFAULT_CHORD_RHYTHM = "bar"


@dataclass(frozen=True)
class PlanControls:
    """What a person may ask of the plan; ``None`` means "read it from the voice".

    Attributes:
        tonic: the key's tonic pitch class 0-11 (0 = C), or None to estimate the key.
        mode: ``"major"``, ``"minor"`` or None (then ``happy`` or the estimate decides).
        tempo: beats per minute in [:data:`MIN_TEMPO_BPM`, :data:`MAX_TEMPO_BPM`], or None.
        happy: weight of the major-key progressions against the minor-key ones in [0, 1], or None to follow the key.
        jazz: chord complexity in [0, 1]: 0 follows common progressions, 1 fits the melody and admits sevenths.
        chord_rhythm: one of :data:`CHORD_RHYTHMS`.
    Raises:
        PlanError: any field out of range (one sentence for a person), when the controls are made.
    """

    tonic: int | None = None
    mode: str | None = None
    tempo: float | None = None
    happy: float | None = None
    jazz: float = DEFAULT_JAZZ
    chord_rhythm: str = DEFAULT_CHORD_RHYTHM

    def __post_init__(self):
        if self.tonic is not None and (isinstance(self.tonic, bool) or not isinstance(self.tonic, int)
                                       or not 0 <= self.tonic < 12):
            raise PlanError(f"{self.tonic!r} is not a key's tonic: give a pitch class from 0 (C) to 11 (B).")
        if self.mode not in (None, *MODES):
            raise PlanError(f"The mode must be 'major' or 'minor', not {self.mode!r}.")
        if self.tempo is not None:
            if not _finite(self.tempo) or not MIN_TEMPO_BPM <= float(self.tempo) <= MAX_TEMPO_BPM:
                raise PlanError(f"The tempo must be a number between {MIN_TEMPO_BPM:g} and {MAX_TEMPO_BPM:g} beats per "
                                f"minute, not {self.tempo!r}.")
            object.__setattr__(self, "tempo", float(self.tempo))
        for name in ("happy", "jazz"):
            value = getattr(self, name)
            if value is None and name == "happy":
                continue
            if not _finite(value) or not 0.0 <= float(value) <= 1.0:
                label = "chord complexity (jazz)" if name == "jazz" else "major/minor blend (happy)"
                raise PlanError(f"The {label} must be a number from 0 to 1, not {value!r}.")
            object.__setattr__(self, name, float(value))
        if self.chord_rhythm not in CHORD_RHYTHMS:
            raise PlanError(f"The chord rhythm must be one of {', '.join(CHORD_RHYTHMS)}, not {self.chord_rhythm!r}.")

    @classmethod
    def make(cls, key: str | tuple[int, str | None] | None = None, tempo: float | None = None,
             happy: float | None = None, jazz: float | None = None,
             chord_rhythm: str | None = None) -> PlanControls:
        """Controls from a key written like ``"A minor"``, ``"F#"`` or ``"Bbm"`` (or (tonic, mode), or None) and
        the other fields; None for jazz or chord_rhythm means the default."""
        tonic, mode = None, None
        if isinstance(key, str):
            try:
                tonic, mode = parse_key(key)
            except ValueError:
                raise PlanError(f"'{key}' is not a key: write it like C, F# minor or Bbm.") from None
        elif key is not None:
            try:
                tonic, mode = key
            except (TypeError, ValueError):
                raise PlanError(f"{key!r} is not a key: give a tonic 0-11 and 'major', 'minor' or None.") from None
        return cls(tonic=tonic, mode=mode, tempo=tempo, happy=happy,
                   jazz=DEFAULT_JAZZ if jazz is None else jazz,
                   chord_rhythm=DEFAULT_CHORD_RHYTHM if chord_rhythm is None else chord_rhythm)

    @property
    def key(self) -> tuple[int, str | None] | None:
        """(tonic, mode or None) when a key is given, else None."""
        return None if self.tonic is None else (self.tonic, self.mode)


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
