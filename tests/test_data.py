"""Streamed training data: source detection, bad folders, crops (shapes, determinism, windowed reads, silence
skipping, augmentation) and whole examples for evaluation — all on small signals the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from vocals2song.pairs import crops as data
from vocals2song.pairs import examples
from vocals2song.audio import resample
from vocals2song.config import tiny_config
from vocals2song.errors import TrainingDataError
from vocals2song.codec.network import VOICE_PEAK

RATE = 22050
CONFIG = tiny_config()  # frames must be multiples of 16


def tone(seconds: float, frequency: float, rate: int = RATE, amplitude: float = 0.3, silent_until: float = 0.0):
    """A sine with a little vibrato, silent before ``silent_until`` seconds: float32 (nb_samples,)."""
    times = np.arange(int(seconds * rate)) / rate
    audio = amplitude * np.sin(2 * np.pi * frequency * times + 2 * np.sin(2 * np.pi * 5 * times))
    audio[times < silent_until] = 0.0
    return audio.astype(np.float32)


def write_corpus(folder: Path, splits=("train", "train", "validation", "test"), seconds=3.0, silent_until=0.0):
    """A corpus directory in vocals2song.corpus.build's format: manifest.json + shard-000/<id>.{vocals,accompaniment}.flac."""
    shard = folder / "shard-000"
    shard.mkdir(parents=True)
    pairs = []
    for index, split in enumerate(splits):
        pair_id = f"piece{index}-00"
        vocals = tone(seconds, 330 + 40 * index, silent_until=silent_until)
        accompaniment = tone(seconds, 110 + 10 * index, amplitude=0.2)
        for stem, audio in (("vocals", vocals), ("accompaniment", accompaniment)):
            soundfile.write(shard / f"{pair_id}.{stem}.flac", audio, RATE)
        pairs.append({"id": pair_id, "piece": f"bach/piece{index}", "composer": "bach", "split": split,
                      "vocals": f"shard-000/{pair_id}.vocals.flac",
                      "accompaniment": f"shard-000/{pair_id}.accompaniment.flac", "seconds": seconds})
    manifest = {"format": "vocals2song-corpus", "version": 1, "sample_rate": RATE, "pairs": pairs}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def write_musdb(root: Path, train=("Alpha", "Bravo", "Charlie"), test=("Delta",), rate=44100, seconds=2.0):
    """A fake MUSDB18-HQ tree of stereo float WAVs at 44.1 kHz; returns {track: (vocals, accompaniment)} (mono)."""
    truth = {}
    for split, tracks in (("train", train), ("test", test)):
        for index, track in enumerate(tracks):
            folder = root / split / track
            folder.mkdir(parents=True)
            left, right = tone(seconds, 300 + 30 * index, rate), tone(seconds, 310 + 30 * index, rate, 0.2)
            vocals = np.stack([left, right], axis=1)
            accompaniment = np.stack([tone(seconds, 100, rate, 0.2)] * 2, axis=1)
            soundfile.write(folder / "vocals.wav", vocals, rate, subtype="FLOAT")
            soundfile.write(folder / "mixture.wav", vocals + accompaniment, rate, subtype="FLOAT")
            for stem in ("drums", "bass", "other"):
                soundfile.write(folder / f"{stem}.wav", accompaniment / 3, rate, subtype="FLOAT")
            truth[track] = (vocals.mean(axis=1), accompaniment.mean(axis=1))
    return truth


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus")


def test_batches_have_network_shape_dtype_and_range(corpus):
    dataset = data.make_dataset(corpus, CONFIG, batch_size=3, crop_frames=32, steps_per_epoch=2)
    assert len(dataset) == 2
    voice, target = dataset[0]
    for batch in (voice, target):
        assert batch.shape == (3, 512, 32, 2) and batch.dtype == np.float32
        assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert voice[:, :, :, 0].max() > 0.0  # R: something audible, not all at the floor
    assert not np.allclose(voice, target)


