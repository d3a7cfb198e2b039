"""One thread owns the model; requests queue for it, bounded in number and in time, and like requests share
one call.

Paddle's dygraph state (the tracer, `paddle.seed`, the decoder's strategy attributes that `VAEGenerator` sets
before each decode) is process-wide, so two requests must never run the model at once: a single worker thread
is the lock. The queue in front of it is bounded twice:
- by count (`max_waiting`): a request that finds that many ahead of it is answered 503 at once, with a
  Retry-After that estimates when the queue will have drained;
- by time (`timeout`, from arrival): a request still waiting or running then is answered 503; if it had not
  started, the worker skips it (nobody waits for its answer any more), so an overload does not pile up work.
A request running past its deadline finishes on the worker (a Paddle call cannot be interrupted); the limits
keep each one short.

Requests that give the same answer alone or together (`key`: the same operation and decoding options, and no
seed that would tie the answer to the batch) wait in one batch until the worker reaches it, and then run as
one call: eight clients asking `sample(num=1)` cost about one decode of eight rows instead of eight decodes of
one, each row its own. If that call fails, each request of the batch runs alone, so a bad request fails alone.
"""
import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Hashable, List, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")
BatchCall = Callable[[Sequence[Any]], List[Any]]  # the payloads of a batch -> one result per payload


class Busy(Exception):
    """The model cannot take the request now: answered 503 with a Retry-After header."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class _Abandoned(Exception):
    """A request whose deadline passed before the worker reached it."""


class _Item:
    def __init__(self, payload: Any, size: int, future: "asyncio.Future", deadline: float):
        self.payload, self.size, self.future, self.deadline = payload, size, future, deadline


class _Batch:
    """Requests for one call, open to more of the same key until the worker starts it."""

    def __init__(self, key: Optional[Hashable], call: BatchCall, max_size: int):
        self.key, self.call, self.max_size = key, call, max_size
        self.items: List[_Item] = []
        self.size, self.started = 0, False
        self.lock = threading.Lock()  # the event loop adds, the worker closes

    def add(self, item: _Item) -> bool:
        with self.lock:
            if self.started or (self.items and self.size + item.size > self.max_size):
                return False
            self.items.append(item)
            self.size += item.size
            return True

    def close(self) -> List[_Item]:
        with self.lock:
            self.started = True
            return list(self.items)


class ModelWorker:
    """The model's single thread and the bounded, batching queue in front of it (the module docstring says why):
    the app hands it every model call, through `run` or `run_batched`."""

    def __init__(self, max_waiting: int, timeout: float, thread_init: Optional[Callable[[], None]] = None):
        self.max_waiting, self.timeout = max_waiting, timeout
        self.waiting = 0  # requests queued or running; touched only on the event loop's thread
        self._seconds_per_call = 0.01  # a moving average, for Retry-After
        self._open: dict = {}  # key -> the batch still open to that key's requests
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="paddle-vae-model", initializer=thread_init)

    def call(self, job: Callable[[], T]) -> T:
        """Run a job on the model's thread and wait for it (start-up work, before requests arrive)."""
        return self._pool.submit(job).result()

    async def run(self, job: Callable[[], T]) -> T:
        """The job's result, or Busy when the queue is full or the deadline passes first."""
        return await self.run_batched(None, job, 1, lambda jobs: [jobs[0]()], 1)

    async def run_batched(self, key: Optional[Hashable], payload: Any, size: int, call: BatchCall,
                          max_size: int) -> Any:
        """`call([payload, ...])`'s result for this payload, the call shared with the waiting requests of the
        same `key` (None: never shared) up to `max_size` in all (sizes: rows, sentences); Busy as `run`."""
        if self.waiting >= self.max_waiting:
            raise Busy(f"the model is busy with {self.waiting} requests (--max_waiting {self.max_waiting}); "
                       "retry later", self.retry_after())
        loop = asyncio.get_running_loop()
        item = _Item(payload, size, loop.create_future(), time.monotonic() + self.timeout)
        self.waiting += 1
        item.future.add_done_callback(self._finished)
        batch = self._open.get(key) if key is not None else None
        if batch is None or not batch.add(item):
            batch = _Batch(key, call, max_size)
            batch.add(item)
            if key is not None:
                self._open[key] = batch
            self._pool.submit(self._run, batch, loop)
        try:
            return await asyncio.wait_for(asyncio.shield(item.future), self.timeout)
        except asyncio.TimeoutError:
            raise Busy(f"the request did not finish within {self.timeout:g} s (--request_timeout); "
                       "retry later or ask for less", self.retry_after()) from None

    def retry_after(self) -> int:
        """Seconds until the requests now queued should be done (at least 1; batching only shortens it)."""
        return max(1, math.ceil(self.waiting * self._seconds_per_call))

    def _run(self, batch: _Batch, loop: asyncio.AbstractEventLoop) -> None:
        """On the model's thread: the batch's live requests as one call (one call each if that fails)."""
        items = batch.close()
        if batch.key is not None:
            loop.call_soon_threadsafe(self._forget, batch)
        now = time.monotonic()
        live = [i for i in items if i.deadline >= now]
        for item in items:
            if item.deadline < now:
                self._settle(loop, item, None, _Abandoned())
        if not live:
            return
        start = time.monotonic()
        try:
            outcomes = self._outcomes(batch.call, [i.payload for i in live])
        finally:
            self._seconds_per_call = 0.9 * self._seconds_per_call + 0.1 * (time.monotonic() - start)
        for item, (result, error) in zip(live, outcomes):
            self._settle(loop, item, result, error)

    @staticmethod
    def _outcomes(call: BatchCall, payloads: Sequence[Any]) -> List[Tuple[Any, Optional[BaseException]]]:
        """(result, None) or (None, error) for each payload: one call for all, or one each if that fails."""
        try:
            return [(result, None) for result in call(payloads)]
        except Exception as exc:
            if len(payloads) == 1:
                return [(None, exc)]
        outcomes: List[Tuple[Any, Optional[BaseException]]] = []
        for payload in payloads:
            try:
                outcomes.append((call([payload])[0], None))
            except Exception as exc:
                outcomes.append((None, exc))
        return outcomes

    def _forget(self, batch: _Batch) -> None:
        """On the event loop: a started batch takes no more requests (later ones of its key open a new one)."""
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]

    @staticmethod
    def _settle(loop: asyncio.AbstractEventLoop, item: _Item, result: Any, error: Optional[BaseException]) -> None:
        def settle() -> None:
            if item.future.done():
                return
            if error is None:
                item.future.set_result(result)
            else:
                item.future.set_exception(error)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop has closed: the server is gone, nobody waits
            pass

    def _finished(self, future: "asyncio.Future") -> None:
        self.waiting -= 1
        if not future.cancelled():
            future.exception()  # retrieved, so an answer nobody waited for does not log "never retrieved"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
