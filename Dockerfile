# syntax=docker/dockerfile:1
# dmp-node, the self-hosted DNS Mesh Protocol node, as a small image.
#
#   docker build -t dmp-node .
#   docker run -d --name dmp -e DMP_OPERATOR_TOKEN=... -e DMP_SERVED_ZONE=mesh.example.org \
#     -p 53:53/udp -p 53:53/tcp -p 127.0.0.1:8053:8053 -v dmp-data:/var/lib/dmp dmp-node
#
# Everything is configured through DMP_* environment variables (the same
# names as the reference node; `docker run --rm dmp-node --help` lists them).
# See docs/DEPLOY.md. self-hosted-node/tests/docker_entrypoint.rs runs the
# ENTRYPOINT below with these ENV lines and checks /health and DNS, so keep
# ENTRYPOINT, CMD, ENV and HEALTHCHECK each in the simple forms used here.

# --- build -------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep crates.io downloads and target/ between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p dmp-node --bin dmp-node --bin dmp-cluster \
    && install -D -m 0755 target/release/dmp-node /out/dmp-node \
    && install -D -m 0755 target/release/dmp-cluster /out/dmp-cluster

# --- web client (web/, built with Trunk as in docs/TOOLCHAIN.md) --------------
# `--build-arg WITH_WEB=0` skips it (faster; then / answers 404 and the API
# is unaffected).
FROM rust:1.95-bookworm AS web
ARG WITH_WEB=1
# Node runs only npm's binaryen (wasm-opt 132): Debian's binaryen 108 breaks
# wasm-bindgen 0.2.130 output. Trunk 0.22 needs a newer rustc than 1.95.
RUN if [ "$WITH_WEB" = 1 ]; then \
      apt-get update && apt-get install -y --no-install-recommends nodejs npm \
      && rm -rf /var/lib/apt/lists/* \
      && rustup target add wasm32-unknown-unknown \
      && cargo install --locked trunk@0.21.14 \
      && cargo install wasm-bindgen-cli@0.2.130 \
      && npm install --prefix /opt/binaryen --no-audit --no-fund binaryen@132; \
    fi
WORKDIR /src
COPY . .
# Trunk.toml builds offline, so the crates are fetched first.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    mkdir -p /out/web \
    && if [ "$WITH_WEB" = 1 ]; then \
      cargo fetch --locked \
      && PATH="/opt/binaryen/node_modules/.bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true \
         trunk build --release \
      && cp -r dist/. /out/web/; \
    fi

# --- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
# An unprivileged user that owns the data volume. Port 53 is bound without
# root: Docker >= 20.10 sets net.ipv4.ip_unprivileged_port_start=0 in every
# container, and docker-compose.yml sets it explicitly (docs/DEPLOY.md).
RUN groupadd --system --gid 10001 dmp \
    && useradd --system --uid 10001 --gid dmp --home-dir /var/lib/dmp --shell /usr/sbin/nologin dmp \
    && install -d -o dmp -g dmp -m 0750 /var/lib/dmp
COPY --from=build /out/dmp-node /usr/local/bin/dmp-node
# Operator tool for clusters (keys, signed manifests): docs/FEDERATION.md.
COPY --from=build /out/dmp-cluster /usr/local/bin/dmp-cluster
COPY --from=web /out/web /usr/share/dmp/web

ENV DMP_DB_PATH=/var/lib/dmp/dmp.db
ENV DMP_HTTP_HOST=0.0.0.0
ENV DMP_HTTP_PORT=8053
ENV DMP_DNS_HOST=0.0.0.0
ENV DMP_DNS_PORT=53
ENV DMP_WEB_DIR=/usr/share/dmp/web
ENV RUST_LOG=info

USER dmp
VOLUME ["/var/lib/dmp"]
EXPOSE 53/udp 53/tcp 8053/tcp
# No curl in the image: bash's /dev/tcp sends the request and the status line
# is checked (health answers 200 only when the store reads).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${DMP_HTTP_PORT:-8053} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["dmp-node"]