def test_batches_are_deterministic_per_seed_and_epoch(corpus):
    def batch(seed, split="train", epochs=0):
        dataset = data.make_dataset(corpus, CONFIG, split=split, batch_size=2, crop_frames=16, steps_per_epoch=4,
                                    seed=seed)
        for _ in range(epochs):
            dataset.on_epoch_end()
        return dataset[3]

    dataset = data.make_dataset(corpus, CONFIG, batch_size=2, crop_frames=16, steps_per_epoch=4, seed=1)
    assert not np.array_equal(dataset[2][0], dataset[3][0])
    first, again = batch(seed=1), batch(seed=1)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], batch(seed=2)[0])
    assert not np.array_equal(first[0], batch(seed=1, epochs=1)[0])  # training: new crops each epoch
    np.testing.assert_array_equal(batch(seed=1, split="validation")[0], batch(seed=1, split="validation", epochs=1)[0])


def test_default_steps_cover_the_split_once(corpus):
    dataset = data.make_dataset(corpus, CONFIG, batch_size=1, crop_frames=64)
    crop_seconds = 63 * 256 / RATE
    assert len(dataset) == int(6.0 / crop_seconds)  # two 3-second train pairs


def test_crops_read_only_their_window(corpus, monkeypatch):
    requests = []
    real_read = soundfile.read

    def spy(file, frames=-1, start=0, *args, **kwargs):
        requests.append((Path(file).name, start, frames))
        return real_read(file, frames, start, *args, **kwargs)

    monkeypatch.setattr(soundfile, "read", spy)
    dataset = data.make_dataset(corpus, CONFIG, batch_size=4, crop_frames=32, steps_per_epoch=1)
    assert requests == []  # indexing reads headers only
    dataset[0]
    window = 31 * 256
    assert len(requests) >= 8 and all(frames == window for _, _, frames in requests)
    assert window < 3 * RATE
    assert len({start for _, start, _ in requests}) > 1


