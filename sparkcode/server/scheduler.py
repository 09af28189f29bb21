"""Backend work in arrival order on one worker thread, with a bounded waiting line; plain chat
requests decoded together when the backend can batch them.

The engine is not thread-safe, so every piece of backend work (an API call, a session turn, an
agent turn) is a `Job` run by a single worker thread, in arrival order. At most `max_queue` jobs
wait; one more is refused with `QueueFull` (the API answers 429). Backend events cross from the
worker thread to the asyncio side through an `asyncio.Queue` fed with `loop.call_soon_threadsafe`.

A chat job is data (`Job.chat`: the request), not only a closure. With `parallel` > 1 and a
backend that offers `batch(n)` (the embedded engine), chat jobs the batch `takes` (no grammar, not
a side request) are served by continuous batching: the worker admits every such job at the head
of the line into a free slot, steps the batch one token for all of them, hands each its text, and
admits newcomers between steps; a job that is cancelled or times out leaves at once. Any other job
(an agent turn, structured output) waits until the batch has drained, and no chat job overtakes it.

Cancellation is cooperative: `Job.cancel()` (client went away) or the job's wall-time limit
makes `Job.should_stop()` true, and the backend checks that between tokens through
`ChatRequest.should_stop`. A job cancelled while still waiting is dropped from the line.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterator

from ..backends.base import Backend, ChatRequest
from ..engine.stats import Done, TextDelta


class QueueFull(Exception):
    """More than `max_queue` jobs are already waiting."""

    def __init__(self, waiting: int, retry_after_s: int):
        super().__init__(f"the server is busy: {waiting} requests are already waiting; retry in {retry_after_s}s")
        self.retry_after_s = retry_after_s


class JobFailed(Exception):
    """Carries the exception the job's work raised in the worker thread."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


_END = object()


