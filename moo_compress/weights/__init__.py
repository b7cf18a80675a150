"""Weights below techniques: the primitives every compression technique is built from.

- :mod:`~moo_compress.weights.constraints`: the parametrization of each conv/linear weight
  (mask, centroid tie, fake quantization) and ``bake``, which makes it plain again;
- :mod:`~moo_compress.weights.masks`: keep-masks from scores, at a granularity, and the
  context a pruning criterion receives;
- :mod:`~moo_compress.weights.activations`: 8-bit fake quantization of layer inputs;
- :mod:`~moo_compress.weights.codec`: the packed model file (what CR measures).

Models, training, ONNX export and the techniques (:mod:`moo_compress.compression`) sit
above this package and it never imports them.
"""
