"""The training loop: :func:`train` (the ``vocals2song train`` command) from arguments to an exported generator.

Batches come from one of two feeders: ``"workers"`` reads a ``keras.utils.PyDataset`` of (voice, target) batches
prepared on the CPU (threads or processes, :class:`~vocals2song.training.feeders.BatchFeeder`): crops streamed from
the audio files, or with ``crop_store`` cut from the pairs encoded once (:mod:`vocals2song.pairs.crop_store`);
``"device"`` (JAX) holds the training audio in device memory and makes each batch inside the jitted step
(:mod:`vocals2song.training.device_data`). A run can start its generator from exported weights of the same shape
(``init_from``, a warm start). :func:`train` writes into ``out``::

    checkpoints/step-0000500/   generator.weights.h5, discriminator.weights.h5, g_optimizer.npz,
                                d_optimizer.npz, state.json (the last two complete ones are kept; each is
                                written to checkpoints/.partial-* and renamed, so a kill leaves no torn one)
    export/                     the generator in the weights format (see vocals2song.model.weights), provenance included
    exports/step-0001000/       earlier exports, kept when asked (``keep_exports_every``)
    metrics.jsonl               one JSON line per log interval: losses, steps/s, samples/s
    samples/                    step-XXXXXXX.png (voice | target | generated, low frequencies at the bottom)
                                and step-XXXXXXX.wav (the generated crop)
    tensorboard/                scalars, images and audio (only where TensorFlow is importable)

A generator that reads the plan (``--plan``) trained on a styled corpus (pairs that name their ``style``) reads the
style too: its config lists the styles of the training pairs (``ModelConfig.styles``, :func:`_with_styles`) and each
crop's B carries its pair's (:mod:`vocals2song.pairs.crop_plans`).

Mixed precision (``mixed_bfloat16``) is used on a GPU, and data parallelism over all local devices
(``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy`` on TensorFlow) when there are
several.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vocals2song.config import PHASE_REPRESENTATIONS, GeneratorConfig, ModelConfig, SpectrogramConfig
from vocals2song.errors import TrainingDataError, Vocals2SongError
from vocals2song.training.checkpoints import list_checkpoints, load_checkpoint, remove_partial_checkpoints, save_checkpoint
from vocals2song.training.devices import StepRunner, describe_hardware, new_model, training_devices
from vocals2song.training.feeders import BatchFeeder
from vocals2song.training.settings import FEEDER_CHOICES as FEEDERS, TrainSettings
from vocals2song.training.logs import ProgressBar, TrainingLog, git_commit, render_sample

LOG_EVERY = 50  # steps between metrics.jsonl lines (at most; also at checkpoints and at the end)


def train(
    data: list[str],
    settings: TrainSettings | None = None,
    *,
    dataset=None,
    device_corpus=None,
    progress: bool = True,
    **fields,
) -> Path:
    """Train a pix2pix generator on paired (voice, target) crops and export it to ``out/export``.

    Args:
        data: training sources for ``vocals2song.pairs.crops.make_dataset`` (corpus, MUSDB18-HQ or pairs folders).
        settings: the run's :class:`~vocals2song.training.settings.TrainSettings`; as a shorthand its fields may
            be given as keywords instead (``steps=20, batch_size=2``); each field is documented there.
        dataset: a ``keras.utils.PyDataset`` of (voice, target) batches to use instead of ``data`` (tests).
        device_corpus: a :class:`~vocals2song.training.device_data.DeviceCorpus` to use instead of ``data`` with
            the device feeder (tests).
        progress: draw the progress bar on stderr.
    Returns:
        The export folder (``out/export``), loadable with :func:`vocals2song.model.weights.load_generator`.
    Raises:
        KeyboardInterrupt: after Ctrl-C or SIGTERM, once a checkpoint of the step reached is saved.
        Vocals2SongError: bad arguments, or checkpoints in ``out`` without ``resume``.
        TrainingDataError: unusable training data.
    """
    from vocals2song.model.weights import save_generator

    if settings is not None and fields:
        raise TypeError("give either settings or setting keywords, not both")
    settings = TrainSettings(**fields) if settings is None else settings
    out, steps, batch_size, crop_frames = Path(settings.out), settings.steps, settings.batch_size, settings.crop_frames
    width, depth, target, sample_rate = settings.width, settings.depth, settings.target, settings.sample_rate
    learning_rate, beta_1, l1_weight = settings.learning_rate, settings.beta_1, settings.l1_weight
    phase_l1_weight, feature_matching_weight = settings.phase_l1_weight, settings.feature_matching_weight
    phase_representation, feeder, precision = settings.phase_representation, settings.feeder, settings.precision
    checkpoint_every, sample_every = settings.checkpoint_every, settings.sample_every
    keep_exports_every, resume, seed = settings.keep_exports_every, settings.resume, settings.seed
    workers, worker_processes, plan = settings.workers, settings.worker_processes, settings.plan
    estimated_plan_share = settings.estimated_plan_share
    crop_store, init_from = settings.crop_store, settings.init_from
    config = ModelConfig(
        spectrogram=SpectrogramConfig(sample_rate=sample_rate),
        generator=_generator_config(width, depth, phase_representation, 3 if plan else 2),
        target=target if target in ("mixture", "accompaniment") else _bad_target(target),
        phase_representation=phase_representation,
    )
    _check_arguments(steps, batch_size, crop_frames, checkpoint_every, sample_every, config)
    if crop_store is not None and feeder == "device":
        raise Vocals2SongError("A crop store feeds the workers feeder: drop --feeder device, or --crop-store.")
    feeder = "workers" if crop_store is not None and dataset is None else _choose_feeder(feeder, dataset)
    existing = list_checkpoints(out)
    if existing and not resume:
        raise Vocals2SongError(
            f"'{out}' already holds checkpoints (up to step {existing[-1][0]}): pass --resume to continue, or "
            "choose another --out."
        )
    from vocals2song.pairs.crop_plans import ESTIMATED_PLAN_SHARE, pair_plan

    share = ESTIMATED_PLAN_SHARE if estimated_plan_share is None else estimated_plan_share
    started_loading = time.monotonic()
    pairs = None
    if (dataset if feeder == "workers" else device_corpus) is None:
        from vocals2song.pairs.index import PairIndex

        pairs = PairIndex.build(data).select("train")
    config = _with_styles(config, pairs, dataset)
    if crop_store is not None and dataset is None:
        from vocals2song.pairs.crop_store import StoreDataset, open_store

        folder = open_store(crop_store, pairs, config, variants=settings.store_variants, seed=seed,
                            estimated_plan_share=share, min_frames=crop_frames, progress=progress)  # fmt: skip
        dataset = StoreDataset(folder, config, batch_size=batch_size, crop_frames=crop_frames, seed=seed,
                               augment=True, workers=workers)  # fmt: skip
    if feeder == "workers" and dataset is None:
        from vocals2song.pairs.crops import CropDataset

        dataset = CropDataset(pairs, config, split="train", batch_size=batch_size, crop_frames=crop_frames,
                              steps_per_epoch=None, augment=True, seed=seed, workers=workers,
                              estimated_plan_share=share)  # fmt: skip
    if feeder == "device" and device_corpus is None:
        from vocals2song.training.device_data import build_device_corpus

        plan_for = functools.partial(pair_plan, config=config, estimated_share=share, seed=seed) \
            if config.uses_plan else None
        device_corpus = build_device_corpus(pairs, config, crop_frames, plan_for=plan_for, progress=progress)
        print(f"device feeder: {device_corpus.nb_pairs} pairs, {device_corpus.nbytes / 1e6:.0f} MB, loaded in "
              f"{time.monotonic() - started_loading:.0f} s", file=sys.stderr)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    started = time.monotonic()

    with training_devices(precision, batch_size) as (precision, replicas, strategy):
        model = new_model(config, learning_rate, beta_1, l1_weight, phase_l1_weight, feature_matching_weight)
        step, previous_wall_seconds, last_losses = 0, 0.0, {}
        remove_partial_checkpoints(out)
        if resume and existing:
            state = load_checkpoint(existing[-1][1], model, config)
            step, previous_wall_seconds = int(state["step"]), float(state.get("wall_seconds", 0.0))
            last_losses = state.get("losses", {})
            print(f"resuming from {existing[-1][1]} at step {step}", file=sys.stderr)
        elif resume:
            print(f"no checkpoint in '{out}': starting from step 0", file=sys.stderr)
        if init_from is not None and not (resume and existing):
            _warm_start(model, config, init_from)
            print(f"generator warm-started from {init_from}", file=sys.stderr)

        runner = StepRunner(model, strategy)
        if feeder == "device":
            from vocals2song.training.device_data import DeviceFeeder

            shape = (batch_size, config.generator.nb_bins, crop_frames, config.generator.input_channels)
            batches = DeviceFeeder(device_corpus, config, batch_size, crop_frames, augment=True, seed=seed,
                                   sharding=runner.data_sharding(shape))  # fmt: skip
        else:
            batches = BatchFeeder(dataset, step, workers, processes=worker_processes)
        log = TrainingLog(out)
        bar = ProgressBar(steps, step, batch_size, enabled=progress)
        hardware = {**describe_hardware(), "precision": precision, "replicas": replicas}

        def record(at_step: int) -> dict[str, Any]:
            epoch, index = batches.position(at_step)
            return {
                "step": at_step,
                "seed": seed,
                "epoch": epoch,
                "batch_index": index,
                "batches_per_epoch": batches.epoch_length,
                "feeder": feeder,
                "batch_size": batch_size,
                "crop_frames": crop_frames,
                "wall_seconds": previous_wall_seconds + time.monotonic() - started,
                "losses": last_losses,
                "config": config.to_dict(),
            }

        def export(at_step: int) -> Path:
            provenance = {
                "data": [str(source) for source in data or []],
                "steps": at_step,
                "batch_size": batch_size,
                "crop_frames": crop_frames,
                "learning_rate": learning_rate,
                "beta_1": beta_1,
                "l1_weight": l1_weight,
                "phase_l1_weight": phase_l1_weight,
                "feature_matching_weight": feature_matching_weight,
                "estimated_plan_share": share if plan else None,
                "feeder": feeder,
                "crop_store": crop_store,
                "init_from": init_from,
                "precision": precision,
                "seed": seed,
                "hardware": hardware,
                "wall_seconds": round(previous_wall_seconds + time.monotonic() - started, 1),
                "git_commit": git_commit(),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "losses": last_losses,
            }
            exported = dataclasses.replace(config, provenance=provenance)
            if keep_exports_every and at_step % keep_exports_every == 0:
                save_generator(out / "exports" / f"step-{at_step:07d}", model.generator, exported)
            return save_generator(out / "export", model.generator, exported)

        interval_start, interval_step, exported_step = time.monotonic(), step, None
        with _terminate_requests() as terminate:
            try:
                while step < steps:
                    if terminate.is_set():
                        raise KeyboardInterrupt  # saved below at this step boundary, as Ctrl-C
                    if feeder == "device":
                        runner.step_on_device(batches, step)
                    else:
                        voice, target_batch = batches.next()
                        _check_batch(voice, target_batch, batch_size, crop_frames, config)
                        runner(voice, target_batch)
                    step += 1
                    bar.update(step)
                    log_now = step % min(LOG_EVERY, checkpoint_every) == 0 or step == steps
                    checkpoint_now = step % checkpoint_every == 0 or step == steps
                    sample_now = step % sample_every == 0
                    if log_now or checkpoint_now or sample_now:
                        runner.sync()
                    if log_now:
                        last_losses = model.tracker_results()
                        runner.reset_trackers()
                        seconds = time.monotonic() - interval_start
                        rate = (step - interval_step) / max(seconds, 1e-9)
                        log.scalars(step, {**last_losses, "steps_per_second": rate,
                                           "samples_per_second": rate * batch_size})  # fmt: skip
                        bar.losses = last_losses
                    if sample_now:
                        if feeder == "device":
                            voice, target_batch = batches.batch(step - 1)
                        images, song = render_sample(model, voice, target_batch, config)
                        log.samples(step, images, song, config.spectrogram.sample_rate)
                    if checkpoint_now:
                        save_checkpoint(out, model, record(step))
                        export(step)
                        exported_step = step
                    if log_now:  # the next interval's rate excludes the logging, sampling and saving above
                        interval_start, interval_step = time.monotonic(), step
            except KeyboardInterrupt:
                runner.sync()
                save_checkpoint(out, model, record(step))
                print(f"interrupted: checkpoint saved at step {step}", file=sys.stderr)
                raise
            finally:
                bar.close(step)
                if feeder == "workers":
                    batches.close()
                log.close()
        return out / "export" if exported_step == step else export(step)


@contextlib.contextmanager
def _terminate_requests():
    """Yields an event that SIGTERM (``kill``, a job scheduler) sets; the loop then stops as after Ctrl-C.

    Only the main thread can install signal handlers; elsewhere the event is never set.
    """
    terminate = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield terminate
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: terminate.set())
    try:
        yield terminate
    finally:
        signal.signal(signal.SIGTERM, previous)


def _generator_config(width: int, depth: int, phase_representation: str, input_channels: int = 2) -> GeneratorConfig:
    if phase_representation not in PHASE_REPRESENTATIONS:
        raise Vocals2SongError(f"The phase representation must be one of {', '.join(PHASE_REPRESENTATIONS)}, "
                               f"got '{phase_representation}'.")  # fmt: skip
    try:
        return GeneratorConfig(width=width, depth=depth, input_channels=input_channels,
                               output_channels=1 if phase_representation == "none" else 2)
    except ValueError as error:
        raise Vocals2SongError(f"Bad generator shape: {error}.") from error


def _with_styles(config: ModelConfig, pairs, dataset) -> ModelConfig:
    """``config`` with the styles its generator learns to read: for a plan generator, those of the training
    ``pairs`` (:func:`vocals2song.pairs.index.pair_styles`: none for a corpus without styles; TrainingDataError for
    one where only some pairs name theirs), or of a given ``dataset``'s config; none for a generator without the plan."""
    if not config.uses_plan:
        return config
    if pairs is not None:
        from vocals2song.pairs.index import pair_styles

        return dataclasses.replace(config, styles=pair_styles(pairs))
    given = getattr(dataset, "config", None)
    return dataclasses.replace(config, styles=given.styles) if isinstance(given, ModelConfig) else config


