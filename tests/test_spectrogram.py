"""The R/G codec: STFT round trip, storage forms against their SNR targets, the original project's BMP."""

import numpy as np
import pytest
import soundfile

from conftest import snr_db, synthetic_voice
from vocals2song import spectrogram as codec
from vocals2song.config import SpectrogramConfig
from vocals2song.errors import ImageFormatError
from vocals2song.image_files import load_image, save_image

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
