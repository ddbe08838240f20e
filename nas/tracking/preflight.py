"""Before a search creates anything: the MLflow tracking server answers, accepts the credentials
and can store artifacts; each failure is one clear UserError. While the search runs, a server
that stops answering is retried by MLflow's client; `explain_retries` turns urllib3's terse
retry warnings into a line that says what is going on."""

from __future__ import annotations

import logging
import os
import uuid

import requests

from nas.errors import UserError
from nas.redact import redact_text

TIMEOUT_S = 15
log = logging.getLogger(__name__)


def _auth() -> tuple[str, str] | None:
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    return (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) if user else None


def _get(uri: str, path: str, what: str) -> requests.Response:
    headers = {}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    try:
        return requests.get(f"{uri}{path}", auth=_auth(), headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as err:
        raise UserError(
            f"MLFLOW_TRACKING_URI = {uri}: the MLflow tracking server does not answer ({what}: "
            f"{type(err).__name__}). Start the server, or point MLFLOW_TRACKING_URI at a running "
            "one (unset, the search uses the SQLite store mlflow.db in this folder)."
        ) from None


def check_tracking_server(uri: str) -> None:
    """For an http(s) tracking URI: reachable, credentials accepted, artifact store usable."""
    if not uri.startswith(("http://", "https://")):
        return
    uri = uri.rstrip("/")
    _get(uri, "/health", "health check")
    answer = _get(uri, "/api/2.0/mlflow/experiments/search?max_results=1", "experiments")
    if answer.status_code in (401, 403):
        who = os.environ.get("MLFLOW_TRACKING_USERNAME")
        given = f"the user {who!r} and its password" if who else "no credentials"
        raise UserError(
            f"the MLflow tracking server at {uri} refused {given} (HTTP {answer.status_code}). "
            "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) to an account of that server."
        )
    if answer.status_code != 200:
        raise UserError(
            f"the MLflow tracking server at {uri} answered HTTP {answer.status_code} to a "
            f"search of experiments: {redact_text(answer.text[:300])}"
        )
    _check_artifact_store(uri)


def _check_artifact_store(uri: str) -> None:
    """Write and delete a small probe file through the server's artifact proxy (a missing
    bucket or wrong storage keys show only on writing); a server that proxies no artifacts, or
    does not let this user write outside an experiment, is left to the run itself."""
    path = f"{uri}/api/2.0/mlflow-artifacts/artifacts/nas-preflight/{uuid.uuid4().hex}.txt"
    try:
        put = requests.put(path, data=b"probe", auth=_auth(), timeout=TIMEOUT_S)
        if put.status_code == 200:
            requests.delete(path, auth=_auth(), timeout=TIMEOUT_S)
    except requests.RequestException as err:
        raise UserError(
            f"the MLflow tracking server at {uri} failed while storing an "
            f"artifact ({type(err).__name__})."
        ) from None
    if put.status_code >= 500:
        raise UserError(
            f"the MLflow tracking server at {uri} cannot use its artifact store (HTTP "
            f"{put.status_code}: {redact_text(put.text[:300])}). Check the server's "
            "--artifacts-destination (the bucket must exist) and its storage credentials."
        )


class _RetryExplainer(logging.Filter):
    """Rewrites urllib3's 'Retrying (Retry(total=5, ...)) after connection broken by ...' into
    a line that names the server and says the search waits for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Retrying"):
            left = message.split("total=", 1)[-1].split(",", 1)[0]
            record.msg = (
                "the MLflow tracking server does not answer; the search waits and retries "
                f"({left} tries left, with growing pauses): {redact_text(message[-160:])}"
            )
            record.args = ()
        return True


def explain_retries() -> None:
    logging.getLogger("urllib3.connectionpool").addFilter(_RetryExplainer())
