# Through-plane super-resolution of the thick-slice scans listed in config["throughplane"]["scans"]
# (self-trained on each scan; no training data), and a page of orthogonal views.


include: "throughplane_common.smk"


rule throughplane_upscale:
    input:
        scan=throughplane_scan,
    output:
        "results/throughplane/{scan}.nii.gz",
    params:
        options=throughplane_options,
    log:
        "logs/throughplane/{scan}.log",
    benchmark:
        "benchmarks/throughplane/{scan}.tsv"
    threads: config["throughplane"]["threads"]
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr throughplane {input.scan} {output} {params.options} > {log} 2>&1"


rule throughplane_report:
    input:
        scans=[scan["path"] for scan in THROUGHPLANE_SCANS.values()],
        results=expand("results/throughplane/{scan}.nii.gz", scan=THROUGHPLANE_SCANS),
    output:
        report("results/throughplane/index.html", category="Through-plane"),
    log:
        "logs/throughplane/report.log",
    conda:
        "../envs/mri-sr.yaml"
    shell:
        "mri-sr throughplane-report --scans {input.scans} --results {input.results} --out {output} > {log} 2>&1"


# Target: every listed scan made isotropic, with the report page.
rule throughplane:
    input:
        "results/throughplane/index.html",
