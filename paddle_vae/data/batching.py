"""The reference's batch order: shuffle, sort by length inside a window of batches, then batch.

Sorting inside a window keeps padding low while the shuffle keeps batches
varied; the window is the reference's 20 batches.
"""
from typing import Iterator, List, Sequence

SORT_BUFFER_BATCHES = 20


class BucketBatchSampler:
    """Shuffle, sort by length inside a 20-batch window, then batch: the reference's order.

    It is built on paddlenlp's SamplerHelper, with the epoch folded into the
    shuffle seed so that every epoch differs yet a resumed run replays the
    same batches. Under data parallelism each rank takes its own slice of
    every global batch, so N ranks see exactly what one process would.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 1,
                 num_replicas: int = 1, rank: int = 0):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch = epoch
        self.skip_batches = skip_batches

    def global_batches(self, epoch: int) -> List[List[int]]:
        """Every batch of `epoch`, before a rank takes its slice: a function of (seed, epoch) alone, so every rank
        and a resumed run compute the same list."""
        from paddlenlp.data import SamplerHelper  # lazy: paddlenlp takes seconds to import

        sampler = SamplerHelper(self.lengths, iterable=range(len(self.lengths)))
        if self.shuffle:
            sampler = sampler.shuffle(seed=self.seed * 100003 + epoch)
        key = lambda idx, data_source: data_source[idx]  # noqa: E731
        sampler = sampler.sort(key=key, buffer_size=self.batch_size * SORT_BUFFER_BATCHES)
        return list(sampler.batch(self.batch_size))

    def __iter__(self) -> Iterator[List[int]]:
        batches = self.global_batches(self.epoch)
        skip, self.skip_batches = self.skip_batches, 0
        self.epoch += 1  # paddle.Model.fit iterates once per epoch
        for batch in batches[skip:]:
            if self.num_replicas > 1:
                batch = batch[self.rank::self.num_replicas]
            yield batch

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size
