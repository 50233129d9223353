"""Live accompaniment: a voice streamed in chunks while it is sung, the band's audio streamed back a chunk later.

:mod:`~vocals2song.live.accompanist` owns one live take (:class:`~vocals2song.live.accompanist.LiveAccompanist`):
the voice so far, the bar grid and key fixed from its first bars, a chord decided per bar as each bar begins, and
the generator run on a sliding window of the voice with the plan in B, consecutive renders cross-faded.
:mod:`~vocals2song.live.bars` holds the per-bar chord and key decisions, made with the plan wing's public
estimator functions. Runtime only (plan, codec, model, inference); no web framework here.
"""
