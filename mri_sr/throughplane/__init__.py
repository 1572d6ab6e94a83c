"""Self-supervised through-plane super-resolution of thick-slice scans (SMORE / ECLARE idea).

Modules: :mod:`~mri_sr.throughplane.selftrain` (training pairs from the scan's in-plane slices,
options, the training run), :mod:`~mri_sr.throughplane.apply` (the scan's slice axis, factor and
slice profile; fused application to a whole scan, ``mri-sr throughplane``). The slice profile
itself, the one-axis degradation, is :class:`mri_sr.data.degradation.SliceProfile`.
Entry points: :func:`mri_sr.throughplane.apply.upscale_through_plane` (a Volume) and
:func:`mri_sr.throughplane.apply.through_plane_file` (a file).
"""
