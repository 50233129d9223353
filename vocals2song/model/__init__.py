"""The networks and their weights: pure Keras builders (:mod:`~vocals2song.model.networks`: the pix2pix U-Net
generator and PatchGAN discriminator) and the weights format with its config and checksum
(:mod:`~vocals2song.model.weights`: :func:`load_generator`, :class:`SongGenerator`)."""
