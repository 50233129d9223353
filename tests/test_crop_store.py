"""Tests of the crop store (the training pairs encoded once, cropped per step) and the trainer that reads it:
building and reusing a store, refusing a store of other data, crops equal to the streamed encoding, silence
skipping, the cheap per-crop augmentation, warm starts, and bfloat16 training exporting float32 weights.

Tiny corpora of 3 s tones (tests/test_data.py's ``write_corpus``), tiny generators (width 4, depth 4), 64-frame
crops; stores are built in this process (``workers=1``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from test_data import add_styles, add_true_harmony, write_corpus
from vocals2song.config import GeneratorConfig, ModelConfig, tiny_config
from vocals2song.errors import Vocals2SongError
from vocals2song.pairs.crop_store import StoreDataset, build_store, open_store
from vocals2song.pairs.crops import _target_to_network, _voice_to_network, _pair_gain
from vocals2song.pairs.index import PairIndex, read_pair

FRAMES = 64
CONFIG = tiny_config(target="accompaniment", phase_representation="none",
                     generator=GeneratorConfig(width=4, depth=4, input_channels=2, output_channels=1))  # fmt: skip


def train_pairs(corpus):
    return PairIndex.build([str(corpus)]).select("train")


@pytest.fixture
def corpus(tmp_path):
    return write_corpus(tmp_path / "corpus")


def test_a_store_holds_each_pair_encoded_as_the_streamed_crops_are(corpus, tmp_path):
    """Un-augmented, a store's frames are the codec's encoding of the whole pair (float16), at its take level."""
    pairs = train_pairs(corpus)
    folder = build_store(tmp_path / "store", pairs, CONFIG, augment=False, min_frames=FRAMES, workers=1, progress=False)
    record = json.loads((folder / "store.json").read_text())
    assert [entry["pair"] for entry in record["entries"]] == [0, 1] and record["record"]["augment"] is False
    voice_store, target_store = np.load(folder / "voice.npy"), np.load(folder / "target.npy")
    assert voice_store.dtype == np.float16 and voice_store.shape[1:] == (512, 2) and target_store.shape[1:] == (512, 1)
    entry = record["entries"][1]
    pair = pairs[1]
    length = round(pair.nb_samples * CONFIG.spectrogram.sample_rate / pair.sample_rate)
    vocals, accompaniment = read_pair(pair, 0, length, CONFIG.spectrogram.sample_rate)
    gain = _pair_gain(vocals)
    expected_voice = _voice_to_network(vocals * gain, CONFIG).transpose(1, 0, 2)
    expected_target = _target_to_network(accompaniment * gain, CONFIG).transpose(1, 0, 2)
    span = slice(entry["start"], entry["start"] + entry["frames"])
    assert entry["frames"] == expected_voice.shape[0]
    np.testing.assert_allclose(voice_store[span], expected_voice, atol=2e-3)
    np.testing.assert_allclose(target_store[span], expected_target, atol=2e-3)

    dataset = StoreDataset(folder, CONFIG, batch_size=3, crop_frames=FRAMES, augment=False)
    voices, targets = dataset[0]
    assert voices.shape == (3, 512, FRAMES, 2) and targets.shape == (3, 512, FRAMES, 1)
    assert voices.dtype == np.float32
    for crop in voices:  # every crop is a window of the stored frames
        matches = [first for first in range(len(voice_store) - FRAMES + 1)
                   if np.array_equal(voice_store[first: first + FRAMES].transpose(1, 0, 2), crop)]  # fmt: skip
        assert matches


def test_feeder_threads_and_processes_read_a_fresh_store_alike(corpus, tmp_path):
    """Threads opening the store together (a race once left one without the silence table) and a pickled copy (a
    worker process) give the batches of one reader."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    folder = build_store(tmp_path / "store", train_pairs(corpus), CONFIG, min_frames=FRAMES, workers=1, progress=False)
    alone = [StoreDataset(folder, CONFIG, batch_size=2, crop_frames=FRAMES)[index][0] for index in range(4)]
    for _ in range(5):
        shared = StoreDataset(folder, CONFIG, batch_size=2, crop_frames=FRAMES)
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda index: shared[index][0], range(4)))
        for mine, theirs in zip(together, alone):
            np.testing.assert_array_equal(mine, theirs)
    copy = pickle.loads(pickle.dumps(shared))
    np.testing.assert_array_equal(copy[3][0], alone[3])


