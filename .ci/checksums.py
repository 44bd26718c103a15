#!/usr/bin/env python3
"""Print 'sha256  path' for the deterministic outputs of a run (data and result tables).

Wall-clock measurements (the subsampling experiment's time columns) are inherently not
reproducible; files whose name contains 'timing' or 'wallclock' are excluded, as are CSV columns
whose names end in '_seconds' (dropped before hashing). Everything else must be byte-identical.
"""

import csv
import hashlib
import io
import sys
from pathlib import Path

run = sys.argv[1] if len(sys.argv) > 1 else "quick"
paths = sorted(Path(f"data/{run}").rglob("*.npz")) + sorted(Path(f"results/{run}").rglob("*.csv"))
for path in paths:
    if any(word in path.name for word in ("timing", "wallclock")):
        continue
    data = path.read_bytes()
    if path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(data.decode())))
        if rows:
            keep = [i for i, name in enumerate(rows[0]) if not name.endswith("_seconds")]
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows([[r[i] for i in keep if i < len(r)] for r in rows])
            data = buf.getvalue().encode()
    print(hashlib.sha256(data).hexdigest(), path)
