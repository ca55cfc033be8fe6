# Hugging Face Spaces (Docker SDK) conventions: a non-root user with uid 1000, the app
# on port 7860 listening on 0.0.0.0, caches under the user's home.
#
# PyTorch: this is a CPU image by default. PyPI's torch wheel for Linux is the CUDA build
# (several GB of CUDA libraries a CPU host never uses), so torch comes from PyTorch's CPU
# index first; requirements.txt's torch==2.13.0 is then already satisfied. For a GPU
# image: docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

# Chinese characters in the explain views' figures (matplotlib falls back to Noto CJK).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    HF_HOME=/home/user/.cache/huggingface \
    PLAYGROUND_DATA_DIR=/home/user/.cache/multimodal-playground \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    PYTHONUNBUFFERED=1
WORKDIR /home/user/app

# requirements.txt installs the lock of the whole tree (requirements/app.txt).
COPY --chown=user requirements.txt .
COPY --chown=user requirements/ requirements/
RUN pip install --no-cache-dir --user --index-url "$TORCH_INDEX" torch==2.13.0 \
 && pip install --no-cache-dir --user -r requirements.txt

COPY --chown=user . .
EXPOSE 7860
# The page answers once the app is up; models load later, on first use.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"
CMD ["python", "app.py"]
