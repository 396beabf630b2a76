# syntax=docker/dockerfile:1
# Control-plane image: every TypeScript service's build on Node 22 slim. One image serves all
# services; the chart runs `node services/<svc>/dist/main.js` (or set MAMBALIGN_SERVICE).
# Build from the repo root: docker build -f docker/control-plane.Dockerfile -t mambalign/control-plane .
ARG NODE_IMAGE=node:22-bookworm-slim

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
 # Production resolves packages through "default" -> dist/, so sources and tests stay behind.
 && find services -mindepth 2 -maxdepth 2 -name src -type d -prune -exec rm -rf {} +

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    MAMBALIGN_SERVICE=pipeline
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/services services
# The image's `node` user (uid 1000), matching the chart's runAsUser.
USER 1000:1000
EXPOSE 50051 9464
CMD ["sh", "-c", "exec node services/${MAMBALIGN_SERVICE}/dist/main.js"]
