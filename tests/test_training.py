"""Tests of the trainer: the pix2pix step on both backends, checkpoints and resume, the export, data parallelism.

Tiny generators (width 4, depth 4) on synthetic crops of 64 frames, batch 2. JAX runs in subprocesses
(``KERAS_BACKEND=jax``, and two virtual CPU devices for data parallelism); TensorFlow in-process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile

from conftest import synthetic_voice
from vocals2song.config import GeneratorConfig, ModelConfig, tiny_config
from vocals2song.pairs.crops import make_dataset
from vocals2song.errors import Vocals2SongError
from vocals2song.training import (
    PARTIAL_PREFIX,
    BatchFeeder,
    StepRunner,
    list_checkpoints,
    new_model,
    train,
    training_devices,
)

ROOT = Path(__file__).resolve().parent.parent
# Raw phase: SyntheticPairs gives two-channel targets (the default, magnitude only, is tested on its own).
TINY = dict(width=4, depth=4, crop_frames=64, batch_size=2, progress=False, phase_representation="raw")
SUBPROCESS_TIMEOUT = 240


class SyntheticPairs(keras.utils.PyDataset):
    """Random voice crops (batch, 512, frames, 2) in [-1, 1]; the target is ``0.5 · voice`` or a constant.

    Batch ``index`` is reproducible from (seed, epoch, index); ``requested`` records the (epoch, index) reads.
    """

    def __init__(self, batches: int = 5, batch_size: int = 2, frames: int = 64, seed: int = 0,
                 constant_target: float | None = None):  # fmt: skip
        super().__init__()
        self.constant_target = constant_target
        self.batches, self.batch_size, self.frames, self.seed = batches, batch_size, frames, seed
        self.epoch = 0
        self.requested: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, index: int):
        self.requested.append((self.epoch, index))
        rng = np.random.default_rng([self.seed, self.epoch, index])
        voice = rng.uniform(-1, 1, (self.batch_size, 512, self.frames, 2)).astype(np.float32)
        if self.constant_target is not None:
            return voice, np.full_like(voice, self.constant_target)
        return voice, 0.5 * voice

    def on_epoch_end(self) -> None:
        self.epoch += 1


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def optimizer_iterations(checkpoint: Path) -> int:
    """The generator optimizer's step counter stored in a checkpoint."""
    with np.load(checkpoint / "g_optimizer.npz") as arrays:
        return int(arrays["arr_0"])


