"""Synthetic contrasts of the MNI template: deterministic for a seed, on the template's grid."""

from __future__ import annotations

import numpy as np
import pytest

from mri_sr.data.synth import fold, load_source, synth_volume, tissue_maps
from mri_sr.errors import MriSrError
from mri_sr.io import load_volume


@pytest.fixture(scope="module")
def synth():
    return synth_volume(2, seed=5)


def test_same_seed_gives_the_same_volume_on_the_template_grid(synth):
    template = load_volume("builtin:mni152")
    assert synth.data.shape == (*template.data.shape, 2) and synth.data.dtype == np.float32
    np.testing.assert_array_equal(synth.affine, template.affine)
    # Variant k depends only on (seed, k): the first of a shorter list, loaded by name, is the same.
    again = load_source("builtin:mni152-synth:1:5")
    assert again.data.shape == (*template.data.shape, 1)
    np.testing.assert_array_equal(again.data[..., 0], synth.data[..., 0])


def test_variants_and_seeds_give_different_contrasts(synth):
    a, b = synth.data[..., 0], synth.data[..., 1]
    brain = load_volume("builtin:mni152").data > 0.2
    # Different tissue intensities: the second contrast is not a brightening or darkening of the first.
    assert np.corrcoef(a[brain], b[brain])[0, 1] < 0.95
    assert not np.allclose(synth_volume(1, seed=6).data[..., 0], a)
    # Background far from the head stays near zero (noise only); the brain is brighter.
    assert np.median(a[:10, :10, :10]) < 0.05 < np.median(a[brain])


def test_folding_keeps_tissue_totals_and_makes_boundaries_crisp_and_sulci_thin():
    maps = tissue_maps()[0][:, 50:130, 60:160, 90:110]
    folded = fold(maps, np.random.default_rng(3))
    assert folded.shape == maps.shape and folded.dtype == np.float32
    np.testing.assert_allclose(folded.sum(0), maps.sum(0), atol=1e-5)
    np.testing.assert_allclose(folded[3], maps[3])
    np.testing.assert_array_equal(folded, fold(maps, np.random.default_rng(3)))

    def mixed(m):  # share of the grey+white voxels whose white-matter fraction is neither ~0 nor ~1
        tissue = m[0] + m[1]
        inside = tissue > 0.5
        white = m[1][inside] / tissue[inside]
        return float(((white > 0.2) & (white < 0.8)).mean())

    # The averaged template blurs the GM/WM boundary over many voxels; the folded one is crisp.
    assert mixed(folded) < 0.5 * mixed(maps)
    # Sulci: CSF appears inside grey matter, as thin lines (most grey-matter voxels keep no CSF).
    gained = folded[2] - maps[2]
    grey = maps[0] > 0.5
    assert gained.max() > 0.5 and 0.02 < float((gained[grey] > 0.1).mean()) < 0.4


@pytest.mark.parametrize("path", ["builtin:mni152-synth:0", "builtin:mni152-synth:x", "builtin:mni152-synth:1:2:3"])
def test_bad_synth_specs_are_one_line_errors(path):
    with pytest.raises(MriSrError, match="mni152-synth"):
        load_source(path)
