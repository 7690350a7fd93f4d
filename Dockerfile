# Drop-in image for registry.k8s.io/dns/k8s-dns-node-cache: the `node-cache`
# binary as /node-cache, both iptables backends and nft for the interception
# rules, nothing else (about 20 MB; see "Replacing node-cache" in README.md).
#   docker build -t dnscore-node-cache .      (or: podman build ...)
FROM debian:bookworm AS build
COPY .ci/packages /tmp/packages
# .ci/packages minus podman/runc, which only tests/image/run.sh needs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(grep -v -e '^#' -e '^podman$' -e '^runc$' /tmp/packages) \
 && rm -rf /var/lib/apt/lists/*
COPY . /src
# image/stage-rootfs.sh collects /node-cache, xtables-legacy-multi and
# xtables-nft-multi (iptables/ip6tables[-legacy|-nft][-save|-restore]),
# the xtables extensions, nft, their shared libraries (ldd), the CA bundle
# and a minimal /etc into /rootfs; tests/image/run.sh runs the same script.
RUN meson setup /build /src --buildtype=release -Db_ndebug=true \
 && ninja -C /build node-cache \
 && strip /build/node-cache \
 && /src/image/stage-rootfs.sh /build/node-cache /rootfs

FROM scratch
COPY --from=build /rootfs /
# posix_spawnp's default PATH (/bin:/usr/bin) would miss /usr/sbin.
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["/node-cache"]