def _warm_start(model, config: ModelConfig, source: str) -> None:
    """Load the generator weights of the export at ``source`` into ``model`` (same generator shape and target
    representation required; Vocals2SongError otherwise, naming what differs)."""
    from vocals2song.errors import WeightsError
    from vocals2song.model.weights import load_generator

    try:
        loaded = load_generator(source)
    except WeightsError as error:
        raise Vocals2SongError(f"Cannot warm-start from '{source}': it holds no usable generator ({error})") from None
    theirs = loaded.config
    differs = [name for name, mine, other in (("generator", config.generator, theirs.generator),
                                              ("phase representation", config.phase_representation,
                                               theirs.phase_representation),
                                              ("audio front end", config.spectrogram, theirs.spectrogram)) if mine != other]
    if differs:
        raise Vocals2SongError(f"Cannot warm-start from '{source}': its {', '.join(differs)} differ from this run's "
                               f"({theirs.generator} against {config.generator}).")  # fmt: skip
    model.generator.set_weights(loaded.network.get_weights())


def _choose_feeder(feeder: str, dataset) -> str:
    """``auto`` → ``device`` on JAX without a given dataset, else ``workers``; ``device`` needs JAX."""
    if feeder not in FEEDERS:
        raise Vocals2SongError(f"The feeder must be one of {', '.join(FEEDERS)}, got '{feeder}'.")
    if feeder == "auto":
        return "device" if keras.backend.backend() == "jax" and dataset is None else "workers"
    if feeder == "device" and keras.backend.backend() != "jax":
        raise Vocals2SongError("The device feeder runs inside the JAX step: set KERAS_BACKEND=jax, or use "
                               "--feeder workers.")  # fmt: skip
    return feeder


