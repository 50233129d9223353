"""Host-side batch feeding: :class:`BatchFeeder` reads a ``PyDataset`` ahead in threads or spawned processes.

This is the feeder for data that is prepared on the CPU (decode, augment, STFT, encode per crop). The on-device
feeder (:mod:`vocals2song.training.device_data`) does the same inside the jitted JAX step instead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pickle
from collections import deque

import numpy as np

def _epoch_length(dataset) -> int | None:
    length = getattr(dataset, "num_batches", None)
    if length is None:
        with contextlib.suppress(TypeError, NotImplementedError):
            length = len(dataset)
    return int(length) if length else None


# Environment of the batch-fetching processes: CPU only (they must not take the GPU), one thread each.
WORKER_ENVIRONMENT = {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "3",
                      "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # fmt: skip
_worker_dataset = None


def _start_worker(pickled_dataset: bytes) -> None:
    global _worker_dataset
    _worker_dataset = pickle.loads(pickled_dataset)


def _worker_batch(epoch: int | None, index: int):
    if epoch is not None:
        _worker_dataset.epoch = epoch
    return _worker_dataset[index]


def _worker_ready() -> int:
    return os.getpid()


class BatchFeeder:
    """Yields ``dataset[index]`` for consecutive steps from ``start_step``, fetched ahead by ``workers``.

    Step s reads batch ``s % epoch_length`` of epoch ``s // epoch_length``, so a resumed run reads the same
    batches an uninterrupted one would. At each epoch boundary (once every earlier batch has been fetched) the
    dataset's ``set_epoch(epoch)`` is called if it has one, else ``on_epoch_end()``; resuming replays those calls.

    The workers are threads, or with ``processes=True`` spawned processes (CPU-only, one thread each) holding a
    copy of the dataset: decoding, augmenting and the STFT hold the GIL much of the time, so threads stop
    scaling at a few cores while a GPU wants hundreds of crops a second. In processes the dataset's ``epoch``
    attribute is sent with each request (a dataset without one cannot be fed by processes).
    """

    def __init__(self, dataset, start_step: int, workers: int = 1, processes: bool = False):
        self.dataset = dataset
        self.epoch_length = _epoch_length(dataset)
        self.workers = max(1, int(workers))
        self.processes = processes
        self.next_step = start_step
        self.epoch = start_step // self.epoch_length if self.epoch_length else 0
        if self.epoch:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(self.epoch)
            else:
                for _ in range(self.epoch):
                    dataset.on_epoch_end()
        if processes:
            if not hasattr(dataset, "epoch"):
                raise ValueError("a dataset fed by worker processes needs an 'epoch' attribute")
            self._pool = _spawn_pool(dataset, self.workers)
        else:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="batches")
        self._pending: deque = deque()

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch index) read at ``step``."""
        if not self.epoch_length:
            return 0, step
        return divmod(step, self.epoch_length)

    def _submit(self) -> None:
        epoch, index = self.position(self.next_step)
        if epoch != self.epoch:
            if self._pending:  # finish this epoch before the dataset moves on
                return
            self.epoch = epoch
            if hasattr(self.dataset, "set_epoch"):
                self.dataset.set_epoch(epoch)
            else:
                self.dataset.on_epoch_end()
        if self.processes:
            self._pending.append(self._pool.submit(_worker_batch, self.dataset.epoch, index))
        else:
            self._pending.append(self._pool.submit(self.dataset.__getitem__, index))
        self.next_step += 1

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        while len(self._pending) < 2 * self.workers:
            before = len(self._pending)
            self._submit()
            if len(self._pending) == before:
                break
        if not self._pending:
            self._submit()
        voice, target = self._pending.popleft().result()[:2]
        return np.asarray(voice, dtype=np.float32), np.asarray(target, dtype=np.float32)

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)


def _spawn_pool(dataset, workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """``workers`` spawned processes holding ``dataset``, started now under :data:`WORKER_ENVIRONMENT`."""
    import multiprocessing

    saved = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
    os.environ.update(WORKER_ENVIRONMENT)  # inherited by the spawned processes, restored once they run
    try:
        pool = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(pickle.dumps(dataset),),
        )  # fmt: skip
        started = [pool.submit(_worker_ready) for _ in range(workers)]  # one submit each spawns a process
        for future in started:
            future.result()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return pool

