# Affinity in a container: the project installed as the README installs it (`pip install .`),
# run as an unprivileged user, state in the /data volume, config mounted at /config.
#
#   docker build -t affinity .
#   docker run -d --name affinity -v affinity-data:/data -v $PWD/config.yaml:/config/config.yaml:ro \
#     -e AFFINITY_PASSWORD -e AFFINITY_PICKLE_KEY affinity
#
# In config.yaml set `data_dir: /data`, and `metrics: {enabled: true}` for the HEALTHCHECK.
# AFFINITY_PICKLE_KEY is required (the bots refuse to start without it); generate it once with
#   python -c 'import secrets; print(secrets.token_urlsafe(32))'
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bots ./bots
COPY protocols ./protocols
COPY storage ./storage
RUN pip install . \
    && rm -rf /src

RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin affinity \
    && mkdir -p /data /config \
    && chown affinity:affinity /data \
    && chmod 0700 /data

USER affinity
WORKDIR /data
VOLUME /data

# /healthz answers 200 while every bot syncs and the database takes writes (metrics.enabled).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

ENTRYPOINT ["affinity"]
CMD ["run", "--config", "/config/config.yaml"]
