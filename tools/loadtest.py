"""Load test: N concurrent gradio_client clients call the app's endpoints for M seconds.

    python -m tools.loadtest                                 # starts the app (tiny profile), 8 clients, 30 s
    python -m tools.loadtest --clients 16 --seconds 60 --json out/load.json
    python -m tools.loadtest --url http://127.0.0.1:7860/ --pid 12345   # an app already running here
    python -m tools.loadtest --class-of 30      # 30 students on one address, every tab at its heaviest
    python -m tools.loadtest --replicas 2 --compare --clients 50 --endpoints chat,caption \
        --env BACKEND_CHAT=http://127.0.0.1:8000/v1 --env BACKEND_CHAT_MODEL=...   # replicas and a model server

It only talks to this machine (loopback addresses), and stops by itself: after
``--seconds``, or after ``--max-requests`` requests in all, whichever comes first (a
request still running then gets ``--grace`` more seconds). It reports successes,
errors (by message), p50/p95 latency per endpoint, and the server's memory (resident
set size, with its child processes) after the warm-up, half-way and at the end: the
growth over the second half is what a leak shows up in, after caches have filled.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "assets" / "images" / "cat.jpg"
ENDPOINTS = ("caption", "vqa", "text_to_image", "search_by_text", "search_by_image", "classify")
OPTIONAL = ("chat",)  # on request (--endpoints): with BACKEND_CHAT, the model server's load
LIMITS = {"clients": 64, "seconds": 600, "max_requests": 100_000}


def request_for(endpoint: str, i: int, image_path: Path = IMAGE) -> dict:
    """The keyword arguments of a small, valid request to ``endpoint`` (the i-th one)."""
    from gradio_client import handle_file

    image = handle_file(str(image_path))
    return {
        "caption": dict(image=image, max_new_tokens=10, num_beams=1),
        "vqa": dict(image=image, question="What animal is this?"),
        "text_to_image": dict(prompt="a red fox in the snow", seed=i, width=64, height=64, num_inference_steps=2),
        "search_by_text": dict(query="a cat", top_k=4),
        "search_by_image": dict(image=image, top_k=4),
        "classify": dict(image=image, labels="cat, dog, bird"),
        "chat": dict(message="What is in this picture?", images=[image], max_new_tokens=8),
    }[endpoint]


# --- The app under test ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def start_app(
    profile: str = "tiny",
    env: dict | None = None,
    data_dir: Path | None = None,
    timeout: float = 120,
    args: tuple[str, ...] = (),
    cwd: Path = ROOT,
    default_data_dir: bool = False,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``python app.py [ARGS]`` in ``cwd`` on a free loopback port; yield (url, process);
    stop it after. The app keeps its data in ``data_dir`` (a new temporary folder when
    None), or, with ``default_data_dir``, where ``env`` or the app's default puts it (for a
    user: under ``$HOME``), with its log (``process.log_path``) in a temporary folder."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        if data_dir is None or default_data_dir:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="playground-load-")))
        full_env = {
            **os.environ,
            "PLAYGROUND_DATA_DIR": str(data_dir),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
            **(env or {}),
        }
        if default_data_dir and "PLAYGROUND_DATA_DIR" not in (env or {}):
            full_env.pop("PLAYGROUND_DATA_DIR")
        log_path = Path(data_dir) / "app.log"
        log = stack.enter_context(open(log_path, "wb"))  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "app.py", "--profile", profile, "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=cwd,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log_path = log_path  # what the app printed, for a test to read
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + timeout
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError as error:
                    if getattr(error, "code", None) is not None:  # an HTTP answer (e.g. 401 with a login): up
                        break
                    if process.poll() is not None or time.time() > deadline:
                        raise RuntimeError("the app did not start:\n" + log_path.read_text()[-3000:]) from None
                    time.sleep(0.3)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def check_loopback(url: str) -> None:
    """Refuse anything but this machine: a load test must never be pointed at someone else."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        raise ValueError(f"Can't resolve {host!r}.") from None
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ValueError(f"The load test only runs against this machine (a loopback address), not {url!r}.")


