# The pg-gitops image for people with Docker (or Podman/BuildKit):
#
#   cargo build --release --locked
#   docker build -t ghcr.io/pg-gitops/pg-gitops:0.2.0 .
#
# Equivalent to `scripts/image`, which builds the image the project tests (offline, from
# Debian's packages, `FROM scratch` with buildah): the same release binary, the same user
# (nonroot, 65532:65532), entrypoint `pg-gitops` on PATH, HOME=/tmp, a root filesystem that
# can be read-only, CA certificates, and the libraries ldd names. distroless adds a few files
# scripts/image leaves out (tzdata, os-release, /etc/services).
# Keep the tag equal to the crate version: the chart's default image is
# ghcr.io/pg-gitops/pg-gitops:<appVersion>.
#
# No RUN step needs the network: the binary is built beforehand (on Debian 12, whose glibc
# and OpenSSL the runtime below has; `pg-gitops --version` then names its commit and build
# date) and taken from the build context, the only file of target/ that .dockerignore lets in.
# Not built by the tests: pulling the base images needs a registry, and the test machine has
# none. tests/cluster/image.rs tests the image of scripts/image.

# The libraries the binary links, as scripts/image finds them (ldd), at their own paths:
# distroless/cc has glibc, libgcc_s and OpenSSL but no zlib, and copying the linked set keeps
# each library at the version the binary was linked against.
FROM docker.io/library/debian:bookworm-slim AS libs
COPY target/release/pg-gitops /usr/local/bin/pg-gitops
RUN mkdir /libs && ldd /usr/local/bin/pg-gitops \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' \
    | xargs cp -L --parents -t /libs

# cc-debian12: glibc and libgcc for a dynamically linked Rust binary; :nonroot runs as 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=libs /libs/ /
COPY --from=libs /usr/local/bin/pg-gitops /usr/local/bin/pg-gitops
USER 65532:65532
ENV HOME=/tmp \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["pg-gitops"]
CMD ["run", "--config", "/etc/pg-gitops/config.toml"]
