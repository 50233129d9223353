"""vocals_to_song with a tiny random-init generator: lengths, determinism, modes, tiling, bad arrays."""

import numpy as np
import pytest

from conftest import synthetic_voice
from vocals2song.errors import AudioInputError, ProcessingError
from vocals2song.codec.network import tile_starts, tile_weights
from vocals2song.inference import OUTPUT_PEAK, vocals_to_song


@pytest.mark.parametrize("seconds", [0.5, 15.0, 47.0])
def test_any_length_in_same_length_out(tiny_model, seconds):
    voice = synthetic_voice(seconds, 44100)
    result = vocals_to_song(voice, 44100, tiny_model, seed=1)
    assert result.sample_rate == 44100  # the voice's own rate
    for signal in (result.song, result.accompaniment, result.voice):
        assert len(signal) == len(voice)
        assert signal.dtype == np.float32
        assert np.all(np.isfinite(signal))
        assert np.max(np.abs(signal)) <= OUTPUT_PEAK + 1e-6
    model_length = int(np.ceil(len(voice) * 22050 / 44100))
    assert result.image_length == model_length
    assert result.voice_image.shape == result.song_image.shape == (513, 1 + model_length // 256, 3)
    again = vocals_to_song(voice, 44100, tiny_model, seed=1)
    assert np.array_equal(result.song, again.song)


@pytest.mark.parametrize(("voice_rate", "song_rate"), [(8000, 22050), (22050, 22050), (48000, 48000), (96000, 48000)])
def test_the_song_keeps_the_voices_rate(tiny_model, voice_rate, song_rate):
    """The voice is the person's: the song is at its rate (from the model's up to 48 kHz), its high band intact,
    and only the accompaniment is resampled up to it."""
    from vocals2song.audio import resample

    seconds = np.arange(int(1.5 * voice_rate)) / voice_rate
    high = min(15_000.0, 0.4 * voice_rate)  # above the model's 11 kHz Nyquist when the voice has it
    voice = (0.3 * np.sin(2 * np.pi * 220 * seconds) + 0.1 * np.sin(2 * np.pi * high * seconds)).astype(np.float32)
    result = vocals_to_song(voice, voice_rate, tiny_model, mode="accompaniment", seed=1)
    assert result.sample_rate == song_rate
    assert len(result.song) == len(result.voice) == len(result.accompaniment) == int(np.ceil(len(voice) * song_rate / voice_rate))
    assert np.allclose(result.song, result.voice + result.accompaniment, atol=1e-6)
    heard = resample(voice, voice_rate, song_rate)
    assert np.allclose(result.voice, heard * np.max(np.abs(result.voice)) / np.max(np.abs(heard)), atol=1e-5)
    if song_rate > 22050:
        spectrum = np.abs(np.fft.rfft(result.song))
        frequencies = np.fft.rfftfreq(len(result.song), 1 / song_rate)
        near = spectrum[np.abs(frequencies - high) < 20].max()
        assert near > 0.2 * spectrum[np.abs(frequencies - 220) < 20].max()  # 1/3 of the 220 Hz peak in the voice


def test_seeds_vary_the_song(tiny_model):
    voice = synthetic_voice(2.0)
    first = vocals_to_song(voice, 22050, tiny_model, seed=1).song
    second = vocals_to_song(voice, 22050, tiny_model, seed=2).song
    assert not np.array_equal(first, second)


def test_accompaniment_mode_keeps_the_exact_voice(tiny_model):
    voice = synthetic_voice(2.0)
    result = vocals_to_song(voice, 22050, tiny_model, mode="accompaniment")
    assert np.allclose(result.song, result.voice + result.accompaniment, atol=1e-6)
    scale = np.max(np.abs(result.voice)) / np.max(np.abs(voice))
    assert np.allclose(result.voice, voice * scale, atol=1e-5)


def test_mixture_mode_accompaniment_is_song_minus_voice(tiny_model):
    result = vocals_to_song(synthetic_voice(1.0), 22050, tiny_model, mode="mixture")
    assert np.allclose(result.accompaniment, result.song - result.voice, atol=1e-6)


def test_accompaniment_generator(tiny_model):
    import dataclasses

    from vocals2song.model.weights import SongGenerator

    model = SongGenerator(dataclasses.replace(tiny_model.config, target="accompaniment"), tiny_model.network, "t")
    result = vocals_to_song(synthetic_voice(1.0), 22050, model)
    assert np.allclose(result.song, result.voice + result.accompaniment, atol=1e-6)


def test_griffin_lim_phase(tiny_model):
    result = vocals_to_song(synthetic_voice(1.0), 22050, tiny_model, phase="griffinlim", seed=3)
    assert np.all(np.isfinite(result.song))
    again = vocals_to_song(synthetic_voice(1.0), 22050, tiny_model, phase="griffinlim", seed=3)
    assert np.array_equal(result.song, again.song)


def test_quiet_voice_gives_the_same_song_as_a_loud_one(tiny_model):  # case 12
    loud = vocals_to_song(synthetic_voice(1.0), 22050, tiny_model)
    quiet = vocals_to_song(synthetic_voice(1.0) * 1e-3, 22050, tiny_model)
    assert np.all(np.isfinite(quiet.song))
    assert np.max(np.abs(quiet.song - loud.song)) < 2e-2 * np.max(np.abs(loud.song))


@pytest.mark.parametrize(
    "voice,message",
    [
        (np.zeros(22050, dtype=np.float32), "No voice heard"),
        (np.full(22050, np.nan, dtype=np.float32), "invalid samples"),
        (synthetic_voice(0.3), "at least 0.5 s"),
        (np.zeros((22050, 2), dtype=np.float32), "mono"),
    ],
)
def test_bad_arrays(tiny_model, voice, message):
    with pytest.raises(AudioInputError, match=message):
        vocals_to_song(voice, 22050, tiny_model)


def test_model_output_nan_is_caught(tiny_model, monkeypatch):  # case 24
    from vocals2song import inference

    monkeypatch.setattr(inference, "predict_image", lambda model, image, seed, progress: image * np.nan)
    with pytest.raises(ProcessingError, match="invalid samples"):
        vocals_to_song(synthetic_voice(1.0), 22050, tiny_model)


def test_model_output_silence_is_caught(tiny_model, monkeypatch):  # case 24
    from vocals2song import inference

    monkeypatch.setattr(inference, "predict_image", lambda model, image, seed, progress: image * 0)
    with pytest.raises(ProcessingError, match="silence"):
        vocals_to_song(synthetic_voice(1.0), 22050, tiny_model)


@pytest.mark.parametrize("frames", [1, 128, 129, 240, 241, 400, 4049])
def test_tiles_cover_every_frame_and_the_last_ends_with_the_input(frames):
    starts = tile_starts(frames, 128, 16)
    assert starts[0] == 0 and starts == sorted(set(starts))
    assert all(b - a == 112 for a, b in zip(starts[:-1], starts[1:-1]))
    if frames > 128:
        assert starts[-1] + 128 == frames, "a long input is never padded"
        assert starts[-2] + 128 - starts[-1] >= 16
    total = np.zeros(max(frames, starts[-1] + 128))
    shared = np.zeros_like(total)
    for start, weights in zip(starts, tile_weights(starts, 128, 16)):
        assert np.all(weights >= 0)
        total[start : start + 128] += weights
        shared[start : start + 128] += weights > 0
    assert np.allclose(total[:frames], 1.0)
    assert shared.max() <= 2, "a frame blends at most two tiles"


def test_progress_is_reported(tiny_model):
    seen = []
    vocals_to_song(synthetic_voice(1.0), 22050, tiny_model, progress=lambda fraction, stage: seen.append(fraction))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


@pytest.fixture(scope="module")
def tiny_plan_model():
    """A debug-sized random-init generator that reads the plan (three input channels)."""
    import dataclasses

    import keras

    from vocals2song.config import tiny_config
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import SongGenerator

    keras.utils.set_random_seed(0)
    config = tiny_config()
    config = dataclasses.replace(config, generator=dataclasses.replace(config.generator, input_channels=3))
    return SongGenerator(config=config, network=build_generator(config.generator), source="tiny-plan")


def test_the_plan_reaches_a_plan_generator_only(tiny_model, tiny_plan_model):
    from vocals2song.plan.harmony import Harmony
    from vocals2song.plan.channel import render_plan

    voice = synthetic_voice(3.0)
    with_plan = vocals_to_song(voice, 22050, tiny_plan_model, seed=1)
    assert isinstance(with_plan.harmony, Harmony) and with_plan.harmony.chords
    np.testing.assert_allclose(with_plan.voice_image[..., 2],
                               render_plan(with_plan.harmony, tiny_plan_model.config.spectrogram,
                                           with_plan.voice_image.shape[1]), atol=1e-7)
    no_plan = vocals_to_song(voice, 22050, tiny_plan_model, seed=1, harmony=None)
    assert no_plan.harmony is None and not np.any(no_plan.voice_image[..., 2])
    assert not np.allclose(with_plan.song, no_plan.song, atol=1e-4)  # B changes what the plan generator makes
    given = vocals_to_song(voice, 22050, tiny_plan_model, seed=1, harmony=with_plan.harmony)
    np.testing.assert_array_equal(given.song, with_plan.song)  # a given plan is used as it is
    # A generator trained without B (the packaged kind) never sees it, but the result carries the plan.
    plain, plain_no_plan = (vocals_to_song(voice, 22050, tiny_model, seed=1, harmony=h) for h in ("auto", None))
    assert plain.harmony is not None
    np.testing.assert_array_equal(plain.song, plain_no_plan.song)


def test_a_styled_generator_reads_the_chosen_style_in_its_band_only(tiny_styled_model):
    from vocals2song.plan.channel import STYLE_BAND, render_plan, style_rows

    voice = synthetic_voice(2.0)
    jazz = vocals_to_song(voice, 22050, tiny_styled_model, seed=1, style="Jazz")
    rock = vocals_to_song(voice, 22050, tiny_styled_model, seed=1, style="rock", harmony=jazz.harmony)
    assert (jazz.style, rock.style) == ("jazz", "rock")
    nb_bins = jazz.voice_image.shape[0]
    differs = np.flatnonzero(np.any(jazz.voice_image[..., 2] != rock.voice_image[..., 2], axis=1))
    band = range(int(round(STYLE_BAND[0] * (nb_bins - 1))), int(round(STYLE_BAND[1] * (nb_bins - 1))))
    assert len(differs) and all(row in band for row in differs)  # B differs between styles in the style band only
    assert np.all(jazz.voice_image[style_rows("jazz", nb_bins), :, 2] == 1.0)
    np.testing.assert_array_equal(jazz.voice_image[..., :2], rock.voice_image[..., :2])
    assert not np.array_equal(jazz.song, rock.song)  # the generator reads it
    default = vocals_to_song(voice, 22050, tiny_styled_model, seed=1, harmony=jazz.harmony)
    assert default.style == "pop"  # DEFAULT_STYLE, which this generator knows
    np.testing.assert_array_equal(default.voice_image[..., 2],
                                  render_plan(jazz.harmony, tiny_styled_model.config.spectrogram,
                                              jazz.voice_image.shape[1], style="pop"))
    assert vocals_to_song(voice, 22050, tiny_styled_model, harmony=None).style is None  # no plan, no style drawn


def test_styles_a_generator_does_not_play_are_refused_before_any_work(tiny_model, tiny_styled_model, monkeypatch):
    import dataclasses

    from vocals2song import inference
    from vocals2song.errors import PlanError
    from vocals2song.model.weights import SongGenerator

    voice = synthetic_voice(1.0)
    monkeypatch.setattr(inference, "estimate_harmony", lambda *args, **kwargs: pytest.fail("work was done"))
    with pytest.raises(PlanError, match="style must be one of"):
        vocals_to_song(voice, 22050, tiny_styled_model, style="polka")
    two = SongGenerator(dataclasses.replace(tiny_styled_model.config, styles=("folk", "jazz")),
                        tiny_styled_model.network, "two")
    with pytest.raises(PlanError, match=r"plays only folk, jazz, not 'rock'"):
        vocals_to_song(voice, 22050, two, style="rock")
    assert inference.generator_style(two.config) == "folk"  # no pop: its first style
    with pytest.raises(PlanError, match="trained without styles"):
        vocals_to_song(voice, 22050, tiny_model, style="pop")
    monkeypatch.undo()
    plain = vocals_to_song(voice, 22050, tiny_model, seed=1)  # a generator without styles ignores style=None
    assert plain.style is None


def test_a_plan_generator_without_styles_sees_the_b_it_always_did(tiny_plan_model):
    from vocals2song.plan.channel import render_plan

    result = vocals_to_song(synthetic_voice(2.0), 22050, tiny_plan_model, seed=1)
    assert result.style is None
    np.testing.assert_array_equal(result.voice_image[..., 2], render_plan(
        result.harmony, tiny_plan_model.config.spectrogram, result.voice_image.shape[1]))


def test_plan_controls(tiny_model):
    from vocals2song.errors import PlanError

    result = vocals_to_song(synthetic_voice(3.0), 22050, tiny_model, key="E minor", tempo=100.0, jazz=0.0)
    assert result.harmony.key_name == "E minor" and result.harmony.tempo_bpm == 100.0
    for bad, message in (({"key": "H major"}, "not a key"), ({"tempo": 1000.0}, "tempo"), ({"happy": 3.0}, "happy"),
                         ({"harmony": "chords please"}, "harmony")):
        with pytest.raises(PlanError, match=message):
            vocals_to_song(synthetic_voice(1.0), 22050, tiny_model, **bad)


@pytest.mark.parametrize("representation", ["raw", "if", "none"])
@pytest.mark.parametrize("phase", ["predicted", "griffinlim"])
def test_every_phase_representation_decodes(representation, phase):
    """Generators of each target representation (magnitude-only has one output channel) give a finite song, and
    the song image shows raw phase in G whatever the representation."""
    import keras

    from vocals2song.config import GeneratorConfig, tiny_config
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import SongGenerator

    keras.utils.set_random_seed(1)
    config = tiny_config(phase_representation=representation,
                         generator=GeneratorConfig(width=4, depth=4, output_channels=1 if representation == "none" else 2))  # fmt: skip
    model = SongGenerator(config, build_generator(config.generator), representation)
    voice = synthetic_voice(1.5)
    result = vocals_to_song(voice, 22050, model, phase=phase, seed=2)
    assert result.song.shape == voice.shape and np.all(np.isfinite(result.song)) and np.max(np.abs(result.song)) > 0
    assert result.song_image.shape == result.voice_image.shape
    assert 0.0 <= result.song_image[..., 1].min() and result.song_image[..., 1].max() <= 1.0
    again = vocals_to_song(voice, 22050, model, phase=phase, seed=2)
    assert np.array_equal(result.song, again.song)


def test_the_same_seed_gives_the_same_image_when_requests_run_at_once(tiny_model):
    """The dropout masks live in the network's layers, shared by every request (and live take) on one model: two
    requests at once must not draw from each other's seeded state."""
    import threading

    from vocals2song.codec import spectrogram as codec
    from vocals2song.inference import predict_image

    config = tiny_model.config.spectrogram
    image = codec.audio_to_image(synthetic_voice(3.0, config.sample_rate), config)
    expected = {seed: predict_image(tiny_model, image, seed=seed) for seed in (1, 2)}
    start = threading.Barrier(4)
    mismatches = []

    def request(seed: int) -> None:
        start.wait()
        for _ in range(6):
            if not np.array_equal(predict_image(tiny_model, image, seed=seed), expected[seed]):
                mismatches.append(seed)

    threads = [threading.Thread(target=request, args=(seed,)) for seed in (1, 2, 1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not mismatches
