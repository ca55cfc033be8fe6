"""The locks are what is installed: every distribution in this environment is pinned in
requirements/dev.txt at the version installed, and nothing is installed that the locks do
not name (the CUDA packages of torch's CUDA build are pinned in requirements/cuda.txt). The
locks agree with each other and with their inputs, requirements/*.in (`make lock`)."""

import importlib.metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT


def pins(name: str) -> dict[str, Version]:
    """The distributions a lock file pins for this platform and Python: {name: version}."""
    pinned = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # a lock pins one version, with ==
        assert specifier.operator == "==", f"{name}: {line!r} is not an exact pin"
        if requirement.marker is None or requirement.marker.evaluate():
            pinned[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pinned


def inputs(name: str) -> list[Requirement]:
    """The requirements of an input file, with those of the files it includes (-r)."""
    found = []
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += inputs(line[3:].strip())
        elif line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def test_what_is_installed_is_exactly_the_lock():
    # torch's CUDA build brings the packages of cuda.txt (none here with the CPU build).
    locked = pins("cuda.txt") | pins("dev.txt")
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in importlib.metadata.distributions()}
    # A local build label is the same release: torch 2.13.0+cpu (this project's CI) is torch==2.13.0.
    differ = {
        name: (str(locked[name]), str(version))
        for name, version in installed.items()
        if name in locked and version.public != str(locked[name])
    }
    unlocked = sorted(set(installed) - set(locked))
    missing = sorted(set(pins("dev.txt")) - set(installed))
    hint = "the environment differs from requirements/dev.txt: `make clean test` rebuilds it from the lock"
    assert not differ, f"{hint}; (locked, installed): {differ}"
    assert not unlocked, f"{hint}; installed but not in the lock: {unlocked}"
    assert not missing, f"{hint}; in the lock but not installed: {missing}"


def test_the_locks_agree():
    """The tests run on the versions a user gets: every package of the app's lock is in the
    dev lock at the same version, and the CUDA constraints never ask for another version of
    one of them. requirements.txt, which a Space installs, is the app's lock with those
    constraints."""
    app, dev, cuda = pins("app.txt"), pins("dev.txt"), pins("cuda.txt")
    assert {name: dev.get(name) for name in app} == app
    assert {name: version for name, version in cuda.items() if name in app} == {n: app[n] for n in cuda if n in app}
    lines = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert lines == ["-r requirements/app.txt", "-c requirements/cuda.txt"]


@pytest.mark.parametrize("source, lock", [("app.in", "app.txt"), ("dev.in", "dev.txt"), ("cuda.in", "cuda.txt")])
def test_the_locks_follow_their_inputs(source, lock):
    """Every direct requirement is in its lock, at a version it allows: a requirement added or
    changed in an input file without `make lock` fails here."""
    locked = pins(lock)
    for requirement in inputs(source):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} ({source}) is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock} pins {name}=={locked[name]}, outside {source}'s {requirement.specifier}: run `make lock`"
        )
