"""Data pipeline: BOS/EOS placement, padding id, split wiring, batching order, corpora and bad files."""
import logging

import numpy as np
import pytest

from conftest import FIXTURES
from helpers import data_args
from paddle_vae.data import batching
from paddle_vae.data import corpus as data
from paddle_vae.errors import DataError


def write_splits(folder, train, valid=None, test=None):
    for name, lines in (("train", train), ("valid", valid or train), ("test", test or train)):
        (folder / f"{name}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def test_decoder_input_starts_with_bos_and_label_ends_with_eos():
    bos, eos, pad = 1, 2, 0
    src, src_len, trg, trg_len, label = data.prepare_train_input([[5, 6, 7], [8]], bos, eos, pad)
    assert src.tolist() == [[1, 5, 6, 7, 2], [1, 8, 2, 0, 0]]
    assert trg.tolist() == [[1, 5, 6, 7], [1, 8, 0, 0]]  # what the decoder reads: BOS first
    assert label.shape == (2, 4, 1)
    assert label[..., 0].tolist() == [[5, 6, 7, 2], [8, 2, 0, 0]]  # what it predicts: EOS last
    assert src_len.tolist() == [5, 3] and trg_len.tolist() == [4, 2]


def test_padding_id_is_distinct_from_every_word_and_special():
    corpus = data.load_and_encode(data_args())
    vocab = corpus.vocab
    assert len({corpus.pad_id, corpus.bos_id, corpus.eos_id, vocab.to_indices(vocab.unk_token)}) == 4
    word_ids = {i for sent in corpus.splits["train"] for i in sent}
    assert corpus.pad_id not in word_ids
    # The most frequent word must not be masked (the reference masked id 0, "the" in PTB).
    the_id = vocab.to_indices("the")
    _, _, trg, _, _ = data.prepare_train_input([[the_id, the_id]], corpus.bos_id, corpus.eos_id, corpus.pad_id)
    assert (trg != corpus.pad_id).all()


def test_create_data_loader_returns_the_reference_tuple():
    """PaddleNLP's vae-seq2seq: (train_loader, dev_loader, test_loader, vocab, bos_id, pad_id, len(train_ds))."""
    args = data_args(batch_size=64)
    result = data.create_data_loader(args)
    corpus = data.load_and_encode(args)
    assert len(result) == 7
    train_loader, _, _, vocab, bos_id, pad_id, num_train = result
    assert vocab.to_tokens(bos_id) == data.BOS_TOKEN and bos_id == corpus.bos_id
    assert vocab.to_tokens(pad_id) == data.PAD_TOKEN and pad_id == corpus.pad_id
    assert num_train == len(corpus.splits["train"]) > 0
    assert sum(int(batch[0].shape[0]) for batch in train_loader) == num_train


def test_test_loader_iterates_the_test_split():
    args = data_args(batch_size=64)
    _, dev_loader, test_loader, *_ = data.create_data_loader(args)
    corpus = data.load_and_encode(args)

    def sentences(loader):
        out = set()
        for src, src_len, *_ in loader:
            for row, n in zip(src.numpy(), src_len.numpy()):
                out.add(tuple(row[1:n - 1]))
        return out

    assert sentences(test_loader) == {tuple(s) for s in corpus.splits["test"]}
    assert sentences(dev_loader) == {tuple(s) for s in corpus.splits["valid"]}
    assert sentences(test_loader) != sentences(dev_loader)


def test_batches_cover_the_epoch_sorted_within_windows_and_reshuffle_per_epoch():
    lengths = list(np.random.RandomState(0).randint(1, 30, size=500))
    sampler = batching.BucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=3)
    epoch0, epoch1 = list(sampler), list(sampler)
    flat = [i for b in epoch0 for i in b]
    assert sorted(flat) == list(range(500))
    window = 8 * batching.SORT_BUFFER_BATCHES
    for start in range(0, 500, window):
        chunk = [lengths[i] for i in flat[start:start + window]]
        assert chunk == sorted(chunk)
    assert epoch0 != epoch1
    replay = batching.BucketBatchSampler(lengths, batch_size=8, shuffle=True, seed=3)
    replay.set_epoch(1, skip_batches=5)
    assert list(replay) == epoch1[5:]


