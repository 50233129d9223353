"""Measuring songs: the evaluation over a split (:mod:`~vocals2song.evaluation.evaluate`), reference metrics
(:mod:`~vocals2song.evaluation.metrics`), musicality without a reference (:mod:`~vocals2song.evaluation.musicality`),
baselines and the General MIDI plan band to compare against (:mod:`~vocals2song.evaluation.baselines`,
:mod:`~vocals2song.evaluation.band`) and pictures (:mod:`~vocals2song.evaluation.pictures`). The runtime never
imports it."""
