"""Where a result came from: the code (version, and the commit where it runs
from a git checkout), the libraries, the device and the processor, and when.

Wall-clock figures mean little without the machine that measured them, and
accuracy figures without the code; every results.json records both.
"""

import datetime
import os
import platform
import subprocess
from pathlib import Path


def git_commit(folder):
    """``(short commit, dirty)`` of the git checkout whose top level holds
    ``folder``; ``(None, None)`` when it is not such a checkout (an installed
    package, even inside another repository) or git is absent."""
    folder = Path(folder).resolve()

    def git(*arguments):
        done = subprocess.run(["git", "-C", str(folder), *arguments],
                              capture_output=True, text=True, timeout=10,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else None
    try:
        top = git("rev-parse", "--show-toplevel")
        # The package must be a folder of the checkout's top level, not a
        # site-packages folder inside some other repository.
        if top is None or Path(top).resolve() != folder.parent:
            return None, None
        commit = git("rev-parse", "--short", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None, None
    if commit is None:
        return None, None
    return commit, None if status is None else bool(status)


def processor_name():
    """The processor's model name ("model name" of /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def device_name(device, processor=None):
    """The name of a torch device: the CUDA device's, or the processor's."""
    import torch
    try:
        device = torch.device(device)
        if device.type == "cuda":
            return torch.cuda.get_device_name(device)
    except Exception:  # no CUDA build, no such device: a name is optional
        return None
    return processor if device.type == "cpu" else None


def collect(device="cpu"):
    """The provenance of a run on ``device``, as a JSON-ready dict
    (``device=None``: a process that trains nothing, such as a merge)."""
    import numpy
    import sklearn
    import skorch
    import torch

    import sklearn_crest
    commit, dirty = git_commit(Path(sklearn_crest.__file__).parent)
    processor = processor_name()
    return {
        "sklearn_crest": sklearn_crest.__version__,
        "commit": commit,
        "dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "device": None if device is None else str(device),
        "device_name": None if device is None else device_name(device, processor),
        "processor": processor,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
    }


def describe(provenance):
    """One line: the machine, the device and the versions."""
    if not provenance:
        return "provenance: not recorded (a result that predates it)"
    get = provenance.get
    code = f"sklearn-crest {get('sklearn_crest')}"
    if get("commit"):
        code += f" ({get('commit')}{', dirty' if get('dirty') else ''})"
    device = get("device") or "none"
    if get("device_name") and get("device_name") != get("processor"):
        device += f" ({get('device_name')})"
    return (f"{get('processor')}, {get('cpu_count')} CPUs, {get('torch_threads')} "
            f"torch threads, device {device}; {code}, torch {get('torch')}, skorch "
            f"{get('skorch')}, scikit-learn {get('scikit-learn')}, numpy "
            f"{get('numpy')}, Python {get('python')}; {get('date')}")