def _bad_target(target: str) -> str:
    raise Vocals2SongError(f"target must be 'mixture' or 'accompaniment', got '{target}'.")


def _check_arguments(steps: int, batch_size: int, crop_frames: int, checkpoint_every: int, sample_every: int,
                     config: ModelConfig) -> None:  # fmt: skip
    for name, value in (("steps", steps), ("batch size", batch_size), ("checkpoint interval", checkpoint_every),
                        ("sample interval", sample_every), ("crop frames", crop_frames)):  # fmt: skip
        if value < 1:
            raise Vocals2SongError(f"The {name} must be at least 1, got {value}.")
    multiple = config.generator.frame_multiple
    if crop_frames % multiple:
        raise Vocals2SongError(
            f"crop frames ({crop_frames}) must be a multiple of {multiple} (2**depth) for this generator."
        )


def _check_batch(voice: np.ndarray, target: np.ndarray, batch_size: int, crop_frames: int,
                 config: ModelConfig) -> None:  # fmt: skip
    frames = (batch_size, config.generator.nb_bins, crop_frames)
    expected = (frames + (config.generator.input_channels,), frames + (config.generator.output_channels,))
    if (voice.shape, target.shape) != expected:
        raise TrainingDataError(
            f"The training data gave batches of shape {voice.shape} and {target.shape}; "
            f"the model needs {expected[0]} and {expected[1]}."
        )
