"""Benchmark data: download with resume/checksum (local HTTP server), format loaders on fixture files
written here in the real formats, stand-in generators, prepared task splits. No internet.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import stat
import struct
import tarfile
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tar_gz
from PIL import Image

from contlaws import commands
from contlaws.config import load_config
from contlaws.data import fetch
from contlaws.data.benchmarks import aan, cifar, common, digits, imdb, listops, pathfinder, registry, sources, tasks
from contlaws.errors import ConfigError, DataFileError, OutputFileError
from contlaws.io import load_npz

REPO = Path(__file__).resolve().parents[1]


def run_cli(*argv) -> int:
    """The `contlaws` entry point with only the bench commands registered (others may be absent)."""
    saved = commands.COMMAND_MODULES
    commands.COMMAND_MODULES = ("contlaws.commands.benchmarks",)
    try:
        return commands.main([str(a) for a in argv])
    finally:
        commands.COMMAND_MODULES = saved


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------------------------
# A local HTTP server with Range support (and knobs to misbehave)
# ------------------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        srv = self.server
        data = srv.files.get(self.path)
        srv.requests.append((self.path, self.headers.get("Range")))
        if data is None:
            self.send_error(404)
            return
        start, status = 0, 200
        header = self.headers.get("Range")
        if header and srv.honour_range:
            start = int(header.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut_after.popleft() if srv.cut_after else None
        self.wfile.write(body if cut is None else body[:cut])  # a cut = connection drops mid-body
        if cut is not None:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def http_server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files, server.requests, server.honour_range, server.cut_after = {}, [], True, deque()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    server.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ------------------------------------------------------------------------------------------------
# Download: resume, restart, checksum
# ------------------------------------------------------------------------------------------------
def test_download_resumes_a_truncated_part_file(http_server, tmp_path):
    data = np.random.default_rng(0).bytes(300_000)
    http_server.files["/a.tar.gz"] = data
    dest = tmp_path / "dl" / "a.tar.gz"
    dest.parent.mkdir()
    Path(str(dest) + ".part").write_bytes(data[:123_457])  # an earlier, interrupted download
    got = fetch.download(http_server.base + "/a.tar.gz", dest, md5=md5(data), progress=False)
    assert got == md5(data) and dest.read_bytes() == data
    assert http_server.requests == [("/a.tar.gz", "bytes=123457-")]  # only the rest was requested
    assert leftovers(dest.parent) == ["a.tar.gz"]


def test_download_dropped_connection_then_resume(http_server, tmp_path):
    data = np.random.default_rng(1).bytes(200_000)
    http_server.files["/b.bin"] = data
    http_server.cut_after.append(70_000)
    dest = tmp_path / "b.bin"
    with pytest.raises(DataFileError, match="resume"):
        fetch.download(http_server.base + "/b.bin", dest, md5=md5(data), progress=False)
    part = tmp_path / "b.bin.part"
    kept = part.stat().st_size
    assert not dest.exists() and 0 < kept < len(data)  # the prefix is kept
    fetch.download(http_server.base + "/b.bin", dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data and not part.exists()
    assert http_server.requests[-1] == ("/b.bin", f"bytes={kept}-")


def test_download_restarts_when_server_ignores_range(http_server, tmp_path):
    data = b"0123456789" * 5000
    http_server.files["/c"] = data
    http_server.honour_range = False
    dest = tmp_path / "c"
    Path(str(dest) + ".part").write_bytes(b"stale bytes that must not be kept")
    fetch.download(http_server.base + "/c", dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data


def test_complete_part_file_answered_416_is_verified(http_server, tmp_path):
    data = b"x" * 1000
    http_server.files["/d"] = data
    dest = tmp_path / "d"
    Path(str(dest) + ".part").write_bytes(data)
    assert fetch.download(http_server.base + "/d", dest, md5=md5(data), progress=False) == md5(data)
    assert dest.read_bytes() == data


def test_wrong_checksum_is_refused_and_leaves_nothing(http_server, tmp_path):
    archive = make_tar_gz({"aclImdb/train/pos/0_9.txt": b"good", "aclImdb/train/neg/1_1.txt": b"bad"})
    http_server.files["/aclImdb_v1.tar.gz"] = archive
    downloads, out = tmp_path / "downloads", tmp_path / "raw" / "imdb"
    status = run_cli("bench", "fetch", "imdb", "--url", http_server.base + "/aclImdb_v1.tar.gz",
                     "--archive", downloads / "aclImdb_v1.tar.gz", "--out", out, "--md5", "0" * 32, "--no-progress")
    assert status == 2
    assert leftovers(downloads) == [] and not out.exists() and leftovers(out.parent) == []
    with pytest.raises(DataFileError, match=r"checksum mismatch \(expected md5 0{32}, downloaded file has "):
        fetch.download(http_server.base + "/aclImdb_v1.tar.gz", downloads / "x.tar.gz", md5="0" * 32, progress=False)


def test_existing_archive_with_wrong_checksum_is_fetched_again(http_server, tmp_path):
    data = b"fresh" * 100
    http_server.files["/e"] = data
    dest = tmp_path / "e"
    dest.write_bytes(b"corrupted")
    fetch.download(http_server.base + "/e", dest, md5=md5(data), progress=False)
    assert dest.read_bytes() == data and len(http_server.requests) == 1
    fetch.download(http_server.base + "/e", dest, md5=md5(data), progress=False)  # present and valid: no request
    assert len(http_server.requests) == 1


def test_file_urls_are_rejected_and_local_paths_accepted(tmp_path):
    src = tmp_path / "mirror.bin"
    src.write_bytes(b"abc")
    with pytest.raises(DataFileError, match="plain path"):
        fetch.download(f"file://{src}", tmp_path / "out.bin")
    assert fetch.download(str(src), tmp_path / "out.bin", md5=md5(b"abc")) == md5(b"abc")


# ------------------------------------------------------------------------------------------------
# Unpacking
# ------------------------------------------------------------------------------------------------
def test_unpack_selects_members_skips_traversal_and_is_atomic(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar_gz({"top/keep/a.txt": b"A", "top/skip/b.txt": b"B", "../evil.txt": b"E"}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("replaced")

    def select(rel):
        return fetch.strip_to_anchor(rel, ("keep",))

    assert fetch.unpack_tar(archive, out, select, progress=False) == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["keep/a.txt"]
    assert not (tmp_path / "evil.txt").exists() and leftovers(tmp_path) == ["a.tar.gz", "out"]


def test_unpack_truncated_archive_names_it_and_keeps_old_output(tmp_path):
    data = make_tar_gz({f"keep/{i}.bin": np.random.default_rng(i).bytes(20_000) for i in range(5)})
    archive = tmp_path / "t.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("still here")
    with pytest.raises(DataFileError, match="t.tar.gz"):
        fetch.unpack_tar(archive, out, lambda rel: rel, progress=False)
    assert leftovers(out) == ["previous.txt"] and leftovers(tmp_path) == ["out", "t.tar.gz"]


def test_unpack_where_a_parent_is_a_file_is_one_line_naming_the_folder(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(make_tar_gz({"keep/a.txt": b"A"}))
    (tmp_path / "raw").write_text("a file where a folder belongs")
    out = tmp_path / "raw" / "lra"
    with pytest.raises(OutputFileError, match=r"raw/lra: cannot write the output file: a parent of it is a file") as err:
        fetch.unpack_tar(archive, out, lambda rel: rel, progress=False)
    assert "\n" not in str(err.value) and leftovers(tmp_path) == ["a.tar.gz", "raw"]


def test_unpacked_modes_follow_the_umask_not_the_archive(tmp_path):
    """The output folder was 0700 (tempfile.mkdtemp), which locks the group out on a shared cluster
    file system; members' own modes (setuid, exec, owner-only) must not carry over either."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        folder = tarfile.TarInfo("top/sub")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(folder)
        for name, mode in (("top/sub/run.sh", 0o4755), ("top/private.txt", 0o600)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = 3, mode
            tar.addfile(info, io.BytesIO(b"abc"))
    archive = tmp_path / "m.tar.gz"
    archive.write_bytes(buf.getvalue())
    for umask, dir_mode, file_mode in ((0o027, 0o750, 0o640), (0o002, 0o775, 0o664)):
        out = tmp_path / f"out{umask:o}"
        old = os.umask(umask)
        try:
            assert fetch.unpack_tar(archive, out, lambda rel: rel, progress=False) == 2
        finally:
            os.umask(old)
        for path in (out, out / "top", out / "top" / "sub"):
            assert stat.S_IMODE(path.stat().st_mode) == dir_mode, path
        for path in (out / "top" / "sub" / "run.sh", out / "top" / "private.txt"):
            assert stat.S_IMODE(path.stat().st_mode) == file_mode, path


def test_fetch_onto_an_existing_file_refuses_before_downloading(tmp_path, monkeypatch):
    """`bench fetch --out FILE` moved the file aside to .FILE.old-PID and blamed the archive ("corrupt or
    truncated?"); now: one line naming the file, exit 2, the file untouched, nothing downloaded."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "cifar-10-python.tar.gz").write_bytes(make_tar_gz({"cifar-10-batches-py/test_batch": b"x"}))
    digest = fetch.md5_file(mirror / "cifar-10-python.tar.gz")
    monkeypatch.setenv(sources.MIRROR_ENV, str(mirror))
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("precious")
    assert run_cli("bench", "fetch", "cifar10", "--out", "notes.txt", "--md5", digest, "--no-progress") == 2
    assert Path("notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "notes.txt"]  # no .old copy, no download
    with pytest.raises(DataFileError, match=r"notes.txt: exists and is not a folder; refusing to replace it"):
        sources.fetch("cifar10", "notes.txt", md5=digest, progress=False)
    with pytest.raises(DataFileError, match=r"notes.txt: exists and is not a folder"):
        fetch.unpack_tar(mirror / "cifar-10-python.tar.gz", "notes.txt", lambda rel: rel, progress=False)
    assert Path("notes.txt").read_text() == "precious"
    # A folder from an earlier fetch is still replaced as before.
    assert run_cli("bench", "fetch", "cifar10", "--out", "raw", "--md5", digest, "--no-progress") == 0
    assert run_cli("bench", "fetch", "cifar10", "--out", "raw", "--md5", digest, "--no-progress") == 0
    assert sorted(p.name for p in Path("raw").iterdir()) == ["FETCHED.json", "test_batch"]


# ------------------------------------------------------------------------------------------------
# Fixture files in the real formats (written here, independently of the package's writers)
# ------------------------------------------------------------------------------------------------
LISTOPS_ROWS = [  # LRA serialization; values computed by hand
    ("( ( ( [MAX 2 ) 9 ) ] )", 9),
    ("( ( ( ( [SM 5 ) 7 ) ( ( ( [MIN 3 ) 8 ) ] ) ) ] )", 5),  # (5 + 7 + 3) % 10
    ("( ( ( ( [MED 1 ) 4 ) 6 ) ] )", 4),
]


def write_listops_fixture(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        lines = "".join(f"{s}\t{t}\r\n" for s, t in LISTOPS_ROWS)
        (directory / f"basic_{split}.tsv").write_bytes(("Source\tTarget\r\n" + lines).encode())


AAN_LINES = [
    b'1\tacl-1\tacl-2\tThe "first" paper\tcites the second\n',
    b"0.0\tacl-3\tacl-4\tno\tlink at all, \xc3\xa9t\xc3\xa9\n",
]


def write_aan_fixture(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("train", "eval", "test"):
        (directory / f"new_aan_pairs.{name}.tsv").write_bytes(b"".join(AAN_LINES))


def write_pathfinder_fixture(root: Path, size: int, n_per_file: int = 5, n_files: int = 3, seed: int = 0):
    """LRA layout with text metadata (extra fields), numeric file order, one empty image."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in (0, 2, 10)[:n_files]:  # stems sort numerically: 0, 2, 10
        lines = []
        for j in range(n_per_file):
            image = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
            label = int(rng.integers(2))
            path = root / "curv_contour_length_14" / "imgs" / str(k) / f"sample_{j}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
            lines.append(f"imgs/{k} sample_{j}.png {j} {label} 14 2 1.5\n")
            images.append(image)
            labels.append(label)
        empty = root / "curv_contour_length_14" / "imgs" / str(k) / "sample_empty.png"
        empty.write_bytes(b"")
        lines.append(f"imgs/{k} sample_empty.png 99 1 14 2 1.5\n")
        meta = root / "curv_contour_length_14" / "metadata" / f"{k}.npy"
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text("".join(lines))
    return np.stack(images), np.array(labels)


def write_imdb_fixture(root: Path, n_train: int = 10) -> dict[str, list[tuple[bytes, int]]]:
    """``n_train`` reviews per class in train, 2 per class in test; ids not in name order (10 < 9 as text)."""
    expected = {}
    for split, n in (("train", n_train), ("test", 2)):
        items = []
        for folder in ("neg", "pos"):
            for i in range(n):
                rid = 7 + 3 * i  # 7, 10, 13, ...: numeric order differs from text order
                text = f"{folder} review {rid}<br />{'é' * (i % 3)}".encode()
                path = root / split / folder / f"{rid}_{1 if folder == 'neg' else 9}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(text)
                items.append((text, int(folder == "pos")))
        expected[split] = items  # documented order: neg then pos, each by numeric id
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_bytes(b"unlabelled")
    return expected


def cifar_batch(n: int, offset: int) -> dict:
    r, c = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    planes = []
    for i in range(n):
        red = (r * 32 + c + i + offset) % 256
        green = 255 - red
        blue = (7 * r + c + 3 * i) % 256
        planes.append(np.concatenate([red.ravel(), green.ravel(), blue.ravel()]))
    return {b"batch_label": b"x", b"labels": [(i + offset) % 10 for i in range(n)],
            b"data": np.array(planes, dtype=np.uint8)}


def write_cifar_fixture(root: Path, n: int = 4) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([*cifar.TRAIN_FILES, "test_batch"]):
        with open(root / name, "wb") as f:
            pickle.dump(cifar_batch(n, offset=10 * i), f, protocol=2)


# ------------------------------------------------------------------------------------------------
# Loaders
# ------------------------------------------------------------------------------------------------
def test_listops_loader_tokens_labels_and_vocabulary(tmp_path):
    write_listops_fixture(tmp_path)
    seqs, labels = listops.read_tsv(tmp_path / "basic_train.tsv")
    assert labels.tolist() == [9, 5, 4]
    assert seqs[0].tolist() == [12, 3, 10, 15]  # [MAX 2 9 ]  (digits d -> d + 1, "]" -> 15)
    assert seqs[1].tolist() == [14, 6, 8, 11, 4, 9, 15, 15]
    with_parens, _ = listops.read_tsv(tmp_path / "basic_train.tsv", keep_parentheses=True)
    assert with_parens[0].tolist() == [16, 16, 16, 12, 3, 17, 10, 17, 15, 17]
    assert listops.vocab_size() == 16 and listops.vocab_size(True) == 18
    for source, target in LISTOPS_ROWS:
        assert listops.evaluate(source.split()) == target


def test_listops_loader_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "basic_train.tsv"
    bad.write_text("Source\tTarget\n( ( [MAX 2 ) ] )\t2\n( ( [FOO 2 ) ] )\t2\n")
    with pytest.raises(DataFileError, match=r"basic_train.tsv:3: unknown ListOps token '\[FOO'"):
        listops.read_tsv(bad)
    bad.write_text("Text\tLabel\n")
    with pytest.raises(DataFileError, match="header"):
        listops.read_tsv(bad)


def _value(tokens: list[str]) -> int:
    """Independent recursive evaluator of a parenthesis-free ListOps token list."""
    def parse(i):
        if tokens[i] not in listops.OPERATORS:
            return int(tokens[i]), i + 1
        op, i, args = tokens[i], i + 1, []
        while tokens[i] != "]":
            v, i = parse(i)
            args.append(v)
        fn = {"[MIN": min, "[MAX": max, "[MED": lambda a: int(np.median(a)), "[SM": lambda a: sum(a) % 10}[op]
        return fn(args), i + 1

    value, end = parse(0)
    assert end == len(tokens)
    return value


def test_listops_generator_matches_lra_format_grammar_and_labels(tmp_path):
    tree = ((("[MAX", 2), 9), "]")
    assert listops.to_source(tree) == "( ( ( [MAX 2 ) 9 ) ] )"  # LRA to_string
    counts = {"train": 30, "val": 10, "test": 10}
    listops.generate_files(tmp_path / "a", counts, seed=3, max_length=80)
    listops.generate_files(tmp_path / "b", counts, seed=3, max_length=80)
    sources_seen = []
    for split, n in counts.items():
        raw = (tmp_path / "a" / f"basic_{split}.tsv").read_bytes()
        assert raw == (tmp_path / "b" / f"basic_{split}.tsv").read_bytes()  # deterministic bytes
        assert raw.startswith(b"Source\tTarget\r\n")
        seqs, labels = listops.read_tsv(tmp_path / "a" / f"basic_{split}.tsv")  # the same loader
        rows = raw.decode().splitlines()[1:]
        assert len(seqs) == n == len(rows)
        for row, seq, label in zip(rows, seqs, labels):
            source = row.split("\t")[0]
            tokens = listops.tokenize(source)
            assert source.count("(") == source.count(")")
            assert 80 // 4 < len(seq) < 80 and tokens[0] in listops.OPERATORS
            assert _value(tokens) == label
            sources_seen.append(source)
    assert len(set(sources_seen)) == len(sources_seen)  # no example shared between splits
    other = list(listops.generate_examples(5, seed=4, max_length=80))
    assert [s for s, _ in other] != sources_seen[:5]


def test_aan_loader_byte_tokens_quotes_and_labels(tmp_path):
    write_aan_fixture(tmp_path)
    first, second, labels = aan.read_tsv(tmp_path / "new_aan_pairs.train.tsv")
    assert labels.tolist() == [1, 0]
    assert first[0].tolist() == [b + 1 for b in b'The "first" paper']  # quotes are plain bytes
    assert second[1].tolist() == [b + 1 for b in "link at all, été".encode()]
    short, _, _ = aan.read_tsv(tmp_path / "new_aan_pairs.train.tsv", max_length=4)
    assert short[0].tolist() == [b + 1 for b in b"The "]
    (tmp_path / "bad.tsv").write_bytes(b"1\tonly\tthree\n")
    with pytest.raises(DataFileError, match=r"bad.tsv:1: expected 5"):
        aan.read_tsv(tmp_path / "bad.tsv")


def test_pathfinder_loader_order_pixels_and_skips(tmp_path, caplog):
    root = tmp_path / "pathfinder32"
    images, labels = write_pathfinder_fixture(root, 32)
    x, y = pathfinder.read_folder(root, progress=False)
    assert x.shape == (15, 1024, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(y, labels)
    r, c = 5, 17
    np.testing.assert_allclose(x[:, r * 32 + c, 0], images[:, r, c] / 255.0, rtol=1e-6)  # row-major
    assert "skipped 3 empty images" in caplog.text
    # the known empty image of the release is skipped without a warning
    base = root / "curv_baseline"
    (base / "imgs" / "0").mkdir(parents=True)
    (base / "imgs" / "0" / "sample_172.png").write_bytes(b"")
    Image.fromarray(images[0]).save(base / "imgs" / "0" / "sample_1.png")
    (base / "metadata").mkdir()
    (base / "metadata" / "0.npy").write_text("imgs/0 sample_172.png 172 1\nimgs/0 sample_1.png 1 0\n")
    caplog.clear()
    samples = pathfinder.read_metadata(root, "curv_baseline")
    assert [p.name for p, _ in samples] == ["sample_1.png"] and "skipped" not in caplog.text


def test_imdb_loader_order_and_bytes(tmp_path):
    expected = write_imdb_fixture(tmp_path / "aclImdb")
    for split in ("train", "test"):
        seqs, labels = imdb.read_split(tmp_path, split)  # finds the aclImdb/ folder itself
        assert labels.tolist() == [lab for _, lab in expected[split]]
        assert [s.tolist() for s in seqs] == [[b + 1 for b in text] for text, _ in expected[split]]
    seqs, _ = imdb.read_split(tmp_path / "aclImdb", "train", max_length=3)
    assert max(len(s) for s in seqs) == 3


def py2_cifar_batch(data: bytes, n: int, labels: list[int]) -> bytes:
    """A batch pickled the way the CIFAR-10 python release was (Python 2 cPickle, protocol 2): str keys
    and buffers (bytes with encoding="bytes"), numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype."""
    def text(b: bytes) -> bytes:  # SHORT_BINSTRING
        return b"U" + bytes([len(b)]) + b

    out = b"\x80\x02}q\x00(" + text(b"data") + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
    out += text(b"b") + b"\x87R(K\x01M" + struct.pack("<H", n) + b"M" + struct.pack("<H", 3072) + b"\x86"
    out += b"cnumpy\ndtype\n" + text(b"u1") + b"K\x00K\x01\x87R(K\x03" + text(b"|")
    out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T" + struct.pack("<I", len(data)) + data + b"tb"
    out += text(b"labels") + b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return out + text(b"batch_label") + text(b"testing batch 1 of 1") + b"u."


def test_cifar_reads_the_python2_release_format_without_plain_pickle(tmp_path):
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8)
    path = tmp_path / "test_batch"
    path.write_bytes(py2_cifar_batch(data.tobytes(), 2, [3, 7]))
    images, labels = cifar.read_batch(path)
    assert labels.tolist() == [3, 7] and images.shape == (2, 32, 32, 3)
    assert np.array_equal(images, data.reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))