def run_jax(script: str, tmp_path: Path, devices: int = 1) -> dict:
    """Run ``script`` with the JAX backend in a fresh interpreter; it prints one JSON line last."""
    environment = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
                   "JAX_PLATFORMS": "cpu"}  # fmt: skip
    if devices > 1:
        environment["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_tensorflow_three_steps_export_and_inference(tmp_path):
    from vocals2song.inference import vocals_to_song
    from vocals2song.model.weights import load_generator

    out = tmp_path / "run"
    export = train(["synthetic"], out=out, steps=3, checkpoint_every=2, sample_every=2,
                   dataset=SyntheticPairs(), **TINY)  # fmt: skip

    metrics = read_metrics(out)
    assert [line["step"] for line in metrics] == [2, 3]
    for line in metrics:
        for name in ("g_loss", "g_gan", "g_l1", "d_loss", "l1_magnitude", "l1_phase", "steps_per_second"):
            assert np.isfinite(line[name]) and line[name] > 0
        assert line["g_l1"] == pytest.approx((line["l1_magnitude"] + line["l1_phase"]) / 2, rel=1e-5)
    assert [step for step, _ in list_checkpoints(out)] == [2, 3]
    assert (out / "samples" / "step-0000002.png").is_file() and (out / "samples" / "step-0000002.wav").is_file()

    model = load_generator(export)
    provenance = model.config.provenance
    assert provenance["steps"] == 3 and provenance["batch_size"] == 2 and provenance["data"] == ["synthetic"]
    assert provenance["hardware"]["backend"] == "tensorflow" and provenance["losses"]["g_loss"] > 0
    assert model.config.generator.width == 4
    seconds = np.arange(22050) / 22050
    result = vocals_to_song(0.3 * np.sin(2 * np.pi * 220 * seconds), 22050, model)
    assert result.song.shape == (22050,) and np.all(np.isfinite(result.song))


def test_a_plan_generator_trains_on_a_corpus_and_sings(tmp_path):
    """--plan: three input channels from the corpus's true harmony, exported and used by vocals_to_song."""
    from test_data import add_true_harmony, write_corpus

    from vocals2song.inference import vocals_to_song
    from vocals2song.model.weights import load_generator

    corpus = write_corpus(tmp_path / "corpus")
    add_true_harmony(corpus)
    export = train([str(corpus)], out=tmp_path / "run", steps=2, checkpoint_every=2, sample_every=2, plan=True,
                   estimated_plan_share=0.5, **TINY)
    model = load_generator(export)
    assert model.config.uses_plan and model.config.provenance["estimated_plan_share"] == 0.5
    assert model.config.styles == ()  # a corpus without styles: a generator that knows none
    seconds = np.arange(44100) / 22050
    result = vocals_to_song(0.3 * np.sin(2 * np.pi * 220 * seconds), 22050, model)
    assert result.harmony is not None and np.all(np.isfinite(result.song))


def test_a_plan_generator_trained_on_a_styled_corpus_reads_its_styles(tmp_path):
    """The exported config lists the training pairs' styles (in STYLES order) and the generator plays them."""
    from test_data import add_styles, add_true_harmony, write_corpus

    from vocals2song.errors import PlanError, TrainingDataError
    from vocals2song.inference import vocals_to_song
    from vocals2song.model.weights import load_generator

    corpus = write_corpus(tmp_path / "corpus")
    add_true_harmony(corpus)
    add_styles(corpus, ("rock", "jazz", "pop", "pop"))  # the training pairs: rock and jazz
    export = train([str(corpus)], out=tmp_path / "run", steps=1, checkpoint_every=1, sample_every=100, plan=True,
                   **TINY)  # fmt: skip
    model = load_generator(export)
    assert model.config.styles == ("jazz", "rock")
    voice = 0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)
    assert vocals_to_song(voice, 22050, model, style="rock").style == "rock"
    assert vocals_to_song(voice, 22050, model).style == "jazz"  # no pop among them: its first style
    with pytest.raises(PlanError, match="plays only jazz, rock"):
        vocals_to_song(voice, 22050, model, style="pop")
    plain = train([str(corpus)], out=tmp_path / "plain", steps=1, checkpoint_every=1, sample_every=100, **TINY)
    assert load_generator(plain).config.styles == ()  # without the plan there is no B to read a style from
    mixed = write_corpus(tmp_path / "mixed")
    add_styles(mixed, ("rock",))
    with pytest.raises(TrainingDataError, match="1 of the 2 pairs have no style"):
        train([str(mixed)], out=tmp_path / "mixed-run", steps=1, plan=True, **TINY)
    assert not (tmp_path / "mixed-run").exists()  # refused before any work


def test_keeps_an_export_every_n_steps(tmp_path):
    from vocals2song.model.weights import load_generator

    out = tmp_path / "run"
    train([], out=out, steps=5, checkpoint_every=1, sample_every=100, keep_exports_every=2, dataset=SyntheticPairs(),
          **TINY)  # fmt: skip
    kept = sorted(path.name for path in (out / "exports").iterdir())
    assert kept == ["step-0000002", "step-0000004"]
    assert [load_generator(out / "exports" / name).config.provenance["steps"] for name in kept] == [2, 4]
    assert load_generator(out / "export").config.provenance["steps"] == 5


def test_tensorboard_receives_scalars_images_and_audio(tmp_path):
    pytest.importorskip("tensorboard")
    import tensorflow as tf

    out = tmp_path / "run"
    train([], out=out, steps=2, checkpoint_every=2, sample_every=2, dataset=SyntheticPairs(), **TINY)
    tags = set()
    for events in (out / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value)
    assert {"g_loss", "d_loss", "steps_per_second", "images/generated", "audio/generated"} <= tags


