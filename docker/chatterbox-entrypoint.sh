#!/bin/sh
# The server reads and rewrites config.yaml in its working directory (its settings UI saves
# through .tmp/.bak files there). The image's root is read-only, so the working directory is a
# writable volume, and the chart's config is copied into it at every start: the chart stays the
# source of truth and the UI's edits last until the pod is recreated.
set -eu
if [ -n "${CHATTERBOX_CONFIG_FILE:-}" ]; then
    # Written anew and renamed over the last copy: a restarted container finds the copy its first
    # start made, and `cp` keeps a source's mode on a new file, so a read-only source (a ConfigMap
    # mounted 0444) left a read-only copy that the next `cp`, and the settings UI, could not
    # overwrite. Created by the shell, the copy is writable whatever the source's mode.
    rm -f ./.config.yaml.new
    cat "$CHATTERBOX_CONFIG_FILE" >./.config.yaml.new
    mv -f ./.config.yaml.new ./config.yaml
fi
# chatterbox's Turbo model passes os.getenv("HF_TOKEN") to the hub and so ignores HF_TOKEN_PATH
# (the chart mounts the token as a file): hand the file's token over as HF_TOKEN.
if [ -z "${HF_TOKEN:-}" ] && [ -n "${HF_TOKEN_PATH:-}" ] && [ -r "$HF_TOKEN_PATH" ]; then
    HF_TOKEN="$(cat "$HF_TOKEN_PATH")"
    export HF_TOKEN
fi
# Stop at once on SIGTERM. uvicorn's graceful shutdown waits for open requests, and a synthesis
# blocks its event loop, so the server would hold the card through the speech in flight and every
# queued one, up to the pod's grace, then be killed anyway. The card is the residents' and a
# client retries an unfinished narration: this shell stays PID 1, runs the server in a process
# group of its own, and on SIGTERM (or SIGINT) kills that group and exits once the server is gone.
server=
stop() {
    if [ -n "$server" ]; then
        kill -KILL "-$server" 2>/dev/null || kill -KILL "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    exit "$1"
}
trap 'stop 143' TERM
trap 'stop 130' INT
setsid "$@" &
server=$!
wait "$server"
