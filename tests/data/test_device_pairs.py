"""Training pairs made on the device (``train.pairs_on: device``): the same degradation forward on
NumPy slices and torch batches, the same augmentation from the same draws, the same distributions
as the DataLoader workers' pairs, and batches that are a function of (seed, iteration, rank)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.data.augment import DEFAULTS as AUGMENTATIONS
from mri_sr.data.augment import AugmentationDraws, augment, augment_batch, augmentation, draw_augmentation
from mri_sr.data.dataset import BatchStream, batch_to_device
from mri_sr.data.degradation import DEGRADATIONS, KSpace, gaussian_blur
from mri_sr.errors import MriSrError
from mri_sr.resample import imresize_torch
from mri_sr.train.config import validate_model_config
from mri_sr.train.engine import pairs_on_device

SCALE, PATCH = 4, 24
BATCHES = 32  # of 8 samples, per path in the distribution test
CPU = torch.device("cpu")
KINDS = [DEGRADATIONS[name] for name in sorted(DEGRADATIONS)]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread, as in a DataLoader worker: small batched operations on a shared 2-core
    machine slow down many times with more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- one degradation forward for NumPy slices and torch batches ------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_batch_forward_equals_the_numpy_forward_without_noise(kind, slice_hr):
    # three images, each with its own blur and (for k-space) truncation factor
    blur, factor = [0.0, 0.45, 1.1], [1.0, 1.25, 1.1]
    per_image = {"blur_sigma": blur, "noise_sigma": [0.0] * 3,
                 **({"kspace_factor": factor} if kind is KSpace else {})}
    images = [slice_hr[:160, :160], slice_hr[20:180, 12:172], slice_hr[::-1, ::-1][:160, :160]]
    batch = torch.from_numpy(np.stack(images)[:, None])
    out = kind(SCALE).forward_batch(batch, **per_image)
    width = 160 // SCALE if kind.in_plane else 160  # a one-axis kind (the slice profile) keeps the columns
    assert out.shape == (3, 1, 160 // SCALE, width) and out.dtype == torch.float32
    for b, image in enumerate(images):
        single = kind(SCALE).replace(**{k: v[b] for k, v in per_image.items()})
        np.testing.assert_allclose(out[b, 0].numpy(), single(image, np.random.default_rng(0)), atol=2e-6)
        if b > 0:  # each image had its own parameters
            assert not np.allclose(out[b, 0].numpy(), kind(SCALE)(image, np.random.default_rng(0)), atol=1e-3)


def test_gaussian_blur_of_a_batch_is_scipys_per_image():
    from scipy.ndimage import gaussian_filter

    images = np.random.default_rng(0).random((5, 1, 20, 17))
    sigmas = np.array([0.0, 0.1, 0.6, 1.3, 7.0])  # radius 28 > 17: mirrored more than once
    out = gaussian_blur(torch.from_numpy(images), torch.from_numpy(sigmas)).numpy()
    for image, sigma, blurred in zip(images, sigmas, out):
        expected = gaussian_filter(image[0], sigma, mode="reflect") if sigma > 0 else image[0]
        np.testing.assert_allclose(blurred[0], expected, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_noise_has_the_numpy_noise_statistics(kind):
    # a flat image: Rician noise of each level, NumPy per image against the batch's generator
    hr = np.full((256, 256), 0.3, np.float32)
    sigmas = [0.0, 0.01, 0.03, 0.1]
    batch = torch.from_numpy(np.stack([hr] * len(sigmas))[:, None])
    out = kind(SCALE).forward_batch(batch, torch.Generator().manual_seed(0), noise_sigma=sigmas)
    clean = kind(SCALE)(hr, np.random.default_rng(0))
    for b, sigma in enumerate(sigmas):
        numpy_lr = kind(SCALE, noise_sigma=sigma)(hr, np.random.default_rng(b)).astype(np.float64)
        torch_lr = out[b, 0].numpy().astype(np.float64)
        if sigma == 0:
            np.testing.assert_allclose(torch_lr, clean, atol=1e-6)
            continue
        # Rician with a mean of 10-30 sigma: mean ~ sqrt(A^2 + sigma^2), std ~ sigma
        assert torch_lr.mean() == pytest.approx(numpy_lr.mean(), abs=3 * sigma / 64)
        assert torch_lr.std() == pytest.approx(numpy_lr.std(), rel=0.08)
        assert torch_lr.std() == pytest.approx(sigma, rel=0.1)
    # on zero signal the noise is Rayleigh, as the NumPy model's
    zero = kind(SCALE).forward_batch(torch.zeros(2, 1, 256, 256), torch.Generator().manual_seed(1),
                                     noise_sigma=[0.05, 0.05])
    assert zero.min() >= 0 and zero.mean().item() == pytest.approx(0.05 * np.sqrt(np.pi / 2), rel=0.02)


def test_batch_forward_rejects_a_parameter_the_kind_lacks():
    bicubic = next(k for k in KINDS if k is not KSpace)
    with pytest.raises(ValueError, match="kspace_factor"):
        bicubic(SCALE).forward_batch(torch.zeros(1, 1, 8, 8), kspace_factor=[1.2])


# --- one augmentation from the same draws ---------------------------------------------------------

def _drawn(pipeline, crops, margins):
    return AugmentationDraws.stack(pipeline, [draw_augmentation(pipeline, c.shape[-2:]) for c in crops], margins)


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_each_batched_augmentation_equals_the_monai_transform(prepared, name):
    only = {**dict.fromkeys(AUGMENTATIONS, 0.0), name: 1.0}
    crops = [prepared[j]["hr"][:, 40:136, 50:146] for j in (5, 15, 25, 35, 45, 60)]
    workers, device = augmentation(only), augmentation(only)
    workers.set_random_state(seed=5)
    device.set_random_state(seed=5)
    expected = [augment(workers, c) for c in crops]
    out = augment_batch(_drawn(device, crops, [0] * len(crops)), torch.from_numpy(np.stack(crops)))
    assert out.shape == (6, 1, 96, 96) and out.dtype == torch.float32
    for b, e in enumerate(expected):
        np.testing.assert_allclose(out[b].numpy(), e, atol=2e-5)
    assert not np.allclose(out.numpy(), np.stack(crops), atol=1e-3), f"{name} left the crops unchanged"


def test_mirrored_margin_leaves_the_crop_as_the_workers_augment_it(prepared):
    options = {**AUGMENTATIONS, "flip": 1.0, "rot90": 1.0, "bias_field": 1.0, "gamma": 1.0, "gibbs": 0.0}
    crops = [prepared[j]["hr"][:, 30:110, 40:120] for j in (10, 30, 50)]
    margins = [0, 8, 24]  # HR pixels on each side, as a slice too small for the context leaves
    workers, device = augmentation(options), augmentation(options)
    workers.set_random_state(seed=2)
    device.set_random_state(seed=2)
    expected = [augment(workers, c) for c in crops]
    draws = _drawn(device, crops, margins)
    for b, (crop, m) in enumerate(zip(crops, margins)):  # one size a batch: each crop alone
        single = AugmentationDraws(draws.steps, draws.applied[:, b:b + 1],
                                   tuple(x[b:b + 1] for x in draws.params), draws.margins[b:b + 1])
        padded = np.pad(crop, ((0, 0), (m, m), (m, m)), mode="symmetric")
        out = augment_batch(single, torch.from_numpy(padded[None]))[0].numpy()
        np.testing.assert_allclose(out[:, m:m + 80, m:m + 80], expected[b], atol=2e-5)


# --- the device path's batches --------------------------------------------------------------------

def _worker_samples(items, seed, batches, **options):
    """(lr, hr, draw) of each sample of the workers' batches 1..batches, as BatchStream makes them."""
    stream = BatchStream(items, 8, PATCH, SCALE, seed, 1, batches + 1, **options)
    samples = []
    for iteration in range(1, batches + 1):
        rng = np.random.default_rng([seed, iteration, 0])
        picks = rng.integers(len(items), size=8)
        stream.transform.set_random_state(seed=int(rng.integers(2**31 - 1)))
        samples += [stream.pair(stream.hr_slice(j, rng), rng) for j in picks]
    return ([torch.from_numpy(s[0]) for s in samples], [torch.from_numpy(s[1]) for s in samples],
            [s[2].degradation for s in samples])