@pytest.mark.parametrize("phase_l1_weight", [1.0, 0.0])
def test_generator_loss_weighs_the_phase_channel(phase_l1_weight):
    """Weight 1 is pix2pix's loss (L1 over both channels); weight 0 keeps only the magnitude's half of it."""
    from vocals2song.training import Pix2Pix

    model = Pix2Pix(tiny_config().generator)
    model.compile(l1_weight=100.0, phase_l1_weight=phase_l1_weight)
    rng = np.random.default_rng(0)
    target, fake = (rng.uniform(-1, 1, (2, 512, 16, 2)).astype(np.float32) for _ in range(2))
    logits = rng.normal(size=(2, 62, 4, 1)).astype(np.float32)
    losses = {name: float(value) for name, value in model.compute_losses(target, fake, logits, logits).items()}
    errors = np.abs(target - fake)
    assert losses["g_l1"] == pytest.approx(errors.mean(), rel=1e-5)
    assert losses["l1_magnitude"] == pytest.approx(errors[..., 0].mean(), rel=1e-5)
    assert losses["l1_phase"] == pytest.approx(errors[..., 1].mean(), rel=1e-5)
    expected_l1 = errors.mean() if phase_l1_weight == 1.0 else errors[..., 0].mean() / 2
    assert losses["g_loss"] == pytest.approx(losses["g_gan"] + 100.0 * expected_l1, rel=1e-5)


def test_feature_matching_adds_the_mean_hidden_activation_distance():
    """g_loss = g_gan + l1 term + weight · mean over layers of mean |real − fake| hidden activations."""
    from vocals2song.training import Pix2Pix

    model = Pix2Pix(tiny_config().generator)
    model.compile(l1_weight=100.0, feature_matching_weight=10.0)
    rng = np.random.default_rng(1)
    target, fake = (rng.uniform(-1, 1, (2, 512, 16, 2)).astype(np.float32) for _ in range(2))
    logits = rng.normal(size=(2, 62, 4, 1)).astype(np.float32)
    real_features = [rng.normal(size=(2, 8, 4, 3)).astype(np.float32), rng.normal(size=(2, 4, 2, 5)).astype(np.float32)]
    fake_features = [feature + rng.normal(size=feature.shape).astype(np.float32) for feature in real_features]
    losses = {name: float(value) for name, value in
              model.compute_losses(target, fake, logits, logits, real_features, fake_features).items()}
    expected = np.mean([np.abs(real - fake).mean() for real, fake in zip(real_features, fake_features)])
    assert losses["g_feature_matching"] == pytest.approx(expected, rel=1e-5)
    assert losses["g_loss"] == pytest.approx(losses["g_gan"] + 100.0 * np.abs(target - fake).mean()
                                             + 10.0 * expected, rel=1e-5)  # fmt: skip
    # The feature view runs the discriminator's own layers: its last output is the discriminator's logits.
    voice = rng.uniform(-1, 1, (1, 512, 64, 2)).astype(np.float32)
    *features, view_logits = model.discriminator_features([voice, voice])
    assert len(features) == 4
    np.testing.assert_allclose(np.asarray(view_logits), np.asarray(model.discriminator([voice, voice])), atol=1e-6)


def test_tensorflow_trains_with_feature_matching(tmp_path):
    out = tmp_path / "run"
    train([], out=out, steps=2, checkpoint_every=2, sample_every=100, dataset=SyntheticPairs(),
          feature_matching_weight=10.0, **TINY)  # fmt: skip
    last = read_metrics(out)[-1]
    assert np.isfinite(last["g_feature_matching"]) and last["g_feature_matching"] > 0
    config = json.loads((out / "export" / "config.json").read_text())
    assert config["model"]["provenance"]["feature_matching_weight"] == 10.0


def test_losses_decrease_on_a_learnable_task():
    """A constant target (a quiet song whatever the voice): the generator's L1 error must fall within 20 steps."""
    config = tiny_config()
    dataset = SyntheticPairs(batches=20, constant_target=-0.8)
    with training_devices("float32", 2) as (_, _, strategy):
        model = new_model(config, learning_rate=1e-3)
        runner = StepRunner(model, strategy)
        errors = []
        for index in range(20):
            runner(*dataset[index])
            runner.sync()
            errors.append(model.tracker_results()["g_l1"])
            runner.reset_trackers()
    assert all(np.isfinite(errors))
    assert np.mean(errors[-5:]) < 0.9 * np.mean(errors[:5]), errors


