"""Run a composite action's steps locally, the way the GitHub runner does.

`run` steps execute for real with `bash --noprofile --norc -eo pipefail`, with
the runner's files (GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY) and
variables (GITHUB_ACTION_PATH, GITHUB_EVENT_PATH, ...). The two actions used by
ours are stood in for: setup-python (the Python running the tests) and
upload-artifact (the files go to the fake GitHub API, where later runs find
them). Expressions support what the actions use: contexts, '' strings, ==, !=,
&& and the status functions; anything else fails loudly, so the emulation never
silently skips a construct it does not understand.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler.testing.github import FakeGitHub


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    outputs: dict[str, str]
    log: str


@dataclass
class ActionRun:
    outcome: str
    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    @property
    def log(self) -> str:
        return "\n".join(f"--- {s.name} [{s.outcome}]\n{s.log}" for s in self.steps)


@dataclass
class Runner:
    """One job on one runner: a workspace, a temp dir, and the event that started it."""

    github: FakeGitHub
    workspace: Path
    temp: Path
    event: dict[str, Any]
    sha: str
    ref_name: str
    run_id: int
    event_name: str = ""  # default: pull_request when the event has one, else push
    extra_path: list[str] = field(default_factory=list)

    def run_action(self, action: Path, with_: dict[str, str] | None = None) -> ActionRun:
        meta = yaml.safe_load(action.read_text())
        assert meta["runs"]["using"] == "composite"
        event_path = self.temp / f"event-{self.run_id}.json"
        event_path.write_text(json.dumps(self.event))
        summary = self.temp / f"summary-{self.run_id}.md"
        summary.touch()
        ctx: dict[str, Any] = {
            "github": {
                "token": self.github.token,
                "action_path": str(action.parent),
                "event": self.event,
                "sha": self.sha,
                "run_id": str(self.run_id),
            },
            "steps": {},
        }
        ctx["inputs"] = {
            name: self._interpolate(_yaml_str(spec.get("default", "")), ctx)
            for name, spec in meta["inputs"].items()
        }
        unknown = set(with_ or {}) - set(ctx["inputs"])
        assert not unknown, f"not inputs of {action}: {unknown}"
        ctx["inputs"].update(with_ or {})
        results: list[StepResult] = []
        failed = False
        for i, step in enumerate(meta["runs"]["steps"]):
            name = step.get("name") or step.get("uses") or f"step {i}"
            condition = step.get("if", "success()")
            condition = condition[3:-2].strip() if condition.startswith("${{") else condition
            if not _truthy(self._evaluate(condition, ctx, failed)):
                results.append(StepResult(name, "skipped", {}, ""))
                ctx["steps"].setdefault(step.get("id", f"_{i}"), {"outputs": {}, "outcome": "skipped"})
                continue
            if "uses" in step:
                outcome, outputs, log = self._uses(step, ctx)
            else:
                outcome, outputs, log = self._run(step, ctx, action, event_path, summary)
            results.append(StepResult(name, outcome, outputs, log))
            ctx["steps"][step.get("id", f"_{i}")] = {"outputs": outputs, "outcome": outcome}
            failed = failed or outcome == "failure"
        outputs = {n: self._interpolate(str(o["value"]), ctx) for n, o in meta.get("outputs", {}).items()}
        return ActionRun("failure" if failed else "success", results, outputs, summary.read_text())

    # --- steps ------------------------------------------------------------------------
    def _run(
        self, step: dict[str, Any], ctx: dict[str, Any], action: Path, event: Path, summary: Path
    ) -> tuple[str, dict[str, str], str]:
        assert step.get("shell") == "bash", "composite run steps must name their shell"
        files = {
            k: self.temp / f"{k.lower()}-{self.run_id}-{id(step)}" for k in ("GITHUB_OUTPUT", "GITHUB_PATH")
        }
        for f in files.values():
            f.write_text("")
        path_file = self.temp / "path-additions"
        extra = path_file.read_text().split() if path_file.exists() else []
        env = {
            "PATH": os.pathsep.join([*reversed(extra), *self.extra_path, os.environ["PATH"]]),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_ACTION_PATH": str(action.parent),
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": self.github.full_name,
            "GITHUB_API_URL": self.github.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": str(self.run_id),
            "GITHUB_SHA": self.sha,
            "GITHUB_REF_NAME": self.ref_name,
            "GITHUB_EVENT_NAME": self.event_name
            or ("pull_request" if "pull_request" in self.event else "push"),
            **{k: str(v) for k, v in files.items()},
        }
        for key, value in (step.get("env") or {}).items():
            env[key] = self._interpolate(_yaml_str(value), ctx)
        script = self._interpolate(step["run"], ctx)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        outputs = dict(
            line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if "=" in line
        )
        added = files["GITHUB_PATH"].read_text().split()
        if added:
            with path_file.open("a") as fh:
                fh.write("\n".join(added) + "\n")
        return ("success" if done.returncode == 0 else "failure"), outputs, done.stdout + done.stderr

    def _uses(self, step: dict[str, Any], ctx: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        uses = step["uses"]
        with_ = {k: self._interpolate(_yaml_str(v), ctx) for k, v in (step.get("with") or {}).items()}
        if uses == "actions/setup-python@v5":
            assert tuple(map(int, with_["python-version"].split("."))) >= (3, 11)
            return "success", {}, "(the tests' Python stands in)"
        if uses == "actions/upload-artifact@v4":
            return self._upload(with_)
        raise AssertionError(f"no stand-in for {uses}")

    def _upload(self, with_: dict[str, str]) -> tuple[str, dict[str, str], str]:
        known = {"name", "path", "if-no-files-found", "retention-days", "overwrite", "include-hidden-files"}
        assert set(with_) <= known, set(with_) - known
        hidden = with_.get("include-hidden-files", "false") == "true"
        found: list[Path] = []
        for pattern in with_["path"].splitlines():
            for match in glob.glob(str(self.workspace / pattern), include_hidden=True):
                rel = Path(match).relative_to(self.workspace)
                if any(p.startswith(".") for p in rel.parts) and not hidden:
                    continue  # upload-artifact v4.4+ leaves hidden files out unless asked
                found.append(Path(match))
        if not found:
            if with_.get("if-no-files-found", "warn") == "error":
                return "failure", {}, f"no files found at {with_['path']}"
            return "success", {}, "no files to upload"
        files = {p.name: p.read_bytes() for p in found}  # one directory level, as our uploads are
        self.github.add_artifact(
            with_["name"], files, head_sha=self.head_sha, head_branch=self.head_branch, run_id=self.run_id
        )
        return "success", {}, f"uploaded {sorted(files)} as {with_['name']}"

    @property
    def head_sha(self) -> str:
        return str((self.event.get("pull_request") or {}).get("head", {}).get("sha") or self.sha)

    @property
    def head_branch(self) -> str:
        return str((self.event.get("pull_request") or {}).get("head", {}).get("ref") or self.ref_name)

    # --- expressions ------------------------------------------------------------------
    def _interpolate(self, text: str, ctx: dict[str, Any]) -> str:
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: str(self._evaluate(m.group(1), ctx, False)), text)

    def _evaluate(self, expr: str, ctx: dict[str, Any], failed: bool) -> Any:
        parts = [p.strip() for p in expr.split("&&")]
        if len(parts) > 1:
            return all(_truthy(self._evaluate(p, ctx, failed)) for p in parts)
        for op in ("!=", "=="):
            if op in expr:
                left, right = (self._evaluate(x.strip(), ctx, failed) for x in expr.split(op, 1))
                return (left != right) if op == "!=" else (left == right)
        if expr == "always()":
            return True
        if expr == "success()":
            return not failed
        if expr == "failure()":
            return failed
        if m := re.fullmatch(r"'((?:[^']|'')*)'", expr):
            return m.group(1).replace("''", "'")
        if re.fullmatch(r"[A-Za-z_][\w-]*(\.[\w-]+)+", expr):
            value: Any = ctx
            for part in expr.split("."):
                assert isinstance(value, dict), f"cannot take {part} of {expr}"
                value = value.get(part, "")
            return value
        raise AssertionError(f"the action runner stand-in does not understand: {expr}")


def _yaml_str(value: Any) -> str:
    """A YAML scalar as the runner passes it on: booleans as true/false."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _truthy(value: Any) -> bool:
    return value not in ("", None, False, 0)
