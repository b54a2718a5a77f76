"""What Glue pip-installs for the refine job (`--additional-python-modules`), pinned once.

`b3 deploy` and infra/template.yaml's defaults both take these versions from here, never from
the environment that runs `b3 deploy`, so a deploy is the same whatever the package index served
on the day it was installed. They are the versions of uv.lock, the lock the suite is proven
with (tests/unit/test_lock.py keeps the three in step); after `uv lock --upgrade`, copy the new
versions here and into the template's defaults.
"""

from __future__ import annotations

# dagster-pipes: the job reports to the Dagster run that launched it (Pipes); its protocol is
# stable across Dagster releases. It is the only module Glue installs: B3's sessions come as
# data in b3_contract (sessions_data), so the job needs no exchange_calendars (docs/aws.md).
JOB_MODULES: dict[str, str] = {"dagster-pipes": "1.13.27"}


def additional_python_modules() -> str:
    """The value of the job's `--additional-python-modules` argument."""
    return ",".join(f"{name}=={pin}" for name, pin in JOB_MODULES.items())
