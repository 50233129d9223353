"""The arranger's wing: a plan (chords, beats, key, the sung melody) played by a band in a named style.

:mod:`~vocals2song.arrange.arranger` turns a :class:`~vocals2song.plan.harmony.Harmony` into the notes of each track
(pure functions, no sound); :mod:`~vocals2song.arrange.render` plays tracks through FluidSynth and a General MIDI
soundfont; :mod:`~vocals2song.arrange.produce` mixes the rendered stems through pedalboard (EQ, compression, room) into
one accompaniment. The styled corpus renders its targets with it and the evaluation's plan band plays with it. Offline
only: the app and inference never import this wing.
"""
