"""General MIDI rendering through FluidSynth: MIDI events → audio, and which soundfont plays them.

The corpus builder plays a score's lower parts and the arranger's tracks with it; the evaluation's plan band plays a
plan with it.
"""

from __future__ import annotations

from dataclasses import dataclass
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
                      reverb: tuple[float, float, float, float] = (0.4, 0.3, 0.8, 0.3),
                      drum_preset: tuple[int, int] = (128, 0)) -> np.ndarray:
    """Play MIDI events (seconds, is_note_on, channel, key, velocity) through FluidSynth: ``programs`` are the GM
    programs of the pitched channels in order (channel 9, drums, is skipped), ``reverb`` is FluidSynth's (room
    size, damping, width, level), ``drum_preset`` the (bank, preset) channel 9 plays (GM kits are bank 128; a
    drum-kit soundfont such as avldrums has its kit at (0, 0)). Returns float32 mono audio, shape (nb_samples,), in
    [-1, 1]."""
    synth, soundfont_id = _synthesizer(soundfont, sample_rate)
    synth.system_reset()
    channels = [channel for channel in range(16) if channel != DRUM_CHANNEL]
    for channel, program in zip(channels, programs):
        synth.program_select(channel, soundfont_id, 0, program)
    if synth.program_select(DRUM_CHANNEL, soundfont_id, *drum_preset) != 0:
        synth.program_select(DRUM_CHANNEL, soundfont_id, 128, 0)  # a kit the soundfont lacks: its standard kit
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


# ----------------------------------------------------------------------------------------------------
# Arrangements


@dataclass(frozen=True)
class Soundfonts:
    """What plays an arrangement: ``pitched``, a General MIDI .sf2/.sf3 for every pitched track (and the drums when
    ``drums`` is None); ``drums``, a drum-kit soundfont whose kit is its preset (0, 0) (e.g. avldrums)."""

    pitched: str
    drums: str | None = None


# Debian's soundfonts, best first: MuseScore General (MIT), FluidR3 GM (MIT); avldrums' kits (CC-BY-SA 3.0).
GM_SOUNDFONTS = (Path("/usr/share/sounds/sf3/MuseScore_General.sf3"), Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"))
DRUM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"), Path("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2"))
# Kits only a GM soundfont has (brushes, jazz, orchestra): drawn from it even when a drum-kit soundfont is there.
GM_ONLY_KITS = (32, 40, 48)


def installed_soundfonts() -> tuple[list[Path], list[Path]]:
    """(the GM soundfonts found, best first; pretty_midi's small TimGM6mb only when Debian's are missing; the
    drum-kit soundfonts found)."""
    pitched = [path for path in GM_SOUNDFONTS if path.is_file()] or [resolve_soundfont(None)]
    return pitched, [path for path in DRUM_SOUNDFONTS if path.is_file()]


def choose_soundfonts(rng: np.random.Generator, soundfont=None, drum_kit_share: float = 0.6) -> Soundfonts:
    """A random pairing of the installed soundfonts (``soundfont`` given: always that one for the pitched tracks;
    a drum-kit soundfont plays the drums with probability ``drum_kit_share`` when one is installed)."""
    pitched, drums = installed_soundfonts()
    chosen = resolve_soundfont(soundfont) if soundfont is not None else pitched[int(rng.integers(len(pitched)))]
    kit = drums[int(rng.integers(len(drums)))] if drums and rng.random() < drum_kit_share else None
    return Soundfonts(str(chosen), None if kit is None else str(kit))


def render_tracks(arrangement, sample_rate: int, nb_samples: int, soundfonts: Soundfonts) -> dict[str, np.ndarray]:
    """Each track of an :class:`~vocals2song.arrange.arranger.Arrangement` played alone (no FluidSynth reverb: the
    room is the mixer's): role → float32 mono, shape (nb_samples,)."""
    _require_fluidsynth()
    stems = {}
    dry = (0.2, 0.5, 0.5, 0.0)
    for track in arrangement.tracks:
        if track.is_drums:
            events = [event for note in track.notes for event in
                      ((note.start, 1, DRUM_CHANNEL, note.pitch, note.velocity), (note.end, 0, DRUM_CHANNEL, note.pitch, 0))]
            on_kit = soundfonts.drums is not None and track.program not in GM_ONLY_KITS
            audio = synthesize_events(events, [], soundfonts.drums if on_kit else soundfonts.pitched, sample_rate,
                                      nb_samples, dry, drum_preset=(0, 0) if on_kit else (128, track.program))
        else:
            events = [event for note in track.notes if 0 <= note.pitch <= 127 for event in
                      ((note.start, 1, 0, note.pitch, note.velocity), (note.end, 0, 0, note.pitch, 0))]
            audio = synthesize_events(events, [track.program], soundfonts.pitched, sample_rate, nb_samples, dry)
        stems[track.role] = audio
    return stems
