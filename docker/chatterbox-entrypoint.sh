#!/bin/sh
# The server reads and rewrites config.yaml in its working directory (its settings UI saves
# through .tmp/.bak files there). The image's root is read-only, so the working directory is a
# writable volume, and the chart's config is copied into it at every start: the chart stays the
# source of truth and the UI's edits last until the pod is recreated.
set -eu
if [ -n "${CHATTERBOX_CONFIG_FILE:-}" ]; then
    cp "$CHATTERBOX_CONFIG_FILE" ./config.yaml
fi
# chatterbox's Turbo model passes os.getenv("HF_TOKEN") to the hub and so ignores HF_TOKEN_PATH
# (the chart mounts the token as a file): hand the file's token over as HF_TOKEN.
if [ -z "${HF_TOKEN:-}" ] && [ -n "${HF_TOKEN_PATH:-}" ] && [ -r "$HF_TOKEN_PATH" ]; then
    HF_TOKEN="$(cat "$HF_TOKEN_PATH")"
    export HF_TOKEN
fi
exec "$@"
