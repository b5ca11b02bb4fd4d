"""Hub names: `hf-hub:user/repo`, `hf-hub:user/repo@v2`, `user/repo@v2`.

`@REV` is a tag (the `v{version}` that `avatarzoo push` makes), a branch or a 40-hex
commit; without it the name means the repo's `main`, which is not pinned. A bare
`user/repo` (no prefix, no `@`) could be a relative directory, so only `parse_hub_name(...,
bare=True)` takes it (the `pull` command, where everything is a Hub name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from avatarzoo.errors import NotFoundError

PREFIX = "hf-hub:"
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")
_REV = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_./-]*$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HubName:
    repo: str  # "user/name"
    revision: str | None = None  # tag, branch or commit; None = main

    def __str__(self) -> str:
        return f"{self.repo}@{self.revision}" if self.revision else self.repo

    @property
    def pinned(self) -> bool:
        return self.revision is not None and bool(COMMIT.match(self.revision))


def check_repo(repo: str, text: str) -> str:
    if (not _REPO.match(repo) or "--" in repo or ".." in repo or len(repo) > 96
            or repo.endswith((".git", "."))):
        raise NotFoundError(f"'{text}': '{repo}' is not a Hub repo id; expected 'user/name'"
                            " (letters, digits, '-', '_', '.')")
    return repo


def check_revision(rev: str, text: str) -> str:
    if not _REV.match(rev) or ".." in rev or rev.endswith("/"):
        raise NotFoundError(f"'{text}': '{rev}' is not a revision; expected a tag such as v2,"
                            " a branch or a 40-hex commit")
    return rev


def looks_like_hub_name(text: str) -> bool:
    """`hf-hub:...`, or `user/repo@rev` (the `@` marks it as a Hub name, not a path)."""
    if text.startswith(PREFIX):
        return True
    repo, at, _ = text.partition("@")
    return bool(at) and bool(_REPO.match(repo))


def parse_hub_name(text: str, *, revision: str | None = None, bare: bool = False) -> HubName:
    """The Hub name `text` stands for; `revision` overrides a missing `@REV` (and must
    agree with one that is given)."""
    body = text[len(PREFIX):] if text.startswith(PREFIX) else text
    if not (text.startswith(PREFIX) or bare or "@" in body):
        raise NotFoundError(f"'{text}' has no 'hf-hub:' prefix; write 'hf-hub:{text}' for the Hub repo")
    repo, at, rev = body.partition("@")
    check_repo(repo, text)
    if at:
        check_revision(rev, text)
    if revision is not None:
        check_revision(revision, text)
        if at and rev != revision:
            raise NotFoundError(f"'{text}' names revision '{rev}' but revision='{revision}' was given;"
                                " give one of them")
        rev = revision
    return HubName(repo, rev or None)