def _device_samples(items, seed, batches, **options):
    """(lr, hr, degradation) of each sample of the device path's batches 1..batches (made on the CPU)."""
    stream = BatchStream(items, 8, PATCH, SCALE, seed, 1, batches + 1, pairs_on_device=True, **options)
    lrs, hrs, degradations = [], [], []
    for i in range(batches):
        batch = stream[i]
        lr, hr = batch_to_device(batch, CPU)
        lrs += list(lr)
        hrs += list(hr)
        degradations += [d.degradation for d in batch.degradation.draws]
    return lrs, hrs, degradations


def test_device_pairs_are_the_worker_pairs_from_the_same_draws(prepared):
    # no zoom (the full margin fits), no Gibbs ringing (a global transform, the one the mirrored
    # margin would change), no noise: the same (seed, iteration, rank) gives the same pairs
    options = {"augmentation": {"gibbs": 0.0}, "degradation": {"zoom": [1.0, 1.0], "noise_sigma": [0.0, 0.0],
                                                               "other_kind": 0.5}}
    lr_w, hr_w, deg_w = _worker_samples(prepared, 4, 6, **options)
    lr_d, hr_d, deg_d = _device_samples(prepared, 4, 6, **options)
    assert deg_w == deg_d and len({type(d) for d in deg_d}) == 2
    torch.testing.assert_close(torch.stack(hr_d), torch.stack(hr_w), atol=2e-6, rtol=0)
    torch.testing.assert_close(torch.stack(lr_d), torch.stack(lr_w), atol=2e-5, rtol=0)


