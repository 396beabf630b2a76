# syntax=docker/dockerfile:1
# GPU trainer image: CUDA PyTorch + the Python runtime (services/runtime) + the Node supervisor
# (services/trainer). The evaluator runs on it too (it generates with the runtime).
# Build from the repo root: docker build -f docker/trainer.Dockerfile -t mambalign/trainer .
# The base must carry the torch version pinned in services/runtime/requirements.txt, or pip would
# pull a second torch with its CUDA libraries.
ARG NODE_IMAGE=node:22-bookworm-slim
ARG PYTORCH_IMAGE=pytorch/pytorch:2.11.0-cuda12.8-cudnn9-runtime

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json buf.yaml ./
COPY proto proto
COPY scripts scripts
COPY services services
RUN rm -rf services/runtime \
 && npm ci \
 && npm run build \
 && npm prune --omit=dev \
 && find services -mindepth 2 -maxdepth 2 -name src -type d -prune -exec rm -rf {} +

FROM ${NODE_IMAGE} AS node

FROM ${PYTORCH_IMAGE}
# Triton compiles a small C launcher per kernel with the system C compiler at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && (id -u 1000 >/dev/null 2>&1 || useradd --uid 1000 --create-home --shell /usr/sbin/nologin mambalign)
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY services/runtime services/runtime
# requirements-gpu.txt: bitsandbytes for QLoRA and the paged/8-bit optimisers (`recipe check` trusts
# that this image carries what services/core/src/recipe/worker-capabilities.ts declares).
RUN pip install --no-cache-dir -r services/runtime/requirements.txt -r services/runtime/requirements-gpu.txt \
 && pip install --no-cache-dir --no-deps ./services/runtime
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/services services
# MT-Bench and AlpacaEval files: the evaluator (on this image) reads them here with no setting.
COPY services/evaluator/benchmarks services/evaluator/benchmarks
ENV NODE_ENV=production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAMBALIGN_PYTHON=python3 \
    MAMBALIGN_SERVICE=trainer
USER 1000:1000
EXPOSE 9464
CMD ["sh", "-c", "exec node services/${MAMBALIGN_SERVICE}/dist/main.js"]