def loopback_client(url: str, **kwargs):
    """A gradio_client ``Client`` for an app on this machine, made to cost the machine little.

    gradio_client sends each request with a new httpx client, and with ``ssl_verify=True``
    (its default) httpx builds a certificate-checking SSL context for each one, loading the
    CA bundle: about 20 ms of CPU, two or more per prediction, even for plain HTTP.
    Measured with 16 clients on 2 cores, that was 130 ms of client CPU per caption against
    60 ms of the server's, so the clients, not the app, set the pace. A loopback address
    has no one in between to check a certificate against, so nothing is lost here; never
    do this for a remote app."""
    from gradio_client import Client

    check_loopback(url)
    return Client(url, verbose=False, ssl_verify=False, **kwargs)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MiB."""
    import psutil

    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total / 2**20


# --- The load -------------------------------------------------------------------------


@dataclass
class Result:
    clients: int
    seconds: float
    requests: int = 0
    successes: int = 0
    errors: int = 0
    error_messages: dict = field(default_factory=dict)
    latency_ms: dict = field(default_factory=dict)  # endpoint (and "all") -> {p50, p95, max, n}
    throughput_per_s: float = 0.0
    rss_mb: dict = field(default_factory=dict)  # warm, half, end, peak, growth, second_half_growth

    def markdown(self) -> str:
        lines = [
            f"{self.clients} clients for {self.seconds:.0f} s: {self.requests} requests, {self.successes} succeeded, "
            f"{self.errors} failed, {self.throughput_per_s:.1f} requests/s",
            "",
            "| endpoint | requests | p50 ms | p95 ms | max ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, stats in self.latency_ms.items():
            lines.append(f"| {name} | {stats['n']} | {stats['p50']:.0f} | {stats['p95']:.0f} | {stats['max']:.0f} |")
        if self.rss_mb:
            m = self.rss_mb
            lines += [
                "",
                f"server memory (RSS, MiB): {m['warm']:.0f} after warm-up, {m['half']:.0f} half-way, "
                f"{m['end']:.0f} at the end, {m['peak']:.0f} at most; growth over the second half "
                f"{m['second_half_growth']:+.0f}",
            ]
        if self.error_messages:
            lines += ["", "errors:"] + [f"- {n} × {message}" for message, n in self.error_messages.items()]
        return "\n".join(lines)


def run(
    url: str | list[str],
    clients: int = 8,
    seconds: float = 30,
    max_requests: int = 10_000,
    endpoints=ENDPOINTS,
    pid: int | list[int] | None = None,
    grace: float = 60,
    progress: bool = False,
    image: Path = IMAGE,
) -> Result:
    """Drive the app at ``url`` and return what happened (see the module docstring). A list of
    URLs: replicas of the app, the clients spread over them in turn (as a load balancer would
    place them), and ``pid`` a list of their processes, whose memory is added up."""
    urls = [url] if isinstance(url, str) else list(url)
    pids = [] if pid is None else [pid] if isinstance(pid, int) else list(pid)
    for one in urls:
        check_loopback(one)
    if not (1 <= clients <= LIMITS["clients"] and 0 < seconds <= LIMITS["seconds"]):
        raise ValueError(f"Use 1-{LIMITS['clients']} clients and at most {LIMITS['seconds']} s.")
    max_requests = min(max_requests, LIMITS["max_requests"])
    unknown = set(endpoints) - set(ENDPOINTS) - set(OPTIONAL)
    if unknown:
        raise ValueError(f"Unknown endpoints {sorted(unknown)}; available: {list(ENDPOINTS + OPTIONAL)}")

    # Warm-up: every endpoint once on every replica, so models are loaded before memory is measured.
    for one in urls:
        warm = loopback_client(one)
        for endpoint in endpoints:
            warm.predict(**request_for(endpoint, 0, image), api_name=f"/{endpoint}")
        warm.close()

    lock = threading.Lock()
    budget = [max_requests]
    latencies: dict[str, list[float]] = {e: [] for e in endpoints}
    errors: Counter = Counter()
    memory: list[tuple[float, float]] = []
    # Every client connects first (it reads the app's config), so that all of them are at
    # work at once and the clock times their requests, not fifty connections being made.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(clients, 16)) as pool:
        connected = list(pool.map(lambda n: loopback_client(urls[n % len(urls)]), range(clients)))
    start = time.monotonic()
    deadline = start + seconds
    done = threading.Event()

    def take() -> bool:
        with lock:
            if budget[0] <= 0 or time.monotonic() >= deadline:
                return False
            budget[0] -= 1
            return True

    def client_loop(index: int) -> None:
        client = connected[index]
        i = 0
        try:
            while take():
                endpoint = endpoints[(index + i) % len(endpoints)]
                began = time.perf_counter()
                try:
                    job = client.submit(**request_for(endpoint, i, image), api_name=f"/{endpoint}")
                    job.result(timeout=max(deadline - time.monotonic(), 0) + grace)
                    with lock:
                        latencies[endpoint].append((time.perf_counter() - began) * 1000)
                except Exception as error:  # every failure is counted and reported, by message
                    with lock:
                        errors[f"{endpoint}: {type(error).__name__}: {str(error)[:200]}"] += 1
                i += 1
        finally:
            client.close()

    def watch() -> None:
        while not done.is_set():
            if pids:
                memory.append((time.monotonic() - start, sum(rss_mb(p) for p in pids)))
            if progress:
                with lock:
                    n = sum(map(len, latencies.values()))
                print(f"\r{time.monotonic() - start:5.1f} s  {n} ok  {sum(errors.values())} failed", end="", flush=True)
            done.wait(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + grace + 30)
    elapsed = time.monotonic() - start
    done.set()
    watcher.join()
    if pids:
        memory.append((elapsed, sum(rss_mb(p) for p in pids)))
    if progress:
        print()

    result = Result(clients=clients, seconds=elapsed)
    result.successes = sum(map(len, latencies.values()))
    result.errors = sum(errors.values())
    result.requests = result.successes + result.errors
    result.error_messages = dict(errors.most_common())
    result.throughput_per_s = result.requests / elapsed
    everything = [ms for values in latencies.values() for ms in values]
    for name, values in [*latencies.items(), ("all", everything)]:
        if values:
            p50, p95 = np.percentile(values, [50, 95])
            result.latency_ms[name] = {"n": len(values), "p50": float(p50), "p95": float(p95), "max": max(values)}
    if memory:
        values = [mb for _, mb in memory]
        half = next(mb for t, mb in memory if t >= elapsed / 2)
        result.rss_mb = {
            "warm": values[0],
            "half": half,
            "end": values[-1],
            "peak": max(values),
            "growth": values[-1] - values[0],
            "second_half_growth": values[-1] - half,
        }
    return result


# --- A class: students behind one address, every tab at its heaviest ------------------

AUDIO = ROOT / "assets" / "audio" / "what-animal.wav"
# The sliders that make a request cost more; the class scenario sets each to its maximum.
COST_SLIDERS = {
    "max_new_tokens",
    "num_beams",
    "num_inference_steps",
    "num_images",
    "top_k",
    "examples",
    "hidden_size",
    "epochs",
    "embedding_size",
    "batch_size",
    "limit",
    "width",
    "height",
}
SHORT = ("search_by_text", {"query": "a cat", "top_k": 2})  # a student's quick request, timed


def heavy_requests(client, image: Path = IMAGE, audio: Path = AUDIO, keep_small: tuple[str, ...] = ()) -> list:
    """(endpoint, kwargs) for one request per tab with every cost slider at its maximum, as
    the app's own sliders allow (read from its config): what a student may send. Sliders
    named in ``keep_small`` ("endpoint.parameter") stay at their default."""
    from gradio_client import handle_file

    picture, clip = handle_file(str(image)), handle_file(str(audio))
    given = {
        "caption": {"image": picture},
        "explain_vqa": {"image": picture, "question": "What animal is this?"},
        "chat": {"message": "Describe every detail of these pictures. " * 8, "images": [picture] * 4},
        "text_to_image": {"prompt": "a red fox in the snow, highly detailed"},
        "embedding_map": {"query": "a cat"},
        "classify_collection": {"labels": "cat, dog, bird, car, tree, house"},
        "transcribe": {"audio": clip},
        "speak": {"text": ("The quick brown fox jumps over the lazy dog. " * 12)[:500]},  # the longest it takes
        "train_fusion": {"strategy": "hybrid"},
        "train_contrastive": {},
        "evaluate": {},
        "lessons": {},
    }
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    components = {c["id"]: c for c in client.config["components"]}
    requests = []
    for endpoint, kwargs in given.items():
        if f"/{endpoint}" not in named:
            continue
        dependency = next(d for d in client.config["dependencies"] if d.get("api_name") == endpoint)
        inputs = [components[i] for i in dependency["inputs"] if components[i].get("type") != "state"]
        for parameter, component in zip(named[f"/{endpoint}"]["parameters"], inputs, strict=False):
            name, maximum = parameter["parameter_name"], component.get("props", {}).get("maximum")
            if name in COST_SLIDERS and f"{endpoint}.{name}" not in keep_small and maximum is not None:
                kwargs = {**kwargs, name: maximum}
        requests.append((endpoint, kwargs))
    return requests


def hostile_requests(image: Path = IMAGE) -> list:
    """Requests a client may send and the app must refuse, each with a message."""
    from gradio_client import handle_file

    outside = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}  # a file of the server
    elsewhere = {"path": None, "url": "http://example.com/x.png", "meta": {"_type": "gradio.FileData"}}  # to fetch
    return [
        ("text_to_image", {"prompt": "a fox", "seed": 1.5, "width": 64, "height": 64}),  # not a whole number
        ("search_by_text", {"query": "x" * 100_000, "top_k": 2}),  # over every text and body limit
        ("caption", {"image": outside}),
        ("classify", {"image": elsewhere, "labels": "cat"}),
        ("search_by_image", {"image": handle_file(str(image)), "top_k": 10_000}),  # out of range
    ]


@dataclass
class ClassResult:
    students: int
    seconds: float = 0
    ok: int = 0
    refused: int = 0  # heavy or hostile requests refused with a message: correct
    failures: list = field(default_factory=list)  # anything else: a request lost, a short one refused, ...
    short_alone_s: float = 0  # one short request with the app idle
    heavy_alone_s: dict = field(default_factory=dict)  # each heavy request with the app idle
    short_s: list = field(default_factory=list)  # every short request under load
    rss_mb: list = field(default_factory=list)  # the app's memory before the class and after each round

    @property
    def round_growth_mb(self) -> list[float]:
        return [after - before for before, after in zip(self.rss_mb, self.rss_mb[1:], strict=False)]

    @property
    def bound_s(self) -> float:
        """What fair turns promise a short request: at most one job of each other student
        ahead of it (the longest heavy one, measured alone), and its own; twice that, for
        two cores shared by the batched and the model groups."""
        return 2 * (self.students * max(self.heavy_alone_s.values(), default=0) + self.short_alone_s)


def run_class(
    url: str,
    students: int = 30,
    rounds: int = 1,
    pid: int | None = None,
    hogs: int = 3,
    keep_small: tuple[str, ...] = (),
) -> ClassResult:
    """``students`` clients on this machine's address, each with its own session, all at
    once: in each of ``rounds``, each sends a short request (timed), the heavy request of
    one tab (student i takes tab i, in turn across the tabs, so every tab is used) and another
    short one, then waits for the class to finish the round; ``hogs`` of them send their heavy request four times at once, and every
    tenth student also something the app must refuse. Every request is waited for: a heavy
    or hostile one refused with a message is correct, a failure is anything else."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client.exceptions import AppError

    check_loopback(url)
    if not 1 <= students <= LIMITS["clients"]:
        raise ValueError(f"Use 1-{LIMITS['clients']} students.")
    result = ClassResult(students)
    first = loopback_client(url, httpx_kwargs={"timeout": 120})
    heavy, hostile = heavy_requests(first, keep_small=keep_small), hostile_requests()

    def timed(client, endpoint, kwargs) -> float:
        began = time.perf_counter()
        try:
            client.predict(**kwargs, api_name=f"/{endpoint}")
        except AppError as error:  # a budget's refusal, said before the work: the baseline is its time
            if endpoint == SHORT[0] or not str(error).strip():
                raise
        return time.perf_counter() - began

    # Baselines with the app idle. Each heavy request's first call (its model loaded with
    # it: a longer time, so a looser bound) is its baseline, to keep the test short.
    timed(first, *SHORT)
    result.heavy_alone_s = {endpoint: timed(first, endpoint, kwargs) for endpoint, kwargs in heavy}
    result.short_alone_s = min(timed(first, *SHORT) for _ in range(3))
    first.close()

    lock = threading.Lock()
    measure = (lambda: result.rss_mb.append(rss_mb(pid))) if pid is not None else (lambda: None)
    between_rounds = threading.Barrier(students, action=measure)
    # A browser waits for the queue to take its request; gradio_client gives up after 5 s.
    with ThreadPoolExecutor(16) as pool:
        clients = list(pool.map(lambda _: loopback_client(url, httpx_kwargs={"timeout": 120}), range(students)))
    start = time.monotonic()

    def outcome(kind: str, endpoint: str, job) -> None:
        try:
            job.result(timeout=600)
            with lock:
                result.ok += 1
            return
        except AppError as error:
            message = str(error).strip()
            refused = kind != "short" and message and "Queue is full" not in message and message != "Error"
            with lock:
                if refused:
                    result.refused += 1
                else:
                    result.failures.append(f"{kind} {endpoint}: {message[:200]}")
        except Exception as error:  # every other failure is reported, by message
            with lock:
                result.failures.append(f"{kind} {endpoint}: {type(error).__name__}: {str(error)[:200]}")

    def short(client) -> None:
        began = time.perf_counter()
        outcome("short", SHORT[0], client.submit(**SHORT[1], api_name=f"/{SHORT[0]}"))
        with lock:
            result.short_s.append(time.perf_counter() - began)

    def student(index: int) -> None:
        client = clients[index]
        try:
            for _ in range(rounds):  # the same requests each round: a round's memory is comparable
                short(client)
                endpoint, kwargs = heavy[index % len(heavy)]
                jobs = [client.submit(**kwargs, api_name=f"/{endpoint}") for _ in range(4 if index < hogs else 1)]
                if index % 10 == 9:  # a few students send what the app must refuse
                    bad_endpoint, bad = hostile[(index // 10) % len(hostile)]
                    outcome("hostile", bad_endpoint, client.submit(**bad, api_name=f"/{bad_endpoint}"))
                short(client)  # while its heavy requests wait or run: fair turns answer it first
                for submitted in jobs:
                    outcome("heavy", endpoint, submitted)
                between_rounds.wait(timeout=900)
        finally:
            client.close()

    measure()
    threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(students)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - start
    return result


def main(argv: list[str] | None = None) -> Result | ClassResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url",
        help="an app already running on this machine, or replicas: URLs separated by "
        "commas (default: start --replicas apps)",
    )
    parser.add_argument("--pid", help="its process id (ids, separated by commas), to measure its memory")
    parser.add_argument("--replicas", type=int, default=1, help="apps to start, the clients spread over them")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the apps this starts (BACKEND_CHAT=..., SHARED_STATE=...)",
    )
    parser.add_argument("--compare", action="store_true", help="first the same load on one replica alone")
    parser.add_argument("--profile", default="tiny", help="profile of the app this starts (default: tiny)")
    parser.add_argument("--clients", type=int, default=8, help=f"concurrent clients (1-{LIMITS['clients']})")
    parser.add_argument("--seconds", type=float, default=30, help=f"how long (at most {LIMITS['seconds']})")
    parser.add_argument("--max-requests", type=int, default=10_000, help="stop after this many requests in all")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS), help="comma-separated endpoints to call")
    parser.add_argument("--grace", type=float, default=60, help="seconds a request running at the end may finish in")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    parser.add_argument(
        "--image", type=Path, default=IMAGE, help="the image the image endpoints send (default: cat.jpg)"
    )
    parser.add_argument("--quick", action="store_true", help="4 clients for 10 s")
    parser.add_argument(
        "--class-of",
        type=int,
        metavar="N",
        help="instead: a class of N students on this address, every tab at its heaviest (run_class)",
    )
    args = parser.parse_args(argv)
    if args.class_of:
        with start_app(args.profile, env=dict(item.split("=", 1) for item in args.env)) as (url, process):
            taught = run_class(url, students=args.class_of, rounds=2, pid=process.pid)
        print(json.dumps({**asdict(taught), "bound_s": taught.bound_s, "round_growth_mb": taught.round_growth_mb}))
        return taught
    if args.quick:
        args.clients, args.seconds = 4, 10
    endpoints = tuple(e.strip().lstrip("/") for e in args.endpoints.split(",") if e.strip())

    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    with contextlib.ExitStack() as stack:
        urls = args.url.split(",") if args.url else []
        pids = [int(p) for p in args.pid.split(",")] if args.pid else []
        if not urls:
            # Every client comes from this machine's address: each may hold one place in the queue.
            env = {
                "QUEUE_PER_CLIENT": str(max(8, args.clients)),
                "QUEUE_MAX_SIZE": str(max(64, args.clients)),
                **dict(item.split("=", 1) for item in args.env),
            }
            for _ in range(max(1, args.replicas)):
                url, process = stack.enter_context(start_app(args.profile, env=env))
                urls.append(url)
                pids.append(process.pid)
        one = None
        if args.compare and len(urls) > 1:
            one = run(
                urls[0],
                args.clients,
                args.seconds,
                args.max_requests,
                endpoints,
                pids[:1] or None,
                args.grace,
                progress=True,
                image=args.image,
            )
            print(one.markdown(), "\n")
        result = run(
            urls,
            args.clients,
            args.seconds,
            args.max_requests,
            endpoints,
            pids or None,
            args.grace,
            progress=True,
            image=args.image,
        )
    print(result.markdown())
    if one is not None:
        print(
            f"\n{len(urls)} replicas: {result.throughput_per_s:.1f} requests/s; one replica alone: "
            f"{one.throughput_per_s:.1f} requests/s ({result.throughput_per_s / one.throughput_per_s:.2f}x)"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(asdict(result), indent=2))
        os.replace(tmp, args.json)  # atomic: a reader never sees half a file
    return result


if __name__ == "__main__":
    main()
