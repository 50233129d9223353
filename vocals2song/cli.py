"""The ``vocals2song`` command line: parses arguments and calls the package; nothing else lives here.

Subcommands: ``song`` (voice → song), ``encode`` / ``decode`` (audio ↔ R/G image), ``corpus`` (render the
paired training corpus), ``train`` and ``evaluate``. A person's mistake prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vocals2song import __version__
from vocals2song.errors import Vocals2SongError
from vocals2song.plan.controls import CHORD_RHYTHMS, DEFAULT_CHORD_RHYTHM, DEFAULT_JAZZ
from vocals2song.plan.style import DEFAULT_STYLE, DESCRIPTIONS, STYLES
from vocals2song.training.settings import FEEDER_CHOICES, PRECISIONS, TrainSettings

TRAIN_DEFAULTS = TrainSettings()

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
# decode's WAV sample format by the image's bits per channel: enough to keep what the image holds (16-bit PCM
# alone would add noise at about -98 dBFS, more than a 16-bit image's own error)
SUBTYPE_BY_BITS = {8: "PCM_16", 16: "PCM_24", 32: "FLOAT"}
WAV_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")  # audio.WAV_SUBTYPES; audio imports librosa (slow)
RUN_EXPORT = "export"  # a training run folder keeps its generator here (see vocals2song.training)


def _progress_printer(label: str):
    """A one-line progress display on stderr: ``label: 45% generating``."""

    def report(fraction: float, stage: str) -> None:
        end = "\n" if fraction >= 1.0 else ""
        print(f"\r{label}: {fraction:4.0%} {stage:<12}", end=end, file=sys.stderr, flush=True)

    return report


def command_song(args: argparse.Namespace) -> None:
    from vocals2song.audio import load_audio, write_wav
    from vocals2song.plan.harmony import format_chart
    from vocals2song.codec.image_files import save_image_array
    from vocals2song.inference import vocals_to_song
    from vocals2song.model.weights import load_generator
    from vocals2song.plan.controls import PlanControls

    model = load_generator(weights_source(args.weights))
    voice = load_audio(args.voice, max_seconds=args.max_seconds)
    if voice.truncated:
        print(f"note: only the first {args.max_seconds:g} s of '{args.voice}' were used.", file=sys.stderr)
    started = time.perf_counter()
    result = vocals_to_song(
        voice.samples,
        voice.sample_rate,
        model,
        mode=args.mode,
        phase=args.phase,
        seed=args.seed,
        harmony=None if args.no_plan else "auto",
        controls=PlanControls.make(key=args.key, tempo=args.tempo, happy=args.happy, jazz=args.jazz,
                                   chord_rhythm=args.chord_rhythm),
        style=args.style,
        progress=_progress_printer(Path(args.voice).name),
    )
    write_wav(args.output, result.song, result.sample_rate)
    written = [args.output]
    if args.images:
        config = model.config.spectrogram
        length = result.image_length
        for name, image in (("voice", result.voice_image), ("song", result.song_image)):
            path = Path(args.images) / f"{Path(args.output).stem}.{name}.png"
            save_image_array(path, image, config, bits=16, length=length)  # the voice's B holds the plan
            written.append(str(path))
    if args.midi:
        from vocals2song.plan.midi import write_midi

        if result.harmony is None:
            raise Vocals2SongError("There is no plan to write as MIDI: leave out --no-plan.")
        written.append(str(write_midi(result.harmony, args.midi)))
    if result.harmony is not None:
        print(format_chart(result.harmony))
    if result.style is not None:
        print(f"style: {result.style}")
    print(f"wrote {', '.join(map(str, written))} ({time.perf_counter() - started:.2f} s)")


def command_encode(args: argparse.Namespace) -> None:
    from vocals2song.audio import load_audio
    from vocals2song.config import SpectrogramConfig
    from vocals2song.codec.image_files import LEGACY_SAMPLE_RATE, check_bits, save_image
    from vocals2song.codec.spectrogram import stft

    output = Path(args.output)
    bits = args.bits or (8 if output.suffix.lower() == ".bmp" else 16)
    check_bits(output, bits)
    sample_rate = args.sample_rate or (LEGACY_SAMPLE_RATE if output.suffix.lower() == ".bmp" else 22050)
    config = SpectrogramConfig(sample_rate=sample_rate)
    audio = load_audio(args.audio, sample_rate=sample_rate, max_seconds=args.max_seconds)
    save_image(output, stft(audio.samples, config), config, bits=bits, length=len(audio.samples))
    print(f"wrote {output} ({bits}-bit, {config.nb_bins} bins, {audio.seconds:.2f} s at {sample_rate} Hz)")


def command_decode(args: argparse.Namespace) -> None:
    from vocals2song.audio import write_wav
    from vocals2song.codec.image_files import load_image

    image = load_image(args.image)
    audio = image.to_audio()
    subtype = args.subtype or ("PCM_16" if image.legacy else SUBTYPE_BY_BITS[image.bits])
    write_wav(args.output, audio, image.spectrogram_config.sample_rate, subtype=subtype)
    kind = "original-project BMP" if image.legacy else f"{image.bits}-bit R/G image"
    seconds = len(audio) / image.spectrogram_config.sample_rate
    print(f"wrote {args.output} ({seconds:.2f} s from a {kind}, WAV {subtype})")


def command_corpus(args: argparse.Namespace) -> None:
    from vocals2song.corpus.build import build_corpus

    manifest = build_corpus(
        args.out_dir,
        pieces=args.pieces,
        workers=args.workers,
        sample_rate=args.sample_rate,
        max_seconds=args.seconds,
        soundfont=args.soundfont,
        seed=args.seed,
        voice_augmentation=args.voice_augmentation,
        splits=tuple(args.splits) if args.splits else None,
        styles=tuple(args.styles) if args.styles else None,
        songs=args.songs,
    )
    print(f"wrote {manifest}")


def command_train(args: argparse.Namespace) -> None:
    from vocals2song.training.loop import train

    settings = TrainSettings(**{name: getattr(args, name) for name in TrainSettings.field_names() if hasattr(args, name)})
    export = train(args.data, settings)
    print(f"exported the generator to {export}")


def weights_source(weights: str | None) -> str | None:
    """A weights directory, Hub id or None as given; a training run folder (no ``config.json`` of its own, an
    ``export/`` that has one) becomes its ``export/``."""
    from vocals2song.model.weights import CONFIG_FILE

    if weights is not None:
        folder = Path(weights)
        if folder.is_dir() and not (folder / CONFIG_FILE).is_file() and (folder / RUN_EXPORT / CONFIG_FILE).is_file():
            return str(folder / RUN_EXPORT)
    return weights


def command_evaluate(args: argparse.Namespace) -> None:
    from vocals2song.evaluation.evaluate import evaluate, format_musicality_table, format_table

    result = evaluate(
        weights_source(args.weights),
        args.data,
        split=args.split,
        seconds=args.seconds,
        max_pieces=args.max_pieces,
        per_piece=args.per_piece,
        mode=args.mode,
        phase=args.phase,
        out_json=args.json,
        pictures=args.pictures,
        max_pictures=args.max_pictures,
        plan=args.plan,
    )
    print("Spectral distances to the reference:\n")
    print(format_table(result))
    print("\nMusicality (no reference needed):\n")
    print(format_musicality_table(result))
    if result["pictures"]:
        print(f"\nwrote {len(result['pictures'])} picture(s) to {args.pictures}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vocals2song", description="Sing or speak, get a song back.")
    parser.add_argument("--version", action="version", version=f"vocals2song {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    song = commands.add_parser("song", help="turn a voice recording into a song")
    song.add_argument("voice", metavar="VOICE", help="audio file (wav, flac, ogg, mp3, m4a, webm...)")
    song.add_argument("-o", "--output", required=True, metavar="SONG.wav")
    song.add_argument("--weights", metavar="DIR_OR_HUB_ID",
                      help="weights directory, training run folder or Hub repo id (default: weights/)")  # fmt: skip
    song.add_argument("--mode", choices=("mixture", "accompaniment"), default="mixture",
                      help="mixture: the generator's song; accompaniment: your exact voice + generated accompaniment")  # fmt: skip
    song.add_argument("--phase", choices=("predicted", "griffinlim"), default="predicted")
    song.add_argument("--seed", type=int, default=0, help="dropout variation (same seed, same song)")
    song.add_argument("--images", metavar="DIR",
                      help="also write the voice image (R/G and the plan in B) and the song image (16-bit PNG) here")
    song.add_argument("--key", help="the song's key, like C, F# minor or Bbm (default: read from the voice)")
    song.add_argument("--tempo", type=float, metavar="BPM", help="beats per minute (default: read from the voice)")
    song.add_argument("--happy", type=float, metavar="0..1",
                      help="major (1) or minor (0) chords, or a blend (default: the key's mode)")
    song.add_argument("--chord-rhythm", choices=CHORD_RHYTHMS, default=DEFAULT_CHORD_RHYTHM,
                      help="how often the chords may change: bar (one a bar, two where the melody clearly asks), "
                           "half (per half bar) or beat (default: %(default)s)")
    song.add_argument("--jazz", type=float, default=DEFAULT_JAZZ, metavar="0..1",
                      help="chord complexity: 0 follows common progressions, 1 fits the melody with more sevenths")
    song.add_argument("--style", choices=STYLES, type=str.lower,
                      help="the accompaniment's style, for a generator trained on styles (default: its own, "
                           f"{DEFAULT_STYLE} when it knows it): "
                           + "; ".join(f"{name}: {DESCRIPTIONS[name]}" for name in STYLES))
    song.add_argument("--midi", metavar="PLAN.mid", help="also write the plan (melody and chords) as a MIDI file")
    song.add_argument("--no-plan", action="store_true", help="give the generator no plan (B = 0, the original's input)")
    song.add_argument("--max-seconds", type=float, default=60.0, help="decode at most this much of VOICE")
    song.set_defaults(run=command_song)

    encode = commands.add_parser("encode", help="audio → R/G spectrogram image")
    encode.add_argument("audio", metavar="AUDIO")
    encode.add_argument("-o", "--output", required=True, metavar="IMAGE.(png|tiff|bmp)")
    encode.add_argument("--bits", type=int, choices=(8, 16, 32), help="per channel (default 16; BMP is always 8)")
    encode.add_argument("--sample-rate", type=int, help="Hz (default 22050; 44100 for the original's BMP)")
    encode.add_argument("--max-seconds", type=float, default=600.0)
    encode.set_defaults(run=command_encode)

    decode = commands.add_parser("decode", help="R/G image (or an original-project BMP) → audio")
    decode.add_argument("image", metavar="IMAGE")
    decode.add_argument("-o", "--output", required=True, metavar="AUDIO.wav")
    decode.add_argument("--subtype", choices=WAV_SUBTYPES,
                        help="WAV sample format (default: FLOAT for 32-bit images, PCM_24 for 16-bit, else PCM_16)")  # fmt: skip
    decode.set_defaults(run=command_decode)

    corpus = commands.add_parser("corpus", help="render the paired training corpus from music21's scores")
    corpus.add_argument("out_dir", metavar="OUT_DIR")
    corpus.add_argument("--pieces", type=int, help="number of pieces (default: all)")
    corpus.add_argument("--workers", type=int, help="processes (default: all cores)")
    corpus.add_argument("--seconds", type=float, default=20.0, help="longest excerpt")
    corpus.add_argument("--sample-rate", type=int, default=22050)
    corpus.add_argument("--soundfont", help="a .sf2 file, or 'fluidr3' (default: TimGM6mb from pretty_midi; a styled corpus draws "
                             "among MuseScore General, FluidR3 GM and avldrums' kits where installed)")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.add_argument("--voice-augmentation", type=float, default=0.7, metavar="P",
                        help="probability that a pair's voice sounds recorded (room, noise, microphone, detune, "
                             "speech); 0 for clean voices (default 0.7)")
    corpus.add_argument("--splits", nargs="+", choices=("train", "validation", "test"),
                        help="render only the pieces of these splits, e.g. 'train validation' for more training "
                             "data (default: all; --pieces then counts the pieces kept)")
    corpus.add_argument("--styles", nargs="+", choices=STYLES, metavar="STYLE",
                        help="a styled corpus: each piece takes one of these styles that suits it and the score's "
                             "chords, reduced to one per bar or half bar, are arranged in it (" + ", ".join(STYLES) +
                             "; chamber plays the score's own parts); default: the unstyled corpus")
    corpus.add_argument("--songs", type=int, default=0, metavar="N",
                        help="with --styles: also render N generated songs (a pop progression and a melody written "
                             "over it), not counted in --pieces")
    corpus.set_defaults(run=command_corpus)

    train = commands.add_parser("train", help="train the pix2pix generator")
    train.add_argument("data", nargs="+", metavar="DATA", help="corpus, MUSDB18-HQ or pairs folder(s)")
    train.add_argument("--out", default=TRAIN_DEFAULTS.out, metavar="DIR")
    train.add_argument("--steps", type=int, default=TRAIN_DEFAULTS.steps)
    train.add_argument("--batch", dest="batch_size", type=int, default=TRAIN_DEFAULTS.batch_size)
    train.add_argument("--width", type=int, default=TRAIN_DEFAULTS.width, help="generator base width (the original: 64)")
    train.add_argument("--target", choices=("mixture", "accompaniment"), default=TRAIN_DEFAULTS.target)
    train.add_argument("--sample-rate", type=int, default=TRAIN_DEFAULTS.sample_rate, help="the model's audio rate, Hz")
    train.add_argument("--crop-frames", type=int, default=TRAIN_DEFAULTS.crop_frames)
    train.add_argument("--learning-rate", type=float, default=TRAIN_DEFAULTS.learning_rate, help="Adam's, for both networks (pix2pix: 2e-4)")
    train.add_argument("--beta-1", type=float, default=TRAIN_DEFAULTS.beta_1, help="Adam's beta_1 (pix2pix: 0.5)")
    train.add_argument("--l1-weight", type=float, default=TRAIN_DEFAULTS.l1_weight, help="weight of the L1 term (pix2pix: 100)")
    train.add_argument("--feature-matching-weight", type=float, default=TRAIN_DEFAULTS.feature_matching_weight,
                       help="weight of the discriminator feature-matching term (pix2pixHD: 10; default 0: off)")
    train.add_argument("--phase-l1-weight", type=float, default=TRAIN_DEFAULTS.phase_l1_weight,
                       help="the phase (G) channel's weight inside the L1 term (pix2pix: 1; 0: phase left to the GAN)")
    train.add_argument("--phase-representation", choices=("raw", "if", "none"), default=TRAIN_DEFAULTS.phase_representation,
                       help="the target's phase: none (magnitude only; PGHI rebuilds the phase; the default, see "
                            "docs/phase.md), if (G = instantaneous frequency) or raw (G = phase)")  # fmt: skip
    train.add_argument("--feeder", choices=FEEDER_CHOICES, default=TRAIN_DEFAULTS.feeder,
                       help="device: audio in device memory, batches made inside the JAX step; workers: batches made "
                            "on the CPU; auto: device on JAX, else workers")  # fmt: skip
    train.add_argument("--checkpoint-every", type=int, default=TRAIN_DEFAULTS.checkpoint_every)
    train.add_argument("--sample-every", type=int, default=TRAIN_DEFAULTS.sample_every)
    train.add_argument("--keep-exports-every", type=int, default=TRAIN_DEFAULTS.keep_exports_every, metavar="N",
                       help="also keep the export of every N-th step in OUT/exports/ (to choose one by validation)")
    train.add_argument("--workers", type=int, default=TRAIN_DEFAULTS.workers, help="threads (or processes) fetching batches ahead")
    train.add_argument("--worker-processes", action="store_true",
                       help="fetch batches in spawned processes, not threads (scales past a few cores; for a GPU)")
    train.add_argument("--plan", action="store_true",
                       help="the generator reads the plan (chords and beats, the image's B channel) beside the voice")
    train.add_argument("--estimated-plan-share", type=float, metavar="SHARE",
                       help="with --plan: share of crops whose plan is the estimator's, not the true one (default 0.25)")
    train.add_argument("--depth", type=int, default=TRAIN_DEFAULTS.depth, help="generator levels (crop frames: a multiple of 2**depth)")
    train.add_argument("--precision", choices=PRECISIONS, default=TRAIN_DEFAULTS.precision,
                       help="auto: mixed_bfloat16 on a GPU, float32 on a CPU")
    train.add_argument("--crop-store", metavar="DIR",
                       help="encode the training pairs once into DIR (built on first use, reused after) and cut "
                            "batches from it: the fast feed on a CPU (about 1.3 GB of disk per hour of pairs)")
    train.add_argument("--store-variants", type=int, default=TRAIN_DEFAULTS.store_variants, metavar="N",
                       help="augmented copies of each pair in a new crop store (default 1)")
    train.add_argument("--init-from", metavar="WEIGHTS",
                       help="start the generator from these weights (a weights folder of the same shape, e.g. the "
                            "packaged weights/): a warm start; ignored when resuming")
    train.add_argument("--seed", type=int, default=TRAIN_DEFAULTS.seed)
    train.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    train.set_defaults(run=command_train)

    evaluate = commands.add_parser("evaluate", help="score a generator against baselines")
    evaluate.add_argument("weights", metavar="WEIGHTS", help="weights directory, training run folder (its export/) "
                          "or Hub repo id")  # fmt: skip
    evaluate.add_argument("data", metavar="DATA")
    evaluate.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    evaluate.add_argument("--seconds", type=float, default=15.0)
    evaluate.add_argument("--max-pieces", type=int, help="score at most this many examples")
    evaluate.add_argument("--plan", choices=("estimated", "true", "none"), default="estimated",
                          help="what a plan generator reads in B: the plan read from the voice (the default, as the "
                               "app does), the corpus's true plan (a perfect estimator), or none (B = 0: the hint "
                               "ablation)")
    evaluate.add_argument("--per-piece", type=int, help="at most this many examples of each piece (default: all)")
    evaluate.add_argument("--mode", choices=("mixture", "accompaniment"), default="mixture")
    evaluate.add_argument("--phase", choices=("predicted", "griffinlim"), default="predicted")
    evaluate.add_argument("--json", metavar="FILE", help="also write every score here")
    evaluate.add_argument("--pictures", metavar="DIR",
                          help="write voice | generated accompaniment | reference spectrograms (PNG) here")
    evaluate.add_argument("--max-pictures", type=int, default=4, help="examples pictured (default 4)")
    evaluate.set_defaults(run=command_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("song", "train", "evaluate"):
        from vocals2song.backend import import_keras_quietly

        import_keras_quietly()
    try:
        args.run(args)
    except Vocals2SongError as error:
        print(f"vocals2song: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("vocals2song: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