def test_data_parallel_ranks_split_every_global_batch():
    lengths = list(range(1, 101))
    whole = list(batching.BucketBatchSampler(lengths, 10, True, seed=1))
    ranks = [list(batching.BucketBatchSampler(lengths, 10, True, seed=1, num_replicas=2, rank=r)) for r in (0, 1)]
    for g, a, b in zip(whole, *ranks):
        assert sorted(a + b) == sorted(g) and not set(a) & set(b)


def test_text_corpus_vocab_is_bounded_and_unknown_words_map_to_unk(tmp_path):
    write_splits(tmp_path, ["The cat sat .", "the cat ran !", "a dog sat"], test=["the zebra sat"])
    corpus = data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path), lowercase=True, min_freq=2))
    tokens = data.vocab_tokens(corpus.vocab)
    assert tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert set(tokens[4:]) == {"the", "cat", "sat"}  # words seen at least twice, lowercased
    unk = corpus.vocab.to_indices("<unk>")
    assert corpus.splits["test"][0] == [corpus.vocab.to_indices("the"), unk, corpus.vocab.to_indices("sat")]
    capped = data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path), max_vocab=1))
    assert len(capped.vocab) == 5


def test_yahoo_layout_reads_its_own_vocab_file():
    corpus = data.load_and_encode(data_args(dataset="yahoo", data_dir=str(FIXTURES / "yahoo")))
    tokens = data.vocab_tokens(corpus.vocab)
    assert tokens[:3] == ["<pad>", "<bos>", "<eos>"] and tokens[3] == "_UNK"
    file_vocab = (FIXTURES / "yahoo" / "vocab.txt").read_text().split()
    assert tokens[4:] == [t for t in file_vocab if t != "_UNK"]  # file order kept
    assert corpus.splits["test"][1][-2] == corpus.vocab.to_indices("_UNK")  # "zebra" is not in the vocab


@pytest.mark.parametrize("case", ["missing", "empty", "blank_only", "non_utf8"])
def test_bad_split_file_is_a_one_line_data_error_naming_the_file(tmp_path, case):
    write_splits(tmp_path, ["a b c"])
    bad = tmp_path / "valid.txt"
    if case == "missing":
        bad.unlink()
    elif case == "empty":
        bad.write_text("")
    elif case == "blank_only":
        bad.write_text("\n   \n\t\n")
    else:
        bad.write_bytes(b"fine line\nbad \xff\xfe bytes\n")
    with pytest.raises(DataError) as err:
        data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path)))
    message = str(err.value)
    assert "valid.txt" in message and "\n" not in message
    if case == "non_utf8":
        assert "line 2" in message


def test_missing_data_dir_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path / "nope")))


def test_long_lines_are_truncated_and_reported_once(tmp_path, caplog):
    write_splits(tmp_path, ["w " * 50, "w " * 60, "short line"])
    package_logger = logging.getLogger("paddle_vae")  # capture here whether or not it propagates to root
    package_logger.addHandler(caplog.handler)
    propagate, package_logger.propagate = package_logger.propagate, False
    try:
        with caplog.at_level(logging.WARNING, logger="paddle_vae"):
            corpus = data.load_and_encode(data_args(dataset="text", data_dir=str(tmp_path), max_len=10))
    finally:
        package_logger.removeHandler(caplog.handler)
        package_logger.propagate = propagate
    assert max(len(s) for s in corpus.splits["train"]) == 10
    train_warnings = [r for r in caplog.records if "text/train" in r.getMessage()]
    assert len(train_warnings) == 1 and "2 sentence(s)" in train_warnings[0].getMessage()


def test_ptb_reads_the_real_files_quickly(ptb_dir):
    import time

    start = time.time()
    corpus = data.load_and_encode(data_args(dataset="ptb", data_dir=str(ptb_dir), batch_size=32))
    loader = corpus.loader("train", 32, shuffle=True)
    next(iter(loader))
    assert time.time() - start < 20
    assert [len(corpus.splits[s]) for s in data.SPLITS] == [42068, 3370, 3761]
    assert len(corpus.vocab) == 9999 + 3  # PTB train types (incl. <unk>) + pad/bos/eos
    assert corpus.num_words("test") == 78669 + 3761  # words + one EOS per sentence
