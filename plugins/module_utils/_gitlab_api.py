# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A small client of GitLab's REST API v4 for runners (the authentication-token workflow).

One function per endpoint the runner_registration module uses (facts, status codes and bodies:
reference gitlab-runner-api.md): create (POST /user/runners), get, reset and delete by id, delete
with the runner's own token, and the lists a lost runner is found in again by description and type.
POST /runners/verify is never called: it is not read-only (it sets contacted_at and creates a
runner manager record).

HTTP goes through ansible-core's own client (ansible.module_utils.urls.open_url), so nothing has to
be installed on the target. One deadline bounds all requests of a module run: each request gets
the time left as its socket timeout, and, because a per-read timeout never ends a server that
trickles its answer one byte at a time, a real-time alarm (SIGALRM, the module's main thread)
ends the request as a whole when the time is up.

Errors are GitLabError with a message a user can act on (what to change), GitLab's own message
included, and every token (the access token, runner tokens, anything shaped like a token) masked:
GitLab echoes parameters in some errors.
"""

from __future__ import annotations

import datetime
import json
import contextlib
import re
import signal
import ssl
import threading
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _secrets as secrets

RUNNER_TYPES = ("instance_type", "group_type", "project_type")
# POST /user/runners parameters (reference §3) the module passes through when set.
CREATE_PARAMETERS = ("runner_type", "group_id", "project_id", "description", "tag_list", "run_untagged", "locked",
                     "paused", "access_level", "maximum_timeout", "maintenance_note")
# PUT /runners/:id parameters (reference §5): the settings of an existing runner the module keeps as declared.
SETTINGS = ("description", "tag_list", "run_untagged", "locked", "paused", "access_level", "maximum_timeout",
            "maintenance_note")
PER_PAGE = 100  # GitLab's maximum page size
MAX_PAGES = 50  # 5000 runners: a bound, so that a misbehaving server cannot keep a run going
USER_AGENT = "runnerkit.gitlab_runner (runner_registration)"
# What the runner writes for "never expires" (reference config-and-auth §1 item 7).
ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
SYSTEM_ID = re.compile(r"^[sr]_[0-9a-zA-Z]{12}$")  # .runner_system_id (reference §8)
DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "": 86400}


class _Deadline(BaseException):  # not an Exception: no library code on the way may swallow it
    """Raised by the alarm inside a request that ran out of time."""


@contextlib.contextmanager
def _alarm(seconds):
    """Raise _Deadline in this thread after `seconds` (main thread only; elsewhere only the socket
    timeouts bound the wait)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(_signum, _frame):
        raise _Deadline()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class GitLabError(Exception):
    """A request failed; the message says what to do and holds no secret. `status` is the HTTP status
    (None when GitLab was not reached)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- pure helpers


def parse_duration(value):
    """Seconds of `7d`, `12h`, `90m`, `3600s`, `2w` or a bare number of days; ValueError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    match = DURATION.match(value or "") if isinstance(value, str) else None
    if not match:
        raise ValueError("%r is not a duration such as 7d, 12h, 90m, 3600s or a number of days" % (value,))
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]


def parse_time(value):
    """An aware UTC datetime of GitLab's ISO 8601 time (`2026-12-04T17:00:00.000Z`), whole seconds;
    ZERO_TIME for null (no expiry), as the runner writes it."""
    if value in (None, "", "None", "null"):  # "None": a null passed through a template as text
        return ZERO_TIME
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        text = re.sub(r"(\.\d+)(?=[+-]\d\d:\d\d$|$)", "", text)  # Python 3.9 takes 3 or 6 digits only
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise GitLabError("GitLab sent token_expires_at %r, which is not an ISO 8601 time" % (value,))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def expires_within(expires_at, seconds, now=None):
    """Whether a token with this expiry (None or ZERO_TIME: never) expires within `seconds` from now."""
    if not isinstance(expires_at, datetime.datetime) or expires_at <= ZERO_TIME:
        return False
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=datetime.timezone.utc)
    return expires_at - (now or now_utc()) <= datetime.timedelta(seconds=seconds)


def create_body(params):
    """The JSON body of POST /user/runners from module parameters (unset ones left out)."""
    return {key: params[key] for key in CREATE_PARAMETERS if params.get(key) is not None}


def normal_tags(tags):
    """Tags as GitLab keeps them: each string split on commas (reference §3), stripped, no empties, a sorted set."""
    return sorted({tag.strip() for item in tags or [] for tag in str(item).split(",") if tag.strip()})


def _normal_setting(key, value):
    if key == "tag_list":
        return normal_tags(value)
    if key in ("description", "maintenance_note"):
        return value or ""  # GitLab shows an empty note as null
    return value


