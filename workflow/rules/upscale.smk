# Many scans (config["upscale"]["scans"]: NIfTI files, DICOM folders, BIDS roots) upscaled in-plane
# (mri-sr upscale) or along their slice axis (mri-sr throughplane, with upscale.through_plane),
# one job per scan, into the BIDS derivatives dataset config["upscale"]["out"] (mri_sr/bids.py).

include: "upscale_common.smk"


rule upscale_scan:
    input:
        scan=upscale_source,
        checkpoint=UPSCALE_CHECKPOINT,
    output:
        image=f"{UPSCALE_OUT}/{{bids_path}}.nii.gz",
        sidecar=f"{UPSCALE_OUT}/{{bids_path}}.json",
    params:
        command=UPSCALE_COMMAND,
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
        "mri-sr {params.command} {input.scan:q} {output.image:q} {params.options} > {log:q} 2>&1"


# Target: every listed scan upscaled, with its sidecar (and the dataset_description.json that each
# job keeps in place).
rule upscale:
    input:
        expand(f"{UPSCALE_OUT}/{{path}}.nii.gz", path=UPSCALE_SCANS),
        expand(f"{UPSCALE_OUT}/{{path}}.json", path=UPSCALE_SCANS),
