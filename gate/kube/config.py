"""Where the API server is and how to authenticate: in-cluster service account or a kubeconfig.

Supported kubeconfig users: `token`, `tokenFile`, client certificates (`client-certificate` /
`client-key` files or their `-data` forms); clusters with `certificate-authority(-data)`,
`insecure-skip-tls-verify`, or a plain `http://` server. Exec and auth-provider plugins are
refused with a clear message rather than half-supported.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from gate.kube.errors import KubeConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    token: str | None = None
    token_file: Path | None = None  # re-read on every call: projected tokens rotate
    ca_file: Path | None = None
    insecure: bool = False
    client_cert: tuple[str, str] | None = None
    namespace: str | None = None
    origin: str = ""  # where this came from, for messages

    def bearer_token(self) -> str | None:
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip()
            except OSError as exc:
                raise KubeConfigError(f"cannot read token file {self.token_file}: {exc.strerror}") from exc
        return self.token

    @property
    def verify(self) -> bool | str:
        if self.insecure:
            return False
        return str(self.ca_file) if self.ca_file else True


def load(kubeconfig: str | None, context: str | None = None, service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> ClusterConfig:
    """An explicit kubeconfig wins; else in-cluster when running in a pod; else ~/.kube/config."""
    if kubeconfig:
        return from_kubeconfig(_first_kubeconfig(kubeconfig), context)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (service_account_dir / "token").exists():
        return in_cluster(service_account_dir)
    default = Path.home() / ".kube" / "config"
    if default.exists():
        return from_kubeconfig(default, context)
    raise KubeConfigError("not running in a pod and no kubeconfig: set KUBECONFIG or --kubeconfig")


def _first_kubeconfig(value: str) -> Path:
    # KUBECONFIG may list several files; merging them is kubectl's job, the gate takes the first.
    paths = [Path(p) for p in value.split(os.pathsep) if p]
    for path in paths:
        if path.exists():
            return path
    raise KubeConfigError(f"kubeconfig {value!r} does not exist")


def in_cluster(service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> ClusterConfig:
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    namespace_file = service_account_dir / "namespace"
    ca_file = service_account_dir / "ca.crt"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        token_file=service_account_dir / "token",
        ca_file=ca_file if ca_file.exists() else None,
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else None,
        origin="in-cluster service account",
    )


def from_kubeconfig(path: Path, context: str | None = None) -> ClusterConfig:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {' '.join(str(exc).split())[:160]}") from exc
    if not isinstance(document, dict):
        raise KubeConfigError(f"kubeconfig {path} is not a YAML mapping")
    name = context or document.get("current-context")
    if not name:
        raise KubeConfigError(f"kubeconfig {path} has no current-context; pass --context")
    ctx = _named(document, "contexts", name, path).get("context") or {}
    cluster = _named(document, "clusters", ctx.get("cluster"), path).get("cluster") or {}
    user = _named(document, "users", ctx.get("user"), path).get("user") or {} if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise KubeConfigError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
    if "exec" in user or "auth-provider" in user:
        raise KubeConfigError(
            f"kubeconfig {path}: user {ctx.get('user')!r} uses an exec/auth-provider plugin; "
            "give the gate a token, tokenFile or client certificate"
        )
    base = path.parent
    return ClusterConfig(
        server=server.rstrip("/"),
        token=user.get("token"),
        token_file=_path(user.get("tokenFile"), base),
        ca_file=_file_or_data(cluster, "certificate-authority", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        client_cert=_client_cert(user, base),
        namespace=ctx.get("namespace"),
        origin=f"kubeconfig {path} context {name}",
    )


def _named(document: dict, section: str, name: str | None, path: Path) -> dict:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KubeConfigError(f"kubeconfig {path}: no {section[:-1]} named {name!r}")


def _path(value: str | None, base: Path) -> Path | None:
    if not value:
        return None
    candidate = Path(value)
    return candidate if candidate.is_absolute() else base / candidate


_scratch: Path | None = None


def _scratch_dir() -> Path:
    """A private directory for inline credentials, which the HTTP library only takes as files."""
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="gate-kube-"))
        atexit.register(shutil.rmtree, _scratch, True)
    return _scratch


def _file_or_data(section: dict, key: str, base: Path) -> Path | None:
    data = section.get(f"{key}-data")
    if data:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KubeConfigError(f"kubeconfig: {key}-data is not base64") from exc
        target = _scratch_dir() / key
        target.write_bytes(raw)
        target.chmod(0o600)
        return target
    return _path(section.get(key), base)


def _client_cert(user: dict, base: Path) -> tuple[str, str] | None:
    cert = _file_or_data(user, "client-certificate", base)
    key = _file_or_data(user, "client-key", base)
    if cert and key:
        return (str(cert), str(key))
    if cert or key:
        raise KubeConfigError("kubeconfig: a client certificate needs both client-certificate and client-key")
    return None
