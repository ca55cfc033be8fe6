"""Check the Dockerfile without a container engine, as far as that goes:

    python -m tools.check_dockerfile            # parse and check its user, paths, port, healthcheck
    python -m tools.check_dockerfile --install  # also run its RUN lines in a fresh venv (minutes)

The RUN lines are run as the image would run them, with ``pip install --user`` replaced
by the venv's pip; ``--torch-index`` replaces the Dockerfile's TORCH_INDEX where PyTorch's
own index can't be reached (this machine only reaches PyPI, whose torch 2.13.0 wheel is
the CUDA build: the CPU index is what keeps the image small, which is not checked here).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    pairs = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def check(text: str) -> list[str]:
    """What is wrong with the Dockerfile, as sentences (empty when nothing is)."""
    steps = instructions(text)
    kinds = [kind for kind, _ in steps]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(rest for kind, rest in steps if kind == "ENV")))
    problems = []
    if "USER" not in kinds or dict(steps).get("USER") != "user":
        problems.append("the app must run as the unprivileged user 'user' (uid 1000 on Spaces)")
    if not any(kind == "RUN" and "--uid 1000" in rest for kind, rest in steps):
        problems.append("the user must have uid 1000, as Spaces expects")
    if env.get("GRADIO_SERVER_NAME") != "0.0.0.0" or env.get("GRADIO_SERVER_PORT") != "7860":
        problems.append("the app must listen on 0.0.0.0:7860")
    for name in ("HOME", "HF_HOME", "PLAYGROUND_DATA_DIR"):
        if not env.get(name, "").startswith("/home/user"):
            problems.append(f"{name} must lie in the user's home, which the user can write")
    if "HEALTHCHECK" not in kinds:
        problems.append("no HEALTHCHECK")
    runs = " ".join(rest for kind, rest in steps if kind == "RUN")
    if "torch==" in runs and "--index-url" not in runs:
        problems.append("torch comes from PyPI's CUDA build: give the CPU index for a CPU image")
    # The lock that requirements.txt pulls in (-r, -c) is in the image before it is installed.
    install_at = next(
        (i for i, (kind, rest) in enumerate(steps) if kind == "RUN" and "-r requirements.txt" in rest), None
    )
    copied = [
        source.rstrip("/")
        for kind, rest in steps[:install_at]
        if kind == "COPY"
        for source in [w for w in rest.split() if not w.startswith("--")][:-1]
    ]
    for included in re.findall(r"^-[rc] (\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE):
        if install_at is None or not any(included == c or included.startswith(c + "/") for c in copied):
            problems.append(f"{included} (which requirements.txt installs) is not copied before the install")
    if not any(kind == "CMD" and "app.py" in rest for kind, rest in steps):
        problems.append("CMD does not start app.py")
    return problems


def install(text: str, torch_index: str | None) -> None:
    """Run the Dockerfile's RUN lines that install Python packages in a fresh venv."""
    args = {m[0]: m[1] for m in re.findall(r"ARG (\w+)=(\S+)", text)}
    if torch_index:
        args["TORCH_INDEX"] = torch_index
    with tempfile.TemporaryDirectory(prefix="dockerfile-venv-") as folder:
        subprocess.run([sys.executable, "-m", "venv", folder], check=True)
        pip = str(Path(folder) / "bin" / "pip")
        for kind, rest in instructions(text):
            if kind != "RUN" or "pip install" not in rest:
                continue
            for command in rest.split("&&"):
                words = [args.get(w.strip('"$'), w) if w.startswith(('"$', "$")) else w for w in shlex.split(command)]
                words = [w for w in words if w != "--user"]
                words = [pip if w == "pip" else w for w in words]
                if "--index-url" in words and not torch_index:
                    words = [w for i, w in enumerate(words) if w != "--index-url" and words[i - 1] != "--index-url"]
                print("+", " ".join(words), flush=True)
                subprocess.run(words, check=True, cwd=ROOT)
        subprocess.run(
            [str(Path(folder) / "bin" / "python"), "-c", "import app"],
            check=True,
            cwd=ROOT,
            env={"HF_HUB_OFFLINE": "1", "MODEL_PROFILE": "tiny", "HOME": folder, "PATH": "/usr/bin:/bin"},
        )
        print("The Dockerfile's packages install and the app imports.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install", action="store_true", help="also run the RUN lines in a fresh venv")
    parser.add_argument("--torch-index", help="the index for torch instead of the Dockerfile's (default: PyPI)")
    args = parser.parse_args(argv)
    text = (ROOT / "Dockerfile").read_text()
    problems = check(text)
    for problem in problems:
        print(f"Dockerfile: {problem}", file=sys.stderr)
    if not problems:
        print("The Dockerfile's user, paths, port, healthcheck and PyTorch source are as they should be.")
    if args.install and not problems:
        install(text, args.torch_index)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