def settings_changes(wanted, current):
    """{key: (GitLab's value, declared value)} of the declared settings (None: not declared, GitLab's value is
    left alone) that differ from the runner's details from GET /runners/:id."""
    changes = {}
    for key in SETTINGS:
        if wanted.get(key) is None:
            continue
        declared, present = _normal_setting(key, wanted[key]), _normal_setting(key, (current or {}).get(key))
        if declared != present:
            changes[key] = (present, declared)
    return changes


def token_health(expires_at, system_id, managers, now=None):
    """What can be known, read-only, about whether the runner token in config.toml still works (POST
    /runners/verify would tell, but it writes). {state, reason, manager}: state is expired (certain: GitLab
    treats an expired token as unknown), suspect (this host's runner manager is not online while another
    manager of the same runner is: typically a shared token rotated from another host), ok (this host's
    manager contacted GitLab within the last 2 hours) or unknown (nothing tells; the reason says why).
    `managers` is the answer of GET /runners/:id/managers, None when not read."""
    now = now or now_utc()
    if isinstance(expires_at, datetime.datetime) and ZERO_TIME < expires_at <= now:
        return {"state": "expired", "manager": None,
                "reason": "the token_expires_at in config.toml (%s) is past: GitLab no longer accepts the token"
                          % expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if managers is None:
        reason = ("no valid .runner_system_id next to config.toml (the runner writes it when it starts), so this "
                  "host's runner manager cannot be told apart" if system_id is None else
                  "GitLab does not list the runner's managers (GET /runners/:id/managers: GitLab too old)")
        return {"state": "unknown", "manager": None, "reason": reason}
    mine = [m for m in managers if isinstance(m, dict) and m.get("system_id") == system_id]
    if not mine:
        return {"state": "unknown", "manager": None,
                "reason": "GitLab has no runner manager with this host's system_id %s: the runner has not used "
                          "this token from this host yet (not started since it was written, or its manager "
                          "record was removed)" % system_id}
    manager = {key: mine[0].get(key) for key in ("system_id", "status", "contacted_at")}
    if manager["status"] == "online":
        return {"state": "ok", "manager": manager,
                "reason": "this host's runner manager contacted GitLab within the last 2 hours"}
    others = [m.get("system_id") for m in managers if isinstance(m, dict) and m.get("status") == "online"]
    if others:
        return {"state": "suspect", "manager": manager,
                "reason": "this host's runner manager is %s (last contact %s) while %s of the same runner %s "
                          "online: a token rotated or reset from another host leaves this one with a dead token; "
                          "write the current token here (token, runner_id) or reset it, or start the runner if "
                          "it is stopped" % (manager["status"], manager["contacted_at"] or "never",
                                             ", ".join(map(str, others)), "is" if len(others) == 1 else "are")}
    return {"state": "unknown", "manager": manager,
            "reason": "this host's runner manager is %s (last contact %s) and no other manager is online: a "
                      "stopped runner, GitLab unreachable from it and a dead token look the same"
                      % (manager["status"], manager["contacted_at"] or "never")}


def gitlab_message(body):
    """GitLab's own words from an error body: `message` (a string or a hash of attribute errors),
    `error` and `error_description` (reference §9), or the raw text cut short."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = (body or "").strip()
        return text[:200] if text else "no message"
    parts = []
    message = data.get("message")
    if isinstance(message, dict):
        parts.append("; ".join("%s %s" % (key, ", ".join(map(str, value)) if isinstance(value, list) else value)
                               for key, value in message.items()))
    elif message:
        parts.append(str(message))
    for key in ("error", "error_description"):
        if data.get(key):
            parts.append(str(data[key]))
    if data.get("scope"):
        parts.append("required scope: %s" % data["scope"])
    return ": ".join(parts) or "no message"


def _hint_401(_what, _body, _text):
    return ("the access token is unknown, expired or revoked; create a new personal, group or project access token "
            "(scopes create_runner and manage_runner, or api) and pass it as api_token")


def _hint_403(what, body, text):
    if "insufficient_scope" in body:
        return ("the access token lacks the scope for this: creating a runner needs create_runner, reading, "
                "resetting and deleting one needs manage_runner, finding one again needs read_api (or give the "
                "token the api scope)")
    if what.startswith("delete runner with its own token"):
        return ("GitLab does not know the runner token from config.toml (the runner is deleted already, or its "
                "token expired or was rotated); give api_token to delete the runner by id")
    return ("the token's user may not %s: an instance runner needs an administrator, a group runner the group's "
            "Owner, a project runner a Maintainer of the project (or an administrator)" % what)


def _hint_400(_what, _body, text):
    match = re.search(r"Missing/invalid (group|project)", text)
    if match:
        return ("GitLab does not know that %s_id or the token's user cannot see it; check %s_id (a number) and "
                "that the token's user is a member" % (match.group(1), match.group(1)))
    return "GitLab refused the parameters; fix the option it names"


def _hint_404(what, _body, text):
    if "Runner Not Found" in text:
        return ("the runner id is stale: GitLab no longer knows it (deleted in GitLab); set recreate_stale=true "
                "to register the runner again, or state=absent to remove its table")
    if "Group Not Found" in text or "Project Not Found" in text:
        return "GitLab does not know that group or project, or the token's user cannot see it"
    return "GitLab has no such endpoint here; check that api_url is the GitLab base URL (no /api/v4)"


HINTS = {400: _hint_400, 401: _hint_401, 403: _hint_403, 404: _hint_404}


def error_message(status, body, what, known_secrets=()):
    """The message of a GitLab error answer: what failed, the status, GitLab's words, what to do.
    Every known secret and anything shaped like a token is masked."""
    text = gitlab_message(body)
    hint = HINTS.get(status)
    message = "GitLab refused to %s (HTTP %s: %s)" % (what, status, text)
    if hint:
        message += "; " + hint(what, body or "", text)
    elif status == 429:
        message += "; GitLab is rate limiting or migrating; run again later"
    elif status and status >= 500:
        message += "; GitLab failed on its side; run again later or ask its administrator"
    return mask(message, known_secrets)


def mask(text, known_secrets=()):
    """Text with the known secrets and every token-shaped string replaced by ********."""
    found = set(s for s in known_secrets if s) | secrets.shape_secrets(text)
    return secrets.mask(text, found)


def transport_message(exc, api_url, known_secrets=()):
    """The message for GitLab not reached: TLS not trusted, refused, timed out, name unknown."""
    reason = getattr(exc, "reason", exc)
    text = str(reason)
    if isinstance(exc, SSLValidationError) or isinstance(reason, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        message = ("cannot reach GitLab at %s: its TLS certificate is not trusted (%s); give the CA that signed it "
                   "as ca_path (PEM file), or validate_certs=false for a test instance only" % (api_url, text))
    elif isinstance(reason, (TimeoutError, OSError)) and "timed out" in text:
        message = "GitLab at %s did not answer in time (%s); check the URL, a firewall, or raise timeout" % (
            api_url, text)
    else:
        message = "cannot reach GitLab at %s (%s); check api_url, DNS, a proxy and a firewall" % (api_url, text)
    return mask(message, known_secrets)


# ---------------------------------------------------------------- the client


class Client:
    """Requests to one GitLab with one access token, under one deadline for all of them."""

    def __init__(self, api_url, api_token=None, validate_certs=True, ca_path=None, timeout=30, known_secrets=()):
        self.api_url = api_url.rstrip("/")
        self.api_token = api_token
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.known_secrets = set(s for s in known_secrets if s) | ({api_token} if api_token else set())
        self.writes = []  # (method, path) of every write request sent, for the module's result

    def remember_secret(self, value):
        if value:
            self.known_secrets.add(value)

    def _time_left(self, what):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise GitLabError("GitLab at %s did not finish answering within timeout=%s s (while trying to %s); "
                              "raise timeout or check the server" % (self.api_url, self.timeout, what))
        return left

    def request(self, method, path, what, query=None, body=None, auth=True):
        """(status, data, headers) of one request; GitLabError for an error answer or no answer."""
        url = "%s/api/v4%s" % (self.api_url, path)
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json"}
        if auth and self.api_token:
            headers["PRIVATE-TOKEN"] = self.api_token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if method != "GET":
            self.writes.append((method, path))
        left = self._time_left(what)
        try:
            with _alarm(left):
                status, raw, answer_headers = self._send(url, data, headers, method, left, what)
        except _Deadline:
            raise GitLabError("GitLab at %s did not finish answering within timeout=%s s (while trying to %s); "
                              "raise timeout or check the server" % (self.api_url, self.timeout, what))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            raise GitLabError("GitLab at %s answered %s to %s with something that is not JSON; check that api_url "
                              "is the GitLab base URL" % (self.api_url, status, what))
        return status, parsed, answer_headers

    def _send(self, url, data, headers, method, left, what):
        """(status, body bytes, headers) of one request; GitLabError for an error answer or no answer."""
        try:
            response = open_url(url, data=data, headers=headers, method=method, timeout=left,
                                validate_certs=self.validate_certs, ca_path=self.ca_path, http_agent=USER_AGENT,
                                follow_redirects="safe", use_netrc=False)
            return response.getcode(), response.read(), response.headers
        except HTTPError as exc:
            raw = exc.read() if hasattr(exc, "read") else b""
            raise GitLabError(error_message(exc.code, raw.decode("utf-8", "replace"), what, self.known_secrets),
                              status=exc.code)
        except (SSLValidationError, URLError, UrlsConnectionError, OSError) as exc:
            raise GitLabError(transport_message(exc, self.api_url, self.known_secrets))

    # -- one function per endpoint

    def create_runner(self, params):
        """POST /user/runners -> {id, token, token_expires_at}."""
        _status, data, _headers = self.request("POST", "/user/runners", "create a %s runner" % params["runner_type"],
                                               body=create_body(params))
        self.remember_secret((data or {}).get("token"))
        return data

    def get_runner(self, runner_id):
        """GET /runners/:id -> details, or None when GitLab does not know the id (404)."""
        try:
            return self.request("GET", "/runners/%d" % runner_id, "read runner %d" % runner_id)[1]
        except GitLabError as exc:
            if exc.status == 404 and "Runner Not Found" in str(exc):
                return None
            raise

    def get_managers(self, runner_id):
        """GET /runners/:id/managers -> the runner managers (hosts using its token), or None when this GitLab
        has no such endpoint."""
        try:
            return self.request("GET", "/runners/%d/managers" % runner_id, "list the managers of runner %d"
                                % runner_id)[1]
        except GitLabError as exc:
            if exc.status == 404 and "Runner Not Found" not in str(exc):
                return None
            raise

    def update_runner(self, runner_id, settings):
        """PUT /runners/:id with the settings to change (tag_list replaces the tags) -> the runner's details."""
        return self.request("PUT", "/runners/%d" % runner_id, "update the settings of runner %d" % runner_id,
                            body=dict(settings))[1]

    def reset_token(self, runner_id):
        """POST /runners/:id/reset_authentication_token -> {token, token_expires_at}; the old token dies."""
        data = self.request("POST", "/runners/%d/reset_authentication_token" % runner_id,
                            "reset the token of runner %d" % runner_id)[1]
        self.remember_secret((data or {}).get("token"))
        return data

    def delete_runner(self, runner_id):
        """DELETE /runners/:id; False when GitLab does not know it (gone already)."""
        try:
            self.request("DELETE", "/runners/%d" % runner_id, "delete runner %d" % runner_id)
        except GitLabError as exc:
            if exc.status == 404 and "Runner Not Found" in str(exc):
                return False
            raise
        return True

    def delete_runner_by_token(self, runner_token):
        """DELETE /runners with the runner's own token (no access token needed)."""
        self.remember_secret(runner_token)
        self.request("DELETE", "/runners", "delete runner with its own token", body={"token": runner_token},
                     auth=False)

    def list_runners(self, runner_type):
        """Every runner of a type the token's user can see (all pages): GET /runners/all (administrators)
        for instance runners, GET /runners (the user's own group and project runners) for the others.
        Not /groups/:id/runners: it answers an unknown group with 404, which would hide GitLab's own
        answer to the create (400 Missing/invalid group)."""
        path = "/runners/all" if runner_type == "instance_type" else "/runners"
        found, page = [], "1"
        for _count in range(MAX_PAGES):
            _status, data, headers = self.request("GET", path, "list %s runners" % runner_type,
                                                  query={"type": runner_type, "per_page": PER_PAGE, "page": page})
            found.extend(entry for entry in (data or []) if isinstance(entry, dict))
            page = (headers.get("x-next-page") or "").strip() if headers else ""
            if not page:
                break
        return found

    def find_runners(self, description, runner_type, group_id=None, project_id=None):
        """The runners of that type, group or project whose description is exactly `description`."""
        found = []
        for entry in self.list_runners(runner_type):
            if entry.get("description") != description or entry.get("runner_type", runner_type) != runner_type:
                continue
            if runner_type != "instance_type" and not self.belongs(entry.get("id"), group_id, project_id):
                continue
            found.append(entry)
        return found

    def belongs(self, runner_id, group_id, project_id):
        """Whether a group or project runner is one of that group or project (its details list them)."""
        details = self.get_runner(runner_id) if isinstance(runner_id, int) else None
        if not details:
            return False
        key, wanted = ("groups", group_id) if group_id is not None else ("projects", project_id)
        return any(isinstance(item, dict) and item.get("id") == wanted for item in details.get(key) or [])
