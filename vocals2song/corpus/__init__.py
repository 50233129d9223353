"""Rendering the paired training corpus: music21 scores (:mod:`~vocals2song.corpus.scores`), the top line sung by a
source-filter singer (:mod:`~vocals2song.corpus.singer`), the other parts played by General MIDI instruments
(:mod:`vocals2song.arrange.render`) or the plan arranged in a style (:mod:`vocals2song.arrange`), voices made to sound recorded (:mod:`~vocals2song.corpus.voice_augment`,
:mod:`~vocals2song.corpus.voice_effects`), and the resumable builder with its manifest
(:mod:`~vocals2song.corpus.build`). Training-time only: the runtime never imports it."""
