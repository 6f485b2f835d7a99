# syntax=docker/dockerfile:1
#
# bigmart as a SageMaker bring-your-own-algorithm container:
#   docker run IMAGE train    SageMaker training  (/opt/ml/input -> /opt/ml/model)
#   docker run IMAGE serve    SageMaker hosting and batch transform (port 8080 or
#                             $SAGEMAKER_BIND_TO_PORT)
#
# Any base with Python >= 3.11 and the venv module works: python:3.12-slim (python at
# /usr/local/bin) or Debian bookworm with python3 and python3-venv (python at /usr/bin).
# Both stages must use the same base: the venv links to the base's interpreter.
#
# Package index settings, when the default one is not reachable, go in as a build secret
# holding a pip.conf; it is mounted only while pip runs and never stored in a layer:
#   docker build --secret id=pipconf,src=/etc/pip.conf -t bigmart .
ARG BASE_IMAGE=python:3.12-slim

# ---- builder: a venv at /opt/venv with the package and its pinned dependencies ------
FROM ${BASE_IMAGE} AS builder

LABEL org.opencontainers.image.title="bigmart-builder"
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_PROGRESS_BAR=off \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first, exactly as pinned and in their own layer: editing src/ does not
# reinstall them.
COPY constraints.txt /build/constraints.txt
RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf \
    python3 -m venv /opt/venv \
 && pip install --only-binary=:all: -r /build/constraints.txt

# The context is only constraints.txt, pyproject.toml, README.md and src/ (.dockerignore
# lets nothing else in): one COPY, one layer.
COPY . /build/
# Then the package itself, without resolving anything: its dependencies must already be
# there, exactly as pinned, and `pip check` fails the build at once when pyproject.toml
# gained a dependency that constraints.txt lacks. pip, setuptools and the libraries'
# own test suites (and onnx's 17 MB of backend test data) are not needed at run time
# and are removed.
RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf \
    pip install --no-deps -c /build/constraints.txt /build \
 && { pip check || { echo "constraints.txt does not match pyproject.toml:" \
                          "regenerate it (see its header)" >&2; exit 1; }; } \
 && pip uninstall -y -q pip setuptools wheel \
 && find /opt/venv/lib/python3*/site-packages -depth -type d -name tests \
        -path '*/site-packages/*/*' -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3*/site-packages/onnx/backend/test/data \
 && python3 -c "import bigmart.container.train, bigmart.container.serve, onnxruntime, skl2onnx, uvloop, httptools, uvicorn_worker" \
 && bigmart --help >/dev/null

# ---- final: the base plus the venv, nothing else -------------------------------------
FROM ${BASE_IMAGE}

LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      org.opencontainers.image.title="bigmart" \
      org.opencontainers.image.description="Big Mart sales forecasting: SageMaker train and serve"

# PATH is spelled out in full: a base imported from a root file system has no PATH.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VIRTUAL_ENV=/opt/venv \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Runs as root, as SageMaker does: it mounts /opt/ml owned by root.
EXPOSE 8080
# No entry point and no shell: `IMAGE train` / `IMAGE serve` exec the console scripts in
# /opt/venv/bin as PID 1, so SIGTERM reaches them directly. Without a command the image
# prints the `bigmart` command's help.
ENTRYPOINT []
CMD ["bigmart", "--help"]

# Last, so the settings above stay cached and only this layer changes with the code.
COPY --from=builder /opt/venv /opt/venv
