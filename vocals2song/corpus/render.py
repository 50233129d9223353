"""General MIDI rendering through FluidSynth: MIDI events → audio, and which soundfont plays them.

The corpus builder plays a score's lower parts and drums with it; the evaluation's plan band plays a plan with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vocals2song.errors import Vocals2SongError
from vocals2song.plan.midi import quiet_import

SYNTH_GAIN = 0.3
SOUNDFONT_SHORTCUTS = {"fluidr3": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")}
DRUM_CHANNEL = 9


def _require_fluidsynth() -> None:
    try:
        quiet_import("fluidsynth")  # pyfluidsynth loads libfluidsynth when imported
    except (ImportError, OSError) as error:
        raise Vocals2SongError(f"FluidSynth is not available ({error}); install libfluidsynth "
                               f"(apt-get install libfluidsynth3) and pyfluidsynth.") from None


def resolve_soundfont(soundfont=None) -> Path:
    """The .sf2 path of ``soundfont`` (a path, or a shortcut like "fluidr3"; None: pretty_midi's TimGM6mb)."""
    if soundfont is None:
        pretty_midi = quiet_import("pretty_midi")
        path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    else:
        path = SOUNDFONT_SHORTCUTS.get(str(soundfont).lower(), Path(soundfont))
    if not path.is_file():
        raise Vocals2SongError(f"The soundfont {path} does not exist; pass the path of a General MIDI .sf2 "
                               f"(Debian: apt-get install fluid-soundfont-gm).")
    return path


_SYNTHESIZERS: dict[tuple[str, int], tuple[object, int]] = {}


def _synthesizer(soundfont: str, sample_rate: int):
    """One FluidSynth instance per process, soundfont and rate (loading a soundfont is the slow part)."""
    fluidsynth = quiet_import("fluidsynth")
    key = (soundfont, sample_rate)
    if key not in _SYNTHESIZERS:
        synth = fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=float(sample_rate))
        _SYNTHESIZERS[key] = (synth, synth.sfload(soundfont))
    return _SYNTHESIZERS[key]


def synthesize_events(events: list[tuple[float, int, int, int, int]], programs: list[int], soundfont: str,
                      sample_rate: int, nb_samples: int,
                      reverb: tuple[float, float, float, float] = (0.4, 0.3, 0.8, 0.3)) -> np.ndarray:
    """Play MIDI events (seconds, is_note_on, channel, key, velocity) through FluidSynth: ``programs`` are the GM
    programs of the pitched channels in order (channel 9, drums, is skipped), ``reverb`` is FluidSynth's (room
    size, damping, width, level). Returns float32 mono audio, shape (nb_samples,), in [-1, 1]."""
    synth, soundfont_id = _synthesizer(soundfont, sample_rate)
    synth.system_reset()
    channels = [channel for channel in range(16) if channel != DRUM_CHANNEL]
    for channel, program in zip(channels, programs):
        synth.program_select(channel, soundfont_id, 0, program)
    synth.program_select(DRUM_CHANNEL, soundfont_id, 128, 0)
    synth.set_reverb(*reverb)

    chunks = []
    rendered = 0
    # Note-offs sort before note-ons at the same instant so a repeated key is re-struck, not cut.
    for seconds, is_note_on, channel, key, velocity in sorted(events, key=lambda event: (event[0], event[1])):
        target = min(nb_samples, int(seconds * sample_rate))
        if target > rendered:
            chunks.append(synth.get_samples(target - rendered))
            rendered = target
        if is_note_on:
            synth.noteon(channel, key, velocity)
        else:
            synth.noteoff(channel, key)
    if nb_samples > rendered:
        chunks.append(synth.get_samples(nb_samples - rendered))
    for channel in range(16):
        synth.all_sounds_off(channel)
    stereo = np.concatenate(chunks).reshape(-1, 2).astype(np.float32) / 32768.0
    return stereo.mean(axis=1)