def test_silent_vocal_stretches_are_skipped(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", splits=("train",), seconds=10.0, silent_until=7.0)
    dataset = data.make_dataset(corpus, CONFIG, batch_size=1, crop_frames=32, augment=False)
    rng = np.random.default_rng(0)
    levels = [data._rms(dataset.crop(rng)[0]) for _ in range(20)]  # 70 % of offsets would start in silence
    assert min(levels) >= data.SILENT_VOICE_RMS


def test_augmentation_changes_training_crops_only(corpus):
    def first_batch(split, augment):
        return data.make_dataset(corpus, CONFIG, split=split, batch_size=4, crop_frames=32, steps_per_epoch=1,
                                 augment=augment, seed=3)[0]

    assert not np.array_equal(first_batch("train", True)[0], first_batch("train", False)[0])
    np.testing.assert_array_equal(first_batch("validation", True)[0], first_batch("validation", False)[0])


def test_augment_pair_keeps_length_and_target():
    vocals, accompaniment = tone(1.0, 440), tone(1.0, 110, amplitude=0.2)
    changed = 0
    for seed in range(8):
        voice, clean, backing = data.augment_pair(vocals, accompaniment, RATE, np.random.default_rng(seed))
        assert voice.shape == clean.shape == backing.shape == vocals.shape
        assert np.all(np.isfinite(voice))
        changed += not np.allclose(voice, clean)
    assert changed >= 2  # tilt / noise / reverb touch the voice input, not the clean target


def test_corpus_splits_follow_the_manifest(corpus):
    index = data.PairIndex.build(corpus)
    assert [pair.split for pair in index.pairs] == ["train", "train", "validation", "test"]
    assert [pair.name for pair in index.select("test")] == ["piece3-00"]
    assert index.pairs[0].partner_kind == "accompaniment" and index.pairs[0].nb_samples == 3 * RATE
    assert len(data.PairIndex.build(corpus / "manifest.json")) == 4


def test_musdb_layout_resampled_downmixed_and_split(tmp_path):
    truth = write_musdb(tmp_path / "musdb")
    index = data.PairIndex.build(tmp_path / "musdb")
    splits = {Path(pair.name).name: pair.split for pair in index.pairs}
    assert splits["Delta"] == "test"
    assert sorted(splits.values()).count("validation") == 1  # ~5 % of train, never empty
    assert all(pair.partner_kind == "mixture" and pair.sample_rate == 44100 for pair in index.pairs)

    (example,) = examples.iterate_examples(tmp_path / "musdb", CONFIG, split="test", seconds=1.0)
    assert example.name == "test/Delta"
    assert len(example.voice) == len(example.mixture) == len(example.accompaniment) == RATE
    assert np.max(np.abs(example.voice)) == pytest.approx(VOICE_PEAK, rel=1e-5)
    gain = VOICE_PEAK / np.max(np.abs(resample(truth["Delta"][0][:44100], 44100, RATE)))
    expected = resample(truth["Delta"][1][:44100], 44100, RATE) * gain  # mixture − vocals, downmixed
    np.testing.assert_allclose(example.accompaniment[100:-100], expected[100:-100], atol=2e-3)
    np.testing.assert_allclose(example.mixture, example.voice + example.accompaniment, atol=1e-6)


def test_pairs_folder_nested_and_flat(tmp_path):
    folder = tmp_path / "pairs"
    for name in ("song-a", "song-b"):
        (folder / name).mkdir(parents=True)
        soundfile.write(folder / name / "vocals.wav", tone(2.0, 440), RATE)
        soundfile.write(folder / name / "mixture.flac", tone(2.0, 440) + tone(2.0, 110, amplitude=0.2), RATE)
    soundfile.write(folder / "take1.vocals.wav", tone(1.5, 300), RATE)
    soundfile.write(folder / "take1.mixture.wav", tone(1.5, 300) + tone(1.5, 100), RATE)
    index = data.PairIndex.build(folder)
    assert sorted(pair.name for pair in index.pairs) == ["song-a", "song-b", "take1"]
    assert sorted(pair.split for pair in index.pairs) == ["train", "train", "validation"]
    voice, target = data.make_dataset(folder, CONFIG, batch_size=2, crop_frames=16, steps_per_epoch=1)[0]
    assert voice.shape == target.shape == (2, 512, 16, 2)


def test_examples_start_at_the_voice_and_are_capped(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", splits=("validation",), seconds=6.0, silent_until=2.0)
    (example,) = examples.iterate_examples(corpus, CONFIG, seconds=1.5)
    assert len(example.voice) == int(1.5 * RATE)
    assert np.abs(example.voice[:RATE // 10]).max() > 0.1  # starts in the audible part, not the 2 s of silence
    (whole,) = examples.iterate_examples(corpus, CONFIG, skip_leading_silence=False)
    assert len(whole.voice) == 6 * RATE


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda root: root.mkdir(), ["no WAV or FLAC files"]),
        (lambda root: None, ["does not exist"]),
        (lambda root: _files(root, {"a.wav": RATE, "b.wav": RATE}), ["2 audio file(s)", "a.wav"]),
        (lambda root: _files(root, {"x.vocals.wav": RATE, "x.mixture.wav": RATE, "y.vocals.wav": RATE,
                                    "z.vocals.wav": RATE, "w/mixture.wav": RATE}),
         ["2 vocals file(s) without a mixture (y, z)", "1 mixture file(s) without a vocals (w)"]),
        (lambda root: _files(root, {"x.vocals.wav": RATE, "x.mixture.wav": RATE, "y.vocals.wav": 16000,
                                    "y.mixture.wav": 16000}), ["mixes sample rates", "16000 Hz", "22050 Hz"]),
        (lambda root: _files(root, {"x.vocals.wav": RATE, "x.mixture.wav": RATE, "x.mixture.flac": RATE}),
         ["both a WAV and a FLAC"]),
    ],
    ids=["empty", "missing", "no-stem-names", "unpaired", "mixed-rates", "duplicate-stems"],
)
def test_bad_pair_folders_say_what_is_wrong(tmp_path, make, expected):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(TrainingDataError) as error:
        data.PairIndex.build(root)
    for text in expected:
        assert text in str(error.value)


def test_bad_corpus_lists_missing_stems_and_rates(corpus):
    (corpus / "shard-000" / "piece1-00.vocals.flac").unlink()
    with pytest.raises(TrainingDataError, match="piece1-00.vocals.flac"):
        data.PairIndex.build(corpus)

    manifest = json.loads((corpus / "manifest.json").read_text())
    manifest["pairs"] = manifest["pairs"][2:]
    manifest["sample_rate"] = 16000
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TrainingDataError, match="mixes sample rates.*16000 Hz.*22050 Hz"):
        data.PairIndex.build(corpus)


def test_empty_split_names_what_the_data_holds(corpus):
    with pytest.raises(TrainingDataError, match=r"no pairs in the 'validation' split \(it holds: train 1\)"):
        data.make_dataset(write_corpus(corpus.parent / "small", splits=("train",)), CONFIG, split="validation")


