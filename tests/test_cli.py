"""The command line, run as a user would (a subprocess): outputs, and one-line errors without tracebacks."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from conftest import snr_db, synthetic_voice


def run_cli(*arguments, cwd=None):
    return subprocess.run([sys.executable, "-m", "vocals2song", *map(str, arguments)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def voice_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "voice.wav"
    soundfile.write(path, synthetic_voice(2.0, 44100), 44100, subtype="PCM_16")
    return path


def assert_one_line_error(result, pattern):
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vocals2song: ")
    assert pattern in lines[0]


def test_song_writes_a_song_and_images(tmp_path, voice_file, tiny_weights_dir):
    result = run_cli("song", voice_file, "-o", tmp_path / "song.wav", "--weights", tiny_weights_dir,
                     "--seed", 3, "--images", tmp_path / "images")  # fmt: skip
    assert result.returncode == 0, result.stderr
    song, rate = soundfile.read(tmp_path / "song.wav")
    assert rate == 44100 and len(song) == 2 * 44100  # the voice's own rate
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["song.song.png", "song.voice.png"]
    again = run_cli("song", voice_file, "-o", tmp_path / "again.wav", "--weights", tiny_weights_dir, "--seed", 3)
    assert again.returncode == 0
    assert np.array_equal(song, soundfile.read(tmp_path / "again.wav")[0])


def test_song_follows_the_plan_controls_and_writes_midi(tmp_path, voice_file, tiny_weights_dir):
    import pretty_midi

    from vocals2song.codec.image_files import load_image

    result = run_cli("song", voice_file, "-o", tmp_path / "song.wav", "--weights", tiny_weights_dir, "--key", "G",
                     "--tempo", 100, "--happy", 1, "--jazz", 0.2, "--midi", tmp_path / "plan.mid",
                     "--images", tmp_path / "images")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("G major, 100 BPM\n|")  # the chord chart
    plan = pretty_midi.PrettyMIDI(str(tmp_path / "plan.mid"))
    assert [instrument.name for instrument in plan.instruments] == ["Melody", "Chords"]
    assert plan.key_signature_changes[0].key_number == 7
    assert load_image(tmp_path / "images" / "song.voice.png").plan is not None  # B carries the plan
    bad = run_cli("song", voice_file, "-o", tmp_path / "x.wav", "--weights", tiny_weights_dir, "--key", "H")
    assert_one_line_error(bad, "is not a key")
    bad = run_cli("song", voice_file, "-o", tmp_path / "x.wav", "--weights", tiny_weights_dir, "--tempo", 5000)
    assert_one_line_error(bad, "tempo must be a number between 30 and 300")


def test_song_plays_the_style_asked_for(tmp_path, voice_file, tiny_styled_weights_dir, tiny_weights_dir):
    from vocals2song.codec.image_files import load_image
    from vocals2song.plan.channel import style_rows

    result = run_cli("song", voice_file, "-o", tmp_path / "song.wav", "--weights", tiny_styled_weights_dir,
                     "--style", "Jazz", "--images", tmp_path / "images")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "style: jazz\n" in result.stdout
    plan = load_image(tmp_path / "images" / "song.voice.png").plan
    assert np.all(plan[style_rows("jazz", plan.shape[0])] > 0.99) and not np.any(plan[style_rows("pop", plan.shape[0])])
    refused = run_cli("song", voice_file, "-o", tmp_path / "x.wav", "--weights", tiny_weights_dir, "--style", "rock")
    assert_one_line_error(refused, "trained without styles")
    assert not (tmp_path / "x.wav").exists()


def test_encode_decode_round_trip(tmp_path, voice_file):
    assert run_cli("encode", voice_file, "-o", tmp_path / "voice.png").returncode == 0
    result = run_cli("decode", tmp_path / "voice.png", "-o", tmp_path / "voice.wav")
    assert result.returncode == 0, result.stderr
    decoded, rate = soundfile.read(tmp_path / "voice.wav")
    assert rate == 22050 and len(decoded) == 44100


@pytest.fixture(scope="module")
def model_rate_voice(tmp_path_factory):
    """A float WAV at the codec's default rate, so encode does not resample and the round trip is the codec's."""
    path = tmp_path_factory.mktemp("cli-float") / "voice.wav"
    soundfile.write(path, synthetic_voice(2.0, 22050), 22050, subtype="FLOAT")
    return path


@pytest.mark.parametrize("image, bits, subtype, at_least_db", [("voice.tiff", 32, "FLOAT", 120.0),
                                                               ("voice.png", 16, "PCM_24", 85.0)])  # fmt: skip
def test_round_trip_keeps_the_images_precision(tmp_path, model_rate_voice, image, bits, subtype, at_least_db):
    """encode → decode through the real CLI: the WAV's sample format keeps what the image holds."""
    assert run_cli("encode", model_rate_voice, "-o", tmp_path / image, "--bits", bits).returncode == 0
    result = run_cli("decode", tmp_path / image, "-o", tmp_path / "decoded.wav")
    assert result.returncode == 0, result.stderr
    assert f"WAV {subtype}" in result.stdout
    assert soundfile.info(tmp_path / "decoded.wav").subtype == subtype
    original, _ = soundfile.read(model_rate_voice, dtype="float64")
    decoded, rate = soundfile.read(tmp_path / "decoded.wav", dtype="float64")
    assert rate == 22050 and len(decoded) == len(original)
    assert snr_db(original, decoded) >= at_least_db