class _CreatesAFile:
    """A pickle payload: unpickling it calls open(marker, "w"), i.e. runs code named by the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("payload", ["open", "object array", "persistent id"])
def test_cifar_batch_cannot_run_code(tmp_path, small_config, payload):
    """A crafted batch in a --raw folder ran its payload with plain pickle.load; now it is refused
    before anything it names is called, with a message naming the batch."""
    raw = tmp_path / "raw"
    write_cifar_fixture(raw, n=2)
    marker = tmp_path / "PWNED"
    if payload == "open":
        batch = pickle.dumps({b"data": _CreatesAFile(marker), b"labels": [0]}, protocol=2)
    elif payload == "object array":  # an object array unpickles its items: refused at the dtype
        batch = pickle.dumps({b"data": np.array([_CreatesAFile(marker)], dtype=object), b"labels": [0]}, protocol=2)
    else:
        class Persistent(pickle.Pickler):
            def persistent_id(self, obj):
                return "x" if isinstance(obj, list) else None

        buf = io.BytesIO()
        Persistent(buf, protocol=2).dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
        batch = buf.getvalue()
    (raw / "test_batch").write_bytes(batch)
    with pytest.raises(DataFileError, match=r"test_batch: not a CIFAR-10 python batch \(UnpicklingError: refusing"):
        cifar.read_split(raw, "test")
    assert not marker.exists()
    _, cfg_path = small_config
    out = tmp_path / "c.npz"
    assert run_cli("bench", "prepare", "cifar10", "--config", cfg_path, "--split", "test", "--raw", raw, "--out", out) == 2
    assert not marker.exists() and not out.exists()


def test_cifar_loader_row_major_rgb_and_gray(tmp_path):
    write_cifar_fixture(tmp_path / "cifar-10-batches-py", n=4)
    rgb, labels = cifar.read_split(tmp_path, "train", grayscale=False)
    assert rgb.shape == (20, 1024, 3) and labels.tolist() == [(i % 4 + 10 * (i // 4)) % 10 for i in range(20)]
    i, r, c = 6, 3, 29  # batch 2, image 2
    red = (r * 32 + c + 2 + 10) % 256
    np.testing.assert_allclose(rgb[i, r * 32 + c], np.array([red, 255 - red, (7 * r + c + 6) % 256]) / 255, rtol=1e-6)
    gray, _ = cifar.read_split(tmp_path, "test", grayscale=True)
    test_rgb, _ = cifar.read_split(tmp_path, "test", grayscale=False)
    np.testing.assert_allclose(gray[..., 0], test_rgb @ np.array([0.2989, 0.5870, 0.1140]), rtol=1e-5)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataFileError, match="test_batch"):
        cifar.read_split(tmp_path, "test")


def test_bilinear_resize_is_exact_on_affine_images_and_keeps_corners():
    rows, cols = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    affine = (0.3 + 0.7 * rows - 0.2 * cols)[None]  # (1 8 8)
    up = common.bilinear_resize(affine, 16)
    pos = np.linspace(0, 7, 16)
    want = 0.3 + 0.7 * pos[:, None] - 0.2 * pos[None, :]
    np.testing.assert_allclose(up[0], want, atol=1e-12)
    image = np.random.default_rng(0).random((2, 8, 8))
    up = common.bilinear_resize(image, 13)
    np.testing.assert_allclose(up[:, [0, 0, -1, -1], [0, -1, 0, -1]], image[:, [0, 0, -1, -1], [0, -1, 0, -1]])


def test_digits_as_row_major_sequences():
    from sklearn.datasets import load_digits

    x8, y = digits.load(8)
    ref = load_digits()
    assert x8.shape == (1797, 64, 1) and (y == ref.target).all()
    np.testing.assert_allclose(x8[:, 3 * 8 + 5, 0], ref.images[:, 3, 5] / 16, rtol=1e-6)
    x16, _ = digits.load(16)
    assert x16.shape == (1797, 256, 1) and 0 <= x16.min() and x16.max() <= 1
    np.testing.assert_allclose(x16[:, 0, 0], x8[:, 0, 0])  # corner kept


# ------------------------------------------------------------------------------------------------
# Pathfinder stand-in
# ------------------------------------------------------------------------------------------------
def _connected(image: np.ndarray, a, b) -> bool:
    """Independent reference: breadth-first search over inked pixels, 8-neighbourhood."""
    n = image.shape[0]
    start, goal = tuple(np.rint(a[::-1]).astype(int)), tuple(np.rint(b[::-1]).astype(int))
    if not image[start]:
        return False
    queue, seen = deque([start]), {start}
    while queue:
        y, x = queue.popleft()
        if (y, x) == goal:
            return True
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                q = (y + dy, x + dx)
                if 0 <= q[0] < n and 0 <= q[1] < n and q not in seen and image[q]:
                    seen.add(q)
                    queue.append(q)
    return False


@pytest.mark.parametrize("size", [16, 32])
def test_pathfinder_standin_labels_match_connectivity(size):
    rng = np.random.default_rng(size)
    for i in range(30):
        label = i % 2
        image, dots = pathfinder.generate_image(rng, size, label)
        assert image.shape == (size, size) and image.dtype == np.uint8
        assert _connected(image > 0, *dots) == bool(label)
        for d in dots:  # the dots are drawn solid
            assert image[tuple(np.rint(d[::-1]).astype(int))] > 127


def test_pathfinder_standin_files_are_deterministic_and_readable(tmp_path):
    pathfinder.generate_files(tmp_path / "a", 30, seed=5, size=16, progress=False)
    pathfinder.generate_files(tmp_path / "b", 30, seed=5, size=16, progress=False)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 31  # 30 images + 1 metadata file
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)
    meta = (tmp_path / "a" / "synthetic" / "metadata" / "0.npy").read_text().splitlines()
    assert meta[3].split()[:3] == ["imgs/0", "sample_3.png", "3"]
    x, y = pathfinder.read_folder(tmp_path / "a", difficulty="synthetic", progress=False)  # the same loader
    assert x.shape == (30, 256, 1) and y.sum() == 15
    rng = np.random.default_rng(5)
    labels = rng.permutation(30) % 2
    first, _ = pathfinder.generate_image(rng, 16, int(labels[0]))
    np.testing.assert_allclose(x[0, :, 0], first.ravel() / 255.0, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Prepared tasks
# ------------------------------------------------------------------------------------------------
@pytest.fixture()
def small_config(tmp_path):
    cfg = load_config(REPO / "config" / "quick.yaml", overrides={
        "run_name": "t", "subsampling": {"n_train": 24, "n_val": 8, "n_test": 8, "image_size": 16,
                                         "listops_max_length": 64}})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return cfg, path


REQUIRED_META = {"kind", "task", "input_kind", "n_classes", "benchmark", "continuity", "provenance", "split"}


def check_split(path: Path, task: str, split: str, n: int | None = None):
    arrays, meta = load_npz(path)
    t = tasks.TASKS[task]
    assert REQUIRED_META <= set(meta) and meta["kind"] == meta["task"] == "classification"
    assert (meta["benchmark"], meta["split"], meta["input_kind"]) == (task, split, t.input_kind)
    assert meta["continuity"] == ("continuous" if t.input_kind == "continuous" else "discrete")
    x, y = arrays["x"], arrays["y"]
    assert y.dtype == np.int64 and y.shape == (len(x),) and 0 <= y.min() and y.max() < meta["n_classes"]
    if t.input_kind == "tokens":
        assert x.dtype == np.int64 and x.ndim == 2 and 0 <= x.min() and x.max() < meta["vocab_size"]
    else:
        assert x.dtype == np.float32 and x.ndim == 3 and 0 <= x.min() and x.max() <= 1
    if n is not None:
        assert len(x) == n
    return arrays, meta


def test_builtin_tasks_prepare_deterministically(tmp_path, small_config, monkeypatch):
    cfg, cfg_path = small_config
    monkeypatch.chdir(tmp_path)
    for task in registry.GENERATED_TASKS:
        assert run_cli("bench", "generate", task, "--config", cfg_path, "--out", tasks.standin_raw_dir(cfg, task)) == 0
    for task in registry.BUILTIN_TASKS:
        for split, n in (("train", 24), ("val", 8), ("test", 8)):
            out = tmp_path / "prep" / f"{task}_{split}.npz"
            assert run_cli("bench", "prepare", task, "--config", cfg_path, "--split", split, "--out", out) == 0
            check_split(out, task, split, n)
        again = tmp_path / "again.npz"
        assert run_cli("bench", "prepare", task, "--config", cfg_path, "--split", "val", "--out", again) == 0
        assert again.read_bytes() == (tmp_path / "prep" / f"{task}_val.npz").read_bytes()
    arrays, meta = load_npz(tmp_path / "prep" / "listops_synth_train.npz")
    assert arrays["x"].shape == (24, 64) and meta["vocab_size"] == 16
    assert (arrays["lengths"] == (arrays["x"] > 0).sum(1)).all()
    from contlaws.data.sets import load_split  # the training side reads kind "classification"

    ds = load_split(tmp_path / "prep" / "listops_synth_train.npz")
    assert (ds.input_kind, ds.d_input, ds.d_output, ds.length) == ("tokens", 16, 10, 64)
    ds = load_split(tmp_path / "prep" / "pathfinder_synth_test.npz")
    assert (ds.input_kind, ds.d_input, ds.d_output, ds.length) == ("continuous", 1, 2, 256)
    digit_sets = [load_npz(tmp_path / "prep" / f"digits_{s}.npz")[0]["x"] for s in ("train", "val", "test")]
    rows = {row.tobytes() for part in digit_sets for row in part}
    assert len(rows) == 40  # splits are disjoint


def test_real_tasks_prepare_from_fixture_raw_folders(tmp_path, small_config):
    cfg, _ = small_config
    raw = tmp_path / "raw"
    write_listops_fixture(raw / "lra" / "listops-1000")
    write_aan_fixture(raw / "lra" / "tsv_data")
    write_pathfinder_fixture(raw / "lra" / "pathfinder32", 32, n_per_file=10)
    write_pathfinder_fixture(raw / "lra" / "pathfinder128", 128, n_per_file=4, n_files=3)
    write_imdb_fixture(raw / "imdb")
    write_cifar_fixture(raw / "cifar10", n=4)

    def prep(task, split):
        arrays, meta = tasks.prepare(task, cfg, split, raw_dir=tasks.real_raw_dir(task, raw))
        path = tmp_path / f"{task}_{split}.npz"
        from contlaws.io import save_npz

        save_npz(path, arrays, meta)
        return check_split(path, task, split)

    arrays, meta = prep("listops", "test")
    assert arrays["x"].shape == (3, 2000) and arrays["x"][0, :5].tolist() == [12, 3, 10, 15, 0]
    arrays, meta = prep("aan", "val")
    assert arrays["x"].shape == (2, 8000) and meta["pair_length"] == 4000
    assert arrays["x"][1, 4000:4004].tolist() == [b + 1 for b in b"link"] and arrays["lengths"][0].tolist() == [17, 16]
    sizes = {s: prep("pathfinder32", s)[0]["x"].shape for s in tasks.SPLITS}
    assert sizes == {"train": (24, 1024, 1), "val": (3, 1024, 1), "test": (3, 1024, 1)}  # 80/10/10 of 30
    assert prep("pathx", "train")[0]["x"].shape == (10, 16384, 1)
    full = tasks.prepare("pathfinder32", cfg, "train", raw_dir=raw / "lra" / "pathfinder32")[0]
    limited = tasks.prepare("pathfinder32", cfg, "train", raw_dir=raw / "lra" / "pathfinder32", limit=5)[0]
    keep = tasks.limit_indices(24, 5, cfg["seed"], "train")  # the limit is applied before decoding images
    assert len(keep) == 5 and np.array_equal(limited["x"], full["x"][keep])
    assert np.array_equal(tasks.prepare("cifar10", cfg, "test", raw_dir=raw / "cifar10", limit=3)[0]["y"],
                          tasks.prepare("cifar10", cfg, "test", raw_dir=raw / "cifar10")[0]["y"][
                              tasks.limit_indices(4, 3, cfg["seed"], "test")])
    imdb_train, imdb_val = prep("imdb", "train")[0], prep("imdb", "val")[0]
    assert len(imdb_train["y"]) == 18 and len(imdb_val["y"]) == 2  # val: seeded 10% of train
    train_rows = {row.tobytes() for row in imdb_train["x"]}
    assert not any(row.tobytes() in train_rows for row in imdb_val["x"])
    assert prep("imdb", "test")[0]["y"].tolist() == [0, 0, 1, 1]
    cifar_train, cifar_val = prep("cifar10", "train")[0], prep("cifar10", "val")[0]
    assert cifar_train["x"].shape == (18, 1024, 1) and cifar_val["x"].shape == (2, 1024, 1)  # LRA: last 10% is val


def test_missing_raw_folder_says_how_to_fetch(tmp_path, small_config, monkeypatch):
    cfg, cfg_path = small_config
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataFileError, match=r"dvc pull fetch_lra.*dvc repro fetch_lra"):
        tasks.prepare("pathx", cfg, "train")
    assert run_cli("bench", "prepare", "imdb", "--config", cfg_path, "--split", "test", "--out", "x.npz") == 2
    assert not Path("x.npz").exists()
    pathfinder.generate_files(tmp_path / "few", 10, seed=0, size=16, progress=False)
    with pytest.raises(DataFileError, match="few: split sizes"):
        tasks.prepare("pathfinder_synth", cfg, "train", raw_dir=tmp_path / "few")  # config asks for 40
    as_e5_task = {**cfg["subsampling"], "tasks": ["digits"], "n_train": 5000}
    with pytest.raises(ConfigError, match="digits has 1797 images"):
        tasks.prepare("digits", {**cfg, "subsampling": as_e5_task}, "train")
    # the paper's E5 counts (4000/500/500) with digits only scored for task continuity: all 1797, 80/10/10
    paper_counts = {**cfg["subsampling"], "tasks": ["listops"], "n_train": 4000, "n_val": 500, "n_test": 500}
    splits = [tasks.prepare("digits", {**cfg, "subsampling": paper_counts}, s)[0]["y"] for s in ("train", "val", "test")]
    assert [len(y) for y in splits] == [1439, 179, 179] and sum(map(len, splits)) == 1797


def test_fetch_cli_end_to_end_with_local_server(http_server, tmp_path, small_config, monkeypatch):
    """imdb and an LRA-shaped archive through `contlaws bench fetch`, then prepared."""
    cfg, _ = small_config
    monkeypatch.chdir(tmp_path)
    reviews = {"aclImdb/train/neg/0_1.txt": b"bad", "aclImdb/train/pos/1_9.txt": b"good",
               "aclImdb/test/neg/2_2.txt": b"poor", "aclImdb/test/pos/3_8.txt": b"fine",
               "aclImdb/train/unsup/4_0.txt": b"?", "aclImdb/imdb.vocab": b"the\n"}
    imdb_archive = make_tar_gz(reviews)
    http_server.files["/aclImdb_v1.tar.gz"] = imdb_archive
    out = Path("data/benchmarks/raw/imdb")
    assert run_cli("bench", "fetch", "imdb", "--url", http_server.base + "/aclImdb_v1.tar.gz",
                   "--md5", md5(imdb_archive), "--out", out, "--no-progress") == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["FETCHED.json", "test/neg/2_2.txt", "test/pos/3_8.txt", "train/neg/0_1.txt", "train/pos/1_9.txt"]
    assert json.loads((out / "FETCHED.json").read_text()) == {"archive": "aclImdb_v1.tar.gz", "md5": md5(imdb_archive),
                                                              "source": "imdb"}
    arrays, _ = tasks.prepare("imdb", cfg, "test")  # default raw folder data/benchmarks/raw/imdb
    assert arrays["y"].tolist() == [0, 1] and arrays["x"][0, :4].tolist() == [b + 1 for b in b"poor"]

    # LRA: no published md5; with one pinned in dvc.lock a different archive is refused
    listops_tsv = b"Source\tTarget\r\n( ( ( [MAX 2 ) 9 ) ] )\t9\r\n"
    lra = make_tar_gz({f"lra_release/listops-1000/basic_{s}.tsv": listops_tsv for s in ("train", "val", "test")}
                      | {"lra_release/listops-1000/extra_train.tsv": b"x", "lra_release/pathfinder64/a.png": b"x"})
    http_server.files["/lra_release.gz"] = lra
    monkeypatch.setenv(sources.MIRROR_ENV, http_server.base)
    assert run_cli("bench", "fetch", "lra", "--out", "data/benchmarks/raw/lra", "--no-progress") == 0
    assert sorted(p.name for p in Path("data/benchmarks/raw/lra/listops-1000").iterdir()) == [
        "basic_test.tsv", "basic_train.tsv", "basic_val.tsv"]
    assert not Path("data/benchmarks/raw/lra/pathfinder64").exists()
    assert tasks.prepare("listops", cfg, "val")[0]["y"].tolist() == [9]
    Path("dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  fetch_lra:\n    cmd: x\n    outs:\n"
        f"    - path: data/benchmarks/downloads/lra_release.gz\n      hash: md5\n      md5: {md5(lra)}\n")
    assert fetch.pinned_md5("dvc.lock", sources.SOURCES["lra"].archive) == md5(lra)
    Path(sources.SOURCES["lra"].archive).unlink()
    http_server.files["/lra_release.gz"] = make_tar_gz({"lra_release/listops-1000/basic_train.tsv": b"changed"})
    assert run_cli("bench", "fetch", "lra", "--out", "data/benchmarks/raw/lra", "--no-progress") == 2
    assert tasks.prepare("listops", cfg, "val")[0]["y"].tolist() == [9]  # old output untouched


def test_real_cifar_fetch_from_a_local_mirror_folder(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_cifar_fixture(tmp_path / "src" / "cifar-10-batches-py", n=2)
    src = tmp_path / "src" / "cifar-10-batches-py"
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in src.iterdir()}
    mirror.mkdir()
    (mirror / "cifar-10-python.tar.gz").write_bytes(make_tar_gz(members | {"cifar-10-batches-py/readme.html": b"x"}))
    monkeypatch.setenv(sources.MIRROR_ENV, str(mirror))
    monkeypatch.chdir(tmp_path)
    digest = fetch.md5_file(mirror / "cifar-10-python.tar.gz")
    sources.fetch("cifar10", "raw/cifar10", md5=digest, progress=False)
    names = sorted(p.name for p in Path("raw/cifar10").iterdir())
    assert names == sorted([*cifar.TRAIN_FILES, "test_batch", "FETCHED.json"])  # readme.html not unpacked
    x, _ = cifar.read_split("raw/cifar10", "train")
    assert x.shape == (10, 1024, 1)
