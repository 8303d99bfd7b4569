"""Script jobs: run a bash script in the task's workspace, keep its log, read its outputs and
what the messages report (repositories, image, environment, test results)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidings.config.workflows import BuildSpec, DeploySpec, ScriptSpec, TestSpec
from tidings.model import JobSpec, Repository, ServiceModule, TestResult
from tidings.notify import variables
from tidings.runner.jobs.base import JobFailed, JobHost

if TYPE_CHECKING:
    from tidings.config.workflows import JobDef
    from tidings.model import Job

KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL of a script's process group


@dataclass
class ScriptRun:
    """Where a script job runs and what it gets: paths, variables, environment."""

    name: str
    spec: ScriptSpec
    workspace: Path
    log_path: Path
    output_path: Path
    values: Mapping[str, str]  # template variables (variables.py)
    env: Mapping[str, str]  # TIDINGS_* and --var variables


def read_outputs(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of the $TIDINGS_OUTPUT file; other lines are ignored."""
    outputs: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text("utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().isidentifier():
                outputs[key.strip()] = value.strip()
    return outputs


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [ln for ln in path.read_text("utf-8", errors="replace").splitlines() if ln.strip()]
        if lines:
            return lines[-1][-300:]
    return ""


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Terminate the script and everything it started (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), KILL_GRACE)
            return
        except TimeoutError:
            continue


async def run_script(run: ScriptRun) -> dict[str, str]:
    """Run the script with `bash -e` (stop at the first failing command); its outputs.

    Raises JobFailed with the exit code and the last line it printed.
    """
    try:
        extra = {k: variables.render(v, run.values) for k, v in run.spec.env.items()}
    except variables.UnknownVariable as exc:
        raise JobFailed("failed", f"spec.env: {exc}") from None
    env = {**os.environ, **run.env, **extra, "TIDINGS_OUTPUT": str(run.output_path)}
    run.workspace.mkdir(parents=True, exist_ok=True)
    run.output_path.parent.mkdir(parents=True, exist_ok=True)
    run.output_path.write_text("", "utf-8")
    with open(run.log_path, "ab") as log:
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-e",
            "-c",
            run.spec.script,
            cwd=run.workspace,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # its own process group: a cancel stops its children too
        )
        try:
            code = await process.wait()
        except BaseException:  # cancelled or timed out: stop it before we go
            await _stop(process)
            raise
    if code != 0:
        last = _last_line(run.log_path)
        raise JobFailed("failed", f"script exited with code {code}" + (f": {last}" if last else ""))
    return read_outputs(run.output_path)


def job_spec(spec: Any, outputs: Mapping[str, str], values: Mapping[str, str]) -> JobSpec | None:
    """What the snapshot reports of a script job (Zadig's spec of build, deploy, test)."""
    if isinstance(spec, BuildSpec):
        repositories = []
        for repo in spec.repositories:
            data = repo.model_dump(exclude={"address"}, exclude_none=True)
            if repo.address and repo.commit_id and not repo.commit_url:  # as Zadig links it
                data["commit_url"] = (
                    f"{repo.address.rstrip('/')}/{repo.repo_owner}/{repo.repo_name}/commit/"
                    f"{repo.commit_id[:8]}"
                )
            repositories.append(Repository(**data))
        return JobSpec(repositories=repositories, image=outputs.get("IMAGE") or spec.image or None)
    if isinstance(spec, DeploySpec):
        modules = []
        for module in spec.service_modules:
            image = outputs.get(f"IMAGE_{module.service_module}") or module.image
            with contextlib.suppress(variables.UnknownVariable):
                image = variables.render(image, values)
            modules.append(ServiceModule(service_module=module.service_module, image=image))
        return JobSpec(
            env=spec.env_name or None,
            service_name=spec.service_name or None,
            service_modules=modules or None,
        )
    return None


def junit_counts(path: Path) -> TestResult:
    """Counts of a JUnit XML report (<testsuites> or a single <testsuite>)."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise JobFailed("failed", f"JUnit report {path.name} not found in the workspace") from None
    except ET.ParseError as exc:
        raise JobFailed("failed", f"JUnit report {path.name} is not valid XML: {exc}") from None
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    total = failed = skipped = 0
    for suite in suites:
        cases = suite.findall("testcase")
        if cases:
            total += len(cases)
            failed += sum(
                1 for c in cases if c.find("failure") is not None or c.find("error") is not None
            )
            skipped += sum(1 for c in cases if c.find("skipped") is not None)
        else:
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    return TestResult(total=total, success=total - failed - skipped, failed=failed)


def test_result(spec: TestSpec, workspace: Path) -> TestResult | None:
    if not spec.junit_path:
        return None
    return junit_counts(workspace / spec.junit_path)


async def run(host: JobHost, definition: JobDef, job: Job, log_path: Path) -> None:
    """A freestyle, build, deploy or test job: its script, then what the messages report."""
    spec = definition.typed
    workspace = host.run_dir / "workspace"
    env = {
        "TIDINGS_TASK_ID": str(host.task.task_id),
        "TIDINGS_WORKFLOW": host.workflow.name,
        "TIDINGS_JOB": job.name,
        "TIDINGS_WORKSPACE": str(workspace),
        **host.variables,
    }
    values = host.values()
    script = ScriptRun(
        job.name,
        spec,
        workspace,
        log_path,
        host.run_dir / "outputs" / f"{job.name}.env",
        values,
        env,
    )
    try:
        outputs = await run_script(script)
    finally:
        host.outputs[job.name] = read_outputs(script.output_path)
        job.spec = job_spec(spec, host.outputs[job.name], values)
    if isinstance(spec, TestSpec) and spec.junit_path:
        result = test_result(spec, workspace)
        job.spec = job.spec or JobSpec()
        job.spec.test_result = result
        if result is not None and result.failed:
            raise JobFailed("failed", f"{result.failed} of {result.total} tests failed")
    host.outputs[job.name] = outputs
