"""The singing-voice synthesizer: turns a melody (notes with optional lyrics) into a sung voice.

A source-filter model, pure numpy/scipy and vectorised over samples:

* **Source**: a band-limited impulse train (the closed-form sum of all harmonics below Nyquist) at an
  f0 that follows the notes with portamento, delayed-onset vibrato, jitter and a slow pitch drift,
  low-pass tilted like a glottal pulse (brightness), plus pulse-synchronous aspiration noise
  (breathiness).
* **Filter**: a cascade of five formant resonators (F1..F5 tables per voice type and vowel, scaled by a
  per-singer formant shift), updated every ``FORMANT_BLOCK`` samples so vowels glide into each other.
* **Syllables**: each lyric (or a random syllable when the score has none) gives a vowel and an onset
  consonant: plosive bursts, fricative noise bands or a voiced nasal/liquid dip. Notes without a lyric
  in a texted melody continue the previous vowel (melisma, legato).
* **Envelope**: attack/release per note with shimmer; rests are exactly silent.
* **Speech-like mode** (``SingerProfile.speech_like``, drawn by :func:`random_singer` with
  ``speech_like_probability``): the melody is *spoken* instead of sung. Each note becomes one or more
  short syllables (``speech_syllable_seconds`` each, a consonant and a vowel, onsets on the note onsets so
  the rhythm is kept); the pitch sits near a speaking level, keeps only a fraction of the melody's
  intervals, glides within each syllable (mostly falling), declines over each phrase and falls at its end;
  no vibrato. This lives here rather than in the time-domain augmentation because only here are the
  syllables, phrases and pitch targets known: shortening sustained vowels or bending pitch after the fact
  would need a pitch-synchronous re-synthesis and would sound chopped rather than spoken.

The public entry points are :func:`random_singer` and :func:`sing`; :func:`fit_to_range` moves a melody
into a singer's range by octaves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import signal

VOICE_TYPES = ("soprano", "alto", "tenor", "bass")
VOWELS = ("a", "e", "i", "o", "u")

# Formant centre frequencies (Hz) and bandwidths (Hz), F1..F5, for sung vowels (the classic Csound
# formant table, after Peterson & Barney and Sundberg's singer measurements).
FORMANTS: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "soprano": {
        "a": ((800, 1150, 2900, 3900, 4950), (80, 90, 120, 130, 140)),
        "e": ((350, 2000, 2800, 3600, 4950), (60, 100, 120, 150, 200)),
        "i": ((270, 2140, 2950, 3900, 4950), (60, 90, 100, 120, 120)),
        "o": ((450, 800, 2830, 3800, 4950), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2700, 3800, 4950), (50, 60, 170, 180, 200)),
    },
    "alto": {
        "a": ((800, 1150, 2800, 3500, 4950), (80, 90, 120, 130, 140)),
        "e": ((400, 1600, 2700, 3300, 4950), (60, 80, 120, 150, 200)),
        "i": ((350, 1700, 2700, 3700, 4950), (50, 100, 120, 150, 200)),
        "o": ((450, 800, 2830, 3500, 4950), (70, 80, 100, 130, 135)),
        "u": ((325, 700, 2530, 3500, 4950), (50, 60, 170, 180, 200)),
    },
    "tenor": {
        "a": ((650, 1080, 2650, 2900, 3250), (80, 90, 120, 130, 140)),
        "e": ((400, 1700, 2600, 3200, 3580), (70, 80, 100, 120, 120)),
        "i": ((290, 1870, 2800, 3250, 3540), (40, 90, 100, 120, 120)),
        "o": ((400, 800, 2600, 2800, 3000), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2700, 2900, 3300), (40, 60, 100, 120, 120)),
    },
    "bass": {
        "a": ((600, 1040, 2250, 2450, 2750), (60, 70, 110, 120, 130)),
        "e": ((400, 1620, 2400, 2800, 3100), (40, 80, 100, 120, 120)),
        "i": ((250, 1750, 2600, 3050, 3340), (60, 90, 100, 120, 120)),
        "o": ((400, 750, 2400, 2600, 2900), (40, 80, 100, 120, 120)),
        "u": ((350, 600, 2400, 2675, 2950), (40, 80, 100, 120, 120)),
    },
}

# Comfortable singing range per voice type, as MIDI pitches (lowest, highest).
VOICE_RANGES = {"soprano": (60, 81), "alto": (53, 74), "tenor": (48, 69), "bass": (41, 62)}

# Letters of a lyric mapped to the vowel sung (Latin, German, Italian, English spellings).
LETTER_VOWELS = {"a": "a", "à": "a", "á": "a", "â": "a", "e": "e", "é": "e", "è": "e", "ê": "e", "ä": "e",
                 "æ": "e", "i": "i", "í": "i", "ì": "i", "y": "i", "ü": "i", "o": "o", "ó": "o", "ò": "o",
                 "ô": "o", "ö": "e", "u": "u", "ú": "u", "ù": "u"}

# Onset consonants by how they are rendered.
PLOSIVES = set("ptkbdgq")
FRICATIVE_BANDS_HZ = {"s": (3800.0, 8000.0), "z": (3800.0, 8000.0), "c": (3800.0, 8000.0),
                      "x": (3000.0, 7000.0), "f": (1200.0, 7000.0), "v": (1200.0, 7000.0),
                      "w": (600.0, 3000.0), "j": (2000.0, 4500.0), "h": (400.0, 4000.0)}
VOICED_ONSETS = set("mnlr")
RANDOM_ONSETS = ("", "l", "d", "n", "m", "t", "s", "k", "h", "b", "r", "f", "p", "g", "v")

FORMANT_BLOCK = 128          # samples between formant filter updates
CONTROL_RATE_HZ = 200.0      # rate of the random pitch/amplitude control signals

# Speech-like mode: typical speaking pitch per voice type (MIDI; about 100-220 Hz), the spread around it,
# syllable lengths (3.5-7 syllables per second), the share of the melody's intervals kept, the fall over
# a phrase, the glide within a syllable and the extra fall on a phrase's last syllable (semitones).
SPEAKING_PITCH = {"soprano": 57.0, "alto": 55.0, "tenor": 46.0, "bass": 43.0}
SPEAKING_PITCH_SPREAD = (-2.0, 3.0)
SPEECH_SYLLABLE_SECONDS = (0.14, 0.28)
SPEECH_MELODY_FOLLOWING = (0.0, 0.5)
SPEECH_DECLINATION_SEMITONES = (2.0, 6.0)
SPEECH_SYLLABLE_GLIDE_SEMITONES = (-3.0, 1.0)
SPEECH_FINAL_FALL_SEMITONES = (2.0, 5.0)
SPEECH_SYLLABLE_FILL = (0.85, 1.0)          # share of its slot a syllable sounds (the rest: a gap)
SPEECH_FINAL_SYLLABLE_FILL = (0.5, 0.8)     # the same for a phrase's last syllable: a pause follows
SPEECH_SLOT_JITTER = 0.4                    # syllables share a note unevenly: weights 1 ± this
SPEECH_PHRASE_GAP_SECONDS = 0.25    # a rest at least this long starts a new spoken phrase
SPEECH_PHRASE_MAX_SECONDS = 4.0     # a longer phrase is split (a speaker breathes)


@dataclass(frozen=True)
class Note:
    """One sung note: onset and length in seconds, pitch as a (fractional) MIDI number, lyric or None."""

    start_seconds: float
    duration_seconds: float
    midi_pitch: float
    lyric: str | None = None
    glide_semitones: float = 0.0    # pitch change from the note's start to its end (speech-like syllables)


@dataclass(frozen=True)
class SingerProfile:
    """Everything that makes one synthetic singer sound different from another.

    Pitches are MIDI numbers, depths in semitones, rates in Hz, times in seconds, levels linear.
    """

    voice_type: str                  # one of VOICE_TYPES: picks the formant table and the range
    lowest_pitch: float              # bottom of the comfortable range (MIDI)
    highest_pitch: float             # top of the comfortable range (MIDI)
    formant_shift: float             # multiplies every formant frequency (vocal tract length), ~0.9..1.1
    vowels: tuple[str, ...]          # vowels used for random syllables when the score has no lyrics
    vibrato_rate_hz: float           # 4.5..6.5 Hz
    vibrato_depth_semitones: float   # peak deviation, 0.2..0.8 semitone
    vibrato_delay_seconds: float     # vibrato fades in after this long into each note
    jitter_semitones: float          # fast random pitch deviation
    shimmer_db: float                # random amplitude deviation
    breathiness: float               # aspiration noise level relative to the voiced source, 0..1
    brightness: float                # 0 (dark, steep glottal tilt) .. 1 (bright, shallow tilt)
    portamento_seconds: float        # time constant of the glide between notes
    attack_seconds: float
    release_seconds: float
    speech_like: bool = False                 # speak the melody's rhythm instead of singing it
    speaking_pitch: float = 0.0               # speech-like: centre of the speaking pitch (MIDI)
    speech_syllable_seconds: float = 0.0      # speech-like: typical syllable length
    speech_melody_following: float = 0.0      # speech-like: share of the melody's intervals kept, 0..1
    speech_declination_semitones: float = 0.0  # speech-like: pitch fall from a phrase's start to its end

    def as_dict(self) -> dict:
        """The profile as JSON-ready builtins."""
        return dataclasses.asdict(self)


def random_singer(rng: np.random.Generator, speech_like_probability: float = 0.0) -> SingerProfile:
    """Draw a random singer (voice type, range, timbre and expression) from ``rng``.

    With probability ``speech_like_probability`` the singer speaks (see the module docstring): no
    vibrato, quick attacks, a speaking pitch and syllable rate. At 0 (the default) nothing more is drawn
    from ``rng``, so the singers are those drawn before this option existed.
    """
    voice_type = VOICE_TYPES[int(rng.integers(len(VOICE_TYPES)))]
    lowest, highest = VOICE_RANGES[voice_type]
    range_offset = float(rng.integers(-2, 3))
    female = voice_type in ("soprano", "alto")
    nb_vowels = int(rng.integers(2, len(VOWELS) + 1))
    vowels = tuple(sorted(rng.choice(VOWELS, size=nb_vowels, replace=False).tolist()))
    singer = SingerProfile(
        voice_type=voice_type,
        lowest_pitch=lowest + range_offset,
        highest_pitch=highest + range_offset,
        formant_shift=float(rng.uniform(0.95, 1.12) if female else rng.uniform(0.88, 1.05)),
        vowels=vowels,
        vibrato_rate_hz=float(rng.uniform(4.5, 6.5)),
        vibrato_depth_semitones=float(rng.uniform(0.2, 0.8)),
        vibrato_delay_seconds=float(rng.uniform(0.1, 0.45)),
        jitter_semitones=float(rng.uniform(0.02, 0.12)),
        shimmer_db=float(rng.uniform(0.3, 1.5)),
        breathiness=float(rng.uniform(0.02, 0.35)),
        brightness=float(rng.uniform(0.0, 1.0)),
        portamento_seconds=float(rng.uniform(0.015, 0.07)),
        attack_seconds=float(rng.uniform(0.02, 0.08)),
        release_seconds=float(rng.uniform(0.03, 0.12)),
    )
    if speech_like_probability > 0 and rng.random() < speech_like_probability:
        singer = _speaker(singer, rng)
    return singer


def _speaker(singer: SingerProfile, rng: np.random.Generator) -> SingerProfile:
    """The speech-like variant of ``singer``: same voice and timbre, speaking pitch, rate and expression."""
    return dataclasses.replace(
        singer,
        speech_like=True,
        speaking_pitch=SPEAKING_PITCH[singer.voice_type] + float(rng.uniform(*SPEAKING_PITCH_SPREAD)),
        speech_syllable_seconds=float(rng.uniform(*SPEECH_SYLLABLE_SECONDS)),
        speech_melody_following=float(rng.uniform(*SPEECH_MELODY_FOLLOWING)),
        speech_declination_semitones=float(rng.uniform(*SPEECH_DECLINATION_SEMITONES)),
        vibrato_depth_semitones=float(rng.uniform(0.0, 0.05)),
        jitter_semitones=float(rng.uniform(0.05, 0.15)),
        breathiness=float(rng.uniform(0.1, 0.4)),
        brightness=float(rng.uniform(0.0, 0.5)),      # speech is darker than projected singing
        portamento_seconds=float(rng.uniform(0.03, 0.07)),
        attack_seconds=float(rng.uniform(0.01, 0.03)),
        release_seconds=float(rng.uniform(0.02, 0.05)),
    )


def fit_to_range(notes: Sequence[Note], singer: SingerProfile) -> list[Note]:
    """Move a melody by whole octaves so that it sits best in the singer's range.

    The octave chosen puts the duration-weighted median pitch nearest the middle of the range; the
    melody's shape is kept (no note is moved on its own).
    """
    if not notes:
        return []
    pitches = np.array([note.midi_pitch for note in notes])
    weights = np.array([note.duration_seconds for note in notes])
    order = np.argsort(pitches)
    cumulative = np.cumsum(weights[order])
    median_pitch = pitches[order][np.searchsorted(cumulative, cumulative[-1] / 2)]
    centre = (singer.lowest_pitch + singer.highest_pitch) / 2
    octaves = round((centre - median_pitch) / 12)
    return [dataclasses.replace(note, midi_pitch=note.midi_pitch + 12 * octaves) for note in notes]


def sing(notes: Sequence[Note], singer: SingerProfile, sample_rate: int,
         rng: np.random.Generator) -> np.ndarray:
    """Synthesize ``notes`` sung by ``singer``.

    Args:
        notes: the melody, in any order; overlapping notes are cut at the next onset (one voice). A
            speech-like singer speaks them: short syllables on the notes' onsets, speech intonation.
        singer: the voice (see :func:`random_singer`).
        sample_rate: output rate in Hz.
        rng: the source of every random choice (same seed, same audio).

    Returns:
        float32 array of shape (nb_samples,), nb_samples = ceil(end of the last note * sample_rate),
        peak-normalised to a random level in [0.5, 0.95]; exactly zero during rests. Empty input gives
        an empty array.
    """
    notes = monophonic(notes)
    if not notes:
        return np.zeros(0, dtype=np.float32)
    nb_samples = int(np.ceil(max(note.start_seconds + note.duration_seconds for note in notes) * sample_rate))
    if singer.speech_like:
        notes = _spoken(notes, singer, rng)
    syllables = _syllables(notes, singer, rng)

    onsets = [int(round(note.start_seconds * sample_rate)) for note in notes]
    pitch, vibrato_weight, envelope = _note_controls(notes, syllables, singer, sample_rate, nb_samples)
    pitch = _glide(pitch, singer.portamento_seconds, sample_rate)
    time_seconds = np.arange(nb_samples) / sample_rate
    vibrato_phase = 2 * np.pi * singer.vibrato_rate_hz * time_seconds + rng.uniform(0, 2 * np.pi)
    pitch = pitch + singer.vibrato_depth_semitones * vibrato_weight * np.sin(vibrato_phase)
    pitch = pitch + _control_noise(rng, nb_samples, sample_rate, 25.0) * singer.jitter_semitones
    pitch = pitch + _control_noise(rng, nb_samples, sample_rate, 3.0) * 0.08
    f0_hz = 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)

    phase = np.cumsum(f0_hz / sample_rate) % 1.0
    source = _glottal_source(phase, f0_hz, singer.brightness, sample_rate)
    source_level = np.sqrt(np.mean(source[envelope > 0] ** 2)) + 1e-9
    aspiration = rng.standard_normal(nb_samples) * (0.6 + 0.4 * np.cos(2 * np.pi * phase))
    excitation = source / source_level + singer.breathiness * 1.5 * aspiration
    voice = _formant_filter(excitation, syllables, notes, singer, sample_rate) + _air(excitation, singer, sample_rate)

    shimmer = 10.0 ** (_control_noise(rng, nb_samples, sample_rate, 30.0) * singer.shimmer_db / 20.0)
    voice = voice * envelope * shimmer
    voice = voice / (np.sqrt(np.mean(voice[envelope > 0] ** 2)) + 1e-9)
    voice = voice + _consonants(onsets, syllables, notes, sample_rate, nb_samples, rng)

    peak = np.max(np.abs(voice))
    if not np.isfinite(peak) or peak == 0:
        return np.zeros(nb_samples, dtype=np.float32)
    return (voice * (rng.uniform(0.5, 0.95) / peak)).astype(np.float32)


@dataclass(frozen=True)
class _Syllable:
    vowel: str
    onset: str          # leading consonant letter ("" for none)
    continues: bool     # melisma: same syllable as the previous note, sung legato


def monophonic(notes: Sequence[Note]) -> list[Note]:
    """Sort notes by onset, drop empty ones, and cut each at the next onset."""
    ordered = sorted((note for note in notes if note.duration_seconds > 0),
                     key=lambda note: (note.start_seconds, note.midi_pitch))
    single_voice = []
    for index, note in enumerate(ordered):
        if index + 1 < len(ordered):
            next_start = ordered[index + 1].start_seconds
            if next_start <= note.start_seconds:
                continue  # a chord: keep only its highest note, the last of equal onsets
            if note.start_seconds + note.duration_seconds > next_start:
                note = dataclasses.replace(note, duration_seconds=next_start - note.start_seconds)
        single_voice.append(note)
    return single_voice


def _spoken(notes: list[Note], singer: SingerProfile, rng: np.random.Generator) -> list[Note]:
    """The melody as speech: short syllables with speech intonation, in the notes' time span.

    A note gives ``round(duration / syllable length)`` syllables (at least one), the first on its onset,
    sharing it unevenly (``SPEECH_SLOT_JITTER``); each sounds for ``SPEECH_SYLLABLE_FILL`` of its slot,
    so a phrase is nearly continuous voicing with dips between syllables, and the phrase's last one for
    ``SPEECH_FINAL_SYLLABLE_FILL`` (a pause before the next phrase). Phrases end at rests of
    ``SPEECH_PHRASE_GAP_SECONDS`` or after ``SPEECH_PHRASE_MAX_SECONDS``; within a phrase the pitch is the speaking pitch plus a share of the
    melody's intervals (around the phrase's mean) plus a linear declination, each syllable glides, and
    the phrase's last syllable falls. Every syllable carries a lyric (the note's own, else a random
    consonant-vowel syllable), so none is sung legato.
    """
    phrases: list[list[Note]] = [[]]
    for note in notes:
        phrase = phrases[-1]
        if phrase and (note.start_seconds - (phrase[-1].start_seconds + phrase[-1].duration_seconds)
                       >= SPEECH_PHRASE_GAP_SECONDS
                       or note.start_seconds - phrase[0].start_seconds >= SPEECH_PHRASE_MAX_SECONDS):
            phrases.append([])
        phrases[-1].append(note)

    spoken: list[Note] = []
    for phrase in phrases:
        phrase_start = phrase[0].start_seconds
        phrase_length = max(phrase[-1].start_seconds + phrase[-1].duration_seconds - phrase_start, 1e-3)
        mean_pitch = float(np.mean([note.midi_pitch for note in phrase]))
        syllables = []
        for note in phrase:
            nb_syllables = max(1, int(round(note.duration_seconds / singer.speech_syllable_seconds)))
            weights = rng.uniform(1 - SPEECH_SLOT_JITTER, 1 + SPEECH_SLOT_JITTER, nb_syllables)
            slots = note.duration_seconds * weights / np.sum(weights)
            starts = note.start_seconds + np.concatenate([[0.0], np.cumsum(slots)[:-1]])
            for index in range(nb_syllables):
                lyric = note.lyric if index == 0 and note.lyric else (
                    RANDOM_ONSETS[int(rng.integers(len(RANDOM_ONSETS)))]
                    + singer.vowels[int(rng.integers(len(singer.vowels)))])
                syllables.append((float(starts[index]), float(slots[index]), note.midi_pitch, lyric))
        for index, (start, slot, melody_pitch, lyric) in enumerate(syllables):
            last = index == len(syllables) - 1
            duration = slot * float(rng.uniform(*(SPEECH_FINAL_SYLLABLE_FILL if last else SPEECH_SYLLABLE_FILL)))
            progress = (start - phrase_start) / phrase_length
            pitch = (singer.speaking_pitch + singer.speech_melody_following * (melody_pitch - mean_pitch)
                     + singer.speech_declination_semitones * (0.5 - progress) + float(rng.normal(0.0, 0.7)))
            glide = float(rng.uniform(*SPEECH_SYLLABLE_GLIDE_SEMITONES))
            if last:
                glide -= float(rng.uniform(*SPEECH_FINAL_FALL_SEMITONES))
            spoken.append(Note(start, duration, pitch, lyric, glide))
    return spoken


def _syllables(notes: list[Note], singer: SingerProfile, rng: np.random.Generator) -> list[_Syllable]:
    """One syllable per note, from the lyrics when the melody has any, else random ones."""
    has_lyrics = any(note.lyric and note.lyric.strip() for note in notes)
    syllables: list[_Syllable] = []
    for index, note in enumerate(notes):
        previous = syllables[-1] if syllables else None
        if has_lyrics:
            text = (note.lyric or "").strip().lower()
            vowel, onset = _parse_syllable(text)
            if vowel is None:  # melisma (no lyric) or a lyric without a vowel
                syllables.append(_Syllable(previous.vowel if previous else singer.vowels[0], "", index > 0))
            else:
                syllables.append(_Syllable(vowel, onset, False))
        elif previous is not None and rng.random() < 0.2:
            syllables.append(_Syllable(previous.vowel, "", True))
        else:
            vowel = singer.vowels[int(rng.integers(len(singer.vowels)))]
            syllables.append(_Syllable(vowel, RANDOM_ONSETS[int(rng.integers(len(RANDOM_ONSETS)))], False))
    return syllables


def _parse_syllable(text: str) -> tuple[str | None, str]:
    """(vowel, onset consonant letter) of a lyric syllable; vowel is None when it has no vowel."""
    letters = [letter for letter in text if letter.isalpha()]
    for position, letter in enumerate(letters):
        if letter in LETTER_VOWELS:
            return LETTER_VOWELS[letter], (letters[0] if position > 0 else "")
    return None, ""


def _note_controls(notes: list[Note], syllables: list[_Syllable], singer: SingerProfile, sample_rate: int,
                   nb_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample target pitch (MIDI), vibrato weight (0..1) and amplitude envelope, each (nb_samples,).

    The pitch holds its last value through rests so the glide starts from the previous note; the
    envelope is zero in rests. Loops over notes, never over samples.
    """
    pitch = np.empty(nb_samples)
    vibrato_weight = np.zeros(nb_samples)
    envelope = np.zeros(nb_samples)
    attack = max(1, int(singer.attack_seconds * sample_rate))
    release = max(1, int(singer.release_seconds * sample_rate))
    vibrato_delay = int(singer.vibrato_delay_seconds * sample_rate)
    vibrato_fade = int(0.3 * sample_rate)
    pitch[:] = notes[0].midi_pitch
    for index, (note, syllable) in enumerate(zip(notes, syllables)):
        start = int(round(note.start_seconds * sample_rate))
        end = min(nb_samples, int(round((note.start_seconds + note.duration_seconds) * sample_rate)))
        if end <= start:
            continue
        length = end - start
        pitch[start:] = note.midi_pitch + note.glide_semitones
        if note.glide_semitones:
            pitch[start:end] = note.midi_pitch + note.glide_semitones * np.linspace(0.0, 1.0, length)
        since_onset = np.arange(length)
        vibrato_weight[start:end] = np.clip((since_onset - vibrato_delay) / vibrato_fade, 0.0, 1.0)

        legato_in = syllable.continues and index > 0 and _touches(notes[index - 1], note)
        next_continues = index + 1 < len(notes) and syllables[index + 1].continues and _touches(note, notes[index + 1])
        note_envelope = np.ones(length)
        if not legato_in:
            # A voiceless consonant delays the vowel; other syllables start with a plain attack.
            delay = int(0.04 * sample_rate) if syllable.onset in PLOSIVES or syllable.onset in FRICATIVE_BANDS_HZ else 0
            delay = min(delay, length // 3)
            note_attack = min(attack, max(1, length // 3))
            note_envelope[:delay] = 0.0
            ramp_end = min(length, delay + note_attack)
            note_envelope[delay:ramp_end] = np.linspace(0.0, 1.0, ramp_end - delay, endpoint=False)
            if syllable.onset in VOICED_ONSETS:  # nasal / liquid: a darker, quieter voiced start
                dip = min(length, int(0.06 * sample_rate))
                note_envelope[:dip] *= np.linspace(0.35, 1.0, dip)
        if not next_continues:
            note_release = min(release, max(1, length // 3))
            note_envelope[length - note_release:] *= np.linspace(1.0, 0.0, note_release)
        envelope[start:end] = note_envelope
    return pitch, vibrato_weight, envelope


def _touches(first: Note, second: Note) -> bool:
    """Whether ``second`` starts (within 10 ms) where ``first`` ends."""
    return abs(first.start_seconds + first.duration_seconds - second.start_seconds) < 0.01


def _glide(pitch: np.ndarray, time_constant_seconds: float, sample_rate: int) -> np.ndarray:
    """Portamento: a one-pole low-pass on the pitch curve (in semitones), started at the first pitch."""
    pole = np.exp(-1.0 / (time_constant_seconds * sample_rate))
    smoothed, _ = signal.lfilter([1 - pole], [1, -pole], pitch, zi=[pole * pitch[0]])
    return smoothed


def _control_noise(rng: np.random.Generator, nb_samples: int, sample_rate: int, bandwidth_hz: float) -> np.ndarray:
    """Smooth random control signal of unit standard deviation, shape (nb_samples,).

    Low-passed Gaussian noise drawn at ``CONTROL_RATE_HZ`` and linearly interpolated to the sample rate.
    """
    nb_controls = int(np.ceil(nb_samples / sample_rate * CONTROL_RATE_HZ)) + 2
    noise = rng.standard_normal(nb_controls)
    pole = np.exp(-2 * np.pi * min(bandwidth_hz, CONTROL_RATE_HZ / 2) / CONTROL_RATE_HZ)
    noise = signal.lfilter([1 - pole], [1, -pole], noise)
    noise = noise / (np.std(noise) + 1e-12)
    control_times = np.arange(nb_controls) / CONTROL_RATE_HZ
    return np.interp(np.arange(nb_samples) / sample_rate, control_times, noise)


def _glottal_source(phase: np.ndarray, f0_hz: np.ndarray, brightness: float, sample_rate: int) -> np.ndarray:
    """Band-limited glottal pulse train, shape (nb_samples,).

    The closed form of sum_{k=1..N} cos(k * theta), N the number of harmonics below 0.45 * sample_rate,
    gives a flat-spectrum alias-free pulse train; a one-pole low-pass then tilts it like a glottal pulse
    (about -6 dB/octave above a corner frequency that rises with ``brightness``; lip radiation included).
    """
    theta = 2 * np.pi * phase
    nb_harmonics = np.maximum(1, np.floor(0.45 * sample_rate / f0_hz))
    half_sine = np.sin(theta / 2)
    near_zero = np.abs(half_sine) < 1e-6
    pulses = np.where(near_zero, nb_harmonics,
                      np.sin((nb_harmonics + 0.5) * theta) / (2 * np.where(near_zero, 1.0, half_sine)) - 0.5)
    corner_hz = 150.0 + 1200.0 * brightness
    pole = np.exp(-2 * np.pi * corner_hz / sample_rate)
    return signal.lfilter([1 - pole], [1, -pole], pulses)


def _resonator_sections(frequencies_hz: np.ndarray, bandwidths_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """Second-order sections (nb_formants, 6) of unity-DC-gain resonators; formants near Nyquist pass through."""
    radius = np.exp(-np.pi * bandwidths_hz / sample_rate)
    angle = 2 * np.pi * frequencies_hz / sample_rate
    a1 = -2 * radius * np.cos(angle)
    a2 = radius ** 2
    sections = np.zeros((len(frequencies_hz), 6))
    sections[:, 0] = 1 + a1 + a2
    sections[:, 3] = 1.0
    sections[:, 4] = a1
    sections[:, 5] = a2
    passthrough = frequencies_hz >= 0.45 * sample_rate
    sections[passthrough] = (1, 0, 0, 1, 0, 0)
    return sections


def _formant_filter(excitation: np.ndarray, syllables: list[_Syllable], notes: list[Note],
                    singer: SingerProfile, sample_rate: int) -> np.ndarray:
    """Filter the excitation through the vowel formants, shape (nb_samples,).

    The formant track holds each syllable's vowel from its note onset and glides to the next vowel
    over ~50 ms; the cascade is re-designed every ``FORMANT_BLOCK`` samples, carrying its state across.
    """
    nb_samples = len(excitation)
    table = FORMANTS[singer.voice_type]
    block_starts = np.arange(0, nb_samples, FORMANT_BLOCK)
    block_times = (block_starts + FORMANT_BLOCK / 2) / sample_rate
    onset_times = np.array([note.start_seconds for note in notes])
    frequencies = np.array([table[syllable.vowel][0] for syllable in syllables], dtype=float)
    bandwidths = np.array([table[syllable.vowel][1] for syllable in syllables], dtype=float)
    # Each formant as a function of time: the vowel of the latest onset, glided by interpolation.
    glide_seconds = 0.05
    knot_times = np.concatenate([onset_times, onset_times + glide_seconds])
    knot_order = np.argsort(knot_times, kind="stable")
    knot_index = np.concatenate([np.arange(len(notes)) - 1, np.arange(len(notes))])
    knot_index = np.maximum(knot_index, 0)[knot_order]
    knot_times = knot_times[knot_order]
    block_frequencies = np.stack([np.interp(block_times, knot_times, frequencies[knot_index, formant])
                                  for formant in range(5)], axis=1) * singer.formant_shift
    block_bandwidths = np.stack([np.interp(block_times, knot_times, bandwidths[knot_index, formant])
                                 for formant in range(5)], axis=1)

    output = np.empty(nb_samples)
    state = np.zeros((5, 2))
    for block, start in enumerate(block_starts):
        sections = _resonator_sections(block_frequencies[block], block_bandwidths[block], sample_rate)
        output[start:start + FORMANT_BLOCK], state = signal.sosfilt(
            sections, excitation[start:start + FORMANT_BLOCK], zi=state)
    return output


def _air(excitation: np.ndarray, singer: SingerProfile, sample_rate: int) -> np.ndarray:
    """The excitation's band above the formant cascade (~3.5-9 kHz), shape (nb_samples,).

    A cascade of five resonators falls off steeply above F5; real voices keep some energy there
    (Klatt's "higher-pole correction"), more for bright singers.
    """
    low_hz, high_hz = 3500.0, min(9000.0, 0.45 * sample_rate)
    if low_hz >= high_hz:
        return np.zeros_like(excitation)
    sections = signal.butter(2, [low_hz, high_hz], btype="band", output="sos", fs=sample_rate)
    return (0.3 + 0.7 * singer.brightness) * signal.sosfilt(sections, excitation)


def _consonants(onsets: list[int], syllables: list[_Syllable], notes: list[Note], sample_rate: int,
                nb_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Onset consonant noises, shape (nb_samples,), at a level relative to a unit-RMS vowel.

    Plosives are a ~10 ms broadband burst followed by a short aspiration; fricatives are band-passed
    noise over ~60 ms. Each consonant stays inside its own note (rests stay silent).
    """
    consonants = np.zeros(nb_samples)
    starts = [(start, syllable, note) for start, syllable, note in zip(onsets, syllables, notes)
              if not syllable.continues and syllable.onset]
    if not starts:
        return consonants
    white = rng.standard_normal(nb_samples)
    bands: dict[tuple[float, float], np.ndarray] = {}
    nyquist = sample_rate / 2
    for start, syllable, note in starts:
        length = min(int(note.duration_seconds * sample_rate) // 3, nb_samples - start)
        if syllable.onset in PLOSIVES:
            burst = min(length, int(0.012 * sample_rate))
            aspiration = min(length, int(0.035 * sample_rate))
            shape = np.zeros(aspiration)
            shape[:burst] = np.linspace(1.0, 0.3, burst)
            shape[burst:] = np.linspace(0.3, 0.0, aspiration - burst)
            consonants[start:start + aspiration] += 1.2 * shape * white[start:start + aspiration]
        elif syllable.onset in FRICATIVE_BANDS_HZ:
            low, high = FRICATIVE_BANDS_HZ[syllable.onset]
            band = (low, min(high, 0.9 * nyquist))
            if band[0] >= band[1]:
                continue
            if band not in bands:
                sections = signal.butter(2, [band[0] / nyquist, band[1] / nyquist], btype="band", output="sos")
                bands[band] = signal.sosfilt(sections, white)
            duration = min(length, int(0.06 * sample_rate))
            shape = np.sin(np.linspace(0.0, np.pi, duration)) ** 2
            consonants[start:start + duration] += 0.5 * shape * bands[band][start:start + duration]
    return consonants