def test_resume_continues_from_the_latest_complete_checkpoint(tmp_path):
    out = tmp_path / "run"
    first = SyntheticPairs(batches=3)
    train([], out=out, steps=4, checkpoint_every=2, sample_every=100, dataset=first, **TINY)
    assert [step for step, _ in list_checkpoints(out)] == [2, 4]
    assert optimizer_iterations(out / "checkpoints" / "step-0000004") == 4

    # What a kill can leave: a half-written checkpoint folder, and a step folder whose state.json is missing.
    partial = out / "checkpoints" / f"{PARTIAL_PREFIX}step-0000006-999"
    partial.mkdir()
    (partial / "generator.weights.h5").write_bytes(b"torn")
    (out / "checkpoints" / "step-0000008").mkdir()
    assert [step for step, _ in list_checkpoints(out)] == [2, 4]

    second = SyntheticPairs(batches=3)
    train([], out=out, steps=7, checkpoint_every=2, sample_every=100, resume=True, dataset=second, **TINY)
    # Steps 4, 5, 6 read batches 1 and 2 of epoch 1, then batch 0 of epoch 2: where the first run would have.
    assert second.requested[:3] == [(1, 1), (1, 2), (2, 0)]
    assert [line["step"] for line in read_metrics(out)] == [2, 4, 6, 7]
    latest_step, latest = list_checkpoints(out)[-1]
    assert latest_step == 7 and optimizer_iterations(latest) == 7  # optimizer state carried over, not restarted
    assert json.loads((latest / "state.json").read_text())["step"] == 7
    assert not partial.exists()


def test_refuses_to_overwrite_checkpoints_without_resume(tmp_path):
    out = tmp_path / "run"
    train([], out=out, steps=1, checkpoint_every=1, sample_every=100, dataset=SyntheticPairs(), **TINY)
    with pytest.raises(Vocals2SongError, match="--resume"):
        train([], out=out, steps=2, dataset=SyntheticPairs(), **TINY)


@pytest.mark.parametrize("changed", [dict(width=8), dict(target="accompaniment"), dict(sample_rate=44100)])
def test_resume_refuses_a_checkpoint_of_another_model(tmp_path, changed):
    out = tmp_path / "run"
    train([], out=out, steps=1, checkpoint_every=1, sample_every=100, dataset=SyntheticPairs(), **TINY)
    with pytest.raises(Vocals2SongError, match="trained with another model"):
        train([], out=out, steps=2, resume=True, dataset=SyntheticPairs(), **{**TINY, **changed})


def test_rejects_crops_that_do_not_fit_the_generator(tmp_path):
    with pytest.raises(Vocals2SongError, match="multiple of 16"):
        train([], out=tmp_path, steps=1, width=4, depth=4, crop_frames=40, dataset=SyntheticPairs(), progress=False)


def test_batch_feeder_replays_epochs_on_resume():
    straight = SyntheticPairs(batches=3)
    feeder = BatchFeeder(straight, start_step=0, workers=2)
    batches = [feeder.next() for _ in range(8)]
    feeder.close()
    resumed = SyntheticPairs(batches=3)
    feeder = BatchFeeder(resumed, start_step=5, workers=2)
    later = [feeder.next() for _ in range(3)]
    feeder.close()
    for (voice, _), (expected, _) in zip(later, batches[5:]):
        np.testing.assert_array_equal(voice, expected)


def test_batch_feeder_processes_give_the_thread_batches(tmp_path):
    """Spawned worker processes read the very batches threads read, across an epoch boundary."""
    rate = 22050
    rng = np.random.default_rng(3)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for stem in ("vocals", "mixture"):
            soundfile.write(tmp_path / name / f"{stem}.wav", 0.3 * rng.standard_normal(rate * 2), rate)
    config = ModelConfig(generator=GeneratorConfig(width=4, depth=4))
    dataset = make_dataset(tmp_path, config, batch_size=2, crop_frames=32, steps_per_epoch=2, seed=1)
    threads = BatchFeeder(dataset, start_step=0, workers=2)
    expected = [threads.next() for _ in range(5)]
    threads.close()
    dataset = make_dataset(tmp_path, config, batch_size=2, crop_frames=32, steps_per_epoch=2, seed=1)
    processes = BatchFeeder(dataset, start_step=0, workers=2, processes=True)
    try:
        batches = [processes.next() for _ in range(5)]
    finally:
        processes.close()
    assert len({batch[0].tobytes() for batch in expected}) == 5  # epochs differ: the test can tell them apart
    for (voice, target), (expected_voice, expected_target) in zip(batches, expected):
        np.testing.assert_array_equal(voice, expected_voice)
        np.testing.assert_array_equal(target, expected_target)


