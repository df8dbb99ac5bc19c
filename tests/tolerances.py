"""Bounds for comparing one model's outputs for the same input across calls of different shapes.

A batch of four and a batch of one run different BLAS/oneDNN kernels, and another CPU (AVX2 or
AVX-512, Intel or AMD) other ones again, so results differ in their last bits, and more after many
layers. Tests that compare such calls use these bounds, never exact equality: each is far below
anything that changes a decision (a score against a threshold, a box by a pixel, a face match) and
well above kernel noise. Scores that must be exactly reproducible (1:N face matching) are made so
by the code (``registry/matching.py``), not by a tolerance.
"""

SCORE_ATOL = 1e-4
"""Detection and character scores (probabilities in [0, 1])."""

PIXEL_ATOL = 2e-2
"""Boxes, landmarks and corners, in pixels of the input image."""

RAW_ATOL = 1e-3
"""Raw network outputs (logits, box regressions, per-class probabilities)."""

EMBEDDING_ATOL = 1e-4
"""Elements of an L2-normalised 512-d embedding (about 0.044 each on average)."""
