# pinaudience as a Meiro Integration loader component (Keboola-style: /data/config.json, /data/in, /data/out).
# Build: docker build -t pinaudience .
# Run:   docker run --rm -v "$PWD/data:/data" pinaudience
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/pinaudience
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pinaudience

# Not root: the component only needs to read /data/in and /data/config.json and write /data/out and its state.
USER 10001

ENTRYPOINT ["pinaudience", "component"]
CMD ["--data-dir", "/data"]
