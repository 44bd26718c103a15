"""contlaws: a reproducible replication of *Continuity Laws for Sequential Models*.

Yu, Lyu, Erichson, arXiv:2605.08539. See README.md for the pipeline and docs/ for the decisions.
"""

__version__ = "0.1.0"
