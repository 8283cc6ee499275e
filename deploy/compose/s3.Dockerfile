# versitygw, an S3 server over a directory, for the compose file's shared repository storage.
# Built from source at the version the test suite runs (scripts/services/s3.sh).
FROM golang:1.26-bookworm AS build
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/versity/versitygw/cmd/versitygw@v1.8.0

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/versitygw /usr/local/bin/versitygw
EXPOSE 7070
# Credentials: ROOT_ACCESS_KEY_ID / ROOT_SECRET_ACCESS_KEY from the environment. Buckets are
# directories under /data.
ENTRYPOINT ["versitygw", "--port", ":7070", "posix", "/data"]
