"""What a training run reports: the progress bar, ``metrics.jsonl`` + TensorBoard, sample pictures and audio."""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

from vocals2song.config import ModelConfig
from vocals2song.training.model import Pix2Pix

class ProgressBar:
    """``step 120/10000 [###-----]  1.8 steps/s  14.6 samples/s  ETA 1:29:55  g 12.3  d 1.38`` on stderr.

    Redrawn in place (at most twice a second) on a terminal; a plain line every 30 s when stderr is a file.
    """

    def __init__(self, total: int, start: int, batch_size: int, enabled: bool = True, stream=None):
        self.total, self.start, self.batch_size, self.enabled = total, start, batch_size, enabled
        self.stream = stream or sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.losses: dict[str, float] = {}

    def update(self, step: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last_draw < (0.5 if self.interactive else 30.0):
            return
        self.last_draw = now
        done = step - self.start
        rate = done / max(now - self.started, 1e-9)
        remaining = (self.total - step) / rate if rate > 0 else float("inf")
        eta = str(datetime.timedelta(seconds=int(remaining))) if math.isfinite(remaining) else "?"
        filled = int(20 * step / max(self.total, 1))
        losses = "".join(f"  {name[0]} {value:.3g}" for name, value in self.losses.items() if name in ("g_loss",
                         "d_loss"))  # fmt: skip
        line = (f"step {step}/{self.total} [{'#' * filled}{'-' * (20 - filled)}] {rate:5.2f} steps/s "
                f"{rate * self.batch_size:6.1f} samples/s  ETA {eta}{losses}")  # fmt: skip
        if self.interactive:
            self.stream.write(f"\r{line}\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, step: int) -> None:
        if self.enabled:
            self.update(step, force=True)
            if self.interactive:
                self.stream.write("\n")
                self.stream.flush()


class TrainingLog:
    """``metrics.jsonl`` always; TensorBoard scalars, images and audio when tensorflow and tensorboard import."""

    def __init__(self, out: Path, tensorboard: bool = True):
        self.metrics_path = out / "metrics.jsonl"
        self.samples_directory = out / "samples"
        self.writer = None
        if tensorboard and all(importlib.util.find_spec(name) for name in ("tensorflow", "tensorboard")):
            try:
                import tensorflow as tf

                if keras.backend.backend() != "tensorflow":  # leave the accelerator to the training backend
                    with contextlib.suppress(RuntimeError, ValueError):
                        tf.config.set_visible_devices([], "GPU")
                self.writer = tf.summary.create_file_writer(str(out / "tensorboard"))
            except Exception as error:  # TensorBoard is a convenience; training goes on without it
                print(f"TensorBoard summaries are off: {error}", file=sys.stderr)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with open(self.metrics_path, "a") as file:
            file.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            import tensorflow as tf

            with self.writer.as_default(step=step):
                for name, value in values.items():
                    if isinstance(value, (int, float)):
                        tf.summary.scalar(name, value)
            self.writer.flush()

    def samples(self, step: int, images: dict[str, np.ndarray], song: np.ndarray, sample_rate: int) -> None:
        """images: name → R/G image (nb_bins + 1, nb_frames, 3) in [0, 1]; song: the generated crop's audio."""
        from PIL import Image

        from vocals2song.audio import write_wav
        from vocals2song.codec.spectrogram import quantize

        pictures = {name: np.ascontiguousarray(quantize(image, 8)[::-1]) for name, image in images.items()}
        self.samples_directory.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.concatenate(list(pictures.values()), axis=1)).save(
            self.samples_directory / f"step-{step:07d}.png"
        )
        write_wav(self.samples_directory / f"step-{step:07d}.wav", song, sample_rate)
        if self.writer is not None:
            import tensorflow as tf

            with self.writer.as_default(step=step):
                for name, picture in pictures.items():
                    tf.summary.image(f"images/{name}", picture[None])
                tf.summary.audio("audio/generated", song[None, :, None].astype(np.float32), sample_rate)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def render_sample(model: Pix2Pix, voice: np.ndarray, target: np.ndarray, config: ModelConfig):
    """First pair of a batch → ({voice, target, generated} R/G images with raw phase in G, generated audio).

    ``voice`` and ``target`` are network tensors (batch, nb_bins, nb_frames, channels) in [-1, 1]; the target and
    the generated image are decoded from the model's phase representation (PGHI for magnitude only).
    """
    from vocals2song.codec.network import network_to_image
    from vocals2song.codec.spectrogram import istft, spectrogram_to_image, target_to_spectrogram

    audio_config, representation = config.spectrogram, config.phase_representation
    generated = keras.ops.convert_to_numpy(model.generator(voice[:1], training=False))[0]
    voice_image = network_to_image(np.asarray(voice[0], dtype=np.float32))
    voice_image = np.concatenate([voice_image, np.zeros_like(voice_image[..., :1])], axis=-1)[..., :3]
    spectrograms = {name: target_to_spectrogram(network_to_image(np.asarray(tensor, dtype=np.float32)), audio_config,
                                                representation)
                    for name, tensor in (("target", target[0]), ("generated", generated))}  # fmt: skip
    images = {"voice": voice_image, **{name: spectrogram_to_image(spectrogram, audio_config)
                                        for name, spectrogram in spectrograms.items()}}  # fmt: skip
    song = np.clip(istft(spectrograms["generated"], audio_config), -1.0, 1.0)
    return images, song


def git_commit() -> str | None:
    """The repository's HEAD commit (with ``-dirty`` for uncommitted changes), or None outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)  # fmt: skip
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None

