"""Reconnect backoff as data: a schedule of (delay, repeats) steps, then a final delay."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BackoffStep(BaseModel):
    """Wait ``delay_s`` before each of ``repeats`` consecutive attempts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delay_s: float = Field(gt=0, le=3600, description="Seconds to wait before the attempt.")
    repeats: int = Field(ge=1, le=10_000, description="How many attempts use this delay.")


def _default_steps() -> list[BackoffStep]:
    return [
        BackoffStep(delay_s=1.0, repeats=5),
        BackoffStep(delay_s=5.0, repeats=5),
        BackoffStep(delay_s=10.0, repeats=10),
    ]


class BackoffSchedule(BaseModel):
    """When to retry a camera: never gives up, only slows down.

    The default waits 1 s five times, 5 s five times, 10 s ten times, then 60 s forever,
    each delay spread by +-``jitter`` so that a site's cameras do not reconnect in lockstep.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[BackoffStep] = Field(default_factory=_default_steps,
                                     description="Delays used in order, each for its repeats.")
    final_delay_s: float = Field(default=60.0, gt=0, le=3600,
                                 description="Delay once the steps are used up.")
    jitter: float = Field(default=0.1, ge=0, lt=1,
                          description="Relative spread: a delay d becomes d*(1 +- jitter).")

    def delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based).

        Args:
            attempt: How many retries already happened since the camera last delivered frames.
            rand: A uniform random number in ``[0, 1)`` (pass ``random.random()``); 0.5 means
                no jitter.

        Raises:
            ValueError: ``attempt`` is negative or ``rand`` is outside ``[0, 1)``.
        """
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        if not 0.0 <= rand < 1.0:
            raise ValueError(f"rand must be in [0, 1), got {rand}")
        base = self.final_delay_s
        remaining = attempt
        for step in self.steps:
            if remaining < step.repeats:
                base = step.delay_s
                break
            remaining -= step.repeats
        return base * (1.0 + self.jitter * (2.0 * rand - 1.0))

    @classmethod
    def constant(cls, delay_s: float) -> BackoffSchedule:
        """A schedule that always waits ``delay_s`` (no jitter): handy for tests and probes."""
        return cls(steps=[], final_delay_s=delay_s, jitter=0.0)
