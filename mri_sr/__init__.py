"""mri-sr: MRI super-resolution with SRResCycGAN, SRGAN and ESRGAN."""

__version__ = "0.1.0"
