# Engram: multi-stage build (deps → build → runtime). Only production dependencies and the
# compiled JavaScript reach the runtime image; it runs as the non-root user `node` under tini.
# The build context is what .dockerignore lets through; the e2e tests hash the same inputs
# (BUILD_INPUTS in test/e2e/helpers/image.ts): keep the three in step.

ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only. No package needs an install script at runtime (the native libsql
# binary is a prebuilt optional dependency), so none are run.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Compile TypeScript with the full dependency set (typescript is a devDependency).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY routes ./routes
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to Node and reaps zombies.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && mkdir -p /data \
 && chown node:node /data
WORKDIR /app
# It listens on 0.0.0.0, so it starts only with API keys (`-e ENGRAM_API_KEYS=key:tenant:role,...` or
# ENGRAM_API_KEYS_FILE on a mounted secret); ENGRAM_ALLOW_ANONYMOUS=true opts out (SPEC §6).
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    LIBSQL_URL=file:/data/engram.db
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# Code is owned by root and read-only for the service; only /data is writable.
USER node
VOLUME ["/data"]
EXPOSE 8080
# Liveness only (no I/O); readiness (/health/ready) is for load balancers and orchestrators.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/health/live',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/server.js"]
