"""One thread owns the model; requests queue for it, bounded in number and in time.

Paddle's dygraph state (the tracer, `paddle.seed`, the decoder's strategy attributes that `VAEGenerator` sets
before each decode) is process-wide, so two requests must never run the model at once: a single worker thread
is the lock. The queue in front of it is bounded twice:
- by count (`max_waiting`): a request that finds that many ahead of it is answered 503 at once, with a
  Retry-After that estimates when the queue will have drained;
- by time (`timeout`, from arrival): a request still waiting or running then is answered 503; if it had not
  started, the worker skips it (nobody waits for its answer any more), so an overload does not pile up work.
A request running past its deadline finishes on the worker (a Paddle call cannot be interrupted); the limits
keep each one short.
"""
import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """The model cannot take the request now: answered 503 with a Retry-After header."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class _Abandoned(Exception):
    """A job whose deadline passed before the worker reached it."""


class ModelWorker:
    def __init__(self, max_waiting: int, timeout: float, thread_init: Optional[Callable[[], None]] = None):
        self.max_waiting, self.timeout = max_waiting, timeout
        self.waiting = 0  # jobs queued or running; touched only on the event loop's thread
        self._seconds_per_job = 0.01  # a moving average, for Retry-After
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="paddle-vae-model", initializer=thread_init)

    def call(self, job: Callable[[], T]) -> T:
        """Run a job on the model's thread and wait for it (start-up work, before requests arrive)."""
        return self._pool.submit(job).result()

    async def run(self, job: Callable[[], T]) -> T:
        """The job's result, or Busy when the queue is full or the deadline passes first."""
        if self.waiting >= self.max_waiting:
            raise Busy(f"the model is busy with {self.waiting} requests (--max_waiting {self.max_waiting}); "
                       "retry later", self.retry_after())
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.timeout
        self.waiting += 1
        future = loop.run_in_executor(self._pool, self._timed, job, deadline)
        future.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            raise Busy(f"the request did not finish within {self.timeout:g} s (--request_timeout); "
                       "retry later or ask for less", self.retry_after()) from None

    def retry_after(self) -> int:
        """Seconds until the jobs now queued should be done (at least 1)."""
        return max(1, math.ceil(self.waiting * self._seconds_per_job))

    def _timed(self, job: Callable[[], T], deadline: float) -> T:
        if time.monotonic() > deadline:
            raise _Abandoned()
        start = time.monotonic()
        try:
            return job()
        finally:
            self._seconds_per_job = 0.9 * self._seconds_per_job + 0.1 * (time.monotonic() - start)

    def _finished(self, future: "asyncio.Future") -> None:
        self.waiting -= 1
        if not future.cancelled():
            future.exception()  # retrieved, so an answer nobody waited for does not log "never retrieved"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
