# Many scans (config["upscale"]["scans"]: NIfTI files, DICOM folders, BIDS roots) upscaled in-plane,
# one job per scan, into the BIDS derivatives dataset config["upscale"]["out"] (mri_sr/bids.py).

from mri_sr.bids import list_scans, upscale_arguments, upscale_checkpoint

UPSCALE = config["upscale"]
UPSCALE_OUT = UPSCALE["out"].rstrip("/")
# output path inside the derivatives folder (no extension) -> source scan
UPSCALE_SCANS = {scan.path: scan.source for scan in list_scans(UPSCALE)}
UPSCALE_CHECKPOINT = upscale_checkpoint(UPSCALE) or []
UPSCALE_ARGUMENTS = upscale_arguments(UPSCALE)


wildcard_constraints:
    bids_path=r"sub-[A-Za-z0-9]+/(ses-[A-Za-z0-9]+/)?anat/[A-Za-z0-9_-]+",


def upscale_source(wildcards):
    return UPSCALE_SCANS[wildcards.bids_path]


rule upscale_scan:
    input:
        scan=upscale_source,
        checkpoint=UPSCALE_CHECKPOINT,
    output:
        image=f"{UPSCALE_OUT}/{{bids_path}}.nii.gz",
        sidecar=f"{UPSCALE_OUT}/{{bids_path}}.json",
    params:
        options=UPSCALE_ARGUMENTS,
    log:
        "logs/upscale/{bids_path}.log",
    benchmark:
        "benchmarks/upscale/{bids_path}.tsv"
    threads: UPSCALE["threads"]
    resources:
        gpu=UPSCALE["gpus"],
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr upscale {input.scan:q} {output.image:q} {params.options} > {log:q} 2>&1"


# Target: every listed scan upscaled, with its sidecar (and the dataset_description.json that each
# job keeps in place).
rule upscale:
    input:
        expand(f"{UPSCALE_OUT}/{{path}}.nii.gz", path=UPSCALE_SCANS),
        expand(f"{UPSCALE_OUT}/{{path}}.json", path=UPSCALE_SCANS),
