"""The columns every job row run under a lease has: when it ran, who holds it, and (planning
jobs, readiness runs, advice jobs) why it failed.

Non-table SQLModel bases: each job table inherits one and adds its own ``id``, ``status`` (its
own enum), progress and parameters. What :mod:`relief.platform.leases` reads and writes
(``lease_owner``, ``lease_until``, ``attempts``, ``started_at``), the queue job id
(:mod:`relief.platform.jobqueue`) and what a failure stores
(:meth:`relief.platform.statustext.StatusText.columns`) are declared here once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime


class LeasedRow(SQLModel):
    """When the job ran and the lease of the process running it."""

    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = Field(default=0, description="Times a worker process claimed the job")
    lease_owner: str | None = Field(default=None, max_length=120,
                                    description="The worker process running the job")
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime,
                                         description="The owner's lease; renewed while alive")
    queue_job_id: int | None = Field(default=None, sa_type=BigInteger,
                                     description="The job's id in the PostgreSQL job queue")


class LeasedJob(LeasedRow):
    """A leased job row that also says why it failed, as a catalogue key and its parameters
    beside the English text."""

    error: str | None = Field(default=None, max_length=2000)
    error_key: str | None = Field(default=None, max_length=120,
                                  description="Catalogue key of the error text")
    # sa_type, not sa_column: a Column object cannot be shared by the tables inheriting this.
    error_params: dict[str, Any] | None = Field(
        default=None, sa_type=JSON,
        description="Parameters of the error text (relief.platform.statustext)")
