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
    """A training run's settings (see :func:`vocals2song.training.loop.train` for what each does).

    Attributes:
        out: run folder (checkpoints, export, metrics.jsonl, samples, tensorboard).
        steps: total optimiser steps (a resumed run continues up to this count).
        batch_size: crops per step (split across devices when there are several).
        width, depth: generator shape (:class:`~vocals2song.config.GeneratorConfig`).
        target: ``"mixture"`` or ``"accompaniment"``.
        crop_frames: STFT frames per training crop; a multiple of ``2**depth``.
        sample_rate: Hz of the model's audio front end.
        learning_rate, beta_1, l1_weight: pix2pix's Adam(2e-4, 0.5) and L1 weight 100.
        phase_l1_weight: the G (phase) channel's weight inside the L1 term.
        feature_matching_weight: weight of the discriminator feature-matching term (0: off).
        phase_representation: ``"none"`` (magnitude only), ``"if"`` or ``"raw"``.
        feeder: one of :data:`FEEDER_CHOICES`.
        checkpoint_every, sample_every: steps between checkpoints (and exports), and between samples.
        keep_exports_every: also keep the export of every multiple of this step; 0 keeps only the latest.
        resume: continue from the latest complete checkpoint in ``out``.
        seed: weight initialisation, dropout and data order.
        workers, worker_processes: batch fetchers, threads or spawned processes.
        plan: the generator reads the plan (B) as a third input channel.
        estimated_plan_share: with ``plan``, the share of crops whose B is the estimator's plan (None: the default).
        precision: one of :data:`PRECISIONS`.
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

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    def replace(self, **changes) -> TrainSettings:
        return dataclasses.replace(self, **changes)
