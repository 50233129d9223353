"""The pairs on disk: an index of (voice, song) pairs built from file headers, and windows read from them.

Memory stays flat however large the data: :class:`PairIndex` reads only file headers, and :func:`read_pair` reads
just the window of samples it is asked for (``soundfile.read(start=, frames=)``). Three layouts are recognised per
path:

- a rendered corpus (:mod:`vocals2song.corpus.build`): ``DIR/manifest.json`` listing ``vocals`` and
  ``accompaniment`` stems per pair with its split, (format 2) its true harmony and (a styled corpus) the ``style``
  its accompaniment is played in (one of :data:`vocals2song.plan.style.STYLES`); the mixture is their sum;
- MUSDB18(-HQ): ``ROOT/{train,test}/<track>/{mixture,vocals,...}.wav``; a deterministic ~5 % of the train
  tracks (by a hash of the track name) is the validation split; the accompaniment is mixture − vocals;
- any folder of pairs: ``<name>/vocals.(wav|flac)`` + ``<name>/mixture.(wav|flac)``, or flat
  ``X.vocals.wav`` + ``X.mixture.wav``; a first folder named train/validation/test gives the split, otherwise
  pairs are train with a hashed ~5 % validation, as for MUSDB.

Audio is downmixed to mono and resampled to the rate asked for. :mod:`vocals2song.pairs.crops` makes training crops and
evaluation examples from these pairs; :func:`pair_styles` gives the styles a generator trained on them reads.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import soundfile

from vocals2song.audio import resample
from vocals2song.errors import PlanError, TrainingDataError
from vocals2song.plan.harmony import Harmony
from vocals2song.plan.style import STYLES, check_style

SPLITS = ("train", "validation", "test")
SPLIT_FOLDERS = {"train": "train", "validation": "validation", "valid": "validation", "test": "test"}
AUDIO_SUFFIXES = (".wav", ".flac")
VALIDATION_PERCENT = 5
RESAMPLE_MARGIN = 64  # extra source samples read around a window that is resampled


# ------------------------------------------------------------------------------------------------------
# The index


@dataclass(frozen=True)
class Pair:
    """One (voice, song) pair on disk.

    Attributes:
        name: the pair's id (corpus) or relative folder/file stem.
        split: "train", "validation" or "test".
        vocals: the voice stem.
        partner: the second stem: the accompaniment (``partner_kind == "accompaniment"``) or the mixture.
        partner_kind: "accompaniment" (mixture = vocals + partner) or "mixture" (accompaniment = partner − vocals).
        sample_rate: Hz of both files.
        nb_samples: samples usable from both stems (the shorter one's length), at ``sample_rate``.
        piece: the piece the pair was cut from (a corpus gives several pairs per piece); None: the pair is a
            piece of its own (MUSDB tracks, pair folders), see :attr:`piece_name`.
        harmony: the pair's true plan, times from its first sample (a format 2 corpus); None: the estimator's.
        style: the style of the pair's accompaniment (a styled corpus), one of :data:`vocals2song.plan.style.STYLES`;
            None: unstyled (every other source).
    """

    name: str
    split: str
    vocals: Path
    partner: Path
    partner_kind: str
    sample_rate: int
    nb_samples: int
    piece: str | None = None
    harmony: Harmony | None = field(default=None, compare=False, repr=False)
    style: str | None = None

    @property
    def piece_name(self) -> str:
        return self.piece or self.name

    @property
    def seconds(self) -> float:
        return self.nb_samples / self.sample_rate


class PairIndex:
    """All pairs of one or more data sources, built from file headers only (``soundfile.info``)."""

    def __init__(self, pairs: Sequence[Pair], sources: Sequence[str]):
        self.pairs = list(pairs)
        self.sources = list(sources)

    @classmethod
    def build(cls, sources: str | os.PathLike | Iterable[str | os.PathLike]) -> "PairIndex":
        """Index every source (a corpus dir or its manifest.json, a MUSDB root, or a folder of pairs).

        Raises:
            TrainingDataError: a missing path, or a folder that is empty, unpaired, unreadable or mixes sample
                rates; the message lists what is wrong.
        """
        paths = [Path(sources)] if isinstance(sources, (str, os.PathLike)) else [Path(p) for p in sources]
        if not paths:
            raise TrainingDataError("No training data was given.")
        pairs: list[Pair] = []
        for path in paths:
            pairs += _index_source(path)
        return cls(pairs, [str(path) for path in paths])

    def select(self, split: str) -> list[Pair]:
        """The pairs of one split; none raises TrainingDataError naming what the data does hold."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        chosen = [pair for pair in self.pairs if pair.split == split]
        if not chosen:
            counts = Counter(pair.split for pair in self.pairs)
            held = ", ".join(f"{name} {counts[name]}" for name in SPLITS if counts[name]) or "nothing"
            raise TrainingDataError(
                f"The data in {', '.join(self.sources)} has no pairs in the {split!r} split (it holds: {held})."
            )
        return chosen

    def __len__(self) -> int:
        return len(self.pairs)


def _index_source(path: Path) -> list[Pair]:
    if path.is_file() and path.name == "manifest.json":
        return _index_corpus(path.parent)
    if not path.is_dir():
        raise TrainingDataError(f"The training data folder '{path}' does not exist.")
    if (path / "manifest.json").is_file():
        return _index_corpus(path)
    return _index_pair_folder(path)


def _header(path: Path, problems: list[str]):
    """``soundfile.info`` of a file (its header only), or None with the problem appended."""
    try:
        return soundfile.info(str(path))
    except Exception as error:  # libsndfile raises several types on corrupt files
        problems.append(f"{path.name}: unreadable ({str(error).strip()[:80]})")
        return None


def _listing(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_rates(source: Path, rates: dict[str, int]) -> None:
    """All pairs of one source must share one sample rate; otherwise list the rates found."""
    by_rate: dict[int, list[str]] = {}
    for name, rate in rates.items():
        by_rate.setdefault(rate, []).append(name)
    if len(by_rate) > 1:
        parts = [f"{rate} Hz: {len(names)} file(s), e.g. {_listing(sorted(names), 2)}"
                 for rate, names in sorted(by_rate.items())]
        raise TrainingDataError(
            f"The training data in '{source}' mixes sample rates ({'; '.join(parts)}); resample it to one rate."
        )


def _index_corpus(folder: Path) -> list[Pair]:
    from vocals2song.corpus.build import load_manifest  # the corpus module owns its manifest format

    manifest = load_manifest(folder)
    problems: list[str] = []
    rates: dict[str, int] = {}
    pairs = []
    for entry in manifest["pairs"]:
        stems = {kind: folder / entry[kind] for kind in ("vocals", "accompaniment")}
        headers = {kind: _header(path, problems) for kind, path in stems.items()}
        if None in headers.values():
            continue
        for kind, header in headers.items():
            rates[entry[kind]] = header.samplerate
        try:
            harmony = Harmony.from_dict(entry["harmony"]) if "harmony" in entry else None
        except ValueError as error:
            problems.append(f"{entry['id']}: unreadable harmony ({error})")
            continue
        try:
            style = check_style(entry["style"]) if "style" in entry else None
        except PlanError:
            problems.append(f"{entry['id']}: unknown style {entry['style']!r}")
            continue
        pairs.append(
            Pair(
                name=str(entry["id"]),
                split=entry["split"],
                vocals=stems["vocals"],
                partner=stems["accompaniment"],
                partner_kind="accompaniment",
                sample_rate=headers["vocals"].samplerate,
                nb_samples=min(header.frames for header in headers.values()),
                piece=entry.get("piece"),
                harmony=harmony,
                style=style,
            )
        )
    if problems:
        raise TrainingDataError(f"The corpus in '{folder}' has {len(problems)} unreadable stem file(s), harmonies or "
                                f"styles: {_listing(problems)}.")
    rates["manifest.json"] = manifest["sample_rate"]
    _check_rates(folder, rates)
    return pairs


def pair_styles(pairs: Sequence[Pair]) -> tuple[str, ...]:
    """The styles the pairs are played in, in :data:`vocals2song.plan.style.STYLES` order, each once; () when no pair
    names one (a corpus without styles trains as before styles existed).

    Raises:
        TrainingDataError: some pairs name a style and others do not (a generator that reads the style needs each
            pair's); the message names a few of those without.
    """
    unstyled = [pair.name for pair in pairs if pair.style is None]
    if len(unstyled) == len(pairs):
        return ()
    if unstyled:
        raise TrainingDataError(
            f"{len(unstyled)} of the {len(pairs)} pairs have no style ({_listing(unstyled)}) while the others have "
            "one: train a generator that reads the style on pairs that all name theirs, or on pairs without styles."
        )
    present = {pair.style for pair in pairs}
    return tuple(style for style in STYLES if style in present)


def _stem_kind(path: Path) -> tuple[str, str] | None:
    """(pair key, "vocals"/"mixture") for a file named like a stem, else None."""
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        return None
    stem = path.stem
    for kind in ("vocals", "mixture"):
        if stem == kind:
            return str(path.parent), kind
        if stem.endswith("." + kind):
            return str(path.parent / stem[: -len(kind) - 1]), kind
    return None


def _index_pair_folder(root: Path) -> list[Pair]:
    stems: dict[str, dict[str, list[Path]]] = {}
    other_audio = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        found = _stem_kind(path)
        if found is None:
            if path.suffix.lower() in AUDIO_SUFFIXES:
                other_audio.append(path)
            continue
        key, kind = found
        stems.setdefault(key, {"vocals": [], "mixture": []})[kind].append(path)

    if not stems:
        names = _listing([path.name for path in other_audio])
        detail = "no WAV or FLAC files"
        if other_audio:
            detail = f"{len(other_audio)} audio file(s) but none named like a stem ({names})"
        raise TrainingDataError(
            f"No training pairs in '{root}': it holds {detail}. Expected a corpus (manifest.json), MUSDB18 "
            "(train/<track>/mixture.wav + vocals.wav) or pairs as <name>/vocals.wav + <name>/mixture.wav "
            "(or X.vocals.wav + X.mixture.wav)."
        )

    def relative(key: str) -> str:
        return Path(key).relative_to(root).as_posix() if Path(key) != root else root.name

    problems = []
    unpaired = {kind: sorted(relative(key) for key, found in stems.items() if found[kind] and not found[other])
                for kind, other in (("vocals", "mixture"), ("mixture", "vocals"))}
    for kind, other in (("vocals", "mixture"), ("mixture", "vocals")):
        if unpaired[kind]:
            problems.append(f"{len(unpaired[kind])} {kind} file(s) without a {other} ({_listing(unpaired[kind])})")
    duplicated = sorted(relative(key) for key, found in stems.items() if max(map(len, found.values())) > 1)
    if duplicated:
        problems.append(f"{len(duplicated)} pair(s) with both a WAV and a FLAC of one stem ({_listing(duplicated)})")
    if problems:
        raise TrainingDataError(f"The training data in '{root}' is not usable: " + "; ".join(problems) + ".")

    unreadable: list[str] = []
    rates: dict[str, int] = {}
    pairs = []
    for key in sorted(stems):
        vocals, mixture = stems[key]["vocals"][0], stems[key]["mixture"][0]
        headers = [_header(vocals, unreadable), _header(mixture, unreadable)]
        if None in headers:
            continue
        name = relative(key)
        rates[f"{name}/{vocals.name}"] = headers[0].samplerate
        rates[f"{name}/{mixture.name}"] = headers[1].samplerate
        first_folder = Path(key).relative_to(root).parts[:1] if Path(key) != root else ()
        split = SPLIT_FOLDERS.get(first_folder[0].lower(), "train") if first_folder else "train"
        pairs.append(Pair(name, split, vocals, mixture, "mixture", headers[0].samplerate,
                          min(header.frames for header in headers)))  # fmt: skip
    if unreadable:
        raise TrainingDataError(
            f"The training data in '{root}' has {len(unreadable)} unreadable file(s): {_listing(unreadable)}."
        )
    _check_rates(root, rates)
    return _hold_out_validation(pairs)


def name_hash(name: str) -> int:
    """A stable 64-bit number for a name (the first 8 bytes of its SHA-256): the same on every run and machine."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def _name_percentile(name: str) -> int:
    return name_hash(name) % 100


def _hold_out_validation(pairs: list[Pair]) -> list[Pair]:
    """With no validation folder, move a deterministic ~5 % of train pairs (by name hash) to validation.

    A hash threshold keeps each pair's split stable as the data grows; if it picks none from two or more train
    pairs, the single lowest-hash one is taken so validation is never empty.
    """
    if any(pair.split == "validation" for pair in pairs):
        return pairs
    train = [pair for pair in pairs if pair.split == "train"]
    held = {pair.name for pair in train if _name_percentile(pair.name) < VALIDATION_PERCENT}
    if not held and len(train) >= 2:
        held = {min(train, key=lambda pair: (_name_percentile(pair.name), pair.name)).name}
    return [replace(pair, split="validation") if pair.name in held else pair for pair in pairs]


# ------------------------------------------------------------------------------------------------------
# Reading windows


def _read_mono(path: Path, start: int, frames: int) -> np.ndarray:
    """Exactly ``frames`` mono float32 samples from ``start`` (zero-padded past the end); reads only that window."""
    samples, _ = soundfile.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True, fill_value=0.0)
    return samples.mean(axis=1, dtype=np.float32)


def read_pair(pair: Pair, start: int, frames: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """A window of a pair as (vocals, accompaniment), mono float32 at ``sample_rate``.

    Args:
        start: first sample, at the pair's own rate.
        frames: samples wanted at ``sample_rate``; the source window is scaled by the rate ratio (plus a margin
            when resampling) and the result cut or zero-padded to exactly ``frames``.
    """
    ratio = pair.sample_rate / sample_rate
    source_frames = math.ceil(frames * ratio) + (RESAMPLE_MARGIN if ratio != 1 else 0)
    vocals = _read_mono(pair.vocals, start, source_frames)
    partner = _read_mono(pair.partner, start, source_frames)
    accompaniment = partner - vocals if pair.partner_kind == "mixture" else partner
    return tuple(pad_or_cut(resample(audio, pair.sample_rate, sample_rate), frames) for audio in (vocals, accompaniment))


def pad_or_cut(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` cut to ``length`` samples, or zero-padded at the end to it."""
    return audio[:length] if len(audio) >= length else np.pad(audio, (0, length - len(audio)))
