"""Shared fixtures: synthetic voices, tiny random-init generators (plain, and one that reads styles), and the
original project's samples."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "seed-samples"


@pytest.fixture(scope="session", autouse=True)
def private_temp_folder(tmp_path_factory) -> Path:
    """Send every temporary file of the suite to a folder inside pytest's own: this process's ``tempfile``
    module, the processes it starts (``TMPDIR``: the CLI, the trainer, Chromium, Playwright, ffmpeg) and gradio's
    cache (``GRADIO_TEMP_DIR``). Some libraries leave things in the system temp folder (gradio_client an empty
    folder per file it downloads, TensorFlow's autograph its generated sources), so nothing may go there.

    Modules that import gradio must do so inside fixtures: gradio reads ``GRADIO_TEMP_DIR`` when imported.
    """
    folder = tmp_path_factory.mktemp("system-temp", numbered=False)
    patch = pytest.MonkeyPatch()
    patch.setattr(tempfile, "tempdir", str(folder))
    patch.setenv("TMPDIR", str(folder))
    patch.setenv("GRADIO_TEMP_DIR", str(folder / "gradio"))
    yield folder
    patch.undo()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder for a test module's input files (the app tests' handler accepts files from it)."""
    return tmp_path_factory.mktemp("inputs")


def synthetic_voice(seconds: float, sample_rate: int = 22050, f0: float = 220.0, seed: int = 0) -> np.ndarray:
    """A sung-vowel-like test signal: harmonics of a vibrato f0 with a formant-ish tilt and a little noise.

    Returns float32, shape (round(seconds * sample_rate),), peak 0.5.
    """
    rng = np.random.default_rng(seed)
    time = np.arange(int(round(seconds * sample_rate))) / sample_rate
    frequency = f0 * 2 ** (0.3 / 12 * np.sin(2 * np.pi * 5.5 * time))
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    voice = sum(np.sin(k * phase) / k * (1.5 if 500 < k * f0 < 1200 else 1.0) for k in range(1, 20))
    voice = voice * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * time) ** 2) + 0.01 * rng.standard_normal(time.size)
    return (0.5 * voice / np.max(np.abs(voice))).astype(np.float32)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio of ``estimate`` against ``reference``, in dB."""
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((reference - estimate) ** 2)))


@pytest.fixture(scope="session")
def tiny_model():
    """A debug-sized, random-init generator (never trained: for shapes and plumbing only)."""
    import keras

    from vocals2song.config import tiny_config
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import SongGenerator

    keras.utils.set_random_seed(0)
    config = tiny_config()
    return SongGenerator(config=config, network=build_generator(config.generator), source="tiny-random")


def _saved(tmp_path_factory, model, name: str) -> Path:
    """``model`` saved in the weights/ format in a new temporary folder."""
    from vocals2song.model.weights import save_generator

    directory = tmp_path_factory.mktemp(name)
    save_generator(directory, model.network, model.config)
    return directory


@pytest.fixture(scope="session")
def tiny_weights_dir(tmp_path_factory, tiny_model):
    """The tiny generator saved in the weights/ format."""
    return _saved(tmp_path_factory, tiny_model, "tiny-weights")


@pytest.fixture(scope="session")
def tiny_styled_model():
    """A debug-sized, random-init plan generator (three input channels) that reads every style from B."""
    import keras

    from vocals2song.config import GeneratorConfig, tiny_config
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import SongGenerator
    from vocals2song.plan.style import STYLES

    keras.utils.set_random_seed(0)
    config = tiny_config(generator=GeneratorConfig(width=4, depth=4, input_channels=3), styles=STYLES)
    return SongGenerator(config=config, network=build_generator(config.generator), source="tiny-styled")


@pytest.fixture(scope="session")
def tiny_styled_weights_dir(tmp_path_factory, tiny_styled_model):
    """The tiny styled generator saved in the weights/ format."""
    return _saved(tmp_path_factory, tiny_styled_model, "tiny-styled-weights")


@pytest.fixture
def seed_samples() -> Path:
    """../shared/seed-samples (the original project's recording and BMP); skips when absent."""
    if not (SEED_SAMPLES / "encoded_audio.bmp").is_file():
        pytest.skip("../shared/seed-samples is not beside this checkout")
    return SEED_SAMPLES
