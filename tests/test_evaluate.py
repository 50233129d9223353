"""Metrics on signals with known answers, and evaluate() with a tiny random-init generator on a tiny corpus."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile

from vocals2song.evaluation import metrics
from vocals2song.config import tiny_config
from vocals2song.errors import TrainingDataError
from vocals2song.evaluation.evaluate import BASELINES, SYSTEMS, collection_of, evaluate, format_musicality_table, format_table
from vocals2song.model.networks import build_generator
from vocals2song.model.weights import SongGenerator

RATE = 22050


def chord(seconds: float, frequencies, amplitude: float = 0.2) -> np.ndarray:
    times = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * sum(np.sin(2 * np.pi * f * times) for f in frequencies)).astype(np.float32)


@pytest.fixture(scope="module")
def music():
    return chord(2.0, [261.6, 329.6, 392.0])  # C major


def test_identical_signals_score_perfectly(music):
    scores = metrics.all_metrics(music, music, RATE)
    assert scores["lsd_db"] == 0.0 and scores["mr_stft"] == 0.0
    assert scores["chroma"] == pytest.approx(1.0)
    assert scores["si_sdr_db"] >= 90.0


def test_level_invariant_metrics_ignore_gain(music):
    assert metrics.log_spectral_distance(music, 3 * music, RATE) == pytest.approx(0.0, abs=1e-3)  # float32 STFT
    assert metrics.si_sdr(music, 0.1 * music) >= 90.0
    assert metrics.chroma_similarity(music, 0.1 * music, RATE) == pytest.approx(1.0)
    assert metrics.multi_resolution_stft_distance(music, 0.5 * music, RATE) > 0.5  # level-sensitive by design


def test_degraded_signals_score_worse(music):
    noise = np.random.default_rng(0).standard_normal(len(music)).astype(np.float32) * 0.1
    other_key = chord(2.0, [277.2, 349.2, 415.3])  # C# major: no shared pitch class
    clean = metrics.all_metrics(music, music, RATE)
    noisy = metrics.all_metrics(music, music + noise, RATE)
    assert noisy["lsd_db"] > clean["lsd_db"] + 1 and noisy["mr_stft"] > clean["mr_stft"] + 0.1
    assert 0 < noisy["si_sdr_db"] < 30 and metrics.si_sdr(music, noise) < 0
    assert metrics.chroma_similarity(music, other_key, RATE) < 0.5 < metrics.chroma_similarity(music, music + noise, RATE)


def test_si_sdr_matches_its_definition(music):
    noise = np.random.default_rng(1).standard_normal(len(music)) * 0.05
    estimate = music + noise - np.mean(music + noise)
    reference = music - np.mean(music)
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    expected = 10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2))
    assert metrics.si_sdr(music, music + noise) == pytest.approx(expected, abs=1e-4)


def test_silence_gives_finite_worst_scores(music):
    silence = np.zeros_like(music)
    scores = metrics.all_metrics(music, silence, RATE)
    assert all(math.isfinite(value) for value in scores.values())
    assert scores["chroma"] == 0.0 and scores["si_sdr_db"] == metrics.SI_SDR_FLOOR_DB
    assert scores["lsd_db"] > 5 and scores["mr_stft"] > 1
    assert all(math.isfinite(value) for value in metrics.all_metrics(silence, silence, RATE).values())


def write_corpus(folder: Path, splits, seconds: float = 2.0, pieces=None) -> Path:
    """A tiny corpus in vocals2song.corpus.build's format: a sung line over a chord per pair.

    ``pieces``: a piece name per pair (the pairs of one piece are identical); default one piece per pair.
    """
    (folder / "shard-000").mkdir(parents=True)
    keys = ([261.6, 329.6, 392.0], [293.7, 370.0, 440.0], [220.0, 261.6, 329.6], [196.0, 246.9, 293.7])
    pieces = pieces or [f"piece{index}" for index in range(len(splits))]
    pairs = []
    for index, split in enumerate(splits):
        pair_id = f"p{index}"
        root = keys[sorted(set(pieces)).index(pieces[index]) % len(keys)]
        vocals = np.concatenate([chord(seconds / 4, [2 * f], 0.3) for f in root + root[:1]])
        accompaniment = chord(seconds, [f / 2 for f in root], 0.15)
        for stem, audio in (("vocals", vocals), ("accompaniment", accompaniment)):
            soundfile.write(folder / "shard-000" / f"{pair_id}.{stem}.flac", audio, RATE)
        pairs.append({"id": pair_id, "piece": pieces[index], "split": split,
                      "vocals": f"shard-000/{pair_id}.vocals.flac",
                      "accompaniment": f"shard-000/{pair_id}.accompaniment.flac", "seconds": seconds})
    (folder / "manifest.json").write_text(json.dumps(
        {"format": "vocals2song-corpus", "version": 1, "sample_rate": RATE, "pairs": pairs}))
    return folder


@pytest.fixture(scope="module")
def generator():
    config = tiny_config()
    return SongGenerator(config, build_generator(config.generator), "test")


def test_evaluate_scores_model_and_baselines(tmp_path, generator):
    corpus = write_corpus(tmp_path / "corpus", ["train", "test", "test", "test"])
    out_json = tmp_path / "report" / "scores.json"
    result = evaluate(generator, corpus, split="test", seconds=1.5, max_pieces=2, out_json=out_json,
                      pictures=tmp_path / "pictures", max_pictures=1)  # fmt: skip

    assert result["systems"] == list(SYSTEMS) == ["model", *BASELINES]
    assert "blur" in result["systems"] and "plan band" in result["systems"]  # FluidSynth is a test dependency
    assert [piece["name"] for piece in result["pieces"]] == ["p1", "p2"]
    assert all(piece["seconds"] == 1.5 for piece in result["pieces"])
    for system in SYSTEMS:
        for part in ("song", "accompaniment"):
            assert all(math.isfinite(value) for value in result["mean"][system][part].values())
        assert all(math.isfinite(value) for name, value in result["musicality"][system].items()
                   if name != "chord_tone_share")  # fmt: skip
        assert math.isfinite(result["set_chroma_correlation"][system])
    reference, vocals_only = result["mean"]["reference"], result["mean"]["vocals only"]
    for part in ("song", "accompaniment"):
        assert reference[part]["lsd_db"] < vocals_only[part]["lsd_db"]
        assert reference[part]["mr_stft"] < vocals_only[part]["mr_stft"]
        assert reference[part]["chroma"] > vocals_only[part]["chroma"]
        assert reference[part]["si_sdr_db"] > vocals_only[part]["si_sdr_db"]
    assert reference["song"]["lsd_db"] == 0.0
    # the other piece's true accompaniment is real music in another key: better than silence, worse than the truth
    other = result["mean"]["other piece"]["accompaniment"]
    assert vocals_only["accompaniment"]["chroma"] < other["chroma"] < reference["accompaniment"]["chroma"]
    # musicality: the true chord under the voice beats silence; the blur keeps the average spectrum's pitches
    musicality = result["musicality"]
    assert musicality["vocals only"]["composite"] == 0.0 < musicality["reference"]["composite"]
    assert musicality["reference"]["tonal"] > 0.5 and musicality["blur"]["tonal"] < musicality["reference"]["tonal"]
    # the plan band plays pitched chords at the reference's level: tonal, and as loud as the truth
    assert musicality["plan band"]["tonal"] > musicality["blur"]["tonal"]
    assert musicality["plan band"]["level_db"] == pytest.approx(musicality["reference"]["level_db"], abs=1.0)
    # version 1 manifests carry no true plan: the chord-tone share is unknown, and the tables say so
    assert all(result["musicality"][system]["chord_tone_share"] is None for system in SYSTEMS)
    assert result["collections"] == {"all": {"examples": 2, "mean": result["mean"], "musicality": result["musicality"]}}

    assert json.loads(out_json.read_text()) == json.loads(json.dumps(result))
    table = format_table(result)
    rows = table.splitlines()
    assert rows[0].startswith("| system | song LSD dB ↓")
    assert [row.split(" | ")[0] for row in rows[2:2 + len(SYSTEMS)]] == [f"| {system}" for system in SYSTEMS]
    assert "2 example(s) of the 'test' split" in table
    musicality_rows = format_musicality_table(result).splitlines()
    assert musicality_rows[0].startswith("| system | composite ↑ | tonal ↑ | fit ↑ | rhythm ↑ | co-modulation")
    assert [row.split(" | ")[0] for row in musicality_rows[2:2 + len(SYSTEMS)]] == [f"| {system}" for system in SYSTEMS]
    assert musicality_rows[3 + len(SYSTEMS)].startswith("| collection | examples | model composite")
    assert musicality_rows[5 + len(SYSTEMS)].startswith("| all | 2 | ")

    assert len(result["pictures"]) == 1
    picture = Path(result["pictures"][0])
    assert picture.parent == tmp_path / "pictures" and picture.name == "00-p1.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_collections_are_the_first_part_of_a_corpus_piece():
    assert collection_of("beethoven/opus59no1/movement3") == "beethoven"
    assert collection_of("Some MUSDB Track") == "all"


def test_other_piece_never_borrows_from_the_same_piece(tmp_path, generator):
    # p0 and p1 are two pairs of one piece (identical accompaniments), p2 is another piece
    corpus = write_corpus(tmp_path / "corpus", ["test"] * 3, seconds=1.0, pieces=["a", "a", "b"])
    result = evaluate(generator, corpus, split="test", seconds=None)
    assert [piece["name"] for piece in result["pieces"]] == ["p0", "p1", "p2"]
    for piece in result["pieces"]:
        borrowed = piece["scores"]["other piece"]["accompaniment"]
        assert borrowed["lsd_db"] > 1.0 and borrowed["chroma"] < 0.9, piece["name"]
    one_each = evaluate(generator, corpus, split="test", seconds=None, per_piece=1)
    assert [piece["name"] for piece in one_each["pieces"]] == ["p0", "p2"]


def test_a_baseline_added_to_the_registry_is_scored(tmp_path, generator, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus", ["test", "test"], seconds=1.0)
    half = lambda example, other, rate, seed: 0.5 * example.accompaniment  # noqa: E731
    monkeypatch.setitem(BASELINES, "half reference", half)
    result = evaluate(generator, corpus, split="test", seconds=None)
    assert result["systems"][-1] == "half reference"
    assert result["musicality"]["half reference"]["composite"] == pytest.approx(
        result["musicality"]["reference"]["composite"], abs=0.05)  # level does not make music
    assert "| half reference |" in format_musicality_table(result)


def test_chord_tone_share_with_a_true_plan():
    """The energy share on the chord of the moment: high for the chord itself (below 1: the 186 ms frames
    straddle the change, and chroma leaks to neighbouring pitch classes), low for the chords a tritone away."""
    from vocals2song.plan.harmony import Chord, Harmony
    from vocals2song.evaluation.musicality import chord_tone_share

    plan = Harmony(0, "major", 120.0, (0.0, 0.5, 1.0, 1.5), (0.0,), (Chord(0.0, 1.0, 0, "maj"), Chord(1.0, 2.0, 7, "maj")),
                   2.0)  # fmt: skip
    c_major, g_major = [261.6, 329.6, 392.0], [196.0, 246.9, 293.7]
    f_sharp_major, c_sharp_major = [185.0, 233.1, 277.2], [277.2, 349.2, 415.3]
    fitting = np.concatenate([chord(1.0, c_major), chord(1.0, g_major)])
    clashing = np.concatenate([chord(1.0, f_sharp_major), chord(1.0, c_sharp_major)])
    assert chord_tone_share(fitting, plan, RATE) > 0.65
    assert chord_tone_share(clashing, plan, RATE) < 0.2
    assert chord_tone_share(np.zeros(2 * RATE, np.float32), plan, RATE) is None


def test_the_plan_source_reaches_a_plan_generator(tmp_path, monkeypatch):
    """A plan generator reads the estimated plan, the corpus's true one, or none (B = 0: the hint ablation); its
    accompaniment changes with each, and the result says which it was. A true plan gives the chord-tone share."""
    import dataclasses

    import vocals2song.evaluation.evaluate as evaluate_module
    from vocals2song.plan.harmony import Chord, Harmony

    monkeypatch.setattr(evaluate_module, "BASELINES", {"reference": BASELINES["reference"]})
    config = tiny_config()
    config = dataclasses.replace(config, generator=dataclasses.replace(config.generator, input_channels=3))
    assert config.uses_plan
    planned = SongGenerator(config, build_generator(config.generator), "test")
    corpus = write_corpus(tmp_path / "corpus", ["test"], seconds=2.0)
    manifest = json.loads((corpus / "manifest.json").read_text())
    true_plan = Harmony(6, "major", 120.0, (0.0, 0.5, 1.0, 1.5), (0.0,), (Chord(0.0, 2.0, 6, "maj"),), 2.0)
    manifest["version"], manifest["pairs"][0]["harmony"] = 2, true_plan.to_dict()  # F# major, not the sung C
    (corpus / "manifest.json").write_text(json.dumps(manifest))

    results = {plan: evaluate(planned, corpus, split="test", seconds=None, plan=plan) for plan in ("estimated", "true",
                                                                                                   "none")}  # fmt: skip
    outputs = [json.dumps(result["pieces"][0]["scores"]["model"]) for result in results.values()]
    assert len(set(outputs)) == 3
    assert [result["plan"] for result in results.values()] == ["estimated", "true", "none"]
    assert "B channel at 0" in format_table(results["none"]) and "plan read from the voice" in format_table(
        results["estimated"])
    # the reference (C major) against the true chords (F# major): no shared tone
    assert results["true"]["musicality"]["reference"]["chord_tone_share"] < 0.2
    with pytest.raises(ValueError, match="plan must be one of"):
        evaluate(planned, corpus, split="test", plan="oracle")


def test_evaluate_one_example_leaves_out_other_piece(tmp_path, generator):
    corpus = write_corpus(tmp_path / "corpus", ["validation"])
    result = evaluate(generator, corpus, seconds=None)
    assert "other piece" not in result["systems"] and result["notes"]
    assert result["set_chroma_correlation"]["model"] is None  # a set of one
    assert "| model | " in format_musicality_table(result)
    assert "| other piece |" not in format_table(result)
    assert result["pieces"][0]["seconds"] == 2.0


def test_evaluate_without_examples_says_so(tmp_path, generator):
    corpus = write_corpus(tmp_path / "corpus", ["train"])
    with pytest.raises(TrainingDataError, match="'validation' split"):
        evaluate(generator, corpus)


def test_a_styled_corpus_is_played_in_each_pair_s_style(tmp_path, generator, tiny_styled_model):
    """A generator that reads styles plays each pair's own; one that reads none plays none."""
    corpus = write_corpus(tmp_path / "corpus", ["validation", "validation"])
    manifest = json.loads((corpus / "manifest.json").read_text())
    for pair, style in zip(manifest["pairs"], ("jazz", "rock")):
        pair["style"] = style
    (corpus / "manifest.json").write_text(json.dumps(manifest))
    styled = evaluate(tiny_styled_model, corpus, seconds=None)
    assert [piece["style"] for piece in styled["pieces"]] == ["jazz", "rock"]
    plain = evaluate(generator, corpus, seconds=None)
    assert [piece["style"] for piece in plain["pieces"]] == [None, None]
