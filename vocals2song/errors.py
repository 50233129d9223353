"""The project's exception types: each carries one sentence a person can act on.

The CLI prints ``str(error)`` on one line and exits non-zero; the app raises ``gr.Error`` with it.
"""


class Vocals2SongError(Exception):
    """Base class: ``str(error)`` is a complete, person-readable sentence."""


class AudioInputError(Vocals2SongError):
    """An audio file or array cannot be used as a voice (empty, corrupt, too short, bad rate...)."""


class ImageFormatError(Vocals2SongError):
    """An R/G spectrogram image cannot be read or decoded."""


class WeightsError(Vocals2SongError):
    """Generator weights are missing, corrupt or do not match their config."""


class TrainingDataError(Vocals2SongError):
    """A training data folder is empty, unpaired or inconsistent."""


class ProcessingError(Vocals2SongError):
    """The model produced something unusable (non-finite or silent output)."""


class PlanError(Vocals2SongError, ValueError):
    """A control of the plan (key, tempo, happy, jazz) is out of range or unreadable."""
