"""`python3 -m tts_layer`: the image's command. Runs upstream's server (imported from
TTS_APP_DIR, /app) inside the layer, as upstream's own `python3 server.py` would run it."""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger("tts_layer")


def main() -> int:
    from .settings import SettingError, Settings

    try:
        settings = Settings.from_env(os.environ)
    except SettingError as error:
        print(f"tts_layer: {error}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(settings.app_dir))
    import engine  # upstream's, from the app directory
    import server  # upstream's: loads its config and sets up its logging
    import uvicorn

    from . import control, fixes, metrics, upstream
    from .admission import AdmissionApp
    from .layer import bind_engine, live_metrics
    from .parking import Controller

    server_metrics = metrics.ServerMetrics()
    if settings.fixes:
        for result in fixes.apply_all():
            server_metrics.fix_applied.labels(result.name).set(1 if result.applied else 0)
    else:
        log.warning("TTS_FIXES is off: upstream's model classes run unfixed")
    controller = Controller(
        lambda: engine.chatterbox_model,
        upstream.device_caches,
        server_metrics,
        pin=settings.park_pin,
        retry_after_seconds=settings.retry_after_seconds,
        deadline_seconds=settings.park_deadline_seconds,
    )
    bind_engine(engine, controller, server_metrics)
    live_metrics(server_metrics, controller, lambda: engine.chatterbox_model)
    if settings.metrics_port:
        metrics.serve(server_metrics.registry, settings.metrics_host, settings.metrics_port)
        log.info("metrics on %s:%d", settings.metrics_host, settings.metrics_port)
    if settings.control_port:
        if control.read_token(settings.token_file):
            control.serve(controller, settings.token_file, settings.control_host, settings.control_port)
            log.info("control port on %s:%d", settings.control_host, settings.control_port)
        else:
            log.error("no control port: the token file %s is missing or empty", settings.token_file)
    ssl = server.get_ssl_config()
    uvicorn.run(
        AdmissionApp(server.app, controller, server_metrics),
        host=server.get_host(),
        port=server.get_port(),
        log_level="info",
        workers=1,
        reload=False,
        **ssl,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
