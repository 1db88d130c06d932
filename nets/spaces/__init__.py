"""The parts of :mod:`segevo.nets.space`; import the public names from there.

- :mod:`.base`: the :class:`SearchSpace` interface and what every space shares (bounds,
  validation, digests), the sampling phases;
- :mod:`.resnet`: :class:`ResNetSpace`, the presets' family (encoding, repair, sampling,
  counting, decoding, one-hot features, cost);
- :mod:`.checks`: validation of a space's definition options;
- :mod:`.presets`: the ``r50`` and ``tiny`` presets and the registry behind ``get_space``.
"""
