"""Why a training job can't start: each error carries a message for the person at the page (STYLE.md §17).

services/jobs.py (processes) and services/job_names.py (names and the folder results go to) raise them; the pages
catch :class:`JobError` and say its message in the session's language.
"""

from __future__ import annotations

from models.messages import N_, MessageError


class JobError(MessageError):
    """A job that cannot start; the message is written for the person at the page."""


class JobLimitError(JobError):
    """The session already has a running job, or every training slot in the process is taken."""


class ModelNameError(JobError, ValueError):
    """A name the result cannot be published under."""


class BrowserBusyError(JobLimitError):
    """Another tab of the same browser is training (``name``): one run per student, not per tab."""

    def __init__(self, name: str):
        super().__init__(
            N_(
                "Another tab of this browser is already training {name!r}. One run per student at a "
                "time: stop it or wait for it to finish."
            ),
            name=name,
        )
        self.name = name

    def __reduce__(self):
        return type(self), (self.name,)


FOLDER_STATES = {"permission": "not writable", "read-only": "read-only", "full": "full"}


class FolderNotWritableError(JobError):
    """The folder trained models are saved in can't take a file (``reason``: "permission", "read-only", "full")."""

    def __init__(self, reason: str):
        super().__init__(
            N_(
                "Trained models can't be saved on this server right now: the checkpoints folder is "
                "{state}. Nothing was trained; ask the teacher."
            ),
            state=FOLDER_STATES.get(reason, reason),
        )
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.reason,)


def folder_reason(errno_: int | None) -> str:
    import errno

    return {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read-only"}.get(errno_, "permission")
