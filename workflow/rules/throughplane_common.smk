# Config lookups of the through-plane rules (workflow/rules/throughplane.smk).
THROUGHPLANE_SCANS = {scan["name"]: scan for scan in config["throughplane"]["scans"]}


wildcard_constraints:
    scan="|".join(sorted(THROUGHPLANE_SCANS)) or "no-scans",


def throughplane_scan(wildcards):
    return THROUGHPLANE_SCANS[wildcards.scan]["path"]


def throughplane_options(wildcards):
    settings, volume = config["throughplane"], THROUGHPLANE_SCANS[wildcards.scan].get("volume")
    options = f"--minutes {settings['minutes']} --model {settings['model']} --device {settings['device']}"
    return options + (f" --volume {volume}" if volume is not None else "") + f" --seed {config['seed']}"
