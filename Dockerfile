# Build: docker build -t pier .   (docker-compose.yml does this)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/pier ./cmd/pier

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/pier --create-home pier
COPY --from=build /out/pier /usr/local/bin/pier
USER pier
WORKDIR /var/lib/pier
EXPOSE 2022 8080 8081
ENTRYPOINT ["pier"]
CMD ["serve", "--data", "/var/lib/pier/data"]
