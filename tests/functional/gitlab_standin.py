# Copyright: (c) runnerkit developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for the runner endpoints of GitLab's REST API v4, over TLS on 127.0.0.1.

No GitLab can run on these machines, so this small threaded HTTPS server implements exactly the
endpoints ``runner_registration`` uses, written from GitLab's public API documentation as collected
in ``shared/reference/gitlab-runner-api.md`` (docs.gitlab.com/api/runners, /api/users "create a
runner linked to a user", and the Rails source it cites). It is not GitLab; where the reference
is unsure, the stand-in follows its wording:

* ``POST /api/v4/user/runners`` (§3): scope ``create_runner`` or ``api``; Grape checks
  (``runner_type is missing``, ``group_id is missing``) as ``{"error": ...}``; an unknown group or
  project as ``400 {"message": "400 Bad request - Missing/invalid group"}`` (not 404); a user without
  the right as ``403 {"message": "403 Forbidden - Insufficient permissions"}``; model checks
  (maximum_timeout >= 600, tags when run_untagged is false); ``201 {"id", "token", "token_expires_at"}``.
* ``GET``/``DELETE /api/v4/runners/:id`` and ``POST /api/v4/runners/:id/reset_authentication_token``
  (§5): scope ``manage_runner`` or ``api`` (``read_api`` for GET); an unknown id ``404 {"message":
  "404 Runner Not Found"}`` before the rights check; ``403 - No access granted``; 200/204/201. The
  details carry no ``token``.
* ``PUT /api/v4/runners/:id`` (§5): the same scopes and rights as DELETE (admin; group Owner; project
  Maintainer), 404 before the rights check; ``description``, ``paused`` (or ``active``, not both),
  ``tag_list`` (replaces the tags, strings split on commas), ``run_untagged``, ``locked``, ``access_level``,
  ``maximum_timeout``, ``maintenance_note``; none of them: ``400 {"error": "... at least one parameter must
  be provided"}``; model errors as a hash, ``400 {"message": {"maximum_timeout": [...]}}``; 200 details.
  ``maintenance_note`` in the details is null for a caller who may not update the runner (§7).
* ``GET /api/v4/runners/:id/managers`` (§5, §7): as GET, an array (not paginated) of ``id``,
  ``system_id``, ``created_at``, ``contacted_at``, ``status`` (``online`` within 2 hours of the last
  contact, ``stale`` after 7 days without, ``never_contacted``, else ``offline``). Managers come from
  :meth:`contact` (what a runner's verify or job requests do; not an endpoint here).
* ``DELETE /api/v4/runners`` and ``POST /api/v4/runners/reset_authentication_token`` with the
  runner's own ``token`` (§4): unknown token ``403 {"message": "403 Forbidden"}``; 204 / 201.
* ``GET /api/v4/runners/all`` (administrators), ``/groups/:id/runners``, ``/projects/:id/runners``
  (§6): ``api`` or ``read_api``; ``type`` filter; pagination with ``x-next-page``.
* Access tokens (§1, §9): ``PRIVATE-TOKEN`` or ``Authorization: Bearer``; unknown ``401
  {"message": "401 Unauthorized"}``; expired/revoked ``401 {"error": "invalid_token", ...}``; a
  missing scope ``403 {"error": "insufficient_scope", ...}``.
* Runner tokens (§2): ``glrt-t1_``/``t2_``/``t3_`` by runner type plus a random part of varying
  length (no fixed length); ``token_expires_at`` set when :attr:`token_lifetime` is set (§8).

``POST /runners/verify`` is deliberately not implemented: the module must never call it.
Every request is recorded (:meth:`requests`), so tests can assert which ones were (not) sent.
"""

from __future__ import annotations

import collections
import datetime
import http.server
import json
import secrets
import ssl
import threading
import urllib.parse

LOOPBACK = "127.0.0.1"
PARTITION = {"instance_type": "t1_", "group_type": "t2_", "project_type": "t3_"}
Request = collections.namedtuple("Request", "method path query")
AccessToken = collections.namedtuple("AccessToken", "scopes admin groups projects state")


def runner_token(runner_type):
    """A glrt- token as newer GitLab issues it: partition infix and a random part of varying length."""
    return "glrt-" + PARTITION[runner_type] + secrets.token_urlsafe(secrets.choice(range(15, 33)))[:40]


def access_token():
    return "glpat-" + secrets.token_urlsafe(15)


class _Answer(Exception):
    def __init__(self, status, body=None, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def _utc(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class GitLabStandIn:
    """``url`` is ``https://127.0.0.1:<port>``; the server certificate comes from ``certs``."""

    def __init__(self, certs, per_page_max=100):
        self.certs = certs
        self.per_page_max = per_page_max
        self.token_lifetime = None  # seconds, or None: tokens never expire
        self.groups = {42}
        self.projects = {7}
        self._tokens = {}
        self._runners = {}
        self._next_id = 9171
        self._log = []
        self.issued = []  # every runner token ever handed out, for the leak scans
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- set-up by tests
    @property
    def url(self):
        return "https://%s:%d" % (LOOPBACK, self._server.server_address[1])

    def add_token(self, scopes=("api",), admin=True, groups=(), projects=(), state="active"):
        """A new access token (glpat-...) with these scopes and rights; state active|expired|revoked."""
        token = access_token()
        with self._lock:
            self._tokens[token] = AccessToken(frozenset(scopes), admin, frozenset(groups), frozenset(projects), state)
        return token

    def add_runner(self, description, runner_type="instance_type", group_id=None, project_id=None):
        """A runner created in GitLab by other means (the UI, another host); returns its details with token."""
        with self._lock:
            return dict(self._create({"runner_type": runner_type, "description": description, "group_id": group_id,
                                      "project_id": project_id}))

    def runners(self):
        """{id: runner} as GitLab holds them now (tokens included, for the test)."""
        with self._lock:
            return {key: dict(value) for key, value in self._runners.items()}

    def contact(self, runner_id, system_id, ago=0):
        """The runner on the host with this system_id contacted GitLab `ago` seconds ago (its manager record)."""
        with self._lock:
            moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=ago)
            managers = self._runners[runner_id].setdefault("managers", {})
            manager = managers.setdefault(system_id, {"id": len(managers) + 1, "system_id": system_id,
                                                      "created_at": moment})
            manager["contacted_at"] = moment

    def delete_runner(self, runner_id):
        """Someone deleted the runner in GitLab (the UI, another tool)."""
        with self._lock:
            del self._runners[runner_id]

    def rotate_as_runner(self, token):
        """What the runner does at 75% of the token's lifetime: POST /runners/reset_authentication_token."""
        with self._lock:
            runner = self._by_token(token)
            return self._reset(runner)

    def requests(self, since=0):
        with self._lock:
            return list(self._log[since:])

    def mark(self):
        with self._lock:
            return len(self._log)

    def writes(self, since=0):
        return [r for r in self.requests(since) if r.method != "GET"]

    # -- server
    def start(self):
        handler = _handler(self)
        self._server = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs.cert_file, self.certs.key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="gitlab-standin")
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- GitLab's behaviour (called with the lock held)
    def _create(self, params):
        runner_id = self._next_id
        self._next_id += 1
        runner = {
            "id": runner_id, "description": params.get("description") or "", "runner_type": params["runner_type"],
            "group_id": params.get("group_id"), "project_id": params.get("project_id"),
            "paused": bool(params.get("paused", False)), "locked": bool(params.get("locked", False)),
            "run_untagged": bool(params.get("run_untagged", True)), "tag_list": list(params.get("tag_list") or []),
            "access_level": params.get("access_level") or "not_protected",
            "maximum_timeout": params.get("maximum_timeout"), "maintenance_note": params.get("maintenance_note"),
            "contacted_at": None, "created_at": _utc(datetime.datetime.now(datetime.timezone.utc)),
        }
        self._runners[runner_id] = runner
        self._reset(runner)
        return runner

    def _reset(self, runner):
        runner["token"] = runner_token(runner["runner_type"])
        self.issued.append(runner["token"])
        runner["token_expires_at"] = None
        if self.token_lifetime:
            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.token_lifetime)
            runner["token_expires_at"] = _utc(expires)
        return {"token": runner["token"], "token_expires_at": runner["token_expires_at"]}

    def _by_token(self, token):
        for runner in self._runners.values():
            if token and runner["token"] == token:
                return runner
        raise _Answer(403, {"message": "403 Forbidden"})

    def _access(self, headers, query, scopes):
        token = headers.get("PRIVATE-TOKEN") or query.get("private_token")
        auth = headers.get("Authorization") or ""
        if not token and auth.startswith("Bearer "):
            token = auth[len("Bearer "):]
        found = self._tokens.get(token)
        if found is None:
            raise _Answer(401, {"message": "401 Unauthorized"})
        if found.state == "expired":
            raise _Answer(401, {"error": "invalid_token",
                                "error_description": "Token is expired. You can either do re-authorization or "
                                                     "token refresh."})
        if found.state == "revoked":
            raise _Answer(401, {"error": "invalid_token",
                                "error_description": "Token was revoked. You have to re-authorize from the user."})
        if not found.scopes & set(scopes):
            raise _Answer(403, {"error": "insufficient_scope", "error_description": "The request requires higher "
                                "privileges than provided by the access token.", "scope": " ".join(scopes)})
        return found

    @staticmethod
    def _may(token, runner):
        if token.admin:
            return True
        if runner["runner_type"] == "instance_type":
            return False
        if runner["runner_type"] == "group_type":
            return runner["group_id"] in token.groups
        return runner["project_id"] in token.projects

    def _runner(self, token, runner_id, read=False):
        runner = self._runners.get(runner_id)
        if runner is None:
            raise _Answer(404, {"message": "404 Runner Not Found"})
        if not (self._may(token, runner) or (read and runner["runner_type"] == "instance_type")):
            raise _Answer(403, {"message": "403 Forbidden - No access granted"})
        return runner

    def handle(self, method, path, query, headers, body):
        """(status, body, headers) of one request."""
        with self._lock:
            self._log.append(Request(method, path, query))
            try:
                return self._route(method, path, query, headers, body)
            except _Answer as answer:
                return answer.status, answer.body, answer.headers

    def _route(self, method, path, query, headers, body):
        parts = path.rstrip("/").split("/")[3:] if path.startswith("/api/v4/") else None
        if parts == ["user", "runners"] and method == "POST":
            return self._post_user_runners(headers, query, body)
        if parts == ["runners"] and method == "DELETE":
            runner = self._by_token(body.get("token") or query.get("token"))
            del self._runners[runner["id"]]
            return 204, None, {}
        if parts == ["runners", "reset_authentication_token"] and method == "POST":
            return 201, self._reset(self._by_token(body.get("token") or query.get("token"))), {}
        if parts == ["runners"] and method == "GET":
            token = self._access(headers, query, ("api", "read_api"))
            return self._list([r for r in self._runners.values()
                               if r["runner_type"] != "instance_type" and self._may(token, r)], query)
        if parts == ["runners", "all"] and method == "GET":
            token = self._access(headers, query, ("api", "read_api"))
            if not token.admin:
                raise _Answer(403, {"message": "403 Forbidden"})
            return self._list(list(self._runners.values()), query)
        if parts and len(parts) == 3 and parts[0] in ("groups", "projects") and parts[2] == "runners" \
                and method == "GET":
            return self._list_of(parts[0], parts[1], headers, query)
        if parts and len(parts) >= 2 and parts[0] == "runners":
            if not parts[1].isdigit():
                raise _Answer(400, {"error": "id is invalid"})
            return self._by_id(method, int(parts[1]), parts[2:], headers, query, body)
        raise _Answer(404, {"error": "404 Not Found"})

    def _by_id(self, method, runner_id, rest, headers, query, body):
        if method == "GET" and not rest:
            token = self._access(headers, query, ("api", "read_api", "manage_runner"))
            return 200, self._details(token, self._runner(token, runner_id, read=True)), {}
        if method == "GET" and rest == ["managers"]:
            token = self._access(headers, query, ("api", "read_api", "manage_runner"))
            runner = self._runner(token, runner_id, read=True)
            return 200, [self._manager(m) for m in runner.get("managers", {}).values()], {}
        if method == "PUT" and not rest:
            token = self._access(headers, query, ("api", "manage_runner"))
            return 200, self._details(token, self._update(self._runner(token, runner_id), dict(query, **body))), {}
        if method == "DELETE" and not rest:
            token = self._access(headers, query, ("api", "manage_runner"))
            self._runner(token, runner_id)
            del self._runners[runner_id]
            return 204, None, {}
        if method == "POST" and rest == ["reset_authentication_token"]:
            token = self._access(headers, query, ("api", "manage_runner"))
            return 201, self._reset(self._runner(token, runner_id)), {}
        raise _Answer(404, {"error": "404 Not Found"})

    @staticmethod
    def _manager(manager):
        now = datetime.datetime.now(datetime.timezone.utc)
        contacted, created = manager.get("contacted_at"), manager["created_at"]
        if contacted is None:
            status = "stale" if now - created > datetime.timedelta(days=7) else "never_contacted"
        elif now - contacted <= datetime.timedelta(hours=2):
            status = "online"
        else:
            status = "stale" if now - contacted > datetime.timedelta(days=7) else "offline"
        return {"id": manager["id"], "system_id": manager["system_id"], "created_at": _utc(created),
                "contacted_at": _utc(contacted) if contacted else None, "status": status, "version": "18.6.0"}

    def _details(self, token, runner):
        details = dict(runner)
        details.pop("token")
        details.pop("managers", None)
        details["groups"] = [{"id": details.pop("group_id")}] if details["group_id"] else []
        details["projects"] = [{"id": details.pop("project_id")}] if details["project_id"] else []
        details.pop("group_id", None)
        details.pop("project_id", None)
        if not self._may(token, runner):
            details["maintenance_note"] = None
        details["active"] = not details["paused"]
        return details

    def _update(self, runner, params):
        keys = ("description", "active", "paused", "tag_list", "run_untagged", "locked", "access_level",
                "maximum_timeout", "maintenance_note")
        given = {key: params[key] for key in keys if key in params}
        if not given:
            raise _Answer(400, {"error": "%s are missing, at least one parameter must be provided" % ", ".join(keys)})
        if "active" in given and "paused" in given:
            raise _Answer(400, {"error": "active, paused are mutually exclusive"})
        if "active" in given:
            given["paused"] = not given.pop("active")
        if "tag_list" in given:
            items = given["tag_list"] if isinstance(given["tag_list"], list) else [given["tag_list"]]
            given["tag_list"] = [tag.strip() for item in items for tag in str(item).split(",") if tag.strip()]
        merged = dict(runner, **given)
        if merged.get("maximum_timeout") is not None and int(merged["maximum_timeout"]) < 600:
            raise _Answer(400, {"message": {"maximum_timeout": ["needs to be at least 10 minutes"]}})
        if merged["run_untagged"] is False and not merged["tag_list"]:
            raise _Answer(400, {"message": {"tags_list": ["can not be empty when runner is not allowed to pick "
                                                          "untagged jobs"]}})
        runner.update(given)
        return runner

    def _list_of(self, kind, ident, headers, query):
        token = self._access(headers, query, ("api", "read_api"))
        known = self.groups if kind == "groups" else self.projects
        if not ident.isdigit() or int(ident) not in known:
            raise _Answer(404, {"message": "404 %s Not Found" % ("Group" if kind == "groups" else "Project")})
        mine = token.groups if kind == "groups" else token.projects
        if not token.admin and int(ident) not in mine:
            raise _Answer(403, {"message": "403 Forbidden"})
        key = "group_id" if kind == "groups" else "project_id"
        return self._list([r for r in self._runners.values()
                           if r.get(key) == int(ident) or r["runner_type"] == "instance_type"], query)

    def _list(self, runners, query):
        if query.get("type"):
            runners = [r for r in runners if r["runner_type"] == query["type"]]
        per_page = min(int(query.get("per_page") or 20), self.per_page_max)
        page = int(query.get("page") or 1)
        chunk = runners[(page - 1) * per_page:page * per_page]
        entries = [{key: r[key] for key in ("id", "description", "runner_type", "paused")} for r in chunk]
        for entry, runner in zip(entries, chunk):
            entry.update(active=not runner["paused"], is_shared=runner["runner_type"] == "instance_type",
                         status="never_contacted", online=None, ip_address=None, name=None)
        more = page * per_page < len(runners)
        return 200, entries, {"x-next-page": str(page + 1) if more else "", "x-page": str(page),
                              "x-per-page": str(per_page), "x-total": str(len(runners))}

    def _post_user_runners(self, headers, query, body):
        token = self._access(headers, query, ("api", "create_runner"))
        params = dict(query, **body)
        runner_type = params.get("runner_type")
        if not runner_type:
            raise _Answer(400, {"error": "runner_type is missing"})
        if runner_type not in PARTITION:
            raise _Answer(400, {"error": "runner_type does not have a valid value"})
        scope = {"group_type": ("group_id", self.groups, token.groups, "group"),
                 "project_type": ("project_id", self.projects, token.projects, "project")}.get(runner_type)
        if scope:
            key, known, mine, word = scope
            if params.get(key) in (None, ""):
                raise _Answer(400, {"error": "%s is missing" % key})
            if int(params[key]) not in known:
                raise _Answer(400, {"message": "400 Bad request - Missing/invalid %s" % word})
            params[key] = int(params[key])
            if not token.admin and params[key] not in mine:
                raise _Answer(403, {"message": "403 Forbidden - Insufficient permissions"})
        elif not token.admin:
            raise _Answer(403, {"message": "403 Forbidden - Insufficient permissions"})
        if params.get("maximum_timeout") is not None and int(params["maximum_timeout"]) < 600:
            raise _Answer(400, {"message": "400 Bad request - Maximum timeout needs to be at least 10 minutes"})
        if params.get("run_untagged") is False and not params.get("tag_list"):
            raise _Answer(400, {"message": "400 Bad request - Tags list can not be empty when runner is not allowed "
                                           "to pick untagged jobs"})
        runner = self._create(params)
        return 201, {"id": runner["id"], "token": runner["token"], "token_expires_at": runner["token_expires_at"]}, {}


def _handler(standin):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # no access log on stderr
            pass

        def _serve(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = {}
            if raw:
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw)
                else:
                    body = dict(urllib.parse.parse_qsl(raw.decode()))
            status, data, headers = standin.handle(self.command, url.path, query, self.headers, body)
            payload = json.dumps(data).encode() if data is not None else b""
            self.send_response(status)
            if data is not None:
                self.send_header("Content-Type", "application/json")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
