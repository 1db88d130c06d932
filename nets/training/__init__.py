"""The parts of :mod:`segevo.nets.train`; import the public names from there.

- :mod:`.config`: :class:`TrainConfig` (what defines a run), :class:`TrainProgress` (what a
  progress callback receives), :class:`TrainResult`;
- :mod:`.schedule`: the poly learning rate, the progressive-shrinking phase, sub-network
  input sizes;
- :mod:`.data`: the resumable augmentation sampler and the training split;
- :mod:`.checkpoint`: writing, reading and rebuilding supernet checkpoints, and starting a
  training from another checkpoint's weights;
- :mod:`.supernet_loop`: the sandwich-rule loop (:func:`train_supernet`);
- :mod:`.standalone`: training one fixed network (:func:`train_standalone`);
- :mod:`.command`: ``python -m segevo.nets.train`` (the torchrun entry point).

Nothing here draws: progress goes to an optional ``progress`` callback, and the command line
(``segevo.cli``) draws it.
"""
