"""The codec: audio ↔ R/G/B images (STFT magnitude in dB in R, phase in G, the plan in B), image files, the phase
rebuild (PGHI), and the images ↔ network tensors mapping.

:mod:`~vocals2song.codec.spectrogram` holds the one STFT definition; :mod:`~vocals2song.codec.jax_stft` follows
it for the accelerator feeder (a test checks they agree). The common functions are re-exported here.
"""

from vocals2song.codec.spectrogram import (  # noqa: F401
    fast_griffin_lim,
    image_to_spectrogram,
    istft,
    spectrogram_to_image,
    stft,
    target_to_spectrogram,
)