def _statistics(lrs, hrs, degradations) -> dict[str, np.ndarray]:
    """Per-sample figures whose distributions the two paths must share."""
    lr, hr = torch.stack(lrs).double(), torch.stack(hrs).double()
    background = torch.nn.functional.max_pool2d(hr, SCALE) < 0.01  # LR pixels over empty HR
    noise_floor = [x[m].mean().item() if m.any() else np.nan for x, m in zip(lr, background)]
    bicubic = imresize_torch(hr, output_shape=(PATCH, PATCH))
    kspace = [d for d in degradations if isinstance(d, KSpace)]
    return {
        "kspace_share": np.array([isinstance(d, KSpace) for d in degradations], float),
        "blur_sigma": np.array([d.blur_sigma for d in degradations]),
        "noise_sigma": np.array([d.noise_sigma for d in degradations]),
        "kspace_factor": np.array([d.kspace_factor for d in kspace]),
        "hr_mean": hr.mean((1, 2, 3)).numpy(), "hr_std": hr.std((1, 2, 3)).numpy(),
        "hr_edges": (hr[..., 1:] - hr[..., :-1]).abs().mean((1, 2, 3)).numpy(),  # zoom: coarser anatomy
        "lr_mean": lr.mean((1, 2, 3)).numpy(), "lr_std": lr.std((1, 2, 3)).numpy(),
        "lr_edges": (lr[..., 1:] - lr[..., :-1]).abs().mean((1, 2, 3)).numpy(),
        "lr_noise_floor": np.array(noise_floor),
        "lr_minus_bicubic": (lr - bicubic).abs().mean((1, 2, 3)).numpy(),  # blur and truncation
    }


def _differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    """The figures whose means differ by more than 4 standard errors or whose spreads by more than 20 %."""
    out = []
    for name in a:
        x, y = a[name][~np.isnan(a[name])], b[name][~np.isnan(b[name])]
        error = np.sqrt(x.var() / len(x) + y.var() / len(y))
        if abs(x.mean() - y.mean()) > 4 * error + 1e-12 or not 0.8 <= (y.std() + 1e-12) / (x.std() + 1e-12) <= 1.25:
            out.append(name)
    return out


