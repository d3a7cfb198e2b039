"""Generate the small bundled DEMO corpus in ``paddle_vae/data/demo_corpus/`` (package data).

This is a SYNTHETIC demo corpus, not real language data. Every sentence is
produced from a handful of templates and word lists by a seeded random number
generator. It exists only so the text-VAE can be trained, evaluated and
inspected end to end in minutes, without downloading anything. Do not use it
to report modelling results about natural language.

Why the factors exist: each sentence is driven by two global latent factors,
a TOPIC (cooking / sports / weather / travel, each with its own nouns, verbs,
adjectives and places) and a TENSE (past / present / future, e.g. "cooked" /
"cooks" / "will cook"). Both factors affect many tokens at once, so a VAE has
something sentence-level to put into its latent code z. The ground truth is
written to ``*.labels`` (``topic<TAB>tense``), so one can check whether z
captures it (e.g. a linear probe on z, or interpolations that change topic or
tense).

Usage: python3 data/make_sample_corpus.py [--seed 1] [--out_dir paddle_vae/data/demo_corpus]
The same seed reproduces the files byte for byte.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

TENSES = ("past", "present", "future")
SPLITS = (("train", 3000), ("valid", 300), ("test", 300))

# Per topic: agents, verbs (irregular forms as "base/past"), objects, adjectives, places.
TOPICS: dict[str, dict[str, list[str]]] = {
    "cooking": {
        "agent": "chef baker waiter grandmother butcher student".split(),
        "verb": "cook bake fry boil stir/stirred chop/chopped taste serve slice roast".split(),
        "obj": "soup bread cake pasta salad onion sauce pie steak rice".split(),
        "adj": "warm fresh spicy sweet salty crispy delicious hot".split(),
        "place": "kitchen restaurant bakery market cafe".split(),
    },
    "sports": {
        "agent": "player coach striker goalkeeper runner captain".split(),
        "verb": "kick throw/threw win/won score pass block defend practice lose/lost watch".split(),
        "obj": "ball goal match race trophy net medal game".split(),
        "adj": "fast strong tired quick loud final rough young".split(),
        "place": "stadium field gym court arena".split(),
    },
    "weather": {
        "agent": "forecaster farmer sailor meteorologist fisherman pilot".split(),
        "verb": "predict measure report expect record fear track study notice see/saw".split(),
        "obj": "storm rain cloud wind snow fog thunder frost heatwave temperature".split(),
        "adj": "cold cloudy heavy dark freezing humid stormy gentle".split(),
        "place": "valley coast hills region island".split(),
    },
    "travel": {
        "agent": "tourist traveler guide backpacker passenger driver".split(),
        "verb": "book visit pack explore board reach leave/left catch/caught plan/planned miss".split(),
        "obj": "ticket suitcase map train flight hotel passport museum bus".split(),
        "adj": "crowded cheap long early foreign busy late expensive".split(),
        "place": "airport station city harbor village".split(),
    },
}

TIME: dict[str, list[str]] = {
    "past": ["yesterday", "last week", "last night"],
    "present": ["every day", "every morning", "now"],
    "future": ["tomorrow", "next week", "soon"],
}
BE = {"past": "was", "present": "is", "future": "will be"}

# Templates: {v}/{v2} are tense-marked verbs; lengths are about 5-16 tokens.
TEMPLATES = [
    "the {agent} {v} {time} .",
    "the {agent} {v} the {obj} .",
    "the {adj} {agent} {v} {a} {adj2} {obj} .",
    "{time} , the {agent} {v} the {obj} in the {place} .",
    "the {agent} {v} {a} {adj2} {obj} because the {obj2} {be} {adj} .",
    "in the {place} , the {agent} {v} the {obj} because it {be} {adj} .",
    "the {agent} {v} the {obj} in the {place} and then {v2} the {obj2} .",
    "the {agent} {v} the {obj} because the {agent2} {v2} the {obj2} .",
]


def conjugate(spec: str, tense: str) -> str:
    """Inflect a verb spec such as "cook" or "win/won" for the given tense."""
    base, _, past = spec.partition("/")
    if tense == "future":
        return f"will {base}"
    consonant_y = base.endswith("y") and base[-2] not in "aeiou"
    if tense == "past":
        if past:
            return past
        return base[:-1] + "ied" if consonant_y else base + ("d" if base.endswith("e") else "ed")
    if consonant_y:
        return base[:-1] + "ies"
    return base + ("es" if base.endswith(("s", "sh", "ch", "x", "o")) else "s")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def make_sentence(rng: random.Random, topic: str, tense: str) -> str:
    words = TOPICS[topic]
    agent, agent2 = rng.sample(words["agent"], 2)
    v, v2 = rng.sample(words["verb"], 2)
    obj, obj2 = rng.sample(words["obj"], 2)
    adj, adj2 = rng.sample(words["adj"], 2)
    return rng.choice(TEMPLATES).format(
        agent=agent, agent2=agent2, obj=obj, obj2=obj2, adj=adj, adj2=adj2,
        a=article(adj2), place=rng.choice(words["place"]), time=rng.choice(TIME[tense]),
        v=conjugate(v, tense), v2=conjugate(v2, tense), be=BE[tense],
    )


def balanced(rng: random.Random, values: list[str] | tuple[str, ...], n: int) -> list[str]:
    """n labels cycling through values (counts differ by at most one), shuffled."""
    labels = [values[i % len(values)] for i in range(n)]
    rng.shuffle(labels)
    return labels


def make_split(rng: random.Random, n: int, seen: set[str]) -> list[tuple[str, str, str]]:
    """Return n (sentence, topic, tense) rows; sentences are unique across all splits."""
    rows = []
    topics = balanced(rng, list(TOPICS), n)
    tenses = balanced(rng, TENSES, n)
    for topic, tense in zip(topics, tenses):
        sentence = make_sentence(rng, topic, tense)
        while sentence in seen:
            sentence = make_sentence(rng, topic, tense)
        seen.add(sentence)
        rows.append((sentence, topic, tense))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out_dir", type=Path, default=Path(__file__).resolve().parent.parent / "paddle_vae" / "data" / "demo_corpus")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    vocab: set[str] = set()
    n_tokens = n_sents = 0
    for split, n in SPLITS:
        rows = make_split(rng, n, seen)
        text = "".join(f"{s}\n" for s, _, _ in rows)
        labels = "".join(f"{topic}\t{tense}\n" for _, topic, tense in rows)
        (args.out_dir / f"{split}.txt").write_text(text, encoding="utf-8", newline="\n")
        (args.out_dir / f"{split}.labels").write_text(labels, encoding="utf-8", newline="\n")
        for s, _, _ in rows:
            tokens = s.split()
            vocab.update(tokens)
            n_tokens += len(tokens)
            n_sents += 1
        print(f"{split}: {n} sentences -> {args.out_dir / (split + '.txt')}")
    print(f"vocabulary: {len(vocab)} types; mean tokens/sentence: {n_tokens / n_sents:.2f}")


if __name__ == "__main__":
    main()