def test_crop_frames_must_fit_the_generator(corpus):
    with pytest.raises(ValueError, match="multiple of 16"):
        data.make_dataset(corpus, CONFIG, crop_frames=40)


def _files(root: Path, names: dict[str, int]) -> None:
    for name, rate in names.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, tone(0.6, 440, rate), rate)


# ------------------------------------------------------------------------------------------------------
# The plan (B channel) of training crops

PLAN_CONFIG = tiny_config(generator=tiny_config().generator.__class__(width=4, depth=4, input_channels=3))


def add_true_harmony(corpus: Path) -> None:
    """Give every pair of a written corpus a format 2 harmony: A major over beats every 0.5 s."""
    from vocals2song.plan.harmony import Chord, Harmony

    manifest = json.loads((corpus / "manifest.json").read_text())
    manifest["version"] = 2
    for pair in manifest["pairs"]:
        beats = tuple(0.5 * index for index in range(int(pair["seconds"] / 0.5)))
        harmony = Harmony(9, "major", 120.0, beats, beats[::4], (Chord(0.0, pair["seconds"], 9, "maj"),),
                          pair["seconds"])
        pair["harmony"], pair["start_seconds"] = harmony.to_dict(), 0.0
    (corpus / "manifest.json").write_text(json.dumps(manifest))


def test_plan_crops_draw_the_true_harmony(corpus):
    from vocals2song.plan.channel import render_plan

    add_true_harmony(corpus)
    index = data.PairIndex.build(corpus)
    assert all(pair.harmony is not None and pair.harmony.key_name == "A major" for pair in index.pairs)
    dataset = data.make_dataset(corpus, PLAN_CONFIG, batch_size=2, crop_frames=32, steps_per_epoch=1,
                                augment=False, estimated_plan_share=0.0)
    voice, target = dataset[0]
    assert voice.shape == (2, 512, 32, 3) and target.shape == (2, 512, 32, 2)
    rng = np.random.default_rng(0)
    pair, start, _, _ = dataset.located_crop(rng)
    plane = data.plan_channel(pair, start, 32, PLAN_CONFIG, rng, estimated_share=0.0)
    expected = render_plan(pair.harmony.shifted(-start / RATE), PLAN_CONFIG.spectrogram, 32)[:512] * 2 - 1
    np.testing.assert_allclose(plane, expected, atol=1e-6)
    a4_row = int(round(440.0 / (RATE / 1024)))
    assert plane[a4_row].max() > 0.5 and plane.min() == -1.0  # A sounds in the plan; most bins are empty
    # evaluation examples carry the true plan too, cut to the example's span
    example = next(examples.iterate_examples(corpus, PLAN_CONFIG, split="train", seconds=0.5, skip_leading_silence=False))
    assert example.harmony.key_name == "A major" and example.harmony.duration == pytest.approx(0.5, abs=0.01)
    assert [chord.label for chord in example.harmony.chords] == ["A:maj"] and example.harmony.chords[0].end <= 0.51


def test_plan_crops_without_a_true_harmony_use_the_estimator(corpus):
    dataset = data.make_dataset(corpus, PLAN_CONFIG, batch_size=2, crop_frames=32, steps_per_epoch=1, augment=False)
    assert all(pair.harmony is None for pair in dataset.pairs)  # a version 1 corpus
    voice, _ = dataset[0]
    assert voice.shape == (2, 512, 32, 3) and voice[..., 2].max() > -1.0  # the estimator drew something
    np.testing.assert_array_equal(voice, dataset[0][0])  # still a function of (seed, epoch, index)
    with pytest.raises(ValueError, match="estimated_plan_share"):
        data.make_dataset(corpus, PLAN_CONFIG, batch_size=1, crop_frames=32, estimated_plan_share=1.5)


def test_two_channel_models_get_two_channels(corpus):
    add_true_harmony(corpus)
    voice, _ = data.make_dataset(corpus, CONFIG, batch_size=1, crop_frames=32, steps_per_epoch=1)[0]
    assert voice.shape[-1] == 2


