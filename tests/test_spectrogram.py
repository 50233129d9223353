"""The R/G codec: STFT round trip, storage forms against their SNR targets, the original project's BMP."""

import numpy as np
import pytest
import soundfile

from conftest import snr_db, synthetic_voice
from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig
from vocals2song.errors import ImageFormatError
from vocals2song.codec.image_files import load_image, save_image

CONFIG = SpectrogramConfig()
# (suffix, bits, minimum round-trip SNR in dB) — the targets
STORAGE_FORMS = [(".tiff", 32, 120.0), (".png", 16, 85.0), (".tiff", 16, 85.0), (".png", 8, 35.0), (".tiff", 8, 35.0)]


@pytest.fixture(scope="module")
def voice():
    return synthetic_voice(3.0, CONFIG.sample_rate)


def test_stft_istft_round_trip(voice):
    restored = codec.istft(codec.stft(voice, CONFIG), CONFIG, length=len(voice))
    assert np.max(np.abs(restored - voice)) < 1e-5


def test_stft_shape(voice):
    spectrogram = codec.stft(voice, CONFIG)
    assert spectrogram.shape == (513, 1 + len(voice) // 256)
    assert spectrogram.dtype == np.complex64


def test_image_layout(voice):
    image = codec.audio_to_image(voice, CONFIG)
    assert image.shape == (513, 1 + len(voice) // 256, 3)
    assert image.dtype == np.float32
    assert np.all(image[..., 2] == 0)
    assert 0.0 <= image[..., 1].min() and image[..., 1].max() <= 1.0
    assert 0.5 < image[..., 0].max() <= 1.0  # a -6 dBFS voice sits well inside the dB range


@pytest.mark.parametrize("suffix,bits,minimum_snr", STORAGE_FORMS)
def test_storage_round_trip_snr(tmp_path, voice, suffix, bits, minimum_snr):
    path = save_image(tmp_path / f"voice{suffix}", codec.stft(voice, CONFIG), CONFIG, bits=bits, length=len(voice))
    image = load_image(path)
    restored = image.to_audio()
    assert len(restored) == len(voice)
    assert image.spectrogram_config == CONFIG
    assert snr_db(voice, restored) >= minimum_snr


def test_eight_bit_is_worse_than_sixteen(tmp_path, voice):
    spectrogram = codec.stft(voice, CONFIG)
    snrs = {bits: snr_db(voice, load_image(save_image(tmp_path / f"{bits}.png", spectrogram, CONFIG, bits=bits,
                                                      length=len(voice))).to_audio()) for bits in (8, 16)}  # fmt: skip
    assert snrs[16] > snrs[8] + 30


def test_files_store_low_frequencies_at_the_bottom(tmp_path, voice):
    from PIL import Image

    save_image(tmp_path / "voice.png", codec.stft(voice, CONFIG), CONFIG, bits=8, length=len(voice))
    pixels = np.asarray(Image.open(tmp_path / "voice.png"))
    # a 220 Hz voice: the loud rows are near the bottom of the picture
    assert pixels[-60:, :, 0].mean() > pixels[:60, :, 0].mean() + 20


def test_silence_encodes_without_nan():
    image = codec.audio_to_image(np.zeros(22050, dtype=np.float32), CONFIG)
    assert np.all(np.isfinite(image))
    assert np.all(codec.image_to_audio(image, CONFIG, 22050) == 0)


def test_correct_polar_decode_not_the_original_bug(voice):
    spectrogram = codec.stft(voice, CONFIG)
    image = codec.spectrogram_to_image(spectrogram, CONFIG)
    decoded = codec.image_to_spectrogram(image, CONFIG)
    assert np.allclose(decoded, spectrogram, atol=1e-3 * np.abs(spectrogram).max())
    buggy = codec.r_to_magnitude(image[..., 0], CONFIG) + 1j * codec.g_to_phase(image[..., 1])
    assert snr_db(voice, codec.istft(buggy, CONFIG, len(voice))) < 3


def test_legacy_bmp_round_trip(tmp_path):
    config = SpectrogramConfig(sample_rate=44100)
    voice = synthetic_voice(2.0, 44100)
    save_image(tmp_path / "old.bmp", codec.stft(voice, config), config, bits=8)
    image = load_image(tmp_path / "old.bmp")
    assert image.legacy and image.spectrogram_config.sample_rate == 44100
    restored = image.to_audio()
    assert np.corrcoef(voice[: len(restored)], restored)[0, 1] > 0.98


def test_original_project_bmp_decodes(seed_samples):
    original, rate = soundfile.read(seed_samples / "origin_audio.wav", dtype="float32")
    if original.ndim == 2:
        original = original.mean(axis=1)
    image = load_image(seed_samples / "encoded_audio.bmp")
    assert image.legacy and image.image.shape == (513, 2584, 3)
    decoded = image.to_audio()
    assert image.spectrogram_config.sample_rate == rate
    overlap = min(len(decoded), len(original))
    assert np.corrcoef(original[:overlap], decoded[:overlap])[0, 1] >= 0.98


def test_original_recording_meets_targets(tmp_path, seed_samples):
    original, rate = soundfile.read(seed_samples / "origin_audio.wav", dtype="float32")
    config = SpectrogramConfig(sample_rate=rate)
    spectrogram = codec.stft(original, config)
    for suffix, bits, minimum_snr in STORAGE_FORMS[:2] + STORAGE_FORMS[3:4]:
        path = save_image(tmp_path / f"o{bits}{suffix}", spectrogram, config, bits=bits, length=len(original))
        assert snr_db(original, load_image(path).to_audio()) >= minimum_snr


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_corrupt_images_raise_clear_errors(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageFormatError, match="broken.png"):
        load_image(path)


def test_image_without_metadata_is_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((513, 40, 3), dtype=np.uint8)).save(tmp_path / "plain.png")
    with pytest.raises(ImageFormatError, match="no Vocals2Song metadata"):
        load_image(tmp_path / "plain.png")


def test_unsupported_bits_for_suffix(tmp_path, voice):
    with pytest.raises(ImageFormatError, match="16"):
        save_image(tmp_path / "x.bmp", codec.stft(voice, CONFIG), CONFIG, bits=16)
    with pytest.raises(ImageFormatError, match="32"):
        save_image(tmp_path / "x.png", codec.stft(voice, CONFIG), CONFIG, bits=32)


# -- the generator's target in each phase representation ----------------------------------------------------


@pytest.fixture(scope="module")
def long_voice():
    return synthetic_voice(15.0, CONFIG.sample_rate)


@pytest.mark.parametrize("representation", ["raw", "if"])
def test_target_round_trip_is_lossless_in_float(long_voice, representation):
    """15 s through the float32 target and back: ≥ 120 dB (IF's closed-loop encoding stops errors adding up)."""
    spectrogram = codec.stft(long_voice, CONFIG)
    target = codec.spectrogram_to_target(spectrogram, CONFIG, representation)
    assert target.shape == spectrogram.shape + (2,) and target.dtype == np.float32
    assert 0.0 <= target[..., 1].min() and target[..., 1].max() <= 1.0
    restored = codec.istft(codec.target_to_spectrogram(target, CONFIG, representation), CONFIG, len(long_voice))
    assert snr_db(long_voice, restored) >= 120.0


def test_open_loop_if_would_lose_precision(long_voice):
    """Why the encoder is closed-loop: summing independently rounded float32 deviations drifts below 120 dB."""
    spectrogram = codec.stft(long_voice, CONFIG)
    phase = np.angle(spectrogram).astype(np.float64)
    previous = np.concatenate([np.zeros((phase.shape[0], 1)), phase[:, :-1]], axis=1)
    deviation = codec.principal_angle(phase - previous - codec.expected_advance(CONFIG)[:, None])
    open_loop_g = ((deviation + np.pi) / (2 * np.pi)).astype(np.float32)
    drifted = np.abs(spectrogram) * np.exp(1j * codec.if_to_phase(open_loop_g, CONFIG))
    open_loop_snr = snr_db(long_voice, codec.istft(drifted.astype(np.complex64), CONFIG, len(long_voice)))
    target = codec.spectrogram_to_target(spectrogram, CONFIG, "if")
    closed_loop = codec.istft(codec.target_to_spectrogram(target, CONFIG, "if"), CONFIG, len(long_voice))
    assert open_loop_snr < 120.0 <= snr_db(long_voice, closed_loop)


def test_if_of_a_steady_tone_is_its_offset_from_the_bin_centre():
    """A tone 0.3 bin above bin 40 advances 2π·0.3·hop/n_fft more per hop than the bin expects: G = 0.575, steady,
    while its raw phase wraps around and around."""
    frequency_bins = 40.3
    seconds = np.arange(CONFIG.sample_rate) / CONFIG.sample_rate
    tone = 0.5 * np.sin(2 * np.pi * frequency_bins * CONFIG.sample_rate / CONFIG.n_fft * seconds).astype(np.float32)
    spectrogram = codec.stft(tone, CONFIG)
    steady = codec.spectrogram_to_target(spectrogram, CONFIG, "if")[40, 4:-4, 1]  # away from the padded edges
    assert np.allclose(steady, 0.5 + 0.3 * CONFIG.hop_length / CONFIG.n_fft, atol=1e-3)
    raw = codec.spectrogram_to_target(spectrogram, CONFIG, "raw")[40, 4:-4, 1]
    assert np.ptp(raw) > 0.9


def test_magnitude_only_target_rebuilds_the_phase(long_voice):
    """"none" keeps R exactly and rebuilds a phase by PGHI that is far closer than a random one."""
    spectrogram = codec.stft(long_voice, CONFIG)
    target = codec.spectrogram_to_target(spectrogram, CONFIG, "none")
    assert target.shape == spectrogram.shape + (1,)
    rebuilt = codec.target_to_spectrogram(target, CONFIG, "none")
    magnitude = np.abs(spectrogram)
    np.testing.assert_allclose(np.abs(rebuilt), magnitude, rtol=1e-5, atol=2e-5)  # R = 0 (-100 dB) is silence

    def convergence_db(audio):
        return 20 * np.log10(np.linalg.norm(np.abs(codec.stft(audio, CONFIG)) - magnitude) / np.linalg.norm(magnitude))

    random_phase = magnitude * np.exp(1j * np.random.default_rng(0).uniform(-np.pi, np.pi, magnitude.shape))
    pghi_db = convergence_db(codec.istft(rebuilt, CONFIG, len(long_voice)))
    assert pghi_db < -25.0 and pghi_db < convergence_db(codec.istft(random_phase.astype(np.complex64), CONFIG)) - 20
    refined = codec.fast_griffin_lim(magnitude, CONFIG, np.angle(rebuilt), len(long_voice), n_iter=4)
    assert convergence_db(refined) < pghi_db


def test_unknown_representation_is_refused():
    with pytest.raises(ValueError, match="representation"):
        codec.spectrogram_to_target(np.zeros((513, 4), np.complex64), CONFIG, "polar")
