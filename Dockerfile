# Drop-in image for registry.k8s.io/dns/k8s-dns-node-cache: the `node-cache`
# binary as /node-cache, iptables/ip6tables for the interception rules.
#   docker build -t dnscore-node-cache .
FROM debian:bookworm AS build
COPY .ci/packages /tmp/packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/packages) \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN meson setup /build /src --buildtype=release -Db_ndebug=true \
 && ninja -C /build node-cache \
 && strip /build/node-cache

FROM debian:bookworm-slim
# iptables: the rules (Debian's alternatives default to the nft backend; see
# nodecache/README.md for legacy hosts). libfmt9, libre2-9, libssl3, libfstrm0, libgoogle-perftools4 (libprofiler): shared libraries
# node-cache links (libstdc++/libc are in the base image).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables libfmt9 libre2-9 libssl3 libfstrm0 libgoogle-perftools4 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/node-cache /node-cache
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["/node-cache"]
