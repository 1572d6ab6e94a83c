"""Training: one engine, one step function per method, checkpoints and schedules."""

from mri_sr.train.config import load_model_config
from mri_sr.train.engine import train

__all__ = ["load_model_config", "train"]
