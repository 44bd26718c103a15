"""ListOps (LRA): nested list operations written as a bracketed token string, label = its value 0..9.

File format (LRA ``listops-1000/basic_{train,val,test}.tsv``): a header line ``Source\\tTarget``, then
one example per line. ``Source`` is the LRA serialization of a binary tree, e.g.
``( ( ( [MAX 2 ) 9 ) ] )`` for ``[MAX 2 9 ]`` = 9: every operator application is nested as
``( left right )``. Operators: ``[MIN [MAX [MED [SM`` (median rounded down by ``int``, sum modulo 10),
closed by ``]``; operands are digits 0-9 or nested applications.

Tokenization facts (checked against the LRA and S4 sources):

* LRA's own pipeline used ``tfds.deprecated.text.Tokenizer()``, which keeps alphanumeric runs only:
  ``[MAX`` becomes ``MAX`` and the closing ``]`` and the parentheses are dropped, so nesting is lost.
* The S4 code (``listops_tokenizer``) keeps ``]`` (as a token ``X``) and drops the parentheses, then
  splits on white space. That is the convention of the SSM line of work this project replicates, and
  the default here (``keep_parentheses=False``). With ``keep_parentheses=True`` ``(`` and ``)`` are
  tokens too (about 3x longer sequences).

Vocabulary (fixed, so the generated stand-in and the real files share ids): 0 padding, digits
0-9 -> 1-10, ``[MIN`` 11, ``[MAX`` 12, ``[MED`` 13, ``[SM`` 14, ``]`` 15, then ``(`` 16 and ``)`` 17.

The stand-in generator follows LRA's ``generate_tree`` (operator probability 0.25 at each depth below
``max_depth``, 2..``max_args`` arguments, length = operands + operators + closing brackets, kept
when ``min_length < length < max_length``, duplicates removed) with a seeded ``random.Random``
(LRA used Python's ``random`` too), and writes the same TSV format.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from contlaws.errors import DataFileError
from contlaws.io import write_text

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
VOCAB = ("<pad>", *[str(d) for d in range(10)], *OPERATORS, END, "(", ")")
TOKEN_ID = {tok: i for i, tok in enumerate(VOCAB)}
N_CLASSES = 10
OPERATOR_P = 0.25  # LRA VALUE_P: probability that a node below max_depth is an operator


def vocab_size(keep_parentheses: bool = False) -> int:
    return len(VOCAB) if keep_parentheses else len(VOCAB) - 2


def tokenize(source: str, keep_parentheses: bool = False) -> list[str]:
    """Whitespace tokens of an LRA Source string, parentheses dropped unless kept."""
    return [t for t in source.split() if keep_parentheses or t not in ("(", ")")]


def encode(tokens: list[str], where: str = "") -> np.ndarray:
    """Token strings -> ids (L,) int64; an unknown token raises DataFileError naming ``where``."""
    try:
        return np.array([TOKEN_ID[t] for t in tokens], dtype=np.int64)
    except KeyError as err:
        raise DataFileError(f"{where}: unknown ListOps token {err.args[0]!r}") from None


def evaluate(tokens: list[str]) -> int:
    """Value of a ListOps expression given as tokens (parentheses ignored)."""
    stack: list[list] = []
    value = None
    for tok in tokens:
        if tok in ("(", ")"):
            continue
        if tok in OPERATORS:
            stack.append([tok])
        elif tok == END:
            op, *args = stack.pop()
            value = _apply(op, args)
            if stack:
                stack[-1].append(value)
        else:
            if not stack:
                return int(tok)
            stack[-1].append(int(tok))
    if stack or value is None:
        raise ValueError("unbalanced ListOps expression")
    return value


def _apply(op: str, args: list[int]) -> int:
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[MED":
        return int(np.median(args))
    return sum(args) % 10  # [SM


def read_tsv(path: str | Path, keep_parentheses: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Read an LRA ListOps TSV.

    Returns:
        sequences: list of (L_i,) int64 token ids in file order; labels: (N,) int64 in 0..9.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: ListOps file not found")
    sequences, labels = [], []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        if header != ["Source", "Target"]:
            raise DataFileError(f"{path}: expected header 'Source<TAB>Target', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != 2:
                raise DataFileError(f"{path}:{line_no}: expected 2 tab-separated fields, got {len(row)}")
            sequences.append(encode(tokenize(row[0], keep_parentheses), where=f"{path}:{line_no}"))
            try:
                labels.append(int(row[1]))
            except ValueError:
                raise DataFileError(f"{path}:{line_no}: Target {row[1]!r} is not an integer") from None
    return sequences, np.array(labels, dtype=np.int64)


# ------------------------------------------------------------------------------------------------
# Stand-in generator (same grammar and file format as LRA)
# ------------------------------------------------------------------------------------------------
def generate_tree(rng: random.Random, depth: int, max_depth: int, max_args: int, budget: float = np.inf):
    """A random expression tree in LRA's nested-pair form; returns (tree, length).

    Generation stops early (returning ``(None, length)``) once ``length`` exceeds ``budget``: such a
    tree would be rejected anyway, and full trees of depth 10 can have millions of nodes.
    """
    if depth >= max_depth or rng.random() > OPERATOR_P:
        return rng.randrange(10), 1
    n_args = rng.randint(2, max_args)
    args, length = [], 2  # operator + closing bracket
    for _ in range(n_args):
        sub, sub_length = generate_tree(rng, depth + 1, max_depth, max_args, budget - length)
        length += sub_length
        if sub is None or length > budget:
            return None, length
        args.append(sub)
    op = rng.choice(OPERATORS)
    tree = (op, args[0])
    for arg in args[1:]:
        tree = (tree, arg)
    return (tree, END), length


def to_source(tree) -> str:
    """LRA serialization: every pair becomes ``( left right )``."""
    if isinstance(tree, (str, int)):
        return str(tree)
    return f"( {to_source(tree[0])} {to_source(tree[1])} )"


def generate_examples(
    n: int, seed: int, max_length: int, min_length: int | None = None, max_depth: int = 10, max_args: int = 10
) -> Iterator[tuple[str, int]]:
    """``n`` distinct (Source, Target) pairs with ``min_length < length < max_length`` (LRA rule)."""
    if min_length is None:
        min_length = max_length // 4  # LRA: 500 .. 2000
    if max_length - min_length < 3:
        raise ValueError(f"ListOps length window ({min_length}, {max_length}) is too narrow")
    rng = random.Random(seed)  # scalar draws: Python's Mersenne Twister is ~10x faster than numpy here
    seen: set[str] = set()
    while len(seen) < n:
        tree, length = generate_tree(rng, 1, max_depth, max_args, budget=max_length)
        if tree is None or not min_length < length < max_length:
            continue
        source = to_source(tree)
        if source in seen:
            continue
        seen.add(source)
        yield source, evaluate(source.split())


def write_tsv(path: str | Path, examples) -> None:
    """Write (Source, Target) pairs in the LRA TSV format: header, tab-separated, csv-module line ends."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t")  # default "\r\n" line ends, as LRA's writer
    writer.writerow(["Source", "Target"])
    writer.writerows(examples)
    write_text(path, buf.getvalue())


def generate_files(out_dir: str | Path, counts: dict[str, int], seed: int, max_length: int) -> None:
    """Write ``basic_{split}.tsv`` for each split; one seeded stream, so splits never share an example."""
    stream = generate_examples(sum(counts.values()), seed, max_length)
    for split, n in counts.items():
        write_tsv(Path(out_dir) / f"basic_{split}.tsv", [next(stream) for _ in range(n)])
