# kmsd as a small static image: one binary, a data volume, CA certificates.
#
#   docker build -t kmsd .
#   docker run --rm -p 127.0.0.1:8080:8080 -v kmsd-data:/data kmsd
#
# By default the container runs `kmsd dev --enforce` on 0.0.0.0:8080: every
# request's SigV4 signature is verified and every policy enforced, against
# the root credentials in KMSD_ROOT_ACCESS_KEY / KMSD_ROOT_SECRET_KEY (AWS's
# published example pair unless you set your own). Publish the port on
# 127.0.0.1, or set your own pair; for a shared network run `serve` with TLS:
#   docker run ... kmsd serve --tls-cert /certs/tls.crt --tls-key /certs/tls.key

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static: no C library to match in the final image. The VCS commit is
# stamped when .git is in the build context (kmsd version shows it).
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/kmsd ./cmd/kmsd
# scratch has no mkdir: the data directory is made here and copied with
# its owner.
RUN mkdir -p /out/data

FROM scratch
# For outbound TLS (a seal or key store in another service); kmsd itself
# needs no /tmp, no shell and no user database.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/kmsd /kmsd
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV KMSD_LISTEN=0.0.0.0:8080 \
    KMSD_DATA=/data
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/kmsd", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/kmsd"]
CMD ["dev", "--enforce"]
