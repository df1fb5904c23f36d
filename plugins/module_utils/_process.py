# -*- coding: utf-8 -*-
# Copyright: runnerkit contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Run a child process (a docker-credential-* helper) with a time limit over the whole run.

The child starts in its own process group (a new session), so that on timeout the group is killed
as a whole: a helper that forked (a shell script, a helper that starts an agent in the background)
leaves nothing behind that still holds its pipes or waits on a network. The output is returned to
the caller only; it may hold a secret, so callers never put it into a message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


class ProcessTimeout(Exception):
    """The child did not finish in time; its process group was killed and the child reaped."""


def kill_group(proc):
    """SIGKILL every process of the child's group (its pgid is its pid), then reap the child.

    The kernel keeps a pgid reserved while any member lives, so this never hits another group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    proc.wait()


def run_bounded(command, stdin_data, timeout, env=None, cwd=None, stderr_to_stdout=False):
    """(exit code, stdout bytes) of `command` fed `stdin_data` (bytes); ProcessTimeout after `timeout` s.

    stderr is read (so the child never blocks on a full pipe) and dropped: it may hold a secret. With
    stderr_to_stdout it is interleaved into the output instead, for answers that hold none (`version`)."""
    stderr = subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                            env=env, cwd=cwd, close_fds=True, start_new_session=True)
    try:
        out, _err = proc.communicate(stdin_data, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise ProcessTimeout("did not finish within %s s; it was killed with its process group" % timeout)
    except BaseException:
        kill_group(proc)
        raise
    return proc.returncode, out
