"""What a training run is asked to do: :class:`TrainSettings`, shared by ``vocals2song train`` and :func:`train`.

Light to import (no Keras), so the command line can take its defaults from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

FEEDER_CHOICES = ("auto", "device", "workers")
PRECISIONS = ("auto", "float32", "mixed_bfloat16")


@dataclass(frozen=True)
class TrainSettings:
    """A training run's settings (given to :func:`vocals2song.training.loop.train`).

    Attributes:
        out: run folder (checkpoints, export, metrics.jsonl, samples, tensorboard).
        steps: total optimiser steps (a resumed run continues up to this count).
        batch_size: crops per step (split across devices when there are several).
        width, depth: generator shape (:class:`~vocals2song.config.GeneratorConfig`).
        target: ``"mixture"`` or ``"accompaniment"``.
        crop_frames: STFT frames per training crop; a multiple of ``2**depth``.
        sample_rate: Hz of the model's audio front end.
        learning_rate, beta_1, l1_weight: pix2pix's Adam(2e-4, 0.5) and L1 weight 100.
        phase_l1_weight: the G (phase) channel's weight inside the L1 term; 1 (pix2pix) weighs R and G alike.
        feature_matching_weight: weight of the discriminator feature-matching term (pix2pixHD: 10; 0: off).
        phase_representation: what the generator's target holds besides R: ``"none"`` (magnitude only; the
            phase is rebuilt by PGHI at inference: the default, chosen in docs/phase.md), ``"if"`` (instantaneous
            frequency) or ``"raw"`` phase (the original's).
        feeder: ``"device"`` (JAX: audio in device memory, batches made inside the jitted step), ``"workers"``
            (batches made on the CPU by ``workers`` threads or processes) or ``"auto"`` (device on JAX unless
            ``dataset`` is given, else workers).
        checkpoint_every: steps between checkpoints (and exports); a kill loses at most this many.
        sample_every: steps between sample images/audio.
        keep_exports_every: also keep the export of every step that is a multiple of this (and a checkpoint) in
            ``out/exports/step-N``, to choose among them by validation; 0 keeps only the latest.
        resume: continue from the latest complete checkpoint in ``out`` (from scratch if there is none).
        seed: weight initialisation, dropout and data order.
        workers: threads (or processes) fetching batches ahead.
        worker_processes: fetch in spawned processes instead of threads (see :class:`vocals2song.training.feeders.BatchFeeder`).
        plan: the generator reads the plan (B: chords and beats) as a third input channel.
        estimated_plan_share: with ``plan``, the share of crops (device feeder: of pairs) whose B is the
            estimator's plan rather than the pair's true one (default :data:`vocals2song.pairs.crop_plans.ESTIMATED_PLAN_SHARE`).
        precision: ``auto`` (mixed_bfloat16 on a GPU, else float32), ``float32`` or ``mixed_bfloat16``.
        crop_store: a folder for the training pairs encoded once (:mod:`vocals2song.pairs.crop_store`): built there
            on first use, reused by later runs and resumes; batches are then cut from it (workers feeder) instead of
            decoded, augmented and encoded per crop. None: stream crops.
        store_variants: augmented copies of each pair in a new crop store.
        init_from: a weights folder (the export format) of the same generator shape whose generator weights start
            the run (a warm start; the discriminator and optimizers start fresh). Ignored when resuming from a
            checkpoint in ``out``.
    """

    out: str = "runs/train"
    steps: int = 10000
    batch_size: int = 8
    width: int = 16
    depth: int = 8
    target: str = "mixture"
    crop_frames: int = 256
    sample_rate: int = 22050
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    l1_weight: float = 100.0
    phase_l1_weight: float = 1.0
    feature_matching_weight: float = 0.0
    phase_representation: str = "none"
    feeder: str = "auto"
    checkpoint_every: int = 500
    sample_every: int = 1000
    keep_exports_every: int = 0
    resume: bool = False
    seed: int = 0
    workers: int = 1
    worker_processes: bool = False
    plan: bool = False
    estimated_plan_share: float | None = None
    precision: str = "auto"
    crop_store: str | None = None
    store_variants: int = 1
    init_from: str | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    def replace(self, **changes) -> TrainSettings:
        return dataclasses.replace(self, **changes)
