"""Reading the rendered corpus: the pair index and splits (:mod:`~vocals2song.pairs.index`), whole examples
(:mod:`~vocals2song.pairs.examples`), training crops with their augmentation (:mod:`~vocals2song.pairs.crops`) and
the plan drawn for a crop (:mod:`~vocals2song.pairs.crop_plans`). Shared by training and evaluation; the runtime
never imports it."""
