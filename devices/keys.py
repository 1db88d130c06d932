"""Latency-table keys, as :mod:`segevo.nets.keys` defines them (re-exported for the tables).

The formats live in ``segevo.nets`` so that the modules timed (``segevo.nets.blocks``) and
the table that looks them up cannot disagree; that module is torch-free, like this package.
"""

from __future__ import annotations

from segevo.nets.keys import arch_keys, decoder_key, layer_key, stem_key

__all__ = ["arch_keys", "decoder_key", "layer_key", "stem_key"]
