"""The one test that reads weights/: the packaged generator loads, passes its checksum and makes a song."""

import numpy as np

from conftest import synthetic_voice
from vocals2song.model.weights import CONFIG_FILE, REPOSITORY_WEIGHTS, load_generator


def test_packaged_generator_makes_a_song():
    assert (REPOSITORY_WEIGHTS / CONFIG_FILE).is_file(), f"the packaged generator is missing from {REPOSITORY_WEIGHTS}"
    from vocals2song.inference import vocals_to_song

    model = load_generator(REPOSITORY_WEIGHTS)  # checks the sha256 in config.json
    assert model.config.provenance.get("steps", 0) > 0, "packaged weights must record their training"
    result = vocals_to_song(synthetic_voice(3.0, 44100), 44100, model)
    assert len(result.song) == 3 * model.config.spectrogram.sample_rate
    assert np.all(np.isfinite(result.song)) and np.max(np.abs(result.song)) > 1e-3
