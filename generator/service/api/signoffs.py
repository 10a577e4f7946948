"""``POST /api/v1/runs/{rid}/signoffs``: legal accepts a policy's ``review`` verdict for a use.

Kept in the run journal (:mod:`generator.review.signoffs`); every later export job of the
run for that use passes it to the export stage as ``--accept-review POLICY``, so the gate
honours it exactly like the CLI option and the manifest and ``LEGAL_REVIEW.md`` name the
signer (:func:`generator.service.runfiles.command`).
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from generator.policies import load_policies
from generator.records import USES
from generator.review import signoffs
from generator.service import audit
from generator.service.api.review import open_journal, run_folder
from generator.service.api.runs import RunId
from generator.service.auth import remote, require
from generator.service.errors import ApiError
from generator.service.users import Principal
from generator.sources import label_rules

router = APIRouter(tags=["review"])
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class SignoffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(..., description="a policy id or source label the gate knows")
    use: Literal[USES]  # type: ignore[valid-type]
    note: str = Field(..., min_length=1, max_length=4000)

    @field_validator("policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a policy id or source label (letters, digits, . _ : -)")
        return value


class Signoff(BaseModel):
    id: int
    policy: str
    use: str
    note: str
    signed_by: str
    at: str


@router.post("/runs/{rid}/signoffs", status_code=201, response_model=Signoff,
             summary="Sign off a policy's review verdict for a use")  # fmt: skip
def sign_off(
    body: SignoffIn, request: Request, rid: int = RunId,
    user: Principal = Depends(require("signoffs.write")),
) -> Signoff:  # fmt: skip
    run, run_dir = run_folder(request, rid, user)  # an unknown id is 404 whatever the body
    _known(body.policy)
    db = request.app.state.db
    with open_journal(run_dir, "signoff") as journal, db.engine.begin() as conn:
        audit.record(conn, actor=user.name, action="signoff.add", target=f"run:{rid}",
                     remote=remote(request), detail={"policy": body.policy, "use": body.use,
                     "note": body.note, "project": run["project_id"]})  # fmt: skip
        row = signoffs.add(journal, policy=body.policy, use=body.use, note=body.note,
                           signed_by=user.name)  # fmt: skip
    return Signoff(**row)


def _known(policy: str) -> None:
    """422 for a name the gate would refuse as ``--accept-review`` (a typo must not be
    recorded, and would make every later export of the run for that use fail)."""
    known = set(load_policies()) | set(label_rules().labels)
    if policy.removeprefix("source:") not in known:
        raise ApiError(422, f"{policy!r} is not a policy id or source label "
                       f"(policies: {', '.join(sorted(load_policies()))})")  # fmt: skip
