"""The paper's CP-CLIP and TI-CLIP on any generated images (``gen4gen eval``).

:mod:`~gen4gen.evaluate.spec` reads the images and the concepts, :mod:`~gen4gen.evaluate.models` runs CLIP and
OWL-ViT, :mod:`~gen4gen.evaluate.metrics` is the arithmetic, :mod:`~gen4gen.evaluate.run` the command. The
definitions are in ``docs/evaluation.md``.
"""
