"""Clusters for the fleet tests (not a test module): a Ray head and a single-node Slurm.

Both run on this machine, on free ports, with their state in a temporary folder, and are
stopped by the process ids the helpers started (never ``ray stop`` or ``pkill``, which
would hit other people's clusters on a shared machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from support import child_env, wait_for  # noqa: E402


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on loopback right now."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _session_members(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (the ones a ``start_new_session`` child made)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after "pid (comm)": state ppid pgrp session
            members.append(int(entry.name))
    return members


def end_session(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """SIGTERM a session leader we started, then SIGKILL whatever is left of its session."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid in _session_members(process.pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------
# Ray


@contextmanager
def ray_head(num_cpus: int = 2, num_gpus: int = 2, timeout_s: float = 180.0) -> Iterator[str]:
    """A Ray head on loopback (``ray start --head --block``); yields the job server's URL.

    ``num_gpus`` are logical GPUs (Ray's accounting: jobs asking for them get scheduled and
    a ``CUDA_VISIBLE_DEVICES``), so ``--gpus-per-worker`` is exercised without hardware.
    """
    from ray.job_submission import JobSubmissionClient

    ports = free_ports(9)
    # Ray's unix sockets live under the temp dir: keep its path short (108-byte limit).
    temp_dir = tempfile.mkdtemp(prefix="sgray", dir="/tmp")
    log = Path(temp_dir) / "ray-start.log"
    env = child_env(HERE, RAY_USAGE_STATS_ENABLED="0")
    command = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--block",
        f"--port={ports[0]}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={ports[1]}",
        f"--ray-client-server-port={ports[2]}",
        f"--dashboard-agent-listen-port={ports[3]}",
        f"--dashboard-agent-grpc-port={ports[4]}",
        f"--metrics-export-port={ports[5]}",
        f"--node-manager-port={ports[6]}",
        f"--object-manager-port={ports[7]}",
        f"--runtime-env-agent-port={ports[8]}",
        f"--num-cpus={num_cpus}",
        f"--num-gpus={num_gpus}",
        f"--temp-dir={temp_dir}",
        "--include-dashboard=true",
        "--disable-usage-stats",
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    address = f"http://127.0.0.1:{ports[1]}"

    def job_server_up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"ray start exited: {log.read_text()[-3000:]}")
        try:
            JobSubmissionClient(address).list_jobs()
            return True
        except Exception:
            return False

    try:
        wait_for(job_server_up, timeout_s, "Ray's job server", poll_s=0.5)
        yield address
    finally:
        end_session(process)
        shutil.rmtree(temp_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Slurm


def slurm_available() -> bool:
    return all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "squeue"))


SLURM_CONF = """\
ClusterName=segevo-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmUser={user}
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
"""


@contextmanager
def single_node_slurm(timeout_s: float = 60.0) -> Iterator[dict[str, str]]:
    """slurmctld + slurmd for this machine (no munge: ``auth/none``); yields the env to use.

    (Count-only GPUs, a ``gres.conf`` without device files, were tried: Debian's slurmd
    22.05 reports 0 of them and the node goes INVAL, so the Slurm test asks for no GPUs.)
    """
    import getpass

    root = Path(tempfile.mkdtemp(prefix="sgslurm", dir="/tmp"))
    (root / "state").mkdir()
    (root / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    ctld_port, d_port = free_ports(2)
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=host,
            ctld_port=ctld_port,
            d_port=d_port,
            root=root,
            user=getpass.getuser(),
            cpus=os.cpu_count() or 1,
        )
    )
    env = {"SLURM_CONF": str(conf)}
    full_env = {**os.environ, **env}
    daemons: list[subprocess.Popen] = []
    try:
        for daemon in ("slurmctld", "slurmd"):
            with open(root / f"{daemon}.out", "ab") as out:
                daemons.append(
                    subprocess.Popen(
                        [daemon, "-D", "-f", str(conf)],
                        env=full_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

        def node_idle() -> bool:
            for process in daemons:
                if process.poll() is not None:
                    logs = "".join(
                        p.read_text()[-2000:] for p in sorted(root.glob("slurm*.log")) if p.exists()
                    )
                    raise AssertionError(f"a Slurm daemon exited: {logs}")
            state = subprocess.run(
                ["sinfo", "--noheader", "--format=%T"], env=full_env, capture_output=True, text=True
            ).stdout.split()
            return state == ["idle"]

        wait_for(node_idle, timeout_s, "the Slurm node to be idle", poll_s=0.3)
        yield env
    finally:
        subprocess.run(["scancel", "--user", getpass.getuser()], env=full_env, capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listing = subprocess.run(
                ["squeue", "--noheader"], env=full_env, capture_output=True, text=True
            )
            if listing.returncode != 0 or not listing.stdout.strip():
                break
            time.sleep(0.3)
        for process in reversed(daemons):
            end_session(process, grace_s=15.0)
        shutil.rmtree(root, ignore_errors=True)
