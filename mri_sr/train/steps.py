"""One training step per method. Each computes named, unweighted loss terms; weights are applied
by ``weighted_sum`` from the config. The adversarial parts are shared, never copied."""

from __future__ import annotations

from torch import Tensor, nn

from mri_sr.losses import weighted_sum
from mri_sr.train.trainer import Trainer


def _predict(net_d: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Discriminator logits of real and of fake, in separate forward passes (as BasicSR): a
    discriminator with BatchNorm then normalises each with its own batch statistics instead of
    one batch that mixes them."""
    return net_d(real), net_d(fake)


def adversarial_term(t: Trainer, net_d: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """Generator side: how far ``fake`` is from fooling ``net_d`` (real logits detached)."""
    real_pred, fake_pred = _predict(net_d, real, fake)
    return t.losses["gan"].generator_loss(real_pred.detach(), fake_pred)


def discriminator_term(t: Trainer, net_d: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator side, on detached fakes."""
    real_pred, fake_pred = _predict(net_d, real, fake.detach())
    return t.losses["gan"].discriminator_loss(real_pred, fake_pred)


def _image_terms(t: Trainer, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
    """Terms comparing SR with HR directly: pixel (content), perceptual, total variation."""
    terms = {}
    for name in ("pixel", "perceptual", "tv"):
        if name in t.losses:
            terms[name] = t.losses[name](sr.float(), hr)
    return terms


def psnr_step(t: Trainer, lr: Tensor, hr: Tensor) -> dict[str, float]:
    """PSNR-oriented (pre-)training: 1. content (L1/L2), 2. optional perceptual / TV;
    3. with a ``net_g_lr`` (SRResCycGAN's warm-up): ``lr_pixel`` = L1(G_LR(hr), lr), so that the
    degradation generator, too, enters the cycle stage trained."""
    with t.precision.autocast():
        sr = t.nets["net_g"](lr)
        terms = _image_terms(t, sr, hr)
        if "lr_pixel" in t.losses:
            terms["lr_pixel"] = t.losses["lr_pixel"](t.nets["net_g_lr"](hr).float(), lr)
        total, parts = weighted_sum(terms, t.weights)
    t.update(t.opt_g, total)
    return parts


def gan_step(t: Trainer, lr: Tensor, hr: Tensor) -> dict[str, float]:
    """SRGAN / ESRGAN: the ``gan`` loss's type (vanilla, lsgan, ragan) is the only difference.

    1. generator: content + perceptual + adversarial; 2. discriminator on real vs detached SR.
    """
    net_g, net_d = t.nets["net_g"], t.nets["net_d"]
    with t.precision.autocast():
        sr = net_g(lr)
        terms = _image_terms(t, sr, hr)
        terms["gan"] = adversarial_term(t, net_d, hr, sr)
        total, parts = weighted_sum(terms, t.weights)
    t.update(t.opt_g, total)
    with t.precision.autocast():
        loss_d = discriminator_term(t, net_d, hr, sr)
    t.update(t.opt_d, loss_d)
    return {**parts, "d": float(loss_d.detach())}


def cycle_step(t: Trainer, lr: Tensor, hr: Tensor) -> dict[str, float]:
    """SRResCycGAN: G_HR (LR -> HR), G_LR (HR -> LR), D_HR, D_LR.

    1. content / perceptual / TV on SR = G_HR(lr) against HR;
    2. adversarial in both domains: D_HR(SR vs HR) + D_LR(G_LR(hr) vs LR);
    3. cycle: |G_LR(G_HR(lr)) - lr| + |G_HR(G_LR(hr)) - hr|;
    4. identity: |G_HR(lr) - hr| + |G_LR(up(lr)) - lr| (see ``IdentityLoss``);
    5. optional ``lr_pixel``: |G_LR(hr) - lr|, the warm-up's supervised degradation term, and
       ``lr_consistency``: |down(SR) - lr| with the known resampling (``LRConsistencyLoss``);
    then both discriminators on detached fakes. The two generators share one Adam optimiser
    (and the two discriminators another): Adam is per-parameter, so this equals one each.
    """
    g_hr, g_lr = t.nets["net_g"], t.nets["net_g_lr"]
    d_hr, d_lr = t.nets["net_d"], t.nets["net_d_lr"]
    with t.precision.autocast():
        sr, lr_fake = g_hr(lr), g_lr(hr)
        terms = _image_terms(t, sr, hr)
        if "gan" in t.losses:
            terms["gan"] = adversarial_term(t, d_hr, hr, sr) + adversarial_term(t, d_lr, lr, lr_fake)
        if "cycle" in t.losses:
            terms["cycle"] = t.losses["cycle"](g_lr(sr).float(), lr) + t.losses["cycle"](g_hr(lr_fake).float(), hr)
        if "identity" in t.losses:
            identity_hr, identity_lr = t.losses["identity"](sr.float(), g_lr, lr, hr)
            terms["identity"] = identity_hr + identity_lr
        if "lr_pixel" in t.losses:
            terms["lr_pixel"] = t.losses["lr_pixel"](lr_fake.float(), lr)
        if "lr_consistency" in t.losses:
            terms["lr_consistency"] = t.losses["lr_consistency"](sr.float(), lr)
        total, parts = weighted_sum(terms, t.weights)
    t.update(t.opt_g, total)
    if "gan" in t.losses:
        with t.precision.autocast():
            loss_d = discriminator_term(t, d_hr, hr, sr) + discriminator_term(t, d_lr, lr, lr_fake)
        t.update(t.opt_d, loss_d)
        parts["d"] = float(loss_d.detach())
    return parts


STEPS = {"psnr": psnr_step, "gan": gan_step, "cycle": cycle_step}
