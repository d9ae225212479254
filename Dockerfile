# Build: a release keyplane binary (Swagger UI assets are compiled in).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p keyplane-api --bin keyplane

# Run: a small image with the binary only.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/keyplane --create-home keyplane
COPY --from=build /src/target/release/keyplane /usr/local/bin/keyplane
USER keyplane
WORKDIR /var/lib/keyplane
ENV KEYPLANE_HOST=0.0.0.0 KEYPLANE_PORT=8080 KEYPLANE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["keyplane"]
CMD ["serve"]
