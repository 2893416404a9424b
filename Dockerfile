# One image for every stage: `yuqing <stage> --config /etc/yuqing/yuqing.toml`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release -p yuqing --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/yuqing yuqing
COPY --from=build /src/target/release/yuqing /usr/local/bin/yuqing
USER yuqing
WORKDIR /var/lib/yuqing
ENTRYPOINT ["/usr/local/bin/yuqing"]
