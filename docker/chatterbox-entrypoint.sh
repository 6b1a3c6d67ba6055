#!/bin/sh
# The server reads and rewrites config.yaml in its working directory (its settings UI saves
# through .tmp/.bak files there). The image's root is read-only, so the working directory is a
# writable volume, and the chart's config is copied into it at every start: the chart stays the
# source of truth and the UI's edits last until the pod is recreated.
set -eu
if [ -n "${CHATTERBOX_CONFIG_FILE:-}" ]; then
    cp "$CHATTERBOX_CONFIG_FILE" ./config.yaml
fi
exec "$@"
