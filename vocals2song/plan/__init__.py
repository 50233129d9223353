"""The song's plan: key, tempo, beats and bars, chords, read from a voice or given, and what is drawn of it.

:mod:`~vocals2song.plan.harmony` is the type (:class:`Harmony`) and chord vocabulary, :mod:`~vocals2song.plan.controls`
the person's controls (:class:`PlanControls`, checked once), :mod:`~vocals2song.plan.listening` the melody and beat
analysis, :mod:`~vocals2song.plan.estimate` the estimator, :mod:`~vocals2song.plan.channel` the B channel drawn from a
plan, and :mod:`~vocals2song.plan.midi` its MIDI file.
"""
