"""Benchmark data (spec "Benchmarks", E5): real LRA/IMDB/CIFAR-10 formats and offline stand-ins.

Modules:

* :mod:`.sources` — download URLs, checksums and what is unpacked (``contlaws bench fetch``, DVC stages);
* format loaders — :mod:`.listops` (LRA TSV), :mod:`.aan` (LRA retrieval TSV), :mod:`.pathfinder`
  (LRA image folders + text metadata), :mod:`.imdb` (review folders), :mod:`.cifar` (python pickles),
  :mod:`.digits` (scikit-learn, no download);
* stand-ins written in the real formats — :func:`.listops.generate_files`, :func:`.pathfinder.generate_files`;
* :mod:`.tasks` — every task as a prepared classification split (``contlaws bench prepare``).

See docs/benchmarks.md.
"""
