"""The Slurm profile against a real Slurm: a one-node cluster started here from Debian's packages
(slurm-wlm, munge; installed with apt-get when missing and we are root).

The cluster runs as root with its own ports and ``slurm.conf`` in a temporary folder, and a
munge daemon with its own key on munge's default socket unless one already answers there; no accounting database: the job completion log
(``jobcomp/filetxt``) records every job, and the profile's jobs are followed with ``squeue``
(``MinJobAge`` keeps finished jobs listed). Every daemon started here is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_DATA = REPO.parent / "shared" / "data"
PARTITION = "gpu"  # the partition workflow/profiles/slurm submits to


def install_slurm() -> str | None:
    """Install slurm-wlm and munge with apt-get when missing; the reason it cannot, or None."""
    if all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "munged")):
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "Slurm is not installed and cannot be (needs root and apt-get: apt-get install slurm-wlm munge)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if result.returncode != 0:
            return f"{' '.join(command)} failed: {result.stderr.strip().splitlines()[-1:]}"
    return None


MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
"""munge's default socket: a configless slurmd authenticates through it before it has a config."""


def munge_works(env: dict[str, str]) -> bool:
    """Whether a munged answers on the default socket (a credential it makes can be decoded)."""
    if not MUNGE_SOCKET.exists():
        return False
    made = subprocess.run(["munge", "-n"], capture_output=True, env=env)
    return made.returncode == 0 and subprocess.run(["unmunge"], input=made.stdout, capture_output=True,
                                                   env=env).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SLURM_CONF = """\
ClusterName=mrisrtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldParameters=enable_configless
MinJobAge=3600
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} NodeAddr=127.0.0.1 CPUs=32 RealMemory=256000 State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class Cluster:
    """A running one-node Slurm: its folder, the environment its clients need, its daemons."""

    def __init__(self, root: Path) -> None:
        self.root, self.processes = root, []
        self.env = {**os.environ, "SLURM_CONF": str(root / "slurm.conf"), "PATH": f"{BIN}:{os.environ['PATH']}",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}

    def start(self) -> None:
        root = self.root
        for folder in ("state", "spool", "munge"):
            (root / folder).mkdir(mode=0o700)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        host = socket.gethostname().split(".")[0]
        ctld_port = free_port()
        (root / "slurm.conf").write_text(SLURM_CONF.format(host=host, root=root, partition=PARTITION,
                                                           ctld_port=ctld_port, slurmd_port=free_port()))
        if not munge_works(self.env):  # else: the machine's munged (any key: every daemon here uses it)
            MUNGE_SOCKET.parent.mkdir(parents=True, exist_ok=True)
            self.daemon(["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={MUNGE_SOCKET}",
                         f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/munge/munged.log",
                         f"--seed-file={root}/munge/munged.seed"])
            self.wait_for(lambda: munge_works(self.env), "munged")
        conf = str(root / "slurm.conf")
        self.daemon(["slurmctld", "-D", "-i", "-f", conf])
        # configless slurmd: it fetches slurm.conf from slurmctld and shows it to the jobs' own
        # Slurm commands (srun inside a job sees no SLURM_CONF)
        self.wait_for(lambda: (root / "slurmctld.pid").exists(), "slurmctld")
        self.daemon(["slurmd", "-D", "--conf-server", f"127.0.0.1:{ctld_port}"])
        self.wait_for(self.node_idle, "the node to be idle")

    def daemon(self, command: list[str]) -> None:
        log = open(self.root / f"{Path(command[0]).name}.out", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env))

    def node_idle(self) -> bool:
        result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def wait_for(self, ready, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"waiting for {what}: {dead or 'timed out'}\n{self.logs()}")
            time.sleep(0.5)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.root.glob("*.out"))
                         + sorted(self.root.glob("*.log")))

    def stop(self) -> None:
        subprocess.run(["scancel", "--full", "--partition", PARTITION], capture_output=True, env=self.env)
        for process in reversed(self.processes):  # slurmd, slurmctld, then munged
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        config_link = Path("/run/slurm/conf")  # the configless slurmd's pointer to its config cache
        if config_link.is_symlink() and os.readlink(config_link).startswith(str(self.root)):
            config_link.unlink()

    def completed_jobs(self) -> dict[str, str]:
        """Slurm job id -> state, from the job completion log."""
        text = (self.root / "jobcomp.log").read_text() if (self.root / "jobcomp.log").exists() else ""
        return dict(re.findall(r"JobId=(\d+) .*?JobState=(\S+)", text))


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = install_slurm()
    if reason:
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons run as root")
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def small_config(scan: dict | None = None) -> dict:
    """configs/default.yaml cut to one tiny SRResNet trained a few iterations, evaluated on the
    template's test slabs only, and with ``scan`` (an ``upscale.scans`` entry) an ``upscale`` of
    that scan with that SRResNet."""
    config = yaml.safe_load((REPO / "configs/default.yaml").read_text())
    config["data"]["sources"] = [{"path": "builtin:mni152"}]
    config["models"] = ["srresnet"]
    config["training"]["interpolate"] = {}
    config["training"]["threads"] = 2
    config["training"]["overrides"] = {
        "all": {"train": {"batch_size": 2, "lr_patch_size": 16, "num_workers": 0},
                "validation": {"every": 4, "max_slices": 2}, "checkpoint_every": 4},
        "srresnet": {"networks": {"net_g": {"num_feat": 8, "num_block": 1}}, "train": {"iterations": 4}},
    }
    config["evaluation"].update(scans=[], natural_sets=[], baselines=["bicubic"], self_ensemble=False, threads=2)
    if scan is None:
        return config
    config["upscale"] = {"scans": [scan], "out": "results/derivatives/mri-sr", "model": "srresnet", "scale": 4,
                         "device": "cpu"}
    return config


def test_slurm_profile_runs_the_workflow_chain_and_upscale(slurm, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "configs").symlink_to(REPO / "configs")
    if SHARED_DATA.is_dir():
        scan = {"path": str(SHARED_DATA / "mri/dicom/siemens_xa30_t1_enhanced"), "subject": "siemens"}
    else:  # a small real volume from nilearn's wheel: a crop of the MNI152 template, as a NIfTI file
        from nilearn.datasets import load_mni152_template

        load_mni152_template(resolution=1).slicer[60:124, 70:134, 80:88].to_filename(workdir / "mni_crop.nii.gz")
        scan = {"path": str(workdir / "mni_crop.nii.gz"), "subject": "mni"}
    config = small_config(scan)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--profile", str(REPO / "workflow/profiles/slurm"), "--configfile", str(workdir / "config.yaml"),
         "--jobs", "4", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
         "--latency-wait", "5", "all", "upscale"],
        cwd=workdir, capture_output=True, text=True, timeout=900, env=slurm.env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:] + slurm.logs()

    # every job of the run (the target rules `all` and `upscale` run nothing) was a Slurm job that completed
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", output)
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", output.split("Job stats:")[1].split("total")[0], re.MULTILINE))
    planned = {rule: int(count) for rule, count in planned.items() if rule not in ("all", "upscale")}
    assert {"prepare", "train", "evaluate", "report", "upscale_scan"} <= set(planned), output[-3000:]
    assert Counter(rule for _, rule in submitted) == planned, output[-3000:]
    completed = slurm.completed_jobs()
    assert all(completed.get(job_id) == "COMPLETED" for job_id, _ in submitted), (submitted, completed)
    assert (workdir / "results/report/index.html").exists()
    upscaled = list((workdir / "results/derivatives/mri-sr").rglob("*_desc-srresnet_T1w.nii.gz"))
    assert len(upscaled) == 1 and upscaled[0].with_name(upscaled[0].name.replace(".nii.gz", ".json")).exists()


DDP_SCRIPT = """
import os, sys, torch, yaml
from mri_sr.train import train
from mri_sr.train.config import validate_model_config
config = validate_model_config(yaml.safe_load(open(sys.argv[1])), name=sys.argv[1])
result = train(config, sys.argv[2], sys.argv[3], device="cpu")
torch.save({"world_size": int(os.environ["WORLD_SIZE"]), "job": os.environ["SLURM_JOB_ID"],
            "net_g": result.nets["net_g"].state_dict()}, os.path.join(sys.argv[3], f"rank{os.environ['RANK']}.pt"))
