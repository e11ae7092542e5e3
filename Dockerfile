# syntax=docker/dockerfile:1
# kcgate in a container (an inriver extension host or any container
# platform): built from this tree on Debian 12, run on Debian 12 slim as
# an unprivileged user, the store on a volume, health on /health/ready.
#
#   docker build -t kcgate .
#   docker run -d -p 8443:8443 -v kcgate-store:/var/lib/kcgate \
#     -v $PWD/tls:/etc/kcgate/tls:ro -e KCGATE_ADMIN_TOKEN=... \
#     -e KCGATE_MIRAKL_SECRET=... -e KCGATE_INRIVER_TOKEN=... kcgate
#
# The image's configuration is packaging/docker.conf; mount your own at
# /etc/kcgate/kcgate.conf. docs/operations.md ("Docker") has the rest.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev meson ninja-build pkg-config libmicrohttpd-dev libcurl4-openssl-dev \
      libjansson-dev liblmdb-dev libssl-dev libgnutls28-dev libxml2-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --prefix=/usr --buildtype=release \
 && ninja -C /build kcgate \
 && DESTDIR=/out meson install -C /build --no-rebuild --tags runtime,doc

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcurl4 libjansson4 liblmdb0 libssl3 libgnutls30 libxml2 ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kcgate \
 && useradd --system --uid 10001 --gid kcgate --home-dir /var/lib/kcgate --shell /usr/sbin/nologin kcgate \
 && install -d -o kcgate -g kcgate -m 0700 /var/lib/kcgate \
 && install -d -m 0755 /etc/kcgate /etc/kcgate/tls
COPY --from=build /out/usr/bin/kcgate /usr/bin/kcgate
COPY --from=build /out/usr/share/doc/kcgate/ /usr/share/doc/kcgate/
COPY --from=build /out/usr/share/doc/kcgate/kcgate.conf.example /etc/kcgate/kcgate.conf.example
COPY packaging/docker.conf /etc/kcgate/kcgate.conf
COPY packaging/docker-entrypoint.sh /usr/bin/kcgate-entrypoint
ENV KCGATE_CONFIG=/etc/kcgate/kcgate.conf \
    KCGATE_HEALTH_URL=https://127.0.0.1:8443/health/ready
USER 10001:10001
VOLUME ["/var/lib/kcgate"]
EXPOSE 8443
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/usr/bin/kcgate-entrypoint", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/kcgate-entrypoint"]
CMD ["run"]
