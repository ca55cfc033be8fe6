# Hugging Face Spaces (Docker SDK) conventions: a non-root user with uid 1000, the app
# on port 7860 listening on 0.0.0.0, caches under the user's home.
FROM python:3.11-slim

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

COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --user -r requirements.txt

COPY --chown=user . .
EXPOSE 7860
CMD ["python", "app.py"]
