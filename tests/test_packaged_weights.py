"""The tests that read weights/: the packaged generator loads, passes its checksum, makes a song, ends cleanly."""

from pathlib import Path

import numpy as np

from conftest import synthetic_voice
from vocals2song.model.weights import CONFIG_FILE, REPOSITORY_WEIGHTS, load_generator


def test_packaged_generator_makes_a_song():
    assert (REPOSITORY_WEIGHTS / CONFIG_FILE).is_file(), f"the packaged generator is missing from {REPOSITORY_WEIGHTS}"
    from vocals2song.inference import vocals_to_song

    model = load_generator(REPOSITORY_WEIGHTS)  # checks the sha256 in config.json
    assert model.config.provenance.get("steps", 0) > 0, "packaged weights must record their training"
    result = vocals_to_song(synthetic_voice(3.0, 44100), 44100, model)
    assert result.sample_rate == 44100 and len(result.song) == 3 * 44100  # the voice's own rate
    assert np.all(np.isfinite(result.song)) and np.max(np.abs(result.song)) > 1e-3


def test_the_accompaniment_ends_no_louder_than_it_plays():
    """The generator once saw the voice stop dead at the padded end of its last tile and answered with a burst
    in the last ~16 ms, up to 15 dB above the rest; the limiter then turned the whole song down to it."""
    import soundfile as sf

    from vocals2song.inference import vocals_to_song

    model = load_generator(REPOSITORY_WEIGHTS)
    examples = Path(__file__).resolve().parents[1] / "examples"
    rng = np.random.default_rng(7)
    for name in ("haydn-sung.wav", "spoken-phrase.wav", "mozart-sung.wav"):
        voice, rate = sf.read(examples / name, dtype="float32")
        for length in rng.integers(int(2.0 * rate), min(len(voice), int(14.0 * rate)), size=3):
            result = vocals_to_song(voice[:length], rate, model, mode="accompaniment")
            tail = int(0.05 * result.sample_rate)
            body_peak = np.max(np.abs(result.accompaniment[:-tail]))
            tail_peak = np.max(np.abs(result.accompaniment[-tail:]))
            assert tail_peak <= body_peak, f"{name}[:{length}]: the last 50 ms peak at {tail_peak:.3f}, the body at {body_peak:.3f}"
