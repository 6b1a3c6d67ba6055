"""Exit statuses: what a CronJob's failed run means, without reading its log.

0 is every decision carried out, taking the card or not. The others say what failed.
"""

from __future__ import annotations

from enum import IntEnum, unique

from gate.kube import errors


@unique
class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # a bug: please report it, with --debug output
    USAGE = 2  # a bad option, environment variable or kubeconfig
    METRICS = 3  # blind: the metrics could not be read or trusted (preflight refused, guard yielded)
    API_UNAVAILABLE = 4  # the API server did not answer, timed out, throttled (429) or failed (5xx)
    API_DENIED = 5  # 401 or 403: credentials or RBAC
    API_NOT_FOUND = 6  # 404: the Deployment (or namespace) does not exist
    API_REJECTED = 7  # 409 conflict, 422 invalid, 415 and other refusals
    SERVER = 8  # gate check: the server is wanted and does not answer, has no model, or cannot speak
    NOTHING_TO_MEASURE = 9  # gate measure: the range holds no memory of the server's pods (or no clean span on its card)
    INTERRUPTED = 130  # SIGINT (Ctrl-C) before the command finished
    BROKEN_PIPE = 141  # the output's reader went away (`gate ... | head`), as a SIGPIPE death reports


def for_kube_error(exc: errors.KubeError) -> ExitStatus:
    """The pure mapping from the API client's error tree to an exit status."""
    if isinstance(exc, errors.KubeConfigError):
        return ExitStatus.USAGE
    if isinstance(exc, (errors.KubeUnauthorized, errors.KubeForbidden)):
        return ExitStatus.API_DENIED
    if isinstance(exc, errors.KubeNotFound):
        return ExitStatus.API_NOT_FOUND
    if isinstance(exc, errors.KubeUnavailable):
        return ExitStatus.API_UNAVAILABLE
    return ExitStatus.API_REJECTED


EXIT_STATUS_HELP = "\n".join(
    [
        "Exit status:",
        "  0   done: the decision was carried out (taking the card or refusing it)",
        "  2   bad input: an option, GATE_* variable, settings file or kubeconfig that cannot mean anything",
        "  3   blind: metrics unreadable or untrustworthy (preflight refused; guard yielded)",
        "  4   Kubernetes API unavailable: no answer, timeout, 429 or 5xx",
        "  5   Kubernetes API denied: 401 or 403 (check the Role)",
        "  6   Kubernetes object not found: 404 (namespace or Deployment)",
        "  7   Kubernetes API rejected the request: 409, 422, 415 or another 4xx",
        "  8   check: the server is wanted but down, has no model, or cannot synthesize",
        "  9   measure: the range holds no memory of the server's pods, or (a per-card source) no clean span",
        "  130 interrupted (Ctrl-C)",
        "  141 the output's reader went away (piped into head): nothing else is wrong",
        "  1   internal error (a bug)",
    ]
)
