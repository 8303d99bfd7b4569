"""`sources:`: the CI systems that send their own webhooks to `tidings serve` (GitHub Actions,
GitLab CI), the secret each signs with, and which configured workflow receives which
repository's runs (docs/sources.md).
"""

from __future__ import annotations

import fnmatch

from pydantic import Field, field_validator

from tidings.config.workflows import Strict

MIN_HOOK_SECRET = 16  # characters: as for API tokens, a secret that cannot be guessed


def _branch_matches(patterns: list[str], branch: str) -> bool:
    """No patterns: every branch; else any glob (`main`, `release/*`) matching the branch."""
    return not patterns or any(fnmatch.fnmatchcase(branch, p) for p in patterns)


class GithubRoute(Strict):
    """One GitHub Actions workflow of one repository, received by one tidings workflow."""

    repository: str = Field(min_length=3, max_length=200)  # owner/name, without case
    actions_workflow: str = Field(min_length=1, max_length=200)  # the workflow's `name:`
    workflow: str = Field(min_length=1, max_length=200)  # the tidings workflow
    branches: list[str] = Field(default_factory=list)  # globs; none: every branch

    @field_validator("repository")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        if value.count("/") != 1 or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be owner/name, e.g. acme/shop")
        return value

    def matches(self, repository: str, actions_workflow: str | None, branch: str | None) -> bool:
        """This route takes the run: same repository (without case), same Actions workflow
        (when the event names one) and, when the event names a branch, an allowed branch."""
        if repository.lower() != self.repository.lower():
            return False
        if actions_workflow is not None and actions_workflow != self.actions_workflow:
            return False
        return branch is None or _branch_matches(self.branches, branch)


class GitlabRoute(Strict):
    """One GitLab project's pipelines, received by one tidings workflow."""

    project: str = Field(min_length=3, max_length=500)  # path_with_namespace, without case
    workflow: str = Field(min_length=1, max_length=200)
    branches: list[str] = Field(default_factory=list)  # globs of the pipeline's ref

    @field_validator("project")
    @classmethod
    def _path(cls, value: str) -> str:
        if "/" not in value.strip("/"):
            raise ValueError("must be the project's path with its namespace, e.g. acme/shop")
        return value.strip("/")

    def matches(self, project: str, ref: str | None) -> bool:
        if project.lower() != self.project.lower():
            return False
        return ref is None or _branch_matches(self.branches, ref)


def _one_or_more(value: object) -> object:
    """A secret, or a list of them (during a rotation: the new one and the old one)."""
    return [value] if isinstance(value, str) else value


def _secrets(values: list[str], field: str) -> list[str]:
    if not values:
        raise ValueError(f"give {field}: the webhook's secret, or a list of them")
    for value in values:
        if len(value) < MIN_HOOK_SECRET:
            raise ValueError(
                f"{field} is too short to be a secret: use at least {MIN_HOOK_SECRET} "
                "characters (e.g. `openssl rand -hex 24`), the same in the webhook's settings"
            )
    return values


class GithubSource(Strict):
    """GitHub's webhooks (workflow_run, workflow_job, ping): signed with `secret`."""

    # The webhook's Secret: X-Hub-Signature-256 is its HMAC of the body. A list accepts any
    # of them (a rotation: the webhooks that have the new one and those that still have the
    # old one).
    secret: list[str]
    routes: list[GithubRoute] = Field(default_factory=list)

    _given_as_one = field_validator("secret", mode="before")(_one_or_more)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: list[str]) -> list[str]:
        return _secrets(value, "secret")

    def route(
        self, repository: str, actions_workflow: str | None, branch: str | None
    ) -> GithubRoute | None:
        """The first route that takes this repository's run, or None."""
        return next(
            (r for r in self.routes if r.matches(repository, actions_workflow, branch)), None
        )

    def has_repository(self, repository: str) -> bool:
        return any(r.repository.lower() == repository.lower() for r in self.routes)


class GitlabSource(Strict):
    """GitLab's webhooks (Pipeline Hook, Job Hook): carrying `token` as X-Gitlab-Token."""

    token: list[str]  # the webhook's Secret token; a list accepts any of them (a rotation)
    routes: list[GitlabRoute] = Field(default_factory=list)

    _given_as_one = field_validator("token", mode="before")(_one_or_more)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: list[str]) -> list[str]:
        return _secrets(value, "token")

    def route(self, project: str, ref: str | None) -> GitlabRoute | None:
        return next((r for r in self.routes if r.matches(project, ref)), None)

    def has_project(self, project: str) -> bool:
        return any(r.project.lower() == project.lower() for r in self.routes)


class Sources(Strict):
    github: GithubSource | None = None
    gitlab: GitlabSource | None = None

    def secrets(self) -> list[str]:
        found = list(self.github.secret) if self.github else []
        return found + (list(self.gitlab.token) if self.gitlab else [])