def test_batch_feeder_processes_need_an_epoch_attribute():
    class Plain(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return np.zeros((1, 512, 16, 2), np.float32), np.zeros((1, 512, 16, 2), np.float32)

    with pytest.raises(ValueError, match="epoch"):
        BatchFeeder(Plain(), start_step=0, workers=1, processes=True)


def start_trainer(out: Path, checkpoint_every: int, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    """A tiny trainer of 10000 steps on synthetic pairs, writing into ``out``, in a subprocess."""
    script = f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_training import SyntheticPairs, TINY
        from vocals2song.training import train
        train([], out={str(out)!r}, steps=10000, checkpoint_every={checkpoint_every}, sample_every=10000,
              dataset=SyntheticPairs(), **TINY)
    """
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip


def wait_while_running(process: subprocess.Popen, done) -> None:
    """Poll ``done()`` until it is true or the timeout passes; the trainer must not exit meanwhile."""
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    while not done() and time.monotonic() < deadline:
        assert process.poll() is None, "the trainer exited early"
        time.sleep(0.2)


def test_sigkill_loses_at_most_one_checkpoint_interval(tmp_path):
    """A trainer killed with SIGKILL mid-run resumes from its last complete checkpoint."""
    out = tmp_path / "run"
    process = start_trainer(out, checkpoint_every=2)
    try:
        wait_while_running(process, lambda: any(step >= 4 for step, _ in list_checkpoints(out)))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_at = list_checkpoints(out)[-1][0]
    assert killed_at >= 4
    train([], out=out, steps=killed_at + 1, checkpoint_every=2, sample_every=100, resume=True,
          dataset=SyntheticPairs(), **TINY)  # fmt: skip
    assert list_checkpoints(out)[-1][0] == killed_at + 1
    assert optimizer_iterations(list_checkpoints(out)[-1][1]) == killed_at + 1


def test_sigterm_saves_a_checkpoint_before_stopping(tmp_path):
    """``kill`` (SIGTERM) stops a trainer as Ctrl-C does: with a checkpoint at the step it reached."""
    out = tmp_path / "run"
    process = start_trainer(out, checkpoint_every=5000, stderr=subprocess.PIPE)
    try:
        wait_while_running(process, (out / "metrics.jsonl").is_file)  # written at step 50
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        process.kill()
    assert b"interrupted: checkpoint saved at step" in stderr
    stopped_at = list_checkpoints(out)[-1][0]
    assert 50 <= stopped_at < 5000
    assert optimizer_iterations(list_checkpoints(out)[-1][1]) == stopped_at


JAX_TRAIN = """
    import json, sys
    import numpy as np
    from test_training import SyntheticPairs, TINY
    from vocals2song.training import train
    from vocals2song.model.weights import load_generator
    export = train([], out="run", steps={steps}, checkpoint_every={steps}, sample_every=10000,
                   precision="{precision}", dataset=SyntheticPairs(), **TINY)
    model = load_generator(export)
    metrics = [json.loads(line) for line in open("run/metrics.jsonl")]
    generated = np.asarray(model.network(np.zeros((1, 512, 64, 2), np.float32)))
    print(json.dumps({{"metrics": metrics, "hardware": model.config.provenance["hardware"],
                      "finite_output": bool(np.all(np.isfinite(generated)))}}))
"""


def test_jax_three_steps_mixed_bfloat16(tmp_path):
    result = run_jax(JAX_TRAIN.format(steps=3, precision="mixed_bfloat16"), tmp_path)
    assert result["hardware"]["backend"] == "jax" and result["hardware"]["precision"] == "mixed_bfloat16"
    assert result["metrics"][-1]["step"] == 3 and result["finite_output"]
    for name in ("g_loss", "g_gan", "g_l1", "d_loss", "l1_magnitude", "l1_phase"):
        assert np.isfinite(result["metrics"][-1][name]) and result["metrics"][-1][name] > 0


def test_jax_data_parallel_on_two_virtual_devices(tmp_path):
    result = run_jax(JAX_TRAIN.format(steps=2, precision="float32"), tmp_path, devices=2)
    assert result["hardware"]["device_count"] == 2 and result["hardware"]["replicas"] == 2
    assert result["metrics"][-1]["step"] == 2 and result["finite_output"]
    assert all(np.isfinite(result["metrics"][-1][name]) for name in ("g_loss", "d_loss"))


JAX_DEVICE_TRAIN = """
    import json
    import numpy as np
    from conftest import synthetic_voice
    from vocals2song.config import tiny_config
    from vocals2song.training import train
    from vocals2song.training.device_data import corpus_from_arrays
    from vocals2song.model.weights import load_generator
    stems = [(synthetic_voice(2.0, seed=index), 0.2 * synthetic_voice(2.0, f0=110, seed=5 + index)) for index in range(2)]
    corpus = corpus_from_arrays(stems, tiny_config(), 64)
    results = {{}}
    for representation in {representations}:
        out = "run-" + representation
        export = train([], out=out, steps=1, checkpoint_every=1, sample_every=1, width=4, depth=4, crop_frames=64,
                       batch_size=2, progress=False, phase_representation=representation, device_corpus=corpus,
                       target="accompaniment", feature_matching_weight=10.0 if representation == "none" else 0.0)
        model = load_generator(export)
        generated = np.asarray(model.network(np.zeros((1, 512, 64, 2), np.float32)))
        results[representation] = {{
            "metrics": [json.loads(line) for line in open(out + "/metrics.jsonl")],
            "feeder": model.config.provenance["feeder"], "representation": model.config.phase_representation,
            "output_shape": list(generated.shape), "finite_output": bool(np.all(np.isfinite(generated))),
            "hardware": model.config.provenance["hardware"],
            "sample": __import__("os").path.isfile(out + "/samples/step-0000001.png")}}
    print(json.dumps(results))
"""


@pytest.mark.slow
def test_jax_device_feeder_trains_if_and_magnitude_only_data_parallel(tmp_path):
    """A step of each target the raw-phase tests do not cover, through the fused on-device step, with the batch
    split over two virtual devices (the corpus replicated on both)."""
    result = run_jax(JAX_DEVICE_TRAIN.format(representations=["if", "none"]), tmp_path, devices=2)
    for representation, run in result.items():
        assert run["feeder"] == "device" and run["representation"] == representation and run["sample"]
        assert run["hardware"]["device_count"] == 2 and run["hardware"]["replicas"] == 2
        assert run["output_shape"] == [1, 512, 64, 1 if representation == "none" else 2] and run["finite_output"]
        last = run["metrics"][-1]
        assert last["step"] == 1 and np.isfinite(last["g_loss"]) and np.isfinite(last["l1_magnitude"])
        assert ("l1_phase" in last) == (representation != "none")
        assert ("g_feature_matching" in last) == (representation == "none")  # on the JAX step too
        if representation == "none":
            assert last["g_loss"] == pytest.approx(last["g_gan"] + 100.0 * last["l1_magnitude"] / 2
                                                   + 10.0 * last["g_feature_matching"], rel=1e-4)  # fmt: skip


def test_the_device_feeder_needs_jax(tmp_path):
    with pytest.raises(Vocals2SongError, match="KERAS_BACKEND=jax"):
        train([], out=tmp_path, steps=1, feeder="device", **TINY)


def test_resume_refuses_another_phase_representation(tmp_path):
    out = tmp_path / "run"
    train([], out=out, steps=1, checkpoint_every=1, sample_every=100, dataset=SyntheticPairs(), **TINY)
    with pytest.raises(Vocals2SongError, match="trained with another model"):
        train([], out=out, steps=2, resume=True, dataset=SyntheticPairs(), **{**TINY, "phase_representation": "if"})


def test_magnitude_only_generator_trains_on_the_worker_feeder(tmp_path):
    """A "none" generator (the default) on TensorFlow with crops prepared on the CPU: one target channel, no phase
    term."""
    rate = 22050
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for stem, f0 in (("vocals", 220.0), ("mixture", 110.0)):
            soundfile.write(tmp_path / "data" / name / f"{stem}.wav", synthetic_voice(2.0, f0=f0), rate)
    out = tmp_path / "run"
    export = train([str(tmp_path / "data")], out=out, steps=2, checkpoint_every=2, sample_every=2,
                   **{**TINY, "phase_representation": "none"})  # fmt: skip
    from vocals2song.model.weights import load_generator

    model = load_generator(export)
    assert model.config.phase_representation == "none" and model.config.generator.output_channels == 1
    last = read_metrics(out)[-1]
    assert "l1_phase" not in last and last["g_l1"] == pytest.approx(last["l1_magnitude"])
    assert last["g_loss"] == pytest.approx(last["g_gan"] + 100.0 * last["l1_magnitude"] / 2, rel=1e-4)
