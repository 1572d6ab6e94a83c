"""Training: one engine, one step function per method, checkpoints and schedules."""

from mri_sr.train.engine import train
from mri_sr.train.model_config import load_model_config

__all__ = ["load_model_config", "train"]
