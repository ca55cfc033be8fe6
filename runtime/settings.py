"""Every setting of the app in one place: plain constants, each overridable by an
environment variable of the same name. Read once at import; nothing here touches
the network or loads a model."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = ROOT / "assets"
EXAMPLE_IMAGES_DIR = ASSETS_DIR / "images"


def _int(name: str, default: int) -> int:
    return int(os.getenv(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(os.getenv(name, str(default)))


# --- Models -----------------------------------------------------------------

# Which checkpoints to use: auto (gpu if CUDA is available, else cpu), gpu, cpu or tiny.
MODEL_PROFILE = os.getenv("MODEL_PROFILE", "auto")

# Where the app keeps what it writes: tiny models, gallery embeddings, user uploads.
# On Spaces with persistent storage, point this at /data.
DATA_DIR = Path(os.getenv("PLAYGROUND_DATA_DIR", Path.home() / ".cache" / "multimodal-playground"))
# The files handlers return (spoken answers, reports, records), kept minutes until Gradio
# has copied them: the one folder of the data dir that Gradio is allowed to serve from.
OUTPUT_DIR = Path(os.getenv("PLAYGROUND_OUTPUT_DIR", DATA_DIR / "outputs"))

# One task's checkpoint instead of the profile's: MODEL_CAPTION, MODEL_VQA, ... hold a
# registry key, a Hub id (owner/name or owner/name@revision) or a local directory.
MODEL_OVERRIDES = {
    task: os.environ[f"MODEL_{task.upper()}"]
    for task in ("caption", "vqa", "chat", "text_to_image", "retrieval", "speech_recognition", "text_to_speech")
    if os.getenv(f"MODEL_{task.upper()}")
}

# Seconds to wait for the Hugging Face Hub before deciding it is unreachable. The
# Hub client itself retries for minutes on a machine without network.
HUB_CHECK_TIMEOUT = _float("HUB_CHECK_TIMEOUT", 3.0)
# Where checkpoints are downloaded from: auto (the Hugging Face Hub, or the mirror that
# huggingface_hub's own HF_ENDPOINT names; ModelScope when the Hub can't be reached),
# huggingface or modelscope (runtime/download.py).
MODEL_SOURCE = os.getenv("MODEL_SOURCE", "auto").strip().lower()
# ModelScope's address ("" for modelscope's default, www.modelscope.cn); the modelscope
# package's own variable, read here so that tests and the app pass it explicitly.
MODELSCOPE_ENDPOINT = os.getenv("MODELSCOPE_ENDPOINT", "")
# Where ModelScope downloads go ("" for modelscope's default, ~/.cache/modelscope).
MODELSCOPE_CACHE = os.getenv("MODELSCOPE_CACHE", "")
# Bytes a download must leave free on its disk, beyond the files themselves.
DOWNLOAD_FREE_MARGIN = _int("DOWNLOAD_FREE_MARGIN", 500 * 2**20)

# --- Input limits (enforced on the server; API clients bypass the UI) ---------

# Images above this many pixels are refused outright (decompression bombs).
MAX_IMAGE_PIXELS = _int("MAX_IMAGE_PIXELS", 40_000_000)
# Larger images are downscaled to this longest side before inference; every model
# here works at 224-768 px, so nothing is lost and preprocessing stays fast.
MAX_IMAGE_SIDE = _int("MAX_IMAGE_SIDE", 2048)
# Chat (vision-language models): images per message, and the tokens a conversation may
# take (prompt and answer together; older exchanges are dropped, with a notice, beyond it).
CHAT_MAX_IMAGES = _int("CHAT_MAX_IMAGES", 4)
CHAT_MAX_CONTEXT = _int("CHAT_MAX_CONTEXT", 4096)
# Seconds a streamed answer may wait for its next piece of text before it is given up.
CHAT_STREAM_TIMEOUT = _float("CHAT_STREAM_TIMEOUT", 300.0)
# Longest side / shortest side beyond which an image is refused (a 1x5000 strip
# has nothing to caption and breaks resizing).
MAX_ASPECT_RATIO = _float("MAX_ASPECT_RATIO", 20.0)
# Characters accepted in a question, prompt, query or label list.
MAX_TEXT_CHARS = _int("MAX_TEXT_CHARS", 1000)
# Largest number of zero-shot labels in one request.
MAX_LABELS = _int("MAX_LABELS", 50)
# Largest upload through the web server (Gradio's max_file_size syntax).
MAX_FILE_SIZE = os.getenv("MAX_FILE_SIZE", "20mb")
# Whose images the search gallery adds: "shared" (everyone sees them, kept across
# restarts: a laptop or a classroom) or "session" (each visitor sees only their own:
# the default on a public Space).
GALLERY_MODE = os.getenv("GALLERY_MODE", "session" if os.getenv("SPACE_ID") else "shared")

# --- Where the app runs (read here, so that nothing else reads the environment) ---

# Hugging Face Spaces sets SPACE_ID; ZeroGPU Spaces also SPACES_ZERO_GPU (a GPU is
# attached only inside each call).
SPACE_ID = os.getenv("SPACE_ID", "")
SPACES_ZERO_GPU = bool(os.getenv("SPACES_ZERO_GPU"))
# CUDA_VISIBLE_DEVICES="" or "-1" hides every GPU; None when unset.
CUDA_VISIBLE_DEVICES = os.getenv("CUDA_VISIBLE_DEVICES")

# --- Server -------------------------------------------------------------------

# Gradio's own variables, so `gradio app.py` and Spaces behave the same way.
SERVER_NAME = os.getenv("GRADIO_SERVER_NAME", "127.0.0.1")
SERVER_PORT = _int("GRADIO_SERVER_PORT", 7860)
# Serve every named endpoint as an MCP tool too (Model Context Protocol, for agents such
# as Claude Desktop or Cursor), at /gradio_api/mcp/: on or off. Gradio's own variable.
MCP_SERVER = os.getenv("GRADIO_MCP_SERVER", "on").strip().lower() not in ("0", "off", "false", "no")
# Requests waiting beyond this get "busy, try again" instead of piling up.
QUEUE_MAX_SIZE = _int("QUEUE_MAX_SIZE", 256)
# Requests one visitor (login name, else MCP agent, else page or API session) may have
# waiting or running at once, so that no one fills the queue for everyone; 0: no cap.
QUEUE_PER_CLIENT = _int("QUEUE_PER_CLIENT", 8)
# Requests one network address may have waiting or running at once: a flood guard only,
# sized for a class of 30+ behind one school NAT or proxy (four each); 0: no cap.
QUEUE_PER_ADDRESS = _int("QUEUE_PER_ADDRESS", 128)
# Visitors (pages, API clients, MCP agents) whose session state the app keeps in memory;
# the one unused longest is forgotten first. Gradio keeps 10,000 by default, and each
# holds a copy of the page's settings: hundreds of MB that never came back.
SESSION_CAPACITY = _int("SESSION_CAPACITY", 200)
# Seconds a visitor's state (the last result the explain views read, a search's hits)
# lives after it was last set, and the age at which Gradio's copies of uploads and
# results are deleted (checked every SESSION_TTL / 6 seconds).
SESSION_TTL = _int("SESSION_TTL", 3600)
# Seconds a queued request may wait for its client to open the stream its result comes
# on; a request that reaches the front later with nobody listening is dropped, not run.
LISTEN_GRACE = _float("LISTEN_GRACE", 10.0)
# Seconds one request may run where its cost grows with its arguments (the Fusion lab's
# epochs x hidden size, the Evaluate tab's items, Create's steps x pixels): training stops
# there with what it has, an evaluation or an image stops with a message. 0: no limit.
JOB_TIME_LIMIT = _float("JOB_TIME_LIMIT", 300.0)
# What one Create request may cost, in megapixel-steps: width x height in millions of pixels,
# x denoising steps x images, twice with guidance above 1 (the model runs for the prompt and
# the negative prompt). A request over it is refused before it starts, with the numbers.
# 0: from where the model runs: 16 on a CPU (512x512 for 25 steps with guidance: about two
# minutes of SD 1.5 on 4 cores; any turbo image), 420 on a GPU (all the tab allows: 1,024x1,024,
# 50 steps, 4 images, with guidance). JOB_TIME_LIMIT stops whatever still runs too long.
CREATE_MAX_MEGAPIXEL_STEPS = _float("CREATE_MAX_MEGAPIXEL_STEPS", 0)
# Model calls running at once per event; one keeps a small CPU or GPU from thrashing.
CONCURRENCY_LIMIT = _int("CONCURRENCY_LIMIT", 1)

# --- Searching your own collection (search/index.py, search/backends.py) ---

# Which search backend answers queries: auto (exact below SEARCH_ANN_THRESHOLD images,
# faiss above), exact, faiss or qdrant.
SEARCH_BACKEND = os.getenv("SEARCH_BACKEND", "auto")
# Collections with at least this many images use the approximate faiss index under
# "auto"; below it, an exact matrix product answers in a few milliseconds anyway.
SEARCH_ANN_THRESHOLD = _int("SEARCH_ANN_THRESHOLD", 50_000)
# The faiss index (faiss.index_factory syntax): HNSW32 is a graph with 32 links per
# node, no training, good recall; "IVF4096,Flat" builds faster and removes for real.
FAISS_INDEX = os.getenv("FAISS_INDEX", "HNSW32")
# HNSW candidates explored per query: higher is slower and closer to exact search.
FAISS_EF_SEARCH = _int("FAISS_EF_SEARCH", 128)
# IVF cells scanned per query.
FAISS_NPROBE = _int("FAISS_NPROBE", 32)
# A Qdrant server or cluster (http://host:6333) for SEARCH_BACKEND=qdrant; empty runs
# Qdrant embedded in the app, with its data inside each index directory.
QDRANT_URL = os.getenv("QDRANT_URL", "")
QDRANT_API_KEY = os.getenv("QDRANT_API_KEY", "")
# Collection names on the Qdrant server are this prefix plus the index's id.
QDRANT_COLLECTION_PREFIX = os.getenv("QDRANT_COLLECTION_PREFIX", "playground-")
# An index built with the command line (python -m pipelines.retrieval index DIR --index
# PATH) that the Search tab also searches, read-only, for every visitor; its hits are
# shown as small copies, so its folders are never served. Empty: none.
SEARCH_INDEX = os.getenv("SEARCH_INDEX", "")
# Images embedded per batch while indexing (a kill loses at most one batch).
INDEX_BATCH_SIZE = _int("INDEX_BATCH_SIZE", 32)
# Uploaded zip files are hostile until proven otherwise: most members, most bytes
# once uncompressed, and most images added from the UI in one request.
MAX_ZIP_FILES = _int("MAX_ZIP_FILES", 2000)
# Bytes that one request's zips may unpack to, all of them together (the same file
# given twice counts once); a zip that would go over is refused before it is unpacked.
MAX_ZIP_BYTES = _int("MAX_ZIP_BYTES", 500_000_000)
# Images one request may add (each is decoded once to store its copy).
MAX_INDEX_UPLOAD = _int("MAX_INDEX_UPLOAD", 2000)
# What one visitor (login name, else address) may unpack and add per hour, over all their
# requests together: bytes unpacked from zips, and images added.
UPLOAD_BYTES_PER_HOUR = _int("UPLOAD_BYTES_PER_HOUR", 2_000_000_000)
UPLOAD_IMAGES_PER_HOUR = _int("UPLOAD_IMAGES_PER_HOUR", 5000)

# --- Explain views (issue #4) ---------------------------------------------------

# Most denoising previews a timeline keeps (one every few steps, always the last).
TIMELINE_FRAMES = _int("TIMELINE_FRAMES", 10)
# Most images in the CLIP lab's similarity matrix, and most texts.
MAX_MATRIX_IMAGES = _int("MAX_MATRIX_IMAGES", 16)
MAX_MATRIX_TEXTS = _int("MAX_MATRIX_TEXTS", 16)

# --- Evaluation (the Evaluate tab and /evaluate; the command line has no limit) ----

# Probe items per task that the Evaluate tab starts with: a run of about a minute on a CPU.
EVAL_DEFAULT_ITEMS = _int("EVAL_DEFAULT_ITEMS", 20)
# Most probe items per task one request may ask for (the probe set has about 150
# questions); lower it on a shared server to keep one visitor from holding it for long.
EVAL_MAX_ITEMS = _int("EVAL_MAX_ITEMS", 200)
# --- Speech (speech recognition and text-to-speech) ---------------------------

# Example and test clips (made offline with espeak-ng, see assets/ATTRIBUTION.md).
EXAMPLE_AUDIO_DIR = ASSETS_DIR / "audio"
# Longest clip transcribed, in seconds, from the UI and the API alike. Whisper hears
# 30-second windows, so a 60 s clip costs two or three model calls.
MAX_AUDIO_SECONDS = _float("MAX_AUDIO_SECONDS", 60.0)
# Longest text read aloud, in characters (about 30 s of speech); VITS makes the whole
# waveform in one pass, so its memory grows with the text.
MAX_SPEECH_CHARS = _int("MAX_SPEECH_CHARS", 500)
# --- Classroom mode -------------------------------------------------------------

# A teacher's settings file (YAML, JSON or TOML) that sets what students may do: tabs,
# checkpoints, locked parameters, limits, a password, a prompt log. Same as
# `python app.py --classroom FILE`; see assets/classroom.example.yaml. Empty: no classroom.
CLASSROOM_FILE = os.getenv("CLASSROOM_FILE", "")
# The class password, instead of writing it in the classroom file (this one wins).
CLASSROOM_PASSWORD = os.getenv("CLASSROOM_PASSWORD", "")

# --- Performance and memory (issue #7) ------------------------------------------


def _size(name: str, default: str) -> int:
    """Bytes from "8GB", "512MB", "1.5 GiB" or a plain number of bytes; 0 means automatic."""
    text = os.getenv(name, default).strip().lower().replace(" ", "").removesuffix("b").removesuffix("i")
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(float(text or 0))
    except ValueError:
        raise ValueError(f"{name}={os.getenv(name)!r} is not a size; write e.g. 8GB, 512MB or 0 (automatic).") from None


# The CPU fast path: bfloat16 weights on CPUs with native bfloat16 (AVX512-BF16 or AMX)
# and int8 text decoders; "off" keeps every model in float32 on the CPU (and float16
# on a GPU), for comparing outputs or on a CPU where it misbehaves. Also a UI switch.
FAST_PATH = os.getenv("FAST_PATH", "auto").strip().lower()
# Dynamic int8 quantisation of the BLIP text decoders on the CPU fast path ("off" keeps
# them in float32 while the vision encoder still runs in bfloat16).
INT8_DECODER = os.getenv("INT8_DECODER", "on").strip().lower()
# What runs CLIP's image and text towers on the CPU (runtime/ort.py): "onnxruntime" (exported
# once per checkpoint, float32), "torch", or "auto": ONNX Runtime on an AVX2-only CPU (no AVX-512,
# no native bfloat16), where it runs the towers faster than PyTorch in float32; PyTorch with AVX-512
# (no faster there) or native bfloat16 (faster still), on a GPU, for tiny models and with FAST_PATH=off.
CPU_RUNTIME = os.getenv("CPU_RUNTIME", "auto").strip().lower()
if CPU_RUNTIME not in ("auto", "torch", "onnxruntime"):
    raise ValueError(f"CPU_RUNTIME must be auto, torch or onnxruntime, not {os.getenv('CPU_RUNTIME')!r}.")
# Threads for PyTorch on the CPU; 0 = the CPUs this process may use (its affinity
# mask and container quota), which is what a 2-vCPU Space or laptop should use.
NUM_THREADS = _int("NUM_THREADS", 0)
# Memory that loaded models may take (weights), e.g. "6GB"; 0 = automatic: 60% of the
# machine's (or container's) memory on the CPU, 85% of the GPU's memory on CUDA. A load
# that would exceed it first unloads the least recently used model (on a GPU: moves
# it to the CPU while there is room there).
MODEL_MEMORY_BUDGET = _size("MODEL_MEMORY_BUDGET", "0")
# torch.compile the UNet on CUDA (slow first call, faster after);
# never under ZeroGPU, where every call may land on a fresh process.
TORCH_COMPILE = os.getenv("TORCH_COMPILE", "off").strip().lower() in ("1", "on", "true", "yes")
# Requests to caption, VQA and the embedding endpoints that arrive together run as one
# batch of at most this many; 1 turns batching off (and runs one request at a time).
# 1 under ZeroGPU, where each call gets its own GPU slot.
# Decoded image pixels that all requests together may hold at once while images are read
# (runtime/inputs.py): beyond it a request waits its turn, up to a minute. A 40 MP image
# takes up to 320 MB while it is decoded and converted, so the default lets three through.
MAX_DECODE_BYTES = _size("MAX_DECODE_BYTES", "1GB")
# The Models and memory panel: "full" lets visitors unload models and switch the fast
# path (for everyone); "view" only lists them. On a public Space without a login, "view".
MODELS_PANEL = (
    os.getenv("MODELS_PANEL", "view" if os.getenv("SPACE_ID") and not os.getenv("PLAYGROUND_AUTH") else "full")
    .strip()
    .lower()
)
MAX_BATCH_SIZE = _int("MAX_BATCH_SIZE", 1 if os.getenv("SPACES_ZERO_GPU") else 8)

# --- Model servers and replicas (docs/deploying.md, "A whole school") ----------

# A task runs on a remote server that speaks the OpenAI-compatible API (vLLM, SGLang, TGI,
# `transformers serve`) when BACKEND_<TASK> holds its base URL ("http://vlm:8000/v1"):
# BACKEND_CHAT (Chat, and the chat models that Caption and Ask offer),
# BACKEND_SPEECH_RECOGNITION and BACKEND_TEXT_TO_IMAGE. Unset: in the process, as always.
REMOTE_TASKS = ("chat", "speech_recognition", "text_to_image")
BACKENDS = {
    task: os.environ[f"BACKEND_{task.upper()}"].strip().rstrip("/")
    for task in REMOTE_TASKS
    if os.getenv(f"BACKEND_{task.upper()}", "").strip()
}
# The model name the server knows (BACKEND_CHAT_MODEL, ...); unset: the picked checkpoint's Hub id.
BACKEND_MODELS = {
    task: os.environ[f"BACKEND_{task.upper()}_MODEL"].strip()
    for task in REMOTE_TASKS
    if os.getenv(f"BACKEND_{task.upper()}_MODEL", "").strip()
}
BACKEND_API_KEY = os.getenv("BACKEND_API_KEY", "")
# Seconds a request may wait for the server's next bytes (a streamed answer: for each piece),
# seconds to connect, and retries (with exponential back-off) of a request that failed to
# connect or got 429 or 5xx before anything was shown.
BACKEND_TIMEOUT = _float("BACKEND_TIMEOUT", 120.0)
BACKEND_CONNECT_TIMEOUT = _float("BACKEND_CONNECT_TIMEOUT", 5.0)
BACKEND_RETRIES = _int("BACKEND_RETRIES", 2)
# What one call to a model server may take, whatever the server sends (runtime/backend_http.py):
# seconds from its first connection to its last byte, retries and the whole stream included
# (a server that trickles under BACKEND_TIMEOUT is cut here), and the bytes of its replies
# (a 1,024-token answer with its logprobs is well under 1 MB; a 1,024x1,024 PNG under 5 MB).
BACKEND_DEADLINE = _float("BACKEND_DEADLINE", 300.0)
BACKEND_MAX_REPLY_BYTES = _int("BACKEND_MAX_REPLY_BYTES", 16 * 2**20)
# Requests this app sends to one model server at once (the server batches them).
BACKEND_CONCURRENCY = _int("BACKEND_CONCURRENCY", 16)
# What replicas of the app share: the classroom's limits and prompt log, the rate limit and
# the Fusion lab's cache, in Redis ("redis://redis:6379/0"). Empty: in this process (one replica).
SHARED_STATE = os.getenv("SHARED_STATE", "").strip()
# Redis answers in about a millisecond; these bound what a request waits when it doesn't (a
# hung server, a dropped network), off the event loop (runtime/shared.py): seconds to
# connect, seconds to wait for an answer (no retries), and seconds a call may go unanswered
# before the store counts as stuck, so that other requests take the fallback at once rather
# than queue behind it. A store that failed or is stuck is asked again after
# SHARED_STATE_RETRY seconds; meanwhile each replica counts the limits itself and keeps the
# prompt log in its own file.
SHARED_STATE_CONNECT_TIMEOUT = _float("SHARED_STATE_CONNECT_TIMEOUT", 2.0)
SHARED_STATE_TIMEOUT = _float("SHARED_STATE_TIMEOUT", 2.0)
SHARED_STATE_STUCK = _float("SHARED_STATE_STUCK", 1.0)
SHARED_STATE_RETRY = _float("SHARED_STATE_RETRY", 10.0)

# --- Security and safety (see README, "Security and safety") -------------------


def _flag(name: str, default: bool) -> bool:
    value = os.getenv(name, "on" if default else "off").strip().lower()
    if value not in ("1", "0", "on", "off", "true", "false", "yes", "no"):
        raise ValueError(f"{name} must be on or off, not {value!r}.")
    return value in ("1", "on", "true", "yes")


# Text-to-image runs a safety checker on every image and refuses prompts on the
# blocklist: "on" (default) or "off" for research, which logs and shows a warning.
SAFETY_FILTER = "on" if _flag("SAFETY_FILTER", True) else "off"
# Words and phrases a prompt may not contain, one per line; the file in assets/ is
# the default. Matching ignores case, accents and punctuation between letters.
SAFETY_BLOCKLIST = Path(os.getenv("SAFETY_BLOCKLIST", ASSETS_DIR / "safety" / "blocklist.txt"))
# A second image check beside the safety checker, with the filter on: NudeNet's detector
# (pip install nudenet; its 12 MB weights ship in the package, so it works offline), which
# hides an image where it finds exposed nudity with at least this confidence. Off by default.
SAFETY_NUDENET = "on" if _flag("SAFETY_NUDENET", False) else "off"
SAFETY_NUDENET_THRESHOLD = _float("SAFETY_NUDENET_THRESHOLD", 0.5)
# Optional password protection: "user:password,user2:password2". Empty: no login.
PLAYGROUND_AUTH = os.getenv("PLAYGROUND_AUTH", "")
# Per-client limit on model runs (and, separately, on uploads) for public deployments,
# as "COUNT/PERIOD" with a period of second, minute, hour or day ("20/minute"). Empty: off,
# the default on a laptop or a classroom server; on a Space (SPACE_ID set) 30/minute.
RATE_LIMIT = os.getenv("RATE_LIMIT", "30/minute" if os.getenv("SPACE_ID") else "")
# Failed login attempts per client (with PLAYGROUND_AUTH or a class password): slows down
# guessing, while a whole class behind one address can still log in at once.
LOGIN_RATE_LIMIT = os.getenv("LOGIN_RATE_LIMIT", "10/minute")
# How many proxies in front of the app append the client's address to X-Forwarded-For
# (1 on Spaces): rate limits then count per the address the outermost one saw. 0 uses
# the connection's address; more than are really there lets clients pick an address.
TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 1 if os.getenv("SPACE_ID") else 0)
# Gradio's traffic monitoring (/monitoring and /monitoring/summary: counts and timings per
# endpoint). Off by default: the summary answers anyone who can open the page, and says what
# every other visitor is doing. "on" serves it (behind the login, if any) and prints its URL.
MONITORING = _flag("MONITORING", False)
# Largest request body other than an upload (a run's JSON: texts and file references).
MAX_REQUEST_BYTES = _int("MAX_REQUEST_BYTES", 1_000_000)
