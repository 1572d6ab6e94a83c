"""Self-supervised through-plane super-resolution of thick-slice scans (SMORE / ECLARE idea).

Modules: :mod:`~mri_sr.throughplane.profile` (slice axis, factor and slice profile; one-axis
degradation), :mod:`~mri_sr.throughplane.selftrain` (training pairs, options, the training run),
:mod:`~mri_sr.throughplane.apply` (fused application to a whole scan, ``mri-sr throughplane``).
Entry points: :func:`mri_sr.throughplane.apply.upscale_through_plane` (a Volume) and
:func:`mri_sr.throughplane.apply.through_plane_file` (a file).
"""