def test_device_pairs_follow_the_workers_distributions(prepared):
    options = {"augmentation": {}, "degradation": {}}  # the defaults: every augmentation, zoom 1-3
    workers = _statistics(*_worker_samples(prepared, 1, BATCHES, **options))
    device = _statistics(*_device_samples(prepared, 2, BATCHES, **options))  # another seed: other draws
    assert len(device["blur_sigma"]) == 8 * BATCHES
    assert _differences(workers, device) == []
    # the tolerances see a wrong range or a missing step
    wrong = {
        "blur_sigma": {"degradation": {"blur_sigma": [0.0, 0.9]}},
        "kspace_share": {"degradation": {"other_kind": 0.3}},
        "kspace_factor": {"degradation": {"kspace_factor": [1.0, 1.5]}},
        "lr_noise_floor": {"degradation": {"noise_sigma": [0.0, 0.0]}},  # no noise
        "hr_edges": {"degradation": {"zoom": [1.0, 1.0]}},  # no zoom
        "hr_std": {"augmentation": None},  # flips and rot90 only
    }
    for figure, changed in wrong.items():
        changed_device = _statistics(*_device_samples(prepared, 2, BATCHES, **{**options, **changed}))
        assert figure in _differences(workers, changed_device), figure


def test_device_batch_is_a_function_of_seed_iteration_and_rank(prepared):
    options = {"augmentation": {}, "degradation": {}, "pairs_on_device": True}
    first = BatchStream(prepared, 4, PATCH, SCALE, seed=7, start=1, stop=20, **options)
    resumed = BatchStream(prepared, 4, PATCH, SCALE, seed=7, start=6, stop=20, **options)
    other_rank = BatchStream(prepared, 4, PATCH, SCALE, seed=7, start=1, stop=20, rank=1, **options)
    a = batch_to_device(first[5], CPU)  # iteration 6 in each
    assert a[0].shape == (4, 1, PATCH, PATCH) and a[1].shape == (4, 1, 96, 96)
    again = batch_to_device(first[5], CPU)
    for made in (again, batch_to_device(resumed[0], CPU)):
        assert all(torch.equal(x, y) for x, y in zip(a, made))
    for other in (other_rank[5], first[6]):
        lr, hr = batch_to_device(other, CPU)
        assert not torch.equal(hr, a[1]) and not torch.equal(lr, a[0])


def test_pairs_on_resolves_auto_by_device_and_a_bad_value_is_one_line():
    assert pairs_on_device("auto", torch.device("cuda")) and not pairs_on_device("auto", CPU)
    assert pairs_on_device("device", CPU) and not pairs_on_device("workers", torch.device("cuda"))
    config = {"model": "m", "method": "psnr", "networks": {"net_g": {"type": "srresnet"}},
              "train": {"iterations": 1, "pairs_on": "gpu"}, "losses": {"weights": {"pixel": 1.0}}}
    with pytest.raises(MriSrError, match=r"^m.yaml: config key 'train.pairs_on': 'gpu' is not one of") as error:
        validate_model_config(config, name="m.yaml")
    assert "\n" not in str(error.value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pairs_made_on_cuda_equal_the_cpus(prepared):
    options = {"augmentation": {}, "degradation": {"noise_sigma": [0.0, 0.0]}, "pairs_on_device": True}
    stream = BatchStream(prepared, 8, PATCH, SCALE, seed=3, start=1, stop=4, **options)
    for i in range(3):
        batch = stream[i]
        on_cuda = batch_to_device(batch, torch.device("cuda"))
        assert all(x.is_cuda for x in on_cuda)
        for x, y in zip(on_cuda, batch_to_device(batch, CPU)):
            torch.testing.assert_close(x.cpu(), y, atol=2e-5, rtol=0)
    noisy = BatchStream(prepared, 8, PATCH, SCALE, seed=3, start=1, stop=2, augmentation={}, degradation={},
                        pairs_on_device=True)[0]
    assert torch.equal(batch_to_device(noisy, torch.device("cuda"))[0], batch_to_device(noisy, torch.device("cuda"))[0])
