"""The live accompanist in simulated time: a sung melody fed in half-second chunks, the band's chunks checked as
they come out (silent while listening, then always the hold behind the voice), the plan (tempo, bars, one chord
per bar, key), the joins between renders, and every bad input of a live take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import synthetic_voice
from vocals2song.config import GeneratorConfig, tiny_config
from vocals2song.errors import AudioInputError
from vocals2song.live.accompanist import LiveAccompanist, LiveSettings, compiled_generator
from vocals2song.live.bars import BarGrid
from vocals2song.model.weights import SongGenerator
from vocals2song.plan.controls import PlanControls
from vocals2song.plan.harmony import parse_key

RATE = 44100
CHUNK_SECONDS = 0.5
BEAT_SECONDS = 0.5  # 120 BPM
# Four bars of 4/4 arpeggios, I IV V I in C major: (MIDI, beats) with the long note on the downbeat.
C_MAJOR_BARS = [[(60, 2), (64, 1), (67, 1)], [(65, 2), (69, 1), (72, 1)], [(67, 2), (71, 1), (74, 1)],
                [(60, 2), (64, 1), (67, 1)]]
C_MAJOR_SCALE = {0, 2, 4, 5, 7, 9, 11}


def sung_melody(bars, rate: int = RATE, beat_seconds: float = BEAT_SECONDS, transpose: int = 0) -> np.ndarray:
    """Sung notes, (MIDI, beats) per note, each with an attack and a decay (the downbeat's note a little louder)."""
    notes = []
    for index, (midi, beats) in enumerate(note for bar in bars for note in bar):
        note = synthetic_voice(beats * beat_seconds, rate, 440.0 * 2 ** ((midi + transpose - 69) / 12), seed=index)
        envelope = np.minimum(1.0, np.linspace(0, 12 * beats, note.size)) * np.linspace(1.0, 0.6, note.size)
        envelope *= 1.0 if beats > 1 else 0.7
        notes.append(note * envelope)
    return np.concatenate(notes).astype(np.float32)


def stream(accompanist: LiveAccompanist, voice: np.ndarray, rate: int = RATE, chunk_seconds: float = CHUNK_SECONDS):
    """Feed ``voice`` chunk by chunk, as a browser would; the band's chunks, one per chunk fed."""
    size = int(round(chunk_seconds * rate))
    return [accompanist.feed(voice[start : start + size], rate) for start in range(0, len(voice), size)]


class ToneNetwork:
    """A stand-in generator that always predicts one steady partial (bin 21, ~452 Hz) at -20 dB under the ceiling:
    every render's magnitude is the same, and PGHI gives each render its own phase, so the joins between renders
    are what is left to hear."""

    layers: list = []

    def __init__(self, nb_bins: int):
        self.nb_bins = nb_bins

    def predict_on_batch(self, batch):
        output = -np.ones(batch.shape[:3] + (1,), dtype=np.float32)
        output[:, 21] = 0.75
        return output


@pytest.fixture(scope="module")
def tone_model():
    config = tiny_config(generator=GeneratorConfig(width=4, depth=4, input_channels=3, output_channels=1),
                         target="accompaniment", phase_representation="none")  # fmt: skip
    return SongGenerator(config=config, network=ToneNetwork(config.generator.nb_bins), source="tone")


@pytest.fixture(scope="module")
def melody():
    return sung_melody(C_MAJOR_BARS * 3)  # 12 bars, 24 s


@pytest.fixture(scope="module")
def live_take(tiny_model, melody):
    accompanist = LiveAccompanist(tiny_model)
    chunks = stream(accompanist, melody)
    return accompanist, chunks, accompanist.finish()


def test_band_chunks_follow_the_voice_by_the_hold_once_the_plan_is_fixed(live_take, melody):
    accompanist, chunks, take = live_take
    rate, hold = take.sample_rate, accompanist.hold_samples
    assert len(chunks) == len(take.reports) == int(np.ceil(len(melody) / (CHUNK_SECONDS * RATE)))
    joined = [index for index, report in enumerate(take.reports) if report.rendered]
    assert joined, "the band never joined"
    first = joined[0]
    # silent while listening, joined at the first chunk after plan_seconds, then every chunk rendered
    assert take.reports[first].voice_seconds >= accompanist.settings.plan_seconds
    assert take.reports[first - 1].voice_seconds < accompanist.settings.plan_seconds
    assert joined == list(range(first, len(chunks)))
    assert all(not np.any(chunk) for chunk in chunks[:first])
    assert all(np.sqrt(np.mean(chunk**2)) > 1e-4 for chunk in chunks[first:])
    for report in take.reports[1:]:  # the band is always exactly the hold behind the voice (46 ms)
        assert report.voice_seconds * rate - report.band_seconds * rate == pytest.approx(hold, abs=1)
    # the take's accompaniment is what was streamed (peak-limited with the song), aligned with the voice
    streamed = np.concatenate(chunks)
    assert len(streamed) == take.reports[-1].band_seconds * rate
    assert len(take.voice) == len(take.accompaniment) == len(take.song) >= len(streamed) + hold
    assert len(take.voice) == pytest.approx(len(melody) * rate / RATE, abs=2)
    assert not np.any(take.accompaniment[len(streamed) :])  # the last hold was never played
    kept = take.accompaniment[: len(streamed)]
    gain = float(kept @ streamed / (streamed @ streamed))
    assert 0 < gain <= 1.0
    np.testing.assert_allclose(kept, streamed * gain, atol=1e-6)
    np.testing.assert_allclose(take.song, take.voice + take.accompaniment, atol=1e-6)


def test_the_plan_has_the_sung_tempo_bars_and_one_chord_per_bar(live_take, melody):
    accompanist, _, take = live_take
    harmony = take.harmony
    assert harmony is not None and harmony.duration == pytest.approx(len(melody) / RATE, abs=0.01)
    assert harmony.tempo_bpm == pytest.approx(120, rel=0.04)
    assert accompanist.grid.beats_per_bar == 4
    assert harmony.key_name == "C major"
    # the bar lines are a steady grid on the sung bars' first (long) notes, every 2 s from 0 (the grid may be
    # re-read on the way: it stays on them)
    downbeats = np.array(harmony.downbeats)
    off_grid = np.abs(np.diff(downbeats)[:-1] - 2.0) > 0.08
    assert off_grid.sum() <= len(accompanist.grid_changes)  # a bar stretched or cut where the grid moved
    # within 0.12 s of the first notes (the estimator puts beats 40 ms before the onsets it hears)
    assert np.all(np.abs((downbeats + 0.5) % 2.0 - 0.5) < 0.12)
    # one chord per bar, covering the take without gaps, each starting on a bar line
    chords = harmony.chords
    assert chords[0].start == 0.0 and chords[-1].end >= harmony.duration
    for previous, chord in zip(chords, chords[1:]):
        assert chord.start == pytest.approx(previous.end)
    assert [chord.start for chord in chords if chord.start > 0] == list(harmony.downbeats[harmony.downbeats[0] == 0:])
    assert len(harmony.beats) == pytest.approx(4 * len(chords), abs=4)
    assert all(chord.root in C_MAJOR_SCALE for chord in chords)
    assert len({chord.name for chord in chords}) >= 2, "the chords never change"
    assert harmony.melody and all(round(note.pitch) % 12 in C_MAJOR_SCALE for note in harmony.melody)


def test_a_bar_keeps_the_chord_decided_when_it_began(tiny_model, melody):
    """A chord is decided as its bar begins, confirmed from the bar's first beat, and never rewritten after: the
    plan after 16 s starts with the bars completed after 12 s."""
    accompanist = LiveAccompanist(tiny_model)
    stream(accompanist, melody[: 12 * RATE])
    early = accompanist.harmony()
    stream(accompanist, melody[12 * RATE : 16 * RATE])
    later = accompanist.harmony()
    completed = early.chords[:-1]  # the last one was still sounding
    assert [chord.name for chord in later.chords[: len(completed)]] == [chord.name for chord in completed]
    assert len(later.chords) > len(early.chords)


def seam_ratio(band: np.ndarray, positions: list[int], rate: int, around_seconds: float = 0.03) -> float:
    """Largest sample-to-sample step within ``around_seconds`` of a join, over the 99th percentile of the steps
    away from the joins: about 1 for a continuous signal, several times more for a click."""
    steps = np.abs(np.diff(band))
    near = np.zeros(steps.size, dtype=bool)
    width = int(around_seconds * rate)
    for position in positions:
        near[max(0, position - width) : position + width] = True
    return float(steps[near].max() / np.percentile(steps[~near & (band[1:] != 0)], 99))


@pytest.mark.parametrize("fade_samples", [512, 0])
def test_renders_join_without_clicks(tone_model, melody, fade_samples):
    """A steady partial rendered chunk after chunk: cross-faded joins are as smooth as the tone (ratio under 1.3);
    without the cross-fade the same joins click (each render's PGHI phase differs), which is what this measures."""
    accompanist = LiveAccompanist(tone_model, settings=LiveSettings(fade_samples=fade_samples))
    chunks = stream(accompanist, melody[: 10 * RATE])
    band = np.concatenate(chunks)
    ends = np.cumsum([len(chunk) for chunk in chunks])
    rendered = [index for index, report in enumerate(accompanist.reports) if report.rendered]
    positions = [int(ends[index - 1]) for index in rendered[1:]]  # where each later render starts
    ratio = seam_ratio(band, positions, tone_model.config.spectrogram.sample_rate)
    if fade_samples:
        assert ratio < 1.3, f"a join clicks: step ratio {ratio:.2f}"
    else:
        assert ratio > 3.0, f"the seam measure missed unfaded joins: {ratio:.2f}"


def test_the_person_s_key_and_tempo_are_kept(tiny_model, melody):
    accompanist = LiveAccompanist(tiny_model, controls=PlanControls.make(key="D minor", tempo=100))
    stream(accompanist, melody[: 8 * RATE])
    harmony = accompanist.harmony()
    assert (harmony.key_tonic, harmony.key_mode) == parse_key("D minor")
    assert harmony.tempo_bpm == pytest.approx(100, abs=0.01)
    assert accompanist.grid.beat_seconds == pytest.approx(0.6)


def test_the_key_follows_a_singer_who_clearly_changes_it(tiny_model):
    voice = np.concatenate([sung_melody(C_MAJOR_BARS * 2), sung_melody(C_MAJOR_BARS * 4, transpose=4)])
    accompanist = LiveAccompanist(tiny_model)
    stream(accompanist, voice)
    assert accompanist.key_changes, "the key never changed"
    seconds, name = accompanist.key_changes[-1]
    assert name == "E major" and seconds > 16.0
    assert accompanist.harmony().key_name == "E major"


def test_int16_stereo_and_48_khz_chunks_are_accepted(tiny_model, melody):
    voice48 = sung_melody(C_MAJOR_BARS, rate=48000)
    stereo = np.round(np.stack([voice48, voice48], axis=1) * 32767).astype(np.int16)
    accompanist = LiveAccompanist(tiny_model)
    chunks = stream(accompanist, stereo, rate=48000)
    take = accompanist.finish()
    assert take.sample_rate == tiny_model.config.spectrogram.sample_rate
    assert len(take.voice) == pytest.approx(len(voice48) * take.sample_rate / 48000, abs=64)
    assert take.harmony is not None and np.concatenate(chunks).size > 0
    assert np.max(np.abs(take.voice)) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("rate", [0, 1, 7999, 10_000_000, "fast"])
def test_a_bad_sample_rate_is_refused(tiny_model, rate):
    with pytest.raises(AudioInputError, match="sample rate"):
        LiveAccompanist(tiny_model).feed(np.zeros(1000, np.float32), rate)


def test_a_sample_rate_that_changes_is_refused(tiny_model):
    accompanist = LiveAccompanist(tiny_model)
    accompanist.feed(np.zeros(1000, np.float32), 44100)
    with pytest.raises(AudioInputError, match="changed from 44100 to 48000"):
        accompanist.feed(np.zeros(1000, np.float32), 48000)


def test_invalid_samples_are_refused(tiny_model):
    chunk = np.full(1000, 0.1, np.float32)
    chunk[10] = np.nan
    with pytest.raises(AudioInputError, match="invalid samples"):
        LiveAccompanist(tiny_model).feed(chunk, RATE)


def test_silence_never_brings_the_band_in_and_ends_with_no_voice_heard(tiny_model):
    accompanist = LiveAccompanist(tiny_model)
    chunks = stream(accompanist, np.zeros(8 * RATE, np.float32))
    assert not accompanist.joined and not any(np.any(chunk) for chunk in chunks)
    with pytest.raises(AudioInputError, match="No voice heard"):
        accompanist.finish()


def test_a_take_shorter_than_the_listening_says_how_long_to_sing(tiny_model, melody):
    accompanist = LiveAccompanist(tiny_model)
    stream(accompanist, melody[: int(2.5 * RATE)])
    with pytest.raises(AudioInputError, match=r"2\.5 s long.*at least 4 s"):
        accompanist.finish()


def test_an_empty_take_and_a_finished_take_are_refused(tiny_model):
    with pytest.raises(AudioInputError, match="Nothing was recorded"):
        LiveAccompanist(tiny_model).finish()
    accompanist = LiveAccompanist(tiny_model)
    stream(accompanist, sung_melody(C_MAJOR_BARS[:3]))
    accompanist.finish()
    with pytest.raises(AudioInputError, match="has ended"):
        accompanist.feed(np.zeros(100, np.float32), RATE)


def test_a_take_past_the_limit_is_cut_with_memory_bounded(tiny_model, melody):
    accompanist = LiveAccompanist(tiny_model, settings=LiveSettings(max_seconds=6.0))
    stream(accompanist, melody[: 9 * RATE])
    assert accompanist.length == 6 * tiny_model.config.spectrogram.sample_rate
    take = accompanist.finish()
    assert take.truncated and len(take.song) == accompanist.length


def test_bar_grid_extends_the_first_bars_forward():
    grid = BarGrid(anchor=1.0, beat_seconds=0.5, beats_per_bar=4)
    assert grid.first_bar() == -1 and grid.bar_start(-1) == -1.0
    assert grid.bar_index(2.99) == 0 and grid.bar_index(3.0) == 1
    assert grid.downbeats(7.0) == (1.0, 3.0, 5.0)
    assert grid.beats(2.0) == (0.0, 0.5, 1.0, 1.5)


def test_the_generator_is_called_compiled_with_the_same_output(tiny_model):
    from vocals2song.inference import predict_image

    image = np.random.default_rng(0).random((tiny_model.config.spectrogram.nb_bins, 200, 3)).astype(np.float32)
    compiled = compiled_generator(tiny_model)
    assert compiled.network is not tiny_model.network and compiled_generator(compiled) is compiled
    np.testing.assert_allclose(predict_image(compiled, image, seed=3), predict_image(tiny_model, image, seed=3),
                               atol=1e-5)  # fmt: skip


def test_tenth_of_a_second_chunks_render_every_half_second(tiny_model, melody):
    """Gradio 6.31's microphone sends 0.1 s chunks: the generator runs once half a second of band can go out,
    so the band stays within the hold plus one render period of the voice."""
    accompanist = LiveAccompanist(tiny_model)
    chunks = stream(accompanist, melody[: 8 * RATE], chunk_seconds=0.1)
    reports = accompanist.reports
    rendered = [report for report in reports if report.rendered]
    assert 6 <= len(rendered) <= 9  # 4 s of band in 0.5 s renders
    band_seconds = [report.band_seconds for report in reports]
    lags = [report.voice_seconds - band for report, band in zip(reports, band_seconds)]
    hold = accompanist.hold_samples / accompanist.rate
    assert max(lags[10:]) <= hold + accompanist.settings.render_seconds + 1e-6
    assert sum(chunk.size for chunk in chunks) == round(band_seconds[-1] * accompanist.rate)


# ---------------------------------------------------------------------------------------------------------------
# the live tab's handler (gradio is imported inside fixtures: conftest moves its temporary folder first)


@pytest.fixture
def live_app(tiny_weights_dir, inputs):
    from vocals2song.web.handler import SongApp
    from vocals2song.web.live import LiveApp

    return LiveApp(SongApp(tiny_weights_dir, input_roots=[inputs], delete_cache=None))


def chunk_files(folder, voice: np.ndarray, name: str, chunk_seconds: float = 0.1, rate: int = RATE) -> list[str]:
    """The voice as the browser's microphone stream sends it: one 16-bit WAV file per chunk."""
    import soundfile

    size = int(chunk_seconds * rate)
    paths = []
    for index, start in enumerate(range(0, len(voice), size)):
        path = folder / f"{name}-{index:04d}.wav"
        soundfile.write(path, voice[start : start + size], rate, subtype="PCM_16")
        paths.append(str(path))
    return paths


def test_a_live_take_through_the_handler_streams_the_band_and_offers_the_take(live_app, inputs, melody):
    token, status, chart = live_app.start()
    assert "Listening" in status and chart == "" and live_app.active == 1
    band = live_app.play(token)
    shown = [live_app.feed(path, token) for path in chunk_files(inputs, melody[: 8 * RATE], "take")]
    charts = [chart for chart, _ in shown if isinstance(chart, str)]
    assert charts and "BPM" in charts[-1]  # the chart, sent only when it changed
    assert len(charts) < len(shown) / 4
    streamed = []
    for wav in band:  # the queued band, as WAV chunks at the model's rate
        streamed.append(wav)
        if live_app._take(token).band.empty():
            break
    assert streamed and all(chunk[:4] == b"RIFF" for chunk in streamed)
    voice, song, accompaniment, chart, status, kept = live_app.stop(token)
    assert status.startswith("Done: a 8.0 s live take in ") and "BPM" in chart
    assert live_app.active == 0 and live_app.song_app.kept.get(kept) is not None
    assert [Path(path).suffix for path in live_app.song_app.downloads(kept)] == [".wav", ".wav", ".png", ".png", ".mid"]
    assert list(band) == []  # the take ended: its stream ends


def test_the_handler_refuses_a_third_take_and_frees_idle_ones(live_app, monkeypatch):
    import gradio as gr

    from vocals2song.web import live

    first, _, _ = live_app.start()
    live_app.start()
    with pytest.raises(gr.Error, match="singing live already"):
        live_app.start()
    monkeypatch.setattr(live, "LIVE_IDLE_SECONDS", 0.0)
    live_app.start()  # the idle ones are freed first
    assert live_app.active == 1 and live_app._take(first) is None


def test_the_handler_s_bad_inputs_end_the_take_with_one_sentence(live_app, inputs, melody):
    import gradio as gr

    with pytest.raises(gr.Error, match="No live take is running"):
        live_app.stop(None)
    token, _, _ = live_app.start()
    for path in chunk_files(inputs, melody[: 2 * RATE], "short"):
        live_app.feed(path, token)
    with pytest.raises(gr.Error, match=r"2\.0 s long; sing for at least 4 s"):
        live_app.stop(token)
    token, _, _ = live_app.start()
    corrupt = inputs / "corrupt.wav"
    corrupt.write_bytes(b"RIFF" + bytes(200))
    with pytest.raises(gr.Error, match="could not be read"):
        live_app.feed(str(corrupt), token)
    assert live_app._take(token) is None
    token, _, _ = live_app.start()
    with pytest.raises(gr.Error, match="Only audio files uploaded"):
        live_app.feed("/etc/passwd", token)
    with pytest.raises(gr.Error, match="tempo"):
        live_app.start(tempo=1000)


def test_the_chosen_style_is_drawn_in_b_for_a_generator_that_reads_styles(tiny_styled_model, melody, monkeypatch):
    from vocals2song.live import accompanist as live_module
    from vocals2song.plan.channel import style_rows

    images = []
    real = live_module.predict_image
    monkeypatch.setattr(live_module, "predict_image", lambda model, image, seed: images.append(image) or
                        real(model, image, seed))  # fmt: skip
    accompanist = LiveAccompanist(tiny_styled_model, style="jazz")
    stream(accompanist, melody[: 6 * RATE])
    assert images and accompanist.style == "jazz"
    rows = style_rows("jazz", images[-1].shape[0])
    assert np.all(images[-1][rows, :, 2] == 1.0)
    assert not np.any(images[-1][style_rows("rock", images[-1].shape[0]), :, 2])
