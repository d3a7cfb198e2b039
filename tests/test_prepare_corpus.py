"""prepare_corpus and the tokenizers: raw files (BOM, CRLF, wrapped lines, glued punctuation, Chinese) to splits."""
import json

import pytest

from conftest import FIXTURES
from paddle_vae import prepare_corpus
from paddle_vae.errors import DataError, UsageError
from paddle_vae.data.reading import text_lines
from paddle_vae.data.tokenizers import default_tokenizer, paragraphs, split_sentences, tokenize

EN = FIXTURES / "raw" / "en_wrapped.txt"
ZH = FIXTURES / "raw" / "zh_small.txt"


def prepare(tmp_path, *extra, raw=EN):
    out = tmp_path / f"corpus{len(list(tmp_path.glob('corpus*')))}"  # a new folder per call: no --overwrite needed
    assert prepare_corpus.main([str(raw), "--output_dir", str(out), "--split", "0.6,0.2,0.2", *extra]) == 0
    info = json.loads((out / "prepare.json").read_text(encoding="utf-8"))
    lines = {s: (out / f"{s}.txt").read_text(encoding="utf-8").splitlines() for s in ("train", "valid", "test")}
    return info, lines


def test_fixtures_have_what_users_have():
    raw = EN.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw  # BOM, CRLF
    assert b"Mr. Alder" in raw and b"e.g." in raw and b"steps, lit" in raw  # abbreviations, glued punctuation


def test_english_file_becomes_clean_tokenised_sentences(tmp_path):
    info, lines = prepare(tmp_path)
    everything = [line for split in lines.values() for line in split]
    assert info["options"]["tokenizer"] == "basic"  # the Latin-script default
    assert not any("\ufeff" in line or "\r" in line for line in everything)
    tokens = {t for line in everything for t in line.split()}
    assert "," in tokens and "steps" in tokens and "steps," not in tokens  # punctuation split off
    # wrapped lines joined, abbreviations kept inside their sentence
    assert "Mr . Alder kept the lighthouse on the north cape for thirty years ." in everything
    assert any(line.startswith("Ships passed , e . g . the mail boat") for line in everything)
    assert info["counts"]["paragraphs"] == 6 and info["counts"]["sentences"] == len(everything)
    assert {k: v["sentences"] for k, v in info["splits"].items()} == {k: len(v) for k, v in lines.items()}


def test_lowercase_only_when_asked(tmp_path):
    _, plain = prepare(tmp_path)
    _, lower = prepare(tmp_path, "--lowercase")
    assert any(ch.isupper() for line in plain["train"] for ch in line)
    assert not any(ch.isupper() for split in lower.values() for line in split for ch in line)


def test_chinese_defaults_to_jieba_and_splits_on_chinese_punctuation(tmp_path):
    info, lines = prepare(tmp_path, raw=ZH)
    assert info["options"]["tokenizer"] == "jieba" and info["cjk_share"] > 0.9
    everything = [line for split in lines.values() for line in split]
    assert "他 固执 吗 ？" in everything  # a sentence of its own, ended by ？
    assert any(line.endswith("。 ”") for line in everything)  # the closing quote stays with its sentence
    # the line break inside 每天傍晚 ... 笔记本 left no space in a word: a wrapped word is rejoined
    assert any("笔记本" in line.split() for line in everything)


@pytest.mark.parametrize("name,expected", [("whitespace", ["steps,", "lit"]), ("char", ["s", ","]),
                                           ("basic", ["steps", ","])])
def test_tokenizer_option(tmp_path, name, expected):
    info, lines = prepare(tmp_path, "--tokenizer", name)
    tokens = {t for split in lines.values() for line in split for t in line.split()}
    assert info["options"]["tokenizer"] == name and set(expected) <= tokens
    if name == "char":
        assert all(len(t) == 1 for t in tokens)


