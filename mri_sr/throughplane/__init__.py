"""Self-supervised through-plane super-resolution of thick-slice scans (SMORE / ECLARE idea).

Entry points: :func:`mri_sr.throughplane.run.upscale_through_plane` (a Volume) and
:func:`mri_sr.throughplane.run.through_plane_file` (``mri-sr upscale --through-plane``).
"""
