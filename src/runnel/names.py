"""Readable run names: ``laughing-nightingale`` for flow runs, ``fetch_stats-0c9`` for task runs."""

from __future__ import annotations

import random

ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crimson",
    "curious",
    "daring",
    "dapper",
    "eager",
    "electric",
    "elegant",
    "fancy",
    "fearless",
    "festive",
    "gentle",
    "glowing",
    "golden",
    "graceful",
    "happy",
    "hidden",
    "humble",
    "icy",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "lively",
    "lucky",
    "mellow",
    "merry",
    "mighty",
    "misty",
    "nimble",
    "noble",
    "patient",
    "polished",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "radiant",
    "rustic",
    "serene",
    "shiny",
    "silent",
    "silver",
    "smart",
    "sturdy",
    "sunny",
    "swift",
    "tidy",
    "tireless",
    "twinkling",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zealous",
)

ANIMALS = (
    "albatross",
    "alpaca",
    "badger",
    "beaver",
    "bison",
    "buffalo",
    "caribou",
    "cheetah",
    "cormorant",
    "coyote",
    "crane",
    "dingo",
    "dolphin",
    "eagle",
    "falcon",
    "ferret",
    "finch",
    "fox",
    "gazelle",
    "gecko",
    "heron",
    "hyena",
    "ibex",
    "jackal",
    "jaguar",
    "kestrel",
    "koala",
    "lemur",
    "leopard",
    "lynx",
    "macaw",
    "manatee",
    "marmot",
    "meerkat",
    "mongoose",
    "moose",
    "narwhal",
    "nightingale",
    "ocelot",
    "octopus",
    "orca",
    "otter",
    "owl",
    "panda",
    "pelican",
    "penguin",
    "puffin",
    "quail",
    "raccoon",
    "raven",
    "salamander",
    "seal",
    "sparrow",
    "squid",
    "stork",
    "swan",
    "tapir",
    "tiger",
    "toucan",
    "turtle",
    "walrus",
    "weasel",
    "wolf",
    "wombat",
    "yak",
    "zebra",
)


def flow_run_name(rng: random.Random | None = None) -> str:
    """A random adjective-animal name."""
    pick = (rng or random).choice
    return f"{pick(ADJECTIVES)}-{pick(ANIMALS)}"


class TaskRunNamer:
    """Gives each task run of one flow run a short suffix that no other run of that task has.

    Suffixes look random but come from a bijection on a counter, so they are unique without
    remembering the ones given: the first 4,096 runs of a task get three hex digits, the next
    65,536 four, and so on.
    """

    __slots__ = ("_counts", "_offset")

    def __init__(self, rng: random.Random | None = None) -> None:
        self._counts: dict[str, int] = {}
        self._offset = (rng or random).getrandbits(32)

    def next_name(self, task_name: str) -> str:
        n = self._counts.get(task_name, 0)
        self._counts[task_name] = n + 1
        width, size = 3, 4096
        while n >= size:
            n -= size
            width, size = width + 1, size * 16
        # x -> (a*x + b) mod 2^k is a bijection whenever a is odd.
        scrambled = (0x9E3779B1 * n + self._offset + hash(task_name)) % size
        return "%s-%0*x" % (task_name, width, scrambled)  # noqa: UP031 - a nested f-string spec costs twice this