def test_length_filter_and_dedupe(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("Same words here. Same words here. Short. " + "Word " * 30 + "end. Another fine sentence.\n\n"
                   "Third paragraph is fine. Yes it is fine.\n", encoding="utf-8")
    info, lines = prepare(tmp_path, "--min_len", "3", "--max_len", "20", "--dedupe", raw=raw)
    counts = info["counts"]
    assert counts["dropped_short"] == 1 and counts["dropped_long"] == 1 and counts["dropped_duplicate"] == 1
    everything = [line for split in lines.values() for line in split]
    assert everything.count("Same words here .") == 1 and all(3 <= len(s.split()) <= 20 for s in everything)


def test_split_is_deterministic_and_follows_the_seed(tmp_path):
    _, first = prepare(tmp_path, "--seed", "3")
    _, again = prepare(tmp_path, "--seed", "3")
    _, other = prepare(tmp_path, "--seed", "4")
    assert first == again and first != other


def test_split_by_paragraph_keeps_neighbours_together(tmp_path):
    info, lines = prepare(tmp_path, "--split_by", "paragraph")
    paras = [[tokenize(s, "basic") for s in split_sentences(p)]
             for p in paragraphs(text_lines(EN.read_text("utf-8-sig")))]
    where = {line: name for name, split in lines.items() for line in split}
    assert sum(len(p) for p in paras) == len(where)
    for para in paras:  # every paragraph's sentences all landed in one split
        assert len({where[" ".join(s)] for s in para}) == 1


def test_prepare_json_reports_vocabulary_and_coverage(tmp_path):
    info, lines = prepare(tmp_path)
    train_tokens = [t for line in lines["train"] for t in line.split()]
    vocab = info["train"]["vocab_size"]
    assert vocab["min_freq_1"] == len(set(train_tokens)) and vocab["min_freq_1"] > vocab["min_freq_2"] >= \
        vocab["min_freq_5"]
    assert info["train"]["coverage"]["top_10k"] == 1.0  # a tiny corpus: every word is in the top 10k


def test_sentence_splitter_keeps_abbreviations_and_initials():
    text = 'Dr. J. Smith met Mr. Lee, e.g. at noon. "Really?" she asked. Prices rose 3.5 percent! 你好。再见！'
    assert split_sentences(text) == ["Dr. J. Smith met Mr. Lee, e.g. at noon.", '"Really?" she asked.',
                                     "Prices rose 3.5 percent!", "你好。", "再见！"]


def test_default_tokenizer_follows_the_script():
    assert default_tokenizer("Plain English text.") == "basic"
    assert default_tokenizer("这是一段中文，里面有一个 English 单词。") == "jieba"


@pytest.mark.parametrize("argv,error", [(["--split", "0.9,0.1"], UsageError), (["--split", "1,0,0"], UsageError),
                                        (["--min_len", "5", "--max_len", "2"], UsageError)])
def test_bad_options_are_usage_errors(tmp_path, argv, error):
    with pytest.raises(error):
        prepare_corpus.prepare(prepare_corpus.build_parser().parse_args([str(EN), "--output_dir",
                                                                         str(tmp_path), *argv]))


def test_undecodable_bytes_name_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\r\nstill good\r\nbad \xff byte\r\n")
    assert prepare_corpus.main([str(bad), "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bad.txt" in err and "line 3" in err and "\n" not in err


def test_too_little_text_is_a_one_line_error(tmp_path):
    raw = tmp_path / "one.txt"
    raw.write_text("Just one sentence here.\n", encoding="utf-8")
    with pytest.raises(UsageError, match="too few"):
        prepare_corpus.prepare(prepare_corpus.build_parser().parse_args([str(raw), "--output_dir",
                                                                         str(tmp_path / "out")]))
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataError, match="no text"):
        prepare_corpus.prepare(prepare_corpus.build_parser().parse_args([str(tmp_path / "blank.txt"),
                                                                         "--output_dir", str(tmp_path / "out")]))
