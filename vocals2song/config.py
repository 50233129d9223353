"""Configuration of a Vocals2Song model: its audio front end, its generator and where it came from.

Everything needed to rebuild a generator and turn audio into its input lives here and is written as
``config.json`` beside the weights (see :mod:`vocals2song.model.weights`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vocals2song.plan.style import STYLES

TARGETS = ("mixture", "accompaniment")
PHASE_REPRESENTATIONS = ("raw", "if", "none")  # what the generator's second output channel holds, if any


@dataclass(frozen=True)
class SpectrogramConfig:
    """The STFT and the R/G image scale.

    Attributes:
        sample_rate: audio rate the model works at, in Hz.
        n_fft: STFT frame length in samples (``n_fft // 2 + 1`` bins).
        hop_length: STFT hop in samples.
        db_floor: STFT magnitude (dB re 1.0, unnormalised Hann STFT) mapped to R = 0; anything at or below
            it decodes as silence.
        db_ceiling: STFT magnitude in dB mapped to R = 1. A full-scale sine peaks near +54 dB.
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    db_floor: float = -100.0
    db_ceiling: float = 60.0

    def __post_init__(self) -> None:
        if self.n_fft <= 0 or self.n_fft % 2:
            raise ValueError(f"n_fft must be a positive even number, got {self.n_fft}")
        if not 0 < self.hop_length <= self.n_fft:
            raise ValueError(f"hop_length must be in 1..n_fft, got {self.hop_length}")
        if not self.db_ceiling > self.db_floor:
            raise ValueError("db_ceiling must be above db_floor")
        if not 8000 <= self.sample_rate <= 192000:
            raise ValueError(f"sample_rate must be within 8000-192000 Hz, got {self.sample_rate}")

    @property
    def nb_bins(self) -> int:
        """Frequency bins of the full STFT (DC..Nyquist)."""
        return self.n_fft // 2 + 1


@dataclass(frozen=True)
class GeneratorConfig:
    """Shape of the pix2pix U-Net generator (and its PatchGAN discriminator).

    Attributes:
        nb_bins: frequency rows the network sees (the STFT bins without Nyquist: ``n_fft // 2``).
        width: filters of the first encoder block (the original pix2pix uses 64).
        depth: encoder blocks, each halving bins and frames; frames must be a multiple of ``2**depth``.
        max_width_multiplier: filters stop growing at ``width * max_width_multiplier`` (8 in pix2pix).
        dropout: dropout rate of the first three decoder blocks; it stays on at inference (pix2pix's
            noise), seeded for reproducible variations.
        input_channels: voice image channels the generator sees: 2 = R, G (the original's input); 3 = R, G
            and B, the plan (harmony and beat) drawn into the image.
        output_channels: image channels it predicts: 2 = R and a phase channel; 1 = R alone (the phase is
            rebuilt from the magnitude at decode time).
    """

    nb_bins: int = 512
    width: int = 16
    depth: int = 8
    max_width_multiplier: int = 8
    dropout: float = 0.5
    input_channels: int = 2
    output_channels: int = 2

    def __post_init__(self) -> None:
        if self.input_channels not in (2, 3) or self.output_channels not in (1, 2):
            raise ValueError(f"input_channels must be 2 or 3 and output_channels 1 or 2, "
                             f"got {self.input_channels} and {self.output_channels}")
        if self.depth < 1 or self.nb_bins % (2**self.depth):
            raise ValueError(f"nb_bins={self.nb_bins} must be a multiple of 2**depth={2**self.depth}")
        if self.width < 1:
            raise ValueError(f"width must be positive, got {self.width}")

    @property
    def frame_multiple(self) -> int:
        """Frame counts fed to the network must be multiples of this."""
        return 2**self.depth


@dataclass(frozen=True)
class ModelConfig:
    """A complete, rebuildable model description (what ``weights/config.json`` holds).

    Attributes:
        spectrogram: the audio front end.
        generator: the network shape.
        target: what the generator predicts from the voice image: ``"mixture"`` (the whole song, as the
            original project) or ``"accompaniment"`` (the song without the voice).
        phase_representation: what the generator's phase channel holds: ``"raw"`` (G = wrapped phase, the
            original's), ``"if"`` (instantaneous frequency) or ``"none"`` (no phase channel: magnitude only).
        tile_frames: frames per generator call at inference; long inputs are tiled and cross-faded.
        overlap_frames: frames shared by neighbouring tiles (cross-faded).
        styles: the accompaniment styles the generator was trained to read from B (names of
            :data:`vocals2song.plan.style.STYLES`, each once; the trainer writes them in that order; drawn by
            :func:`vocals2song.plan.channel.render_plan`), only for a generator that reads the plan. Empty: a
            generator that knows no style (the packaged weights, and any config.json without a ``styles`` key); its B
            never carries one.
        provenance: free-form record of how the weights were made (data, steps, hardware, commit...).
    """

    spectrogram: SpectrogramConfig = field(default_factory=SpectrogramConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    target: str = "mixture"
    phase_representation: str = "raw"
    tile_frames: int = 512
    overlap_frames: int = 64
    styles: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        if self.phase_representation not in PHASE_REPRESENTATIONS:
            raise ValueError(f"phase_representation must be one of {PHASE_REPRESENTATIONS}, "
                             f"got {self.phase_representation!r}")
        if (self.phase_representation == "none") != (self.generator.output_channels == 1):
            raise ValueError("phase_representation 'none' goes with output_channels 1, and only with it")
        if self.generator.nb_bins != self.spectrogram.n_fft // 2:
            raise ValueError(
                f"generator.nb_bins ({self.generator.nb_bins}) must equal n_fft // 2 ({self.spectrogram.n_fft // 2})"
            )
        if self.tile_frames % self.generator.frame_multiple:
            raise ValueError(f"tile_frames must be a multiple of {self.generator.frame_multiple}")
        if not 0 <= self.overlap_frames < self.tile_frames // 2:
            raise ValueError("overlap_frames must be in 0..tile_frames/2")
        if not isinstance(self.styles, tuple) or any(style not in STYLES for style in self.styles):
            raise ValueError(f"styles must be a tuple of names from {STYLES}, got {self.styles!r}")
        if len(set(self.styles)) != len(self.styles):
            raise ValueError(f"styles must name each style once, got {self.styles!r}")
        if self.styles and not self.uses_plan:
            raise ValueError("styles are read from the plan (B): they need input_channels 3")

    @property
    def uses_plan(self) -> bool:
        """Whether the generator reads the plan (B channel) beside the voice's R and G."""
        return self.generator.input_channels == 3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Rebuild from :meth:`to_dict` output; unknown keys raise ``TypeError``/``ValueError``."""
        data = dict(data)
        spectrogram = SpectrogramConfig(**data.pop("spectrogram", {}))
        generator_fields = dict(data.pop("generator", {}))
        if "channels" in generator_fields:  # configs written before input and output channels were apart
            channels = generator_fields.pop("channels")
            generator_fields.setdefault("input_channels", channels)
            generator_fields.setdefault("output_channels", channels)
        generator = GeneratorConfig(**generator_fields)
        if "styles" in data:  # a JSON list
            data["styles"] = tuple(data["styles"])
        return cls(spectrogram=spectrogram, generator=generator, **data)


def tiny_config(**overrides: Any) -> ModelConfig:
    """A debug-sized model (width 4, depth 4, 128-frame tiles) for tests and smoke runs."""
    generator = GeneratorConfig(width=4, depth=4)
    return dataclasses.replace(
        ModelConfig(generator=generator, tile_frames=128, overlap_frames=16), **overrides
    )