def test_batches_depend_on_seed_epoch_and_index_only(corpus, tmp_path):
    folder = build_store(tmp_path / "store", train_pairs(corpus), CONFIG, min_frames=FRAMES, workers=1, progress=False)
    one = StoreDataset(folder, CONFIG, batch_size=2, crop_frames=FRAMES, seed=3)
    two = StoreDataset(folder, CONFIG, batch_size=2, crop_frames=FRAMES, seed=3)
    np.testing.assert_array_equal(one[1][0], two[1][0])
    two.on_epoch_end()
    assert not np.array_equal(one[1][0], two[1][0])
    assert not np.array_equal(one[0][0], one[1][0])


def test_a_store_is_reused_when_it_matches_and_refused_when_it_does_not(corpus, tmp_path):
    pairs = train_pairs(corpus)
    folder = open_store(tmp_path / "store", pairs, CONFIG, min_frames=FRAMES, workers=1, progress=False)
    written = (folder / "voice.npy").stat().st_mtime_ns
    assert open_store(tmp_path / "store", pairs, CONFIG, min_frames=FRAMES, workers=1, progress=False) == folder
    assert (folder / "voice.npy").stat().st_mtime_ns == written  # not rebuilt
    with pytest.raises(Vocals2SongError, match="differs in: variants"):
        open_store(tmp_path / "store", pairs, CONFIG, variants=2, min_frames=FRAMES, workers=1, progress=False)
    with pytest.raises(Vocals2SongError, match="differs in: pairs"):
        open_store(tmp_path / "store", pairs[:1], CONFIG, min_frames=FRAMES, workers=1, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(Vocals2SongError, match="not empty and holds no crop store"):
        open_store(tmp_path / "other", pairs, CONFIG, min_frames=FRAMES, workers=1, progress=False)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"  # nothing lost
    with pytest.raises(Vocals2SongError, match="at most the store's 64"):
        StoreDataset(folder, CONFIG, batch_size=2, crop_frames=128)
    wider = dataclasses.replace(CONFIG, generator=GeneratorConfig(width=4, depth=4, input_channels=3, output_channels=1))
    with pytest.raises(Vocals2SongError, match="holds 2-channel voices"):
        StoreDataset(folder, wider, batch_size=2, crop_frames=FRAMES)


def test_silent_stretches_are_skipped(tmp_path):
    """Voices silent for their first 2 of 3 s: crops come from the sung second (a uniform draw of 64-frame windows
    would find the voice in 44 % of them; after up to 10 redraws a crop stays silent with probability 0.56**10)."""
    corpus = write_corpus(tmp_path / "corpus", silent_until=2.0)
    folder = build_store(tmp_path / "store", train_pairs(corpus), CONFIG, augment=False, min_frames=FRAMES,
                         workers=1, progress=False)  # fmt: skip
    dataset = StoreDataset(folder, CONFIG, batch_size=64, crop_frames=FRAMES, augment=False)
    voices, _ = dataset[0]
    loud = voices[..., 0].max(axis=(1, 2)) > -0.2  # R of a tone at the take's level is well above the floor
    assert loud.mean() >= 0.95


def test_the_per_crop_tilt_changes_only_the_voice_magnitude(corpus, tmp_path):
    add_true_harmony(corpus)
    config = dataclasses.replace(CONFIG, generator=GeneratorConfig(width=4, depth=4, input_channels=3,
                                                                   output_channels=1))  # fmt: skip
    folder = build_store(tmp_path / "store", train_pairs(corpus), config, augment=False, estimated_plan_share=0.0,
                         min_frames=FRAMES, workers=1, progress=False)  # fmt: skip
    plain = StoreDataset(folder, config, batch_size=8, crop_frames=FRAMES, augment=False)[0]
    tilted = StoreDataset(folder, config, batch_size=8, crop_frames=FRAMES, augment=True)[0]
    # the same windows (the tilts are drawn from their own stream); G, B and targets untouched
    np.testing.assert_array_equal(plain[0][..., 1:], tilted[0][..., 1:])
    np.testing.assert_array_equal(plain[1], tilted[1])
    changed = [not np.array_equal(a, b) for a, b in zip(plain[0][..., 0], tilted[0][..., 0])]
    assert 0 < sum(changed) < 8
    assert np.all(plain[0][..., 2].max(axis=(1, 2)) > 0.5)  # B holds the true plan's lines


def test_a_styled_store_refuses_pairs_without_a_style(corpus, tmp_path):
    from vocals2song.errors import TrainingDataError

    add_true_harmony(corpus)
    add_styles(corpus, ("rock", None))
    config = dataclasses.replace(CONFIG, styles=("rock",), generator=GeneratorConfig(width=4, depth=4,
                                                                                      input_channels=3,
                                                                                      output_channels=1))  # fmt: skip
    with pytest.raises(TrainingDataError, match="played in none of them"):
        build_store(tmp_path / "store", train_pairs(corpus), config, min_frames=FRAMES, workers=1, progress=False)
    assert not (tmp_path / "store").exists()


def test_the_trainer_reads_a_crop_store_and_resumes_on_it(corpus, tmp_path):
    from vocals2song.model.weights import load_generator
    from vocals2song.training import list_checkpoints, train

    add_true_harmony(corpus)
    run = dict(out=tmp_path / "run", width=4, depth=4, crop_frames=FRAMES, batch_size=2, progress=False, plan=True,
               target="accompaniment", crop_store=str(tmp_path / "store"), checkpoint_every=2, sample_every=2)
    export = train([str(corpus)], steps=2, **run)
    provenance = load_generator(export).config.provenance
    assert provenance["crop_store"] == str(tmp_path / "store") and provenance["feeder"] == "workers"
    assert provenance["precision"] == "float32"
    built = (tmp_path / "store" / "voice.npy").stat().st_mtime_ns
    train([str(corpus)], steps=4, resume=True, **run)
    assert [step for step, _ in list_checkpoints(tmp_path / "run")][-1] == 4
    assert (tmp_path / "store" / "voice.npy").stat().st_mtime_ns == built
    with pytest.raises(Vocals2SongError, match="crop store feeds the workers feeder"):
        train([str(corpus)], steps=1, **{**run, "out": tmp_path / "other"}, feeder="device")


def test_a_warm_start_begins_from_the_given_generator(tmp_path, tiny_weights_dir):
    """With a zero learning rate the exported generator's trainable weights are the warm start's."""
    from test_training import SyntheticPairs

    from vocals2song.model.weights import load_generator
    from vocals2song.training import train

    source = load_generator(tiny_weights_dir)
    shape = source.config.generator
    export = train(["synthetic"], out=tmp_path / "run", steps=1, width=shape.width, depth=shape.depth,
                   crop_frames=FRAMES, batch_size=2, progress=False, phase_representation=source.config.phase_representation,
                   learning_rate=0.0, init_from=str(tiny_weights_dir), dataset=SyntheticPairs())  # fmt: skip
    warmed = load_generator(export)
    for mine, theirs in zip(warmed.network.trainable_weights, source.network.trainable_weights):  # (batch norm's
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())  # moving statistics move even so)
    assert warmed.config.provenance["init_from"] == str(tiny_weights_dir)
    with pytest.raises(Vocals2SongError, match="Cannot warm-start from .* it holds no usable generator"):
        train(["synthetic"], out=tmp_path / "missing", steps=1, width=shape.width, depth=shape.depth,
              crop_frames=FRAMES, batch_size=2, progress=False, init_from=str(tmp_path / "nowhere"),
              phase_representation=source.config.phase_representation, dataset=SyntheticPairs())  # fmt: skip
    with pytest.raises(Vocals2SongError, match="Cannot warm-start .* generator"):
        train(["synthetic"], out=tmp_path / "wider", steps=1, width=8, depth=shape.depth, crop_frames=FRAMES,
              batch_size=2, progress=False, phase_representation=source.config.phase_representation,
              init_from=str(tiny_weights_dir), dataset=SyntheticPairs())  # fmt: skip


