"""Faces: detect (SCRFD, RetinaFace), align (5-point similarity), embed (ArcFace), quality.

The entry point is :class:`vision.face.pipeline.FaceAnalyzer`; each model family lives in its
own module and registers itself in :data:`vision.model.FAMILIES`.
"""
