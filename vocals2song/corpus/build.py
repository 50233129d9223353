"""The offline paired corpus: (vocals, accompaniment) FLAC stems rendered from music21's scores.

``build_corpus(out_dir)`` picks scores from music21's corpus (Bach chorales, Palestrina, Monteverdi,
Beethoven, Haydn, Mozart, folk songs; read by :mod:`vocals2song.corpus.scores`), and for each piece, in a worker process:

* takes the highest part as the melody, sung by :mod:`vocals2song.corpus.singer` with a random singer;
* plays the other parts (or, for a folk tune, a generated bass + chord accompaniment) with random
  General MIDI programs through FluidSynth, plus a drum pattern fitted to the meter;
* randomises tempo and transposition, cuts the performance into excerpts of at most ``max_seconds``,
  mixes each at a random voice-to-accompaniment ratio and writes the two stems as 16-bit FLAC;
* records each excerpt's true harmony (:class:`vocals2song.plan.harmony.Harmony`: the score's beats and its chords per
  beat from music21 ``chordify``, or the generated chords, in the rendered tempo and transposition, timed from
  the excerpt's start; the key of the excerpt's notes; the sung notes) in the manifest.

The mixture is never stored: it is ``vocals + accompaniment`` sample by sample, and the stems are
scaled together so that this sum peaks at 0.95 or less. Layout of ``out_dir``::

    manifest.json                       # see load_manifest(); paths inside are relative to out_dir
    progress.jsonl                      # settings + one line per finished piece (lets a rerun resume)
    shard-000/<pair_id>.vocals.flac     # at most PAIRS_PER_SHARD pairs per shard folder
    shard-000/<pair_id>.accompaniment.flac

Splits are by piece: Beethoven, Haydn, Mozart and Monteverdi are held out as "test"; of the other
pieces a deterministic 5 % (by a hash of the piece name) are "validation", the rest "train".
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vocals2song.errors import TrainingDataError, Vocals2SongError
from vocals2song.corpus.scores import (SPLIT_GAIN, Meter, PartNote, Piece, analyze_key, bar_chord_slices,
                                chord_slices, excerpt_harmony, generate_accompaniment, mean_pitch, parse_piece,
                                part_notes, performed_harmony, read_meter, reduce_slices, select_pieces,
                                split_for_piece, stable_hash, top_line)
from vocals2song.arrange.arranger import arrange, sevenths
from vocals2song.arrange.produce import play_arrangement
from vocals2song.arrange.render import (DRUM_CHANNEL, Soundfonts, _require_fluidsynth, choose_soundfonts,
                                        resolve_soundfont, synthesize_events)
from vocals2song.plan.style import STYLES, check_style
from vocals2song.corpus.singer import Note, fit_to_range, monophonic, random_singer, sing
from vocals2song.corpus.songs import SONG_COLLECTION, write_song
from vocals2song.corpus.voice_augment import SPEECH_LIKE_SHARE, maybe_augment_voice

FORMAT_NAME = "vocals2song-corpus"
FORMAT_VERSION = 2  # 2: each pair carries its true harmony ("harmony") and its start in the piece
READABLE_VERSIONS = (1, 2)  # version 1 manifests have no harmony: training estimates it from the voice
# Bump when the styled pairs come out differently for the same settings (the score reduction, the arranger, its
# levels): a styled corpus records it in its settings, so a rerun with other code does not mix two kinds of pairs.
ARRANGEMENT_REVISION = 2  # 2: a chord's seventh struck softer, the jazz bass 4 dB lower
MANIFEST_NAME = "manifest.json"
PROGRESS_NAME = "progress.jsonl"
SPLITS = ("train", "validation", "test")

MAX_PAIRS_PER_PIECE = 8
PAIRS_PER_SHARD = 256
PIECES_PER_SHARD = PAIRS_PER_SHARD // MAX_PAIRS_PER_PIECE   # so a shard never exceeds PAIRS_PER_SHARD

TEMPO_RANGE_BPM = (60.0, 140.0)
TRANSPOSE_RANGE = (-5, 5)
VOICE_TO_ACCOMPANIMENT_DB = (-6.0, 6.0)
MIXTURE_PEAK_RANGE = (0.5, 0.95)
MIN_VOICED_FRACTION = 0.5     # an excerpt whose voice sounds less than this fraction of the time is dropped
DRUMS_PROBABILITY = 0.75
HALF_BAR_SHARE = 0.3          # styled pieces whose chords change per half bar instead of per bar
RELEASE_TAIL_SECONDS = 0.5

# General MIDI programs (0-based) that sound plausible for a part.
BASS_PROGRAMS = (32, 33, 34, 35, 42, 43, 58, 70, 0, 19)
UPPER_PROGRAMS = (0, 1, 4, 6, 11, 16, 19, 24, 25, 40, 41, 42, 46, 48, 49, 56, 57, 60, 61, 68, 71, 73)
CHORD_PROGRAMS = (0, 1, 4, 6, 16, 19, 24, 25, 46, 48, 49)
# The styles that suit each kind of piece (composer labels of vocals2song.corpus.scores.COLLECTIONS, and generated
# songs): a Palestrina motet is not played as rock, a folk tune may be pop or jazz.
STYLE_AFFINITY = {
    "bach": ("chamber", "strings", "ballad", "jazz", "pop"),
    "palestrina": ("chamber", "strings", "ballad"),
    "monteverdi": ("chamber", "strings", "ballad"),
    "beethoven": ("chamber", "strings", "ballad", "pop"),
    "haydn": ("chamber", "strings", "ballad", "pop"),
    "mozart": ("chamber", "strings", "ballad", "pop"),
    "folk": ("folk", "pop", "ballad", "rock", "jazz", "strings"),
    SONG_COLLECTION: ("pop", "rock", "ballad", "folk", "jazz", "strings", "chamber"),
}
KICK, SNARE, SIDE_STICK, CLOSED_HAT, PEDAL_HAT, RIDE, CRASH = 36, 38, 37, 42, 44, 51, 49


# ----------------------------------------------------------------------------------------------------
# Public API


def build_corpus(out_dir, *, pieces: int | None = None, workers: int | None = None, sample_rate: int = 22050,
                 max_seconds: float = 20.0, soundfont=None, seed: int = 0, progress: bool = True,
                 voice_augmentation: float = 0.7, splits: tuple[str, ...] | None = None,
                 styles: tuple[str, ...] | None = None, songs: int = 0) -> Path:
    """Render (vocals, accompaniment) pairs from music21's scores into ``out_dir``.

    Args:
        out_dir: folder to fill (created if needed). A rerun with the same settings skips the pieces
            already finished there.
        pieces: render only this many pieces (a seeded, diverse selection); None renders them all.
        workers: worker processes (default: one per CPU); 1 renders in this process.
        sample_rate: rate of the FLAC stems, Hz.
        max_seconds: longest excerpt, seconds; a piece gives up to MAX_PAIRS_PER_PIECE excerpts.
        soundfont: path of a General MIDI .sf2, or "fluidr3" for Debian's FluidR3_GM; default: the
            TimGM6mb.sf2 shipped with pretty_midi.
        seed: makes the selection and every random choice reproducible.
        progress: print a progress line on stderr.
        voice_augmentation: probability that a pair's voice is made to sound recorded (room, noise,
            microphone, detune...: :mod:`vocals2song.corpus.voice_augment`; the pair's entry records what was
            applied); a share of it makes the singer speak instead. 0 renders clean voices as before.
        splits: render only the pieces of these splits (e.g. ``("train", "validation")`` to add training data
            without spending time on the held-out composers); ``pieces`` then counts the pieces kept. None: all.
        styles: render a styled corpus: each piece takes one of these styles (:data:`vocals2song.plan.style.STYLES`)
            that suits its kind (:func:`assign_styles`) and each pair records its ``"style"``. In every style but ``"chamber"`` the score's chords are reduced to
            one per bar, two where the tune asks for it (``SPLIT_GAIN`` in :mod:`vocals2song.corpus.scores`), or
            for a :data:`HALF_BAR_SHARE` of the pieces one per half bar; the plan recorded with the
            pair is that reduction (sevenths of the key in ``"jazz"``) and the accompaniment is the plan arranged in
            the style (:mod:`vocals2song.arrange`), played through Debian's soundfonts when ``soundfont`` is None
            and mixed through pedalboard. ``"chamber"`` plays the score's own lower parts, recorded with their
            per-beat chords, as the unstyled corpus does. None: the unstyled corpus (no ``"style"`` in the pairs).
        songs: also render this many generated songs (:mod:`vocals2song.corpus.songs`: a pop progression and a
            melody written over it, named "songs/song-NNNNN", split like a score by their name), spread evenly
            through the selection and not counted in ``pieces``; they need ``styles`` (a song has no parts of its own:
            in ``"chamber"`` the arranger's chorale texture plays it).

    Returns:
        The path of the written ``manifest.json``.

    Raises:
        Vocals2SongError: FluidSynth or the soundfont is missing, ``out_dir`` is not writable or holds
            a corpus built with other settings.
    """
    _require_fluidsynth()
    soundfont_path = resolve_soundfont(soundfont)
    if sample_rate < 8000 or max_seconds <= 0 or not 0 <= voice_augmentation <= 1:
        raise Vocals2SongError(f"Use a sample rate of at least 8000 Hz, a positive excerpt length and a voice "
                               f"augmentation probability in [0, 1] (got {sample_rate} Hz, {max_seconds} s, "
                               f"{voice_augmentation}).")
    if splits is not None and (not splits or not set(splits) <= set(SPLITS)):
        raise Vocals2SongError(f"splits must be some of {', '.join(SPLITS)}, not {splits!r}.")
    if songs < 0 or (songs and styles is None):
        raise Vocals2SongError(f"Generated songs need styles to be played in, and their number must be positive "
                               f"(got {songs} songs, styles {styles}).")
    if styles is not None:
        if not styles:
            raise Vocals2SongError(f"Give at least one style ({', '.join(STYLES)}).")
        styles = tuple(dict.fromkeys(check_style(style) for style in styles))
    out_dir = _writable_folder(out_dir)
    settings = {"sample_rate": int(sample_rate), "max_seconds": float(max_seconds),
                "soundfont": soundfont_path.name, "seed": int(seed)}
    if voice_augmentation:  # absent at 0, so corpora rendered before augmentation existed still resume
        settings["voice_augmentation"] = float(voice_augmentation)
    if splits is not None:
        settings["splits"] = sorted(splits)
    if styles is not None:
        settings["styles"] = list(styles)
        settings["arrangement_revision"] = ARRANGEMENT_REVISION
        if soundfont is None:
            settings["soundfont"] = "installed"
    if songs:
        settings["songs"] = int(songs)
    finished = _read_progress(out_dir, settings)

    if splits is None:
        selection = select_pieces(pieces, seed)
    else:
        selection = [piece for piece in select_pieces(None, seed) if split_for_piece(piece.name) in splits][:pieces]
    if songs:
        selection = _with_songs(selection, songs, splits)
    piece_styles = [None] * len(selection) if styles is None else assign_styles(selection, styles)
    jobs = [_Job(piece=piece, out_dir=str(out_dir), shard=f"shard-{index // PIECES_PER_SHARD:03d}",
                 sample_rate=int(sample_rate), max_seconds=float(max_seconds),
                 soundfont=str(soundfont_path), seed=int(seed), voice_augmentation=float(voice_augmentation),
                 style=piece_styles[index],
                 choose_soundfonts=styles is not None and soundfont is None)
            for index, piece in enumerate(selection) if piece.name not in finished]
    printer = _ProgressPrinter(len(selection), len(selection) - len(jobs),
                               sum(len(result["pairs"]) for result in finished.values()), enabled=progress)
    selected_names = {piece.name for piece in selection}
    results = {name: result for name, result in finished.items() if name in selected_names}
    with open(out_dir / PROGRESS_NAME, "a", encoding="utf-8") as progress_file:
        for result in _run_jobs(jobs, workers):
            results[result["piece"]] = result
            progress_file.write(json.dumps(result) + "\n")
            progress_file.flush()
            printer.update(len(result["pairs"]))
    printer.finish()

    ordered = [results[piece.name] for piece in selection if piece.name in results]
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "sample_rate": int(sample_rate),
                "soundfont": soundfont_path.name,
                "pairs": [pair for result in ordered for pair in result["pairs"]],
                "skipped": [{"piece": result["piece"], "reason": result["skipped"]}
                            for result in ordered if result["skipped"]]}
    manifest_path = out_dir / MANIFEST_NAME
    _write_atomically(manifest_path, lambda path: path.write_text(json.dumps(manifest, indent=1), encoding="utf-8"))
    return manifest_path


def load_manifest(path_or_dir) -> dict:
    """Read and check a corpus manifest (the file, or the folder holding ``manifest.json``).

    Returns:
        The manifest dict; its relative stem paths resolve against the manifest's folder.

    Raises:
        TrainingDataError: one sentence listing what is wrong (unreadable JSON, wrong format, missing
            or duplicate pairs, missing stem files, unknown split labels...).
    """
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise TrainingDataError(f"No corpus manifest at {path}; build one with `vocals2song corpus OUT_DIR`.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrainingDataError(f"The corpus manifest {path} cannot be read as JSON ({error}).") from None

    problems = []
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise TrainingDataError(f"{path} is not a {FORMAT_NAME} manifest.")
    if manifest.get("version") not in READABLE_VERSIONS:
        problems.append(f"version {manifest.get('version')!r} is not one of {READABLE_VERSIONS}")
    if not isinstance(manifest.get("sample_rate"), int) or manifest["sample_rate"] <= 0:
        problems.append("the sample rate is missing or not a positive integer")
    pairs = manifest.get("pairs")
    if not isinstance(pairs, list) or not pairs:
        problems.append("it lists no pairs")
        pairs = []
    seen_ids = set()
    missing_files = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, dict) or not all(key in pair for key in ("id", "split", "vocals", "accompaniment")):
            problems.append(f"pair {index} lacks an id, split, vocals or accompaniment entry")
            continue
        if pair["id"] in seen_ids:
            problems.append(f"pair id {pair['id']!r} appears twice")
        seen_ids.add(pair["id"])
        if pair["split"] not in SPLITS:
            problems.append(f"pair {pair['id']!r} has the unknown split {pair['split']!r}")
        missing_files += [pair[stem] for stem in ("vocals", "accompaniment") if not (path.parent / pair[stem]).is_file()]
    if missing_files:
        shown = ", ".join(missing_files[:3]) + (f" and {len(missing_files) - 3} more" if len(missing_files) > 3 else "")
        problems.append(f"{len(missing_files)} stem file(s) are missing ({shown})")
    if problems:
        raise TrainingDataError(f"The corpus manifest {path} is not usable: " + "; ".join(problems) + ".")
    return manifest


# ----------------------------------------------------------------------------------------------------
# Orchestration (main process)


def assign_styles(selection: list[Piece], styles: tuple[str, ...]) -> list[str]:
    """A style per piece, in order: of the requested ``styles`` that suit the piece's composer
    (:data:`STYLE_AFFINITY`; all of them when none does), the one used least so far, ties going to the earlier in
    ``styles``. Deterministic, so a resumed corpus gives each piece the same style."""
    counts = dict.fromkeys(styles, 0)
    chosen = []
    for piece in selection:
        suited = [style for style in styles if style in STYLE_AFFINITY.get(piece.composer, styles)] or list(styles)
        style = min(suited, key=lambda name: counts[name])
        counts[style] += 1
        chosen.append(style)
    return chosen


def _with_songs(selection: list[Piece], songs: int, splits: tuple[str, ...] | None) -> list[Piece]:
    """The selection with ``songs`` generated songs (those of the kept splits) spread evenly through it."""
    generated = [Piece(f"{SONG_COLLECTION}/song-{index:05d}", "", None, SONG_COLLECTION) for index in range(songs)]
    generated = [piece for piece in generated if splits is None or split_for_piece(piece.name) in splits]
    every = max(1, len(selection)) / max(1, len(generated))   # scores per song
    merged, song_index = [], 0
    for score_index, piece in enumerate(selection):
        while song_index < len(generated) and song_index * every <= score_index:
            merged.append(generated[song_index])
            song_index += 1
        merged.append(piece)
    return merged + generated[song_index:]


@dataclass(frozen=True)
class _Job:
    piece: Piece
    out_dir: str
    shard: str
    sample_rate: int
    max_seconds: float
    soundfont: str
    seed: int
    voice_augmentation: float = 0.0
    style: str | None = None
    choose_soundfonts: bool = False


def _run_jobs(jobs: list[_Job], workers: int | None):
    """Yield each job's result dict as it finishes (in this process when workers == 1)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield _render_piece(job)
        return
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as executor:
        futures = {executor.submit(_render_piece, job): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            try:
                yield future.result()
            except Exception as error:  # a crashed worker must not stop the corpus
                yield {"piece": futures[future].piece.name, "pairs": [], "skipped": f"worker failed: {error!r}"}


class _ProgressPrinter:
    """One self-overwriting stderr line: pieces done/total, pairs, pairs per hour, ETA."""

    def __init__(self, total_pieces: int, done_pieces: int, pairs: int, enabled: bool):
        self.total_pieces, self.done_pieces, self.pairs = total_pieces, done_pieces, pairs
        self.enabled = enabled
        self.started = time.monotonic()
        self.new_pieces = 0
        self.new_pairs = 0

    def update(self, new_pairs: int) -> None:
        self.done_pieces += 1
        self.new_pieces += 1
        self.pairs += new_pairs
        self.new_pairs += new_pairs
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        remaining = (self.total_pieces - self.done_pieces) * elapsed / self.new_pieces
        sys.stderr.write(f"\rcorpus: {self.done_pieces}/{self.total_pieces} pieces, {self.pairs} pairs, "
                         f"{self.new_pairs * 3600 / elapsed:.0f} pairs/h, ETA {_clock(remaining)}   ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write(f"\rcorpus: {self.done_pieces}/{self.total_pieces} pieces, {self.pairs} pairs, "
                             f"done in {_clock(time.monotonic() - self.started)}\n")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _read_progress(out_dir: Path, settings: dict) -> dict[str, dict]:
    """Finished pieces recorded in ``progress.jsonl`` whose files all exist; starts the file if absent."""
    progress_path = out_dir / PROGRESS_NAME
    if not progress_path.is_file():
        progress_path.write_text(json.dumps({"settings": settings}) + "\n", encoding="utf-8")
        return {}
    lines = progress_path.read_text(encoding="utf-8").splitlines()
    try:
        recorded = json.loads(lines[0])["settings"] if lines else None
    except (json.JSONDecodeError, KeyError, TypeError):
        recorded = None
    if recorded != settings:
        raise Vocals2SongError(f"{out_dir} holds a corpus built with other settings ({recorded}); "
                               f"choose an empty folder or the same settings.")
    finished = {}
    for line in lines[1:]:
        try:
            result = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run: that piece is rendered again
        stems = [pair[stem] for pair in result["pairs"] for stem in ("vocals", "accompaniment")]
        if all((out_dir / stem).is_file() for stem in stems):
            finished[result["piece"]] = result
    return finished


def _writable_folder(out_dir) -> Path:
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise Vocals2SongError(f"Cannot write the corpus into {out_dir} ({error.strerror or error}).") from None
    return out_dir


def _write_atomically(path: Path, write) -> None:
    """Call ``write(temporary_path)`` then move the result onto ``path`` (readers never see half a file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------
# Rendering one piece (worker process)


def _render_piece(job: _Job) -> dict:
    """Render one piece into its excerpt pairs; any failure becomes a "skipped" reason, never an exception."""
    piece = job.piece
    try:
        pairs = _render_pairs(job)
    except _SkipPiece as reason:
        return {"piece": piece.name, "pairs": [], "skipped": str(reason)}
    except Exception as error:  # music21 raises many kinds of errors on odd scores
        return {"piece": piece.name, "pairs": [], "skipped": f"{type(error).__name__}: {error}"[:300]}
    return {"piece": piece.name, "pairs": pairs, "skipped": None if pairs else "no excerpt with enough singing"}


class _SkipPiece(Exception):
    """The piece cannot give pairs; the message says why."""


def _render_pairs(job: _Job) -> list[dict]:
    piece = job.piece
    rng = np.random.default_rng([job.seed, stable_hash(piece.name)])
    song = write_song(rng) if piece.composer == SONG_COLLECTION else None
    if song is not None:   # a generated song: its tune and its chords, arranged in every style (chamber included)
        melody, meter, slices, accompaniment_parts, generated = song.melody, song.meter, song.slices, [], True
        arranged = True
    else:
        score = parse_piece(piece)
        parts = [notes for notes in (part_notes(part) for part in score.parts) if notes]
        if not parts:
            raise _SkipPiece("no pitched notes")
        meter = read_meter(score)

        melody_index = int(np.argmax([mean_pitch(notes) for notes in parts]))
        melody = top_line(parts[melody_index])
        accompaniment_parts = [notes for index, notes in enumerate(parts) if index != melody_index]
        generated = not accompaniment_parts
        if generated:
            accompaniment_parts, bar_chords = generate_accompaniment(score, melody, meter, rng)
            slices = bar_chord_slices(bar_chords)
        else:
            slices = chord_slices(score)

        arranged = job.style not in (None, "chamber")
        if arranged:
            slices = reduce_slices(slices, meter, 2 if rng.random() < HALF_BAR_SHARE else 1, melody=melody,
                                   split_gain=SPLIT_GAIN)

    tempo_bpm = float(rng.uniform(*TEMPO_RANGE_BPM))
    seconds_per_quarter = 60.0 / (tempo_bpm * meter.beat_quarters)
    transpose = int(rng.integers(TRANSPOSE_RANGE[0], TRANSPOSE_RANGE[1] + 1))
    limit_seconds = MAX_PAIRS_PER_PIECE * job.max_seconds
    singer = random_singer(rng, speech_like_probability=job.voice_augmentation * SPEECH_LIKE_SHARE)

    voice_notes = [Note(note.offset * seconds_per_quarter, note.duration * seconds_per_quarter,
                        note.pitch + transpose, note.lyric)
                   for note in melody if note.offset * seconds_per_quarter < limit_seconds]
    voice_notes = fit_to_range(voice_notes, singer)
    if arranged:
        programs, drums, events = [], False, []
    else:
        programs = _choose_programs(accompaniment_parts, generated, rng)
        drums = bool(rng.random() < DRUMS_PROBABILITY)
        events = _accompaniment_events(accompaniment_parts, programs, transpose, seconds_per_quarter, limit_seconds,
                                       rng)
        if drums:
            events += _drum_events(meter, seconds_per_quarter, limit_seconds, rng)

    music_end = max([note.start_seconds + note.duration_seconds for note in voice_notes]
                    + [event[0] for event in events] + [0.0])
    nb_samples = int((min(music_end, limit_seconds) + RELEASE_TAIL_SECONDS) * job.sample_rate)
    vocals = _fit_length(sing(voice_notes, singer, job.sample_rate, rng), nb_samples)

    sounding = [melody] + accompaniment_parts
    performance = performed_harmony(
        slices, meter, seconds_per_quarter=seconds_per_quarter, transpose=transpose, tempo_bpm=tempo_bpm,
        end_seconds=nb_samples / job.sample_rate,
        key=song.key if song is not None else analyze_key([note for notes in sounding for note in notes]),
        melody=[(note.start_seconds, note.start_seconds + note.duration_seconds, note.midi_pitch)
                for note in monophonic(voice_notes)])
    all_notes = [note for notes in sounding for note in notes]
    if arranged:
        performance = sevenths(performance) if job.style == "jazz" else performance
        arrangement = arrange(performance, job.style, seed=int(rng.integers(2**31)))
        soundfonts = choose_soundfonts(rng) if job.choose_soundfonts else Soundfonts(job.soundfont)
        accompaniment = _fit_length(play_arrangement(arrangement, job.sample_rate, nb_samples, soundfonts, rng),
                                    nb_samples)
        programs = [track.program for track in arrangement.tracks if not track.is_drums]
        drums = arrangement.track("drums") is not None
        band = {"tracks": {track.role: track.program for track in arrangement.tracks},
                "soundfonts": [Path(path).name for path in (soundfonts.pitched, soundfonts.drums) if path]}
    else:
        accompaniment = _fit_length(_synthesize(events, programs, job, rng, nb_samples), nb_samples)
        band = None

    shard_dir = Path(job.out_dir) / job.shard
    shard_dir.mkdir(exist_ok=True)
    piece_id = re.sub(r"[^A-Za-z0-9._-]+", "-", piece.name)
    common = {"piece": piece.name, "composer": piece.composer, "split": split_for_piece(piece.name),
              "tempo_bpm": round(tempo_bpm, 2), "transpose": transpose, "programs": programs,
              "drums": drums, "singer": singer.as_dict()}
    if job.style is not None:
        common["style"] = job.style
        if band is not None:
            common["band"] = band
    pairs = []
    for start, excerpt_vocals, excerpt_accompaniment in _excerpts(vocals, accompaniment, job):
        pair_id = f"{piece_id}-{len(pairs):02d}"
        excerpt_vocals, augmentation = maybe_augment_voice(excerpt_vocals, job.sample_rate, rng, job.voice_augmentation)
        excerpt_vocals, excerpt_accompaniment = _mix_levels(excerpt_vocals, excerpt_accompaniment, rng)
        stems = {}
        for stem, audio in (("vocals", excerpt_vocals), ("accompaniment", excerpt_accompaniment)):
            relative = f"{job.shard}/{pair_id}.{stem}.flac"
            _write_flac(Path(job.out_dir) / relative, audio, job.sample_rate)
            stems[stem] = relative
        start_seconds = start / job.sample_rate
        end_seconds = (start + len(excerpt_vocals)) / job.sample_rate
        harmony = (performance.window(start_seconds, end_seconds) if song is not None  # a song's key is known
                   else excerpt_harmony(performance, all_notes, start_seconds, end_seconds, seconds_per_quarter,
                                        transpose))
        pairs.append({"id": pair_id, **common, **stems, "seconds": round(len(excerpt_vocals) / job.sample_rate, 3),
                      "voice_augmentation": augmentation, "start_seconds": round(start_seconds, 3),
                      "harmony": harmony.to_dict()})
    return pairs


def _choose_programs(parts: list[list[PartNote]], generated: bool, rng: np.random.Generator) -> list[int]:
    """A GM program per accompaniment part: a bass instrument for the lowest part (when there are
    several), plausible melodic or chord instruments for the others, sometimes one for all of them."""
    def pick(choices) -> int:
        return int(choices[int(rng.integers(len(choices)))])

    if generated:
        return [pick(BASS_PROGRAMS), pick(CHORD_PROGRAMS)]
    lowest = int(np.argmin([mean_pitch(notes) for notes in parts])) if len(parts) > 1 else -1
    shared = pick(UPPER_PROGRAMS) if rng.random() < 0.4 else None
    return [pick(BASS_PROGRAMS) if index == lowest else (shared if shared is not None else pick(UPPER_PROGRAMS))
            for index in range(len(parts))]


def _accompaniment_events(parts: list[list[PartNote]], programs: list[int], transpose: int,
                          seconds_per_quarter: float, limit_seconds: float,
                          rng: np.random.Generator) -> list[tuple[float, int, int, int, int]]:
    """MIDI events (seconds, is_note_on, channel, key, velocity) for the pitched parts, humanised."""
    channels = [channel for channel in range(16) if channel != DRUM_CHANNEL]
    events = []
    for part_index, notes in enumerate(parts[:len(channels)]):
        channel = channels[part_index]
        part_velocity = rng.uniform(65, 105)
        for note in notes:
            start = note.offset * seconds_per_quarter + rng.normal(0, 0.006)
            if start >= limit_seconds:
                continue
            end = start + note.duration * seconds_per_quarter * rng.uniform(0.85, 0.98)
            key = int(round(note.pitch)) + transpose
            if not 0 <= key <= 127:
                continue
            velocity = int(np.clip(part_velocity + rng.normal(0, 6), 20, 127))
            events += [(max(0.0, start), 1, channel, key, velocity), (max(0.0, end), 0, channel, key, 0)]
    return events


def _drum_events(meter: Meter, seconds_per_quarter: float, limit_seconds: float,
                 rng: np.random.Generator) -> list[tuple[float, int, int, int, int]]:
    """A GM drum groove fitted to the meter: kick on strong beats, snare (or side stick) on the
    backbeats, hats or ride on the subdivisions, a crash every 8 bars. Pickup bars play the pattern's end."""
    beats_per_bar = max(1, meter.numerator // 3 if meter.compound else meter.numerator)
    beat = meter.beat_quarters
    if beats_per_bar == 3:
        kicks, snares = [0], [1, 2]
    elif beats_per_bar % 2 == 0:
        kicks, snares = list(range(0, beats_per_bar, 2)), list(range(1, beats_per_bar, 2))
    else:
        kicks, snares = [0, 3], [beat_index for beat_index in range(2, beats_per_bar, 2)]
    snare_key = SNARE if rng.random() < 0.75 else SIDE_STICK
    cymbal = [CLOSED_HAT, CLOSED_HAT, RIDE, PEDAL_HAT][int(rng.integers(4))]
    subdivisions = 3 if meter.compound else int(rng.choice([1, 2, 2, 4]))
    pattern = [(beat_index * beat, KICK, 100) for beat_index in kicks]
    pattern += [(beat_index * beat, snare_key, 90) for beat_index in snares]
    pattern += [(beat_index * beat + step * beat / subdivisions, cymbal, 80 if step == 0 else 60)
                for beat_index in range(beats_per_bar) for step in range(subdivisions)]
    pattern_length = beats_per_bar * beat

    events = []
    for bar_index, (bar_offset, bar_length) in enumerate(meter.bars):
        shift = bar_length - pattern_length if bar_length < pattern_length - 1e-6 else 0.0  # pickup bar
        hits = [(position + shift, key, velocity) for position, key, velocity in pattern
                if 0 <= position + shift < bar_length]
        if bar_index % 8 == 0 and shift == 0.0:
            hits.append((0.0, CRASH, 90))
        for position, key, velocity in hits:
            start = (bar_offset + position) * seconds_per_quarter + rng.normal(0, 0.004)
            if start >= limit_seconds:
                continue
            velocity = int(np.clip(velocity + rng.normal(0, 8), 20, 127))
            events += [(max(0.0, start), 1, DRUM_CHANNEL, key, velocity),
                       (max(0.0, start) + 0.1, 0, DRUM_CHANNEL, key, 0)]
    return events


def _synthesize(events: list[tuple[float, int, int, int, int]], programs: list[int], job: _Job,
                rng: np.random.Generator, nb_samples: int) -> np.ndarray:
    """Play the events through FluidSynth with a random reverb; float32 mono, shape (nb_samples,)."""
    reverb = (float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.1, 0.6)), 0.8, float(rng.uniform(0.1, 0.6)))
    return synthesize_events(events, programs, job.soundfont, job.sample_rate, nb_samples, reverb)


def _fit_length(audio: np.ndarray, nb_samples: int) -> np.ndarray:
    """Cut or zero-pad to nb_samples."""
    fitted = np.zeros(nb_samples, dtype=np.float32)
    fitted[:min(nb_samples, len(audio))] = audio[:nb_samples]
    return fitted


def _excerpts(vocals: np.ndarray, accompaniment: np.ndarray, job: _Job):
    """Yield (first sample, vocals, accompaniment) windows of at most max_seconds (a last one at least half as long)
    where the voice sounds at least MIN_VOICED_FRACTION of the time and the accompaniment is not silent."""
    window = int(job.max_seconds * job.sample_rate)
    frame = max(1, int(0.05 * job.sample_rate))
    for start in range(0, len(vocals), window):
        excerpt_vocals = vocals[start:start + window]
        excerpt_accompaniment = accompaniment[start:start + window]
        if len(excerpt_vocals) < (window / 2 if start > 0 else job.sample_rate):
            break  # a short tail (or a whole piece under a second) gives no pair
        nb_frames = len(excerpt_vocals) // frame
        frame_rms = np.sqrt(np.mean(excerpt_vocals[:nb_frames * frame].reshape(nb_frames, frame) ** 2, axis=1))
        if np.mean(frame_rms > 0.01) < MIN_VOICED_FRACTION:
            continue
        if np.sqrt(np.mean(excerpt_accompaniment ** 2)) < 1e-3:
            continue
        yield start, excerpt_vocals, excerpt_accompaniment


def _mix_levels(vocals: np.ndarray, accompaniment: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Set the accompaniment to a random voice-to-accompaniment RMS ratio (dB), then scale both stems
    together so the mixture (and each stem) peaks at a random level of at most 0.95."""
    ratio_db = rng.uniform(*VOICE_TO_ACCOMPANIMENT_DB)
    vocals_rms = np.sqrt(np.mean(vocals ** 2))
    accompaniment_rms = np.sqrt(np.mean(accompaniment ** 2))
    accompaniment = accompaniment * (vocals_rms / accompaniment_rms / 10.0 ** (ratio_db / 20.0))
    peak = max(np.max(np.abs(vocals + accompaniment)), np.max(np.abs(vocals)), np.max(np.abs(accompaniment)))
    scale = rng.uniform(*MIXTURE_PEAK_RANGE) / peak
    return (vocals * scale).astype(np.float32), (accompaniment * scale).astype(np.float32)


def _write_flac(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile

    _write_atomically(path, lambda temporary: soundfile.write(temporary, audio, sample_rate,
                                                              format="FLAC", subtype="PCM_16"))
