# The scans of config["upscale"] and the options of their jobs (mri_sr/bids.py).

from mri_sr.bids import list_scans, upscale_arguments, upscale_checkpoint, upscale_command

UPSCALE = config["upscale"]
UPSCALE_OUT = UPSCALE["out"].rstrip("/")
# output path inside the derivatives folder (no extension) -> source scan
UPSCALE_SCANS = {scan.path: scan.source for scan in list_scans(UPSCALE)}
UPSCALE_CHECKPOINT = upscale_checkpoint(UPSCALE) or []
UPSCALE_COMMAND = upscale_command(UPSCALE)
UPSCALE_ARGUMENTS = upscale_arguments(UPSCALE)


wildcard_constraints:
    bids_path=r"sub-[A-Za-z0-9]+/(ses-[A-Za-z0-9]+/)?anat/[A-Za-z0-9_-]+",


def upscale_source(wildcards):
    return UPSCALE_SCANS[wildcards.bids_path]
