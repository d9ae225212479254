# syntax=docker/dockerfile:1
# Build: a release keyplane binary (the Swagger UI assets are compiled in). The cargo
# registry and the target directory are BuildKit cache mounts, so a rebuild after a
# source change recompiles Keyplane's own crates, not its dependencies.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p keyplane-api --bin keyplane \
    && cp target/release/keyplane /usr/local/bin/keyplane

# Run: a small image with the binary only, as an unprivileged user; the embedded
# database, the generated master key file (when none is configured) and nothing else
# live in the volume.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/keyplane --create-home keyplane
COPY --from=build /usr/local/bin/keyplane /usr/local/bin/keyplane
USER keyplane
WORKDIR /var/lib/keyplane
ENV KEYPLANE_HOST=0.0.0.0 KEYPLANE_PORT=8080 KEYPLANE_LOG_FORMAT=json KEYPLANE_DATA_DIR=/var/lib/keyplane
VOLUME ["/var/lib/keyplane"]
EXPOSE 8080
# SIGTERM stops it gracefully (readiness 503, drain, flush, close).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["keyplane"]
CMD ["serve"]