"""


def test_two_process_ddp_training_inside_one_slurm_job(slurm, tmp_path):
    import torch

    from mri_sr.config import validate_config
    from mri_sr.data.prepare import prepare
    from mri_sr.train.config import resolve_models

    config = validate_config(small_config())
    prepare(config, 4, tmp_path / "x4")
    model = resolve_models(config)["srresnet"]
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    (tmp_path / "ddp.py").write_text(DDP_SCRIPT)
    command = (f"OMP_NUM_THREADS=1 {sys.executable} -m torch.distributed.run --standalone --nproc_per_node 2 "
               f"{tmp_path / 'ddp.py'} {tmp_path / 'model.yaml'} {tmp_path / 'x4'} {tmp_path / 'run'}")
    result = subprocess.run(["sbatch", "--wait", "--parsable", "--job-name", "mri-sr-ddp", "--nodes", "1",
                             "--ntasks", "1", "--cpus-per-task", "2", "--output", str(tmp_path / "ddp.log"),
                             "--chdir", str(tmp_path), "--wrap", command],
                            capture_output=True, text=True, timeout=600, env=slurm.env)
    log = (tmp_path / "ddp.log").read_text() if (tmp_path / "ddp.log").exists() else ""
    assert result.returncode == 0, result.stderr + log[-4000:]
    job_id = result.stdout.strip().split(";")[0]
    assert slurm.completed_jobs().get(job_id) == "COMPLETED"
    ranks = [torch.load(tmp_path / "run" / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and {r["job"] for r in ranks} == {job_id}
    for key, value in ranks[0]["net_g"].items():
        assert torch.equal(value, ranks[1]["net_g"][key]), key
