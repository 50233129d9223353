"""Mixing rendered stems into a produced accompaniment: per-stem EQ and compression, a shared room, a bus limiter.

:func:`mix_stems` takes the stems of :func:`vocals2song.arrange.render.render_tracks` (role → mono audio) and the
arrangement's levels, and runs each stem through a pedalboard chain chosen for its role:

- chords and pad: a high-pass below the bass (120 / 150 Hz), gentle compression (2.5:1), a little presence;
- bass: a high-pass at 35 Hz, a low-pass at 2.5–4 kHz, firm compression (4:1);
- drums: a high-pass at 30 Hz, fast compression (3:1);

then sets each stem's RMS to the chords' times its level (``Track.gain_db``), sends them to one room reverb (more of the
chords and pad, less of the bass), compresses and limits the sum and scales it so no peak passes −1 dBFS. The room size, wet levels and EQ tilt are drawn from
``rng``, so a corpus hears many rooms. pedalboard (GPL-3.0, like this project) does the processing.
"""

from __future__ import annotations

import numpy as np

from vocals2song.errors import Vocals2SongError

REVERB_SEND = {"chords": 1.0, "pad": 1.3, "bass": 0.25, "drums": 0.6}
LIMIT_DB = -1.0
REFERENCE_RMS = 0.1  # the chords' RMS before the bus; the bus limiter then keeps peaks under LIMIT_DB


def _pedalboard():
    try:
        import pedalboard
    except ImportError:
        raise Vocals2SongError("pedalboard is not installed (pip install pedalboard); the arranger's mixer needs "
                               "it.") from None
    return pedalboard


def stem_chain(role: str, rng: np.random.Generator):
    """The pedalboard.Pedalboard that processes one stem of ``role`` (EQ and compression; no reverb)."""
    pb = _pedalboard()
    tilt = float(rng.uniform(-2.0, 2.0))
    if role == "bass":
        plugins = [pb.HighpassFilter(35.0), pb.LowpassFilter(float(rng.uniform(2500.0, 4000.0))),
                   pb.Compressor(threshold_db=-20.0, ratio=4.0, attack_ms=10.0, release_ms=120.0)]
    elif role == "drums":
        plugins = [pb.HighpassFilter(30.0), pb.Compressor(threshold_db=-18.0, ratio=3.0, attack_ms=5.0,
                                                          release_ms=80.0),
                   pb.HighShelfFilter(cutoff_frequency_hz=6000.0, gain_db=tilt)]
    else:
        plugins = [pb.HighpassFilter(150.0 if role == "pad" else 120.0),
                   pb.Compressor(threshold_db=-20.0, ratio=2.5, attack_ms=15.0, release_ms=150.0),
                   pb.PeakFilter(cutoff_frequency_hz=3000.0, gain_db=1.5 + 0.5 * tilt, q=0.8)]
    return pb.Pedalboard(plugins)


def mix_stems(stems: dict[str, np.ndarray], levels_db: dict[str, float], sample_rate: int,
              rng: np.random.Generator) -> np.ndarray:
    """The produced accompaniment of ``stems`` (role → float mono, one length): each stem through its
    :func:`stem_chain`, set to the chords' RMS × 10^(level/20) (``levels_db[role]``, 0 for the chords), a shared
    room, a bus limiter at :data:`LIMIT_DB`. Returns float32 mono of the stems' length."""
    pb = _pedalboard()
    if not stems:
        raise Vocals2SongError("There is nothing to mix: the arrangement has no tracks.")
    length = len(next(iter(stems.values())))
    processed = {}
    for role, audio in stems.items():
        audio = np.asarray(audio, dtype=np.float32)
        rms = float(np.sqrt(np.mean(audio ** 2)))
        if rms < 1e-6:
            continue  # a silent track (nothing to play in this excerpt)
        wet = stem_chain(role, rng)(audio[None, :] / rms * REFERENCE_RMS, sample_rate)[0]
        wet_rms = float(np.sqrt(np.mean(wet ** 2)))
        processed[role] = wet / max(wet_rms, 1e-9) * REFERENCE_RMS * 10.0 ** (levels_db.get(role, 0.0) / 20.0)
    if not processed:
        return np.zeros(length, dtype=np.float32)
    dry = np.sum(list(processed.values()), axis=0)
    send = np.sum([audio * REVERB_SEND.get(role, 0.5) for role, audio in processed.items()], axis=0)
    room = pb.Reverb(room_size=float(rng.uniform(0.15, 0.6)), damping=float(rng.uniform(0.3, 0.7)),
                     wet_level=1.0, dry_level=0.0, width=1.0)
    wet_level = float(rng.uniform(0.08, 0.25))
    mixed = dry + wet_level * room(send[None, :].astype(np.float32), sample_rate)[0]
    bus = pb.Pedalboard([pb.Compressor(threshold_db=-14.0, ratio=2.0, attack_ms=20.0, release_ms=200.0),
                         pb.Limiter(threshold_db=LIMIT_DB, release_ms=100.0)])
    limited = bus(mixed[None, :].astype(np.float32), sample_rate)[0, :length]
    ceiling = 10.0 ** (LIMIT_DB / 20.0)
    peak = float(np.max(np.abs(limited)))
    if peak > ceiling:  # the limiter lets the first milliseconds of a transient through
        limited = limited * (ceiling / peak)
    return limited.astype(np.float32)


def play_arrangement(arrangement, sample_rate: int, nb_samples: int, soundfonts,
                     rng: np.random.Generator) -> np.ndarray:
    """An arrangement rendered (:func:`vocals2song.arrange.render.render_tracks`) and mixed (:func:`mix_stems`)."""
    from vocals2song.arrange.render import render_tracks

    stems = render_tracks(arrangement, sample_rate, nb_samples, soundfonts)
    levels = {track.role: track.gain_db for track in arrangement.tracks}
    return mix_stems(stems, levels, sample_rate, rng)