class Job:
    """A unit of backend work and the stream of events it produces."""

    def __init__(self, work: Callable[["Job"], None], loop: asyncio.AbstractEventLoop, timeout_s: float | None,
                 chat: ChatRequest | None = None):
        self.work = work
        self.chat = chat  # the request, for a job that only streams one chat reply (it may be batched)
        self.loop = loop
        self.timeout_s = timeout_s
        self.events: asyncio.Queue = asyncio.Queue()
        self.submitted_at = time.monotonic()
        self.started_at: float | None = None
        self.deadline: float | None = None
        self.timed_out = False
        self._cancel = threading.Event()

    # -- called from any thread
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def should_stop(self) -> bool:
        if self._cancel.is_set():
            return True
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return False

    # -- called from the worker thread
    def emit(self, event: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the event loop is closed: the server is shutting down
            self.cancel()

    def _start(self) -> None:
        self.started_at = time.monotonic()
        if self.timeout_s is not None:
            self.deadline = self.started_at + self.timeout_s

    # -- called from the event loop
    async def stream(self) -> AsyncIterator[Any]:
        """The job's events until it ends; a failure in the work is raised as `JobFailed`."""
        while True:
            ev = await self.events.get()
            if ev is _END:
                return
            if isinstance(ev, JobFailed):
                raise ev
            yield ev


class Scheduler:
    """A single worker thread draining a bounded FIFO of jobs for one backend."""

    def __init__(self, backend: Backend, *, max_queue: int = 8, timeout_s: float | None = 300,
                 on_done: Callable[[Done], None] | None = None, on_start: Callable[[float], None] | None = None,
                 parallel: int = 1):
        """`on_start(seconds)`: called as each job starts, with how long it waited in the queue.
        `parallel`: chat requests decoded together, when the backend can (`backend.batch`)."""
        self.max_queue = max_queue
        self.parallel = parallel if parallel > 1 and hasattr(backend, "batch") and hasattr(backend, "batch_takes") else 1
        self._inner = backend
        self._batch = None  # made on first use, on the worker thread
        self._batched: dict = {}  # sequence -> job, while a batch runs
        self._on_done = on_done
        self.on_start = on_start
        self.timeout_s = timeout_s
        self.backend = ScheduledBackend(backend, self, on_done)
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._current: Job | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._avg_job_s = 1.0  # smoothed job duration, for Retry-After

    @property
    def waiting(self) -> int:
        return len(self._jobs)

    @property
    def in_flight(self) -> int:
        return len(self._batched) or (1 if self._current is not None else 0)

    def slot_states(self) -> list[dict] | None:
        """Each batch slot's state and KV cells, once there is a batch."""
        return self._batch.slot_states() if self._batch is not None else None

    @property
    def current(self) -> Job | None:
        return self._current

    def submit(self, work: Callable[[Job], None], timeout_s: float | None = None,
               chat: ChatRequest | None = None) -> Job:
        """Queue `work(job)` to run on the worker thread. Call from the event loop."""
        job = Job(work, asyncio.get_running_loop(), timeout_s if timeout_s is not None else self.timeout_s, chat)
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            idle = self._current is None and not self._batched and not self._jobs
            if not idle and len(self._jobs) >= self.max_queue:
                eta = self._avg_job_s * (len(self._jobs) + 1)
                raise QueueFull(len(self._jobs), max(1, min(60, int(eta + 0.999))))
            self._jobs.append(job)
            self._ensure_thread()
            self._cond.notify()
        return job

    def submit_chat(self, request: ChatRequest, timeout_s: float | None = None) -> Job:
        """A job that streams one chat reply: its events are `TextDelta`s then one `Done`."""

        def work(job: Job) -> None:
            for ev in self.backend.stream_chat(request):
                job.emit(ev)

        return self.submit(work, timeout_s, chat=request)

    def cancel(self, job: Job) -> None:
        """Stop a running job at its next token, or drop it from the line if it is waiting."""
        job.cancel()
        with self._cond:
            try:
                self._jobs.remove(job)
            except ValueError:
                return
        job.emit(_END)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for job in self._jobs:
                job.cancel()
            if self._current is not None:
                self._current.cancel()
            for job in self._batched.values():
                job.cancel()
            self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sparkcode-scheduler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self._current = job
            if self._batchable(job):
                self._current = None
                try:
                    self._run_batch(job)
                except BaseException as e:  # noqa: BLE001 - the worker lives on; the batch's jobs fail
                    failed = {id(j): j for j in [job, *self._batched.values()]}.values()
                    self._batched.clear()
                    for j in failed:
                        j.emit(JobFailed(e))
                        j.emit(_END)
                continue
            try:
                if not job.should_stop():
                    job._start()
                    if self.on_start is not None:
                        self.on_start(job.started_at - job.submitted_at)
                    job.work(job)
            except BaseException as e:  # noqa: BLE001 - handed to the request that owns the job
                job.emit(JobFailed(e))
            finally:
                with self._cond:
                    self._current = None
                if job.started_at is not None:
                    self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * (time.monotonic() - job.started_at)
                job.emit(_END)


    # ---- continuous batching ----------------------------------------------------------------
    def _batchable(self, job: Job) -> bool:
        return self.parallel > 1 and job.chat is not None and self._inner.batch_takes(job.chat)

    def _run_batch(self, first: Job) -> None:
        """Serve `first` and every batchable job that joins while it runs, one token per step."""
        if self._batch is None:
            self._batch = self._inner.batch(self.parallel)
        batch = self._batch
        self._admit(first)
        while self._batched:
            with self._cond:  # newcomers at the head of the line join between steps
                joining = []
                while (self._jobs and len(self._batched) + len(joining) < batch.n_slots
                       and self._batchable(self._jobs[0])):
                    joining.append(self._jobs.popleft())
            for job in joining:
                self._admit(job)
            for seq, job in list(self._batched.items()):
                if job.should_stop():
                    batch.cancel(seq)
                    self._finish(seq)
            if not self._batched:
                break
            try:
                touched = batch.step()
            except BaseException as e:  # noqa: BLE001 - every job of the batch fails with it
                for seq, job in list(self._batched.items()):
                    job.emit(JobFailed(e))
                    batch.cancel(seq)
                    self._finish(seq, failed=True)
                return
            for seq in touched:
                job = self._batched.get(seq)
                if job is None:
                    continue
                text = seq.take_text()
                if text:
                    job.emit(TextDelta(text))
                if seq.done:
                    self._finish(seq)

    def _admit(self, job: Job) -> None:
        if job.should_stop():
            job.emit(_END)
            return
        job._start()
        if self.on_start is not None:
            self.on_start(job.started_at - job.submitted_at)
        try:
            self._batched[self._batch.add(job.chat)] = job
        except BaseException as e:  # noqa: BLE001 - a bad request fails alone
            job.emit(JobFailed(e))
            job.emit(_END)

    def _finish(self, seq, failed: bool = False) -> None:
        job = self._batched.pop(seq)
        if not failed:
            text = seq.take_text()
            if text:
                job.emit(TextDelta(text))
            done = self._batch.done(seq)
            if self._on_done is not None:
                self._on_done(done)
            job.emit(done)
        if job.started_at is not None:
            self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * (time.monotonic() - job.started_at)
        job.emit(_END)


class ScheduledBackend:
    """The backend as seen by jobs: every call also stops when the running job is cancelled.

    This is what agent sessions receive, so their backend calls honour client disconnects and
    the wall-time limit without knowing about the scheduler. Call it only from inside a job.
    """

    def __init__(self, backend: Backend, scheduler: Scheduler, on_done: Callable[[Done], None] | None):
        self.inner = backend
        self.name = backend.name
        self._scheduler = scheduler
        self._on_done = on_done

    def stream_chat(self, request: ChatRequest) -> Iterator[TextDelta | Done]:
        job = self._scheduler.current
        if job is None or threading.current_thread() is not self._scheduler._thread:
            raise RuntimeError("the scheduled backend can only be used from inside a scheduler job")
        own = request.should_stop

        def should_stop() -> bool:
            return job.should_stop() or bool(own and own())

        for ev in self.inner.stream_chat(dataclasses.replace(request, should_stop=should_stop)):
            if isinstance(ev, Done) and self._on_done is not None:
                self._on_done(ev)
            yield ev