def test_decode_subtype_is_chosen_with_an_option(tmp_path, model_rate_voice):
    assert run_cli("encode", model_rate_voice, "-o", tmp_path / "voice.tiff", "--bits", 32).returncode == 0
    assert run_cli("decode", tmp_path / "voice.tiff", "-o", tmp_path / "x.wav", "--subtype", "PCM_16").returncode == 0
    assert soundfile.info(tmp_path / "x.wav").subtype == "PCM_16"
    assert_usage_error(run_cli("decode", tmp_path / "voice.tiff", "-o", tmp_path / "y.wav", "--subtype", "MP3"))


def test_decode_subtypes_are_the_ones_write_wav_takes():
    from vocals2song import audio, cli

    assert cli.WAV_SUBTYPES == audio.WAV_SUBTYPES


@pytest.mark.slow
def test_evaluate_takes_a_training_run_folder(tmp_path, tiny_weights_dir):
    """A run folder (what `vocals2song train --out` makes) is evaluated through its export/."""
    from test_evaluate import write_corpus

    run = tmp_path / "run"
    shutil.copytree(tiny_weights_dir, run / "export")
    (run / "checkpoints").mkdir()
    corpus = write_corpus(tmp_path / "corpus", ["validation"], seconds=1.0)
    result = run_cli("evaluate", run, corpus, "--seconds", 1)
    assert result.returncode == 0, result.stderr
    assert "| model |" in result.stdout and "1 example(s) of the 'validation' split" in result.stdout
    assert_one_line_error(run_cli("evaluate", tmp_path / "corpus", corpus), "No trained generator")


def test_bmp_in_the_original_format(tmp_path, voice_file):
    assert run_cli("encode", voice_file, "-o", tmp_path / "voice.bmp").returncode == 0
    assert run_cli("decode", tmp_path / "voice.bmp", "-o", tmp_path / "voice.wav").returncode == 0
    assert soundfile.info(tmp_path / "voice.wav").samplerate == 44100


def test_decodes_the_original_projects_bmp(tmp_path, seed_samples):
    result = run_cli("decode", seed_samples / "encoded_audio.bmp", "-o", tmp_path / "original.wav")
    assert result.returncode == 0, result.stderr
    assert soundfile.info(tmp_path / "original.wav").duration == pytest.approx(15.0, abs=0.02)


def test_no_packaged_weights_is_explained(tmp_path, voice_file):
    result = run_cli("song", voice_file, "-o", tmp_path / "song.wav", "--weights", tmp_path)
    assert_one_line_error(result, "No trained generator")
    assert not (tmp_path / "song.wav").exists()


def test_bad_audio_is_one_line(tmp_path, tiny_weights_dir):
    (tmp_path / "text.wav").write_text("hello")
    result = run_cli("song", tmp_path / "text.wav", "-o", tmp_path / "song.wav", "--weights", tiny_weights_dir)
    assert_one_line_error(result, "unsupported or corrupt")


def test_bad_image_requests_are_one_line(tmp_path, voice_file):
    assert_one_line_error(run_cli("encode", voice_file, "-o", tmp_path / "x.bmp", "--bits", 16), "8 bits")
    assert_one_line_error(run_cli("encode", voice_file, "-o", tmp_path / "x.jpg"), "Unsupported image type")
    assert_one_line_error(run_cli("decode", tmp_path / "missing.png", "-o", tmp_path / "x.wav"), "No image file")


def assert_usage_error(result):
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_non_zero():
    assert_usage_error(run_cli("song"))
