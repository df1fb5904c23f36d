"""How runner_config's work grows with the size of config.toml.

Times what the module does per call on generated runner-written files of N runners: a no-op call
(read + fast parse + compare) and an edit call (that, plus the tomlkit edit, the re-check of the
result and the atomic locked write), each the best of a few runs. Usage:
    python scripts/bench_runner_config.py [--sizes 10,100,500,2000] [--repeat 3] [--markdown]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _config_toml as core  # noqa: E402
from ansible_collections.runnerkit.gitlab_runner.plugins.module_utils import _files as files  # noqa: E402


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_config", ROOT / "scripts" / "gen_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_call(path, desired):
    """The body of runner_config's apply(): plan unlocked, then plan, render, verify, write locked."""
    text = files.read_text(path)[0]
    planned = core.plan(text, desired)
    if not planned["changed"]:
        return False
    with files.locked(path):
        text, stat = files.read_text(path)
        planned = core.plan(text, desired)
        new_text = core.render(planned)
        core.verify(planned, desired, new_text)
        files.atomic_write(path, new_text, stat=stat)
    return True


def best_of(repeat, func):
    """(wall seconds, CPU seconds of this process) of the fastest of `repeat` calls."""
    times = []
    for _run in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(times)


def measure(runners, repeat, directory):
    text = load_generator().generate(runners)
    path = os.path.join(directory, "config-%d.toml" % runners)
    with open(path, "w") as handle:
        handle.write(text)
    middle = core.parse(text)["runners"][runners // 2]["name"]
    images = iter("registry.example.com/ci/image:%d" % i for i in range(10 ** 6))

    def edit():
        desired = core.build_desired(None, [{"name": middle, "docker": {"image": next(images)}}])[0]
        assert module_call(path, desired)

    edit_time = best_of(repeat, edit)
    desired = core.build_desired(None, [{"name": middle, "docker": {"image": "registry.example.com/ci/image:x"}}])[0]
    module_call(path, desired)

    def noop():
        if module_call(path, desired):
            raise SystemExit("a no-op call changed the file")

    noop_time = best_of(repeat, noop)
    return {"runners": runners, "kbytes": len(text.encode()) / 1024, "noop": noop_time[0], "edit": edit_time[0],
            "noop_cpu": noop_time[1], "edit_cpu": edit_time[1]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,500,2000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        rows = [measure(int(n), args.repeat, directory) for n in args.sizes.split(",")]
    if args.markdown:
        print("| runners | file size | no-op call | edit call | no-op CPU | edit CPU |\n|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            print("| %(runners)d | %(kbytes).0f KB | %(noop).3f s | %(edit).3f s | %(noop_cpu).3f s | %(edit_cpu).3f s |"
                  % row)
    else:
        for row in rows:
            print("runners=%(runners)5d size=%(kbytes)7.0fKB noop=%(noop).3fs edit=%(edit).3fs "
                  "(CPU noop=%(noop_cpu).3fs edit=%(edit_cpu).3fs)" % row)


if __name__ == "__main__":
    main()
