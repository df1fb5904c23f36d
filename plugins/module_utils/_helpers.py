# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Find a docker-credential-* helper on a PATH and run it as a user, the way the runner (docker/cli) does.

One runner for every caller: runner_auth_info's audit and probe (`run` is the `run_helper` _resolve
takes), its `helpers` check of the credential_helpers role (`verify`), and the image_digest lookup
(the controller user). Every run is bounded (_process.run_bounded: the helper's whole process group
is killed on timeout) and a helper's output goes back to _resolve only, which never shows more than
the protocol's own messages; `verify` shows only what `version` and a failing `list` print.
"""

from __future__ import annotations

import glob
import os
import pwd

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _host as host
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _process as process
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils._resolve import HelperTimeout, HelperUnavailable

PREFIX = "docker-credential-"
# Where a helper that is not on the runner's PATH may have been installed, for the message that says so.
USUAL_DIRS = ("/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "/bin", "/sbin")


def current_user():
    """The user this process runs as, in host.user_info's shape (also without a passwd entry, as in containers)."""
    uid = os.geteuid()
    try:
        entry = pwd.getpwuid(uid)
        name, home = entry.pw_name, entry.pw_dir
    except KeyError:
        name, home = str(uid), os.environ.get("HOME", "/")
    return {"name": name, "uid": uid, "gids": set(os.getgroups()) | {os.getegid()}, "home": home}


