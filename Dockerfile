# syntax=docker/dockerfile:1
# bucketmount container image: the CSI driver (cmd/csi-driver) and the per-volume mount command
# (cmd/bucketmount) in one image, so the node plugin can spawn mount processes from its own files.
#
#   docker build -t <registry>/bucketmount:0.1.0 .
#
# Stage 1 compiles TypeScript, installs production dependencies and builds our libfuse3 addon
# (native/fuse3, node-gyp against Node's own headers: a compiler and the libfuse3 headers).
# Stage 2 is node:24-bookworm-slim with FUSE user-space tools and only dist/ + production modules.
# Default user is the image's unprivileged `node` (uid 1000): the controller runs as is; the node
# plugin's DaemonSet overrides it (root + privileged) because mounting FUSE and propagating
# mounts to the host need CAP_SYS_ADMIN and Bidirectional mount propagation.

FROM node:24-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libfuse3-dev pkg-config python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci builds our libfuse3 addon (package.json "install" → scripts/build-native.sh).
COPY scripts/build-native.sh ./scripts/build-native.sh
COPY native/fuse3/binding.gyp native/fuse3/fuse3.c native/fuse3/fd-pass.c native/fuse3/napi-args.h ./native/fuse3/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto ./proto
COPY src ./src
COPY cmd ./cmd
# tsconfig also includes test/**; the image build compiles only what ships.
RUN npx tsc -p tsconfig.json \
 && test -f dist/cmd/csi-driver.js && test -f dist/cmd/bucketmount.js \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
# fuse3: fusermount3 (unmount helper) and /etc/fuse.conf; libfuse3-3: the library our native/fuse3
# addon links (no libfuse2: nothing uses FUSE 2 any more);
# util-linux/mount: mount/umount for bind mounts and lazy unmounts; tini: PID 1 that reaps the
# detached mount processes; ca-certificates: TLS to S3/STS endpoints.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse3 libfuse3-3 tini ca-certificates util-linux mount \
 && rm -rf /var/lib/apt/lists/* \
 && sed -i 's/^#\s*user_allow_other/user_allow_other/' /etc/fuse.conf
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/proto ./proto
COPY --from=build /src/dist/cmd ./dist/cmd
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/native/fuse3/build/Release/bucketmount_fuse3.node ./native/fuse3/build/Release/bucketmount_fuse3.node
COPY --chmod=0755 deploy/image/node-supervisor.sh /app/bin/node-supervisor
RUN printf '#!/bin/sh\nexec node /app/dist/cmd/bucketmount.js "$@"\n' >/usr/local/bin/bucketmount \
 && chmod 0755 /usr/local/bin/bucketmount
USER 1000:1000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "/app/dist/cmd/csi-driver.js", "--mode=controller", "--endpoint=unix:///csi/csi.sock"]