def test_a_bfloat16_run_exports_float32_weights_that_infer_as_trained(tmp_path):
    """mixed_bfloat16 keeps float32 variables: the export holds them, with finite losses, and the float32 generator
    rebuilt from it computes what the bfloat16 one computed, within bfloat16's rounding."""
    import keras

    from test_training import SyntheticPairs
    from vocals2song.model.networks import build_generator
    from vocals2song.model.weights import load_generator
    from vocals2song.training import train

    export = train(["synthetic"], out=tmp_path / "run", steps=2, width=4, depth=4, crop_frames=FRAMES, batch_size=2,
                   progress=False, phase_representation="raw", precision="mixed_bfloat16", checkpoint_every=2,
                   dataset=SyntheticPairs())  # fmt: skip
    loaded = load_generator(export)
    assert loaded.config.provenance["precision"] == "mixed_bfloat16"
    assert all(np.isfinite(value) for value in loaded.config.provenance["losses"].values())
    assert all(weight.dtype == np.float32 for weight in loaded.network.get_weights())
    voice = np.random.default_rng(0).uniform(-1, 1, (1, 512, FRAMES, 2)).astype(np.float32)
    full = np.asarray(loaded.network(voice, training=False), dtype=np.float32)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        half = build_generator(loaded.config.generator)
        half.set_weights(loaded.network.get_weights())
        halved = np.asarray(keras.ops.cast(half(voice, training=False), "float32"))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert np.max(np.abs(full - halved)) < 0.05 and np.mean(np.abs(full - halved)) < 0.01