def test_a_pair_plan_drawn_once_crops_like_each_crop(corpus):
    """The device feeder's per-pair plane (crop_plans.pair_plan), cropped at a frame, equals the crop's own B."""
    from vocals2song.pairs.crop_plans import pair_plan

    add_true_harmony(corpus)
    pair = data.PairIndex.build(corpus).select("train")[0]
    nb_frames = 1 + pair.nb_samples // 256
    whole = pair_plan(pair, nb_frames, PLAN_CONFIG, estimated_share=0.0) * 2 - 1
    for first_frame in (0, 37, 100):
        crop = data.plan_channel(pair, first_frame * 256, 32, PLAN_CONFIG, np.random.default_rng(0), estimated_share=0.0)
        np.testing.assert_allclose(crop, whole[:512, first_frame:first_frame + 32], atol=1e-5)
    estimated = pair_plan(pair, nb_frames, PLAN_CONFIG, estimated_share=1.0)
    assert estimated.shape == (513, nb_frames) and estimated.max() > 0 and not np.allclose(estimated, (whole + 1) / 2)


# ------------------------------------------------------------------------------------------------------
# The style (B's style band) of a styled corpus's crops

STYLED_CONFIG = tiny_config(generator=PLAN_CONFIG.generator, styles=("folk", "jazz"))


def add_styles(corpus: Path, styles) -> None:
    """Name each pair's style in a written corpus's manifest, in pair order (None: that pair names none)."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    for pair, style in zip(manifest["pairs"], styles):
        if style is not None:
            pair["style"] = style
    (corpus / "manifest.json").write_text(json.dumps(manifest))


def test_crops_of_a_styled_pair_carry_its_style(corpus):
    from vocals2song.pairs.crop_plans import pair_plan
    from vocals2song.pairs.index import pair_styles
    from vocals2song.plan.channel import style_rows

    add_true_harmony(corpus)
    add_styles(corpus, ("jazz", "folk", "jazz", "rock"))
    index = data.PairIndex.build(corpus)
    assert [pair.style for pair in index.pairs] == ["jazz", "folk", "jazz", "rock"]
    assert pair_styles(index.select("train")) == ("folk", "jazz")  # in STYLES order
    dataset = data.make_dataset(corpus, STYLED_CONFIG, batch_size=1, crop_frames=32, steps_per_epoch=1, augment=False)
    pair, start, _, _ = dataset.located_crop(np.random.default_rng(0))
    rows, other = style_rows(pair.style, 513), style_rows({"jazz": "folk", "folk": "jazz"}[pair.style], 513)
    true, estimated = (data.plan_channel(pair, start, 32, STYLED_CONFIG, np.random.default_rng(0), estimated_share=share)
                       for share in (0.0, 1.0))
    for plane in (true, estimated):  # the true plan or the estimator's: the pair's style either way
        assert np.all(plane[rows] == 1.0) and np.all(plane[other] == -1.0)
    plain = data.plan_channel(pair, start, 32, PLAN_CONFIG, np.random.default_rng(0), estimated_share=0.0)
    outside = np.ones(512, bool)
    outside[rows] = False
    assert np.all(plain[rows] == -1.0)  # a generator without styles: the B it always had
    np.testing.assert_array_equal(true[outside], plain[outside])
    whole = pair_plan(pair, 1 + pair.nb_samples // 256, STYLED_CONFIG, estimated_share=0.0)  # the device feeder's
    assert np.all(whole[rows] == 1.0) and not np.any(whole[other])
    voice, _ = dataset[0]
    assert np.all(voice[0, rows, :, 2] == 1.0)


def test_styles_must_be_named_by_every_pair_and_known(tmp_path):
    from vocals2song.pairs.index import pair_styles

    corpus = write_corpus(tmp_path / "some")
    add_styles(corpus, ("jazz", None, "rock", None))
    with pytest.raises(TrainingDataError, match=r"2 of the 4 pairs have no style \(piece1-00, piece3-00\)"):
        pair_styles(data.PairIndex.build(corpus).pairs)
    with pytest.raises(TrainingDataError, match=r"reads the styles folk, jazz, but 1 of the 2 pairs .*piece1-00"):
        data.make_dataset(corpus, STYLED_CONFIG, crop_frames=32)
    assert pair_styles(data.PairIndex.build(write_corpus(tmp_path / "none")).pairs) == ()
    unknown = write_corpus(tmp_path / "unknown")
    add_styles(unknown, ("polka",))
    with pytest.raises(TrainingDataError, match="piece0-00: unknown style 'polka'"):
        data.PairIndex.build(unknown)
