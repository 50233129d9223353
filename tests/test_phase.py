"""Phase-gradient heap integration: the phase it rebuilds, its edge cases and its reproducibility."""

import numpy as np
import pytest

from conftest import synthetic_voice
from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig
from vocals2song.codec.phase import pghi

CONFIG = SpectrogramConfig()


def convergence_db(magnitude: np.ndarray, phase: np.ndarray) -> float:
    """Spectral convergence of the audio made from (magnitude, phase) against the magnitude, dB (lower is better)."""
    audio = codec.istft((magnitude * np.exp(1j * phase)).astype(np.complex64), CONFIG)
    rebuilt = np.abs(codec.stft(audio, CONFIG))
    return float(20 * np.log10(np.linalg.norm(rebuilt - magnitude) / np.linalg.norm(magnitude)))


def chirp(seconds: float = 2.0) -> np.ndarray:
    time = np.arange(int(seconds * CONFIG.sample_rate)) / CONFIG.sample_rate
    return (0.3 * np.sin(2 * np.pi * (200 * time + 400 * time**2))).astype(np.float32)


@pytest.mark.parametrize("make", [lambda: synthetic_voice(2.0), chirp], ids=["voice", "chirp"])
def test_pghi_phase_is_consistent_with_the_magnitude(make):
    magnitude = np.abs(codec.stft(make(), CONFIG))
    phase = pghi(magnitude, CONFIG)
    assert phase.shape == magnitude.shape and phase.dtype == np.float32
    random_phase = np.random.default_rng(1).uniform(-np.pi, np.pi, magnitude.shape)
    assert convergence_db(magnitude, phase) < -25.0
    assert convergence_db(magnitude, phase) < convergence_db(magnitude, random_phase) - 20.0


def test_pghi_needs_the_window_centre_term():
    """The −π per bin of librosa's frame-centred window matters: flip its sign convention and the phase is lost."""
    from vocals2song.codec import phase as module

    magnitude = np.abs(codec.stft(synthetic_voice(1.0), CONFIG)).astype(np.float64)
    time_derivative, frequency_derivative = module.phase_gradients(magnitude, CONFIG)
    wrong = np.zeros_like(magnitude)
    module._integrate(magnitude, magnitude > magnitude.max() * 1e-3, time_derivative, frequency_derivative + np.pi,
                      wrong)  # fmt: skip
    assert convergence_db(magnitude, wrong) > convergence_db(magnitude, pghi(magnitude, CONFIG)) + 15.0


def test_pghi_is_reproducible_and_handles_silence():
    magnitude = np.abs(codec.stft(synthetic_voice(1.0), CONFIG))
    assert np.array_equal(pghi(magnitude, CONFIG, seed=4), pghi(magnitude, CONFIG, seed=4))
    silent = pghi(np.zeros((513, 20), np.float32), CONFIG)
    assert silent.shape == (513, 20) and np.all(np.isfinite(silent))
    assert np.all(np.isfinite(pghi(magnitude[:, :1], CONFIG)))  # one frame
    with pytest.raises(ValueError, match="2-D"):
        pghi(magnitude[:, 0], CONFIG)