class HelperRunner:
    """docker-credential-NAME looked up on `path` and run as `user` (host.user_info) within `timeout` s.

    `env` is the helper's whole environment (None: this process's, and its working directory); with
    `exact_env` it is passed through runuser too (`env -i`: only for values that are no secret, as
    they show in the process list). Answers are cached per (name, action, input), and a helper that
    timed out once is not started again.
    """

    def __init__(self, user, path, timeout, env=None, exact_env=False):
        self.user, self.path, self.timeout, self.env, self.exact_env = user, path, timeout, env, exact_env
        self.cache = {}
        self.timed_out = set()

    # ------------------------------------------------------------ finding

    def find(self, name):
        """Go exec.LookPath: the first regular file with an execute bit on the PATH, or None."""
        return host.look_path(PREFIX + name, self.path, host.stat_of)[0]

    def check(self, name):
        """Why the runner cannot start the helper, or None."""
        binary = self.find(name)
        if binary is None:
            return 'exec: "%s%s": executable file not found in $PATH (runner PATH %s)' % (PREFIX, name, self.path)
        if not host.may(self.user, binary, host.EXECUTE):
            return "%s is not executable by user %s" % (binary, self.user["name"])
        return None

    # ------------------------------------------------------------ running

    def run(self, name, action, data):
        """(exit status, output) of `docker-credential-NAME ACTION` fed `data`; raises HelperUnavailable
        (HelperTimeout) when it cannot be started (did not finish)."""
        key = (name, action, data)
        if key not in self.cache:
            self.cache[key] = self._run(name, action, data)
        outcome = self.cache[key]
        if isinstance(outcome, HelperUnavailable):
            raise outcome
        return outcome

    def _run(self, name, action, data):
        problem = self.check(name)
        if problem:
            return HelperUnavailable(problem)
        if name in self.timed_out:  # one hanging helper costs one timeout, not one per registry
            return HelperTimeout("%s%s %s: not run again, it timed out before" % (PREFIX, name, action))
        try:
            rc, out = self._bounded(self.find(name), action, data)
        except process.ProcessTimeout as exc:
            self.timed_out.add(name)
            return HelperTimeout("%s%s %s %s" % (PREFIX, name, action, exc))
        except HelperUnavailable as exc:
            return exc
        except OSError as exc:
            return HelperUnavailable("cannot run %s%s: %s" % (PREFIX, name, exc.strerror or exc))
        return rc, out.decode("utf-8", "replace")

    def _bounded(self, binary, action, data, stderr_to_stdout=False):
        command = [binary, action]
        if self.user["uid"] != os.geteuid():
            runuser = host.runuser_binary()
            if os.geteuid() != 0 or runuser is None:
                raise HelperUnavailable("cannot run %s as user %s: that needs root and runuser (use become)"
                                        % (os.path.basename(binary), self.user["name"]))
            command = [runuser, "-u", self.user["name"], "--"] + command
            if self.exact_env:  # runuser sets HOME, SHELL, USER and LOGNAME itself: give exactly this env
                command[4:4] = ["env", "-i"] + ["%s=%s" % item for item in sorted(self.env.items())]
        cwd = None
        if self.env is not None:
            cwd = self.env["HOME"] if os.path.isdir(self.env.get("HOME") or "") else "/"
        return process.run_bounded(command, data.encode("utf-8"), self.timeout, env=self.env, cwd=cwd,
                                   stderr_to_stdout=stderr_to_stdout)

    # ------------------------------------------------------------ the credential_helpers role's check

    def verify(self, name, install_dir, path_source):
        """{name, path, ok, msg}: the helper is on the PATH, the user may execute it, and it answers the
        protocol (`version`, else `list` for helpers without it). The messages are the role's."""
        binary = PREFIX + name
        found, blocked = self._locate(binary)
        if found is None:
            return {"name": name, "path": blocked, "ok": False,
                    "msg": self._not_found(binary, blocked, install_dir, path_source)}
        answers = []
        for action, data in (("version", ""), ("list", "unused\n")):
            try:
                rc, out = self._bounded(found, action, data, stderr_to_stdout=True)
            except process.ProcessTimeout as exc:
                rc, out = None, str(exc).encode("utf-8")
            except (HelperUnavailable, OSError) as exc:
                return {"name": name, "path": found, "ok": False, "msg": "%s: %s" % (binary, exc)}
            text = out.decode("utf-8", "replace")
            if rc == 0:
                said = ": " + (text.splitlines() or [""])[0] if action == "version" else ""
                return {"name": name, "path": found, "ok": True,
                        "msg": "%s (%s) answers '%s' as %s%s" % (binary, found, action, self.user["name"], said)}
            answers.append(" ".join(text.splitlines()[:3]))
        return {"name": name, "path": found, "ok": False,
                "msg": "%s (%s) runs as %s but answers neither 'version' (%s) nor 'list' (%s)"
                       % (binary, found, self.user["name"], answers[0], answers[1])}

    def _locate(self, binary):
        """(first file on the PATH the user may execute, first one it may not), like Go >= 1.20's LookPath,
        which asks the kernel (eaccess) as the runner user."""
        blocked = None
        for directory in (self.path or "").split(":"):
            if not directory.startswith("/"):
                continue
            candidate = directory.rstrip("/") + "/" + binary
            found = host.stat_of(candidate)
            if found is None or os.path.isdir(candidate):
                continue
            if found[1] & 0o111 and host.may(self.user, candidate, host.EXECUTE):
                return candidate, None
            blocked = blocked or candidate
        return None, blocked

    def _not_found(self, binary, blocked, install_dir, path_source):
        if blocked:
            return ("%s: %s is on the runner's PATH but user %s cannot execute it (%s); the runner process runs as %s"
                    % (binary, blocked, self.user["name"], host.describe(blocked), self.user["name"]))
        for directory in (install_dir,) + USUAL_DIRS + tuple(sorted(glob.glob("/opt/*/bin"))) + ("/snap/bin",):
            if directory and os.path.isfile(os.path.join(directory, binary)):
                return ("%s: installed at %s, but %s is not on the PATH of the runner (%s, from %s)"
                        % (binary, os.path.join(directory, binary), directory, self.path, path_source))
        return ("%s: not found on the PATH of the runner (%s, from %s) nor in %s"
                % (binary, self.path, path_source, install_dir))
