# The pg-gitops image for people with Docker (or Podman/BuildKit):
#
#   docker build -t ghcr.io/pg-gitops/pg-gitops:0.2.0 .
#
# Equivalent to `scripts/image`, which builds the image the project tests (offline, from
# Debian's packages, `FROM scratch` with buildah): the same binary built on Debian 12, the same
# user (nonroot, 65532:65532), entrypoint `pg-gitops` on PATH, HOME=/tmp, a root filesystem
# that can be read-only, CA certificates, and the libraries ldd names. distroless adds a few
# files scripts/image leaves out (tzdata, os-release, /etc/services).
# Keep the tag equal to the crate version: the chart's default image is
# ghcr.io/pg-gitops/pg-gitops:<appVersion>.
#
# Not built by the tests: building it needs a registry (the rust and distroless base images),
# and the test machine has none. tests/cluster/image.rs tests the image of scripts/image.

# rust:1-bookworm: Debian 12, the same glibc and OpenSSL as the distroless runtime below.
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
# build.rs records the commit; a build context without .git says "unknown" unless given:
#   docker build --build-arg PG_GITOPS_GIT_COMMIT=$(git rev-parse --short HEAD) .
ARG PG_GITOPS_GIT_COMMIT
ARG SOURCE_DATE_EPOCH
RUN cargo build --release --locked --bin pg-gitops
# The libraries the binary links, as scripts/image finds them (ldd), at their own paths:
# distroless/cc has glibc, libgcc_s and OpenSSL but no zlib, and copying the builder's set
# keeps each library at the version the binary was linked against.
RUN mkdir /libs && ldd target/release/pg-gitops \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' \
    | xargs cp -L --parents -t /libs

# cc-debian12: glibc and libgcc for a dynamically linked Rust binary; :nonroot runs as 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /libs/ /
COPY --from=build /src/target/release/pg-gitops /usr/local/bin/pg-gitops
USER 65532:65532
ENV HOME=/tmp \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["pg-gitops"]
CMD ["run", "--config", "/etc/pg-gitops/config.toml"]
