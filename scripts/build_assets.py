"""Rebuild the embedded corpus and tokenizer files under lime_lens/assets/data/ from the registries.

    python scripts/build_assets.py            # downloads both sources (Debian + PyPI)
    python scripts/build_assets.py --deb r-cran-janeaustenr_1.0.0-1_all.deb --whisper-sdist \
        openai-whisper-20230124.tar.gz        # from already-downloaded files

Sources:
- Debian bookworm ``r-cran-janeaustenr`` 1.0.0-1 (``apt-get download``): an R lazy-load DB read
  in pure Python by ``scripts/rdata.py`` (no R needed), split by ``lime_lens.assets.corpus``.
- PyPI ``openai-whisper==20230124`` sdist: ``whisper/assets/gpt2/`` holds GPT-2's vocab.json and
  merges.txt. Its setup.py imports pkg_resources, so it is downloaded from a throwaway venv with
  ``setuptools<70`` and ``--no-build-isolation``.
- npm ``d3@6.7.0`` (``npm pack``): ``dist/d3.min.js``, the d3 v6 that SAEDashboard's pages ask
  for (``d3.v6.min.js``), and PyPI ``plotly`` (the installed version's wheel): the
  ``plotly.min.js`` it ships in ``package_data`` (used in place, from the installed package). d3 and
  both licences go to ``saelens_hierarchical/ecosystem/assets/`` with a PROVENANCE.json
  (versions, licences, sha256 of sources and outputs), so SAEDashboard pages render offline.
  ``--web-only`` rebuilds just these.
Outputs are byte-for-byte deterministic (gzip mtime 0, single-threaded BPE training).
The default model is rebuilt separately by ``scripts/train_default_model.py``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tokenizers' trainer: one thread, one result

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lime_lens.assets.corpus import NOVELS, split_novels  # noqa: E402
from lime_lens.assets.paths import BPE_TOKENIZER_DIR, CORPUS_DIR, DATA_DIR, GPT2_TOKENIZER_DIR  # noqa: E402
from lime_lens.assets.tokenizer import train_bpe_tokenizer  # noqa: E402
from scripts.rdata import unserialize_lazy_load_members  # noqa: E402

DEB_NAME, DEB_VERSION = "r-cran-janeaustenr", "1.0.0-1"
WHISPER = "openai-whisper==20230124"
RDATA = "usr/lib/R/site-library/janeaustenr/data/Rdata"
D3 = ("d3", "6.7.0", "BSD-3-Clause")
WEB_DIR = REPO / "saelens_hierarchical" / "ecosystem" / "assets"
GPT2_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def deb_data_members(deb: Path) -> dict[str, bytes]:
    """Files of a .deb (an ``ar`` archive whose ``data.tar.*`` member holds the payload)."""
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError(f"{deb}: not a Debian package (no ar header)")
    pos, out = 8, {}
    while pos < len(blob):
        name, size = (
            blob[pos : pos + 16].decode().strip().rstrip("/"),
            int(blob[pos + 48 : pos + 58]),
        )
        body = blob[pos + 60 : pos + 60 + size]
        pos += 60 + size + size % 2
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                for m in tar.getmembers():
                    if m.isfile():
                        out[m.name.removeprefix("./")] = tar.extractfile(m).read()
    return out


def download(workdir: Path) -> tuple[Path, Path]:
    subprocess.run(["apt-get", "download", f"{DEB_NAME}={DEB_VERSION}"], cwd=workdir, check=True)
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q"]
    subprocess.run([*pip, "install", "setuptools<70", "wheel"], check=True)
    subprocess.run(
        [*pip, "download", "--no-deps", "--no-build-isolation", "-d", str(workdir), WHISPER],
        check=True,
    )
    return next(workdir.glob(f"{DEB_NAME}_*.deb")), next(workdir.glob("openai-whisper-*.tar.gz"))


def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def build_corpus(deb: Path) -> dict[str, str]:
    members = deb_data_members(deb)
    novels = unserialize_lazy_load_members(members[f"{RDATA}.rdx"], members[f"{RDATA}.rdb"])
    missing = sorted(set(NOVELS) - set(novels))
    if missing:
        raise ValueError(f"{deb}: novels {missing} not in the package data")
    splits = split_novels({name: novels[name] for name in NOVELS})
    for split, text in splits.items():
        write_gz(CORPUS_DIR / f"{split}.txt.gz", text)
        print(f"wrote {CORPUS_DIR / f'{split}.txt.gz'}: {len(text):,} chars")
    return splits


def build_gpt2(sdist: Path) -> None:
    GPT2_TOKENIZER_DIR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if "/whisper/assets/gpt2/" in member.name and Path(member.name).name in GPT2_FILES:
                (GPT2_TOKENIZER_DIR / Path(member.name).name).write_bytes(
                    tar.extractfile(member).read()
                )
    print(f"wrote {GPT2_TOKENIZER_DIR}: {sorted(p.name for p in GPT2_TOKENIZER_DIR.iterdir())}")


def build_bpe(train_text: str) -> None:
    tok = train_bpe_tokenizer(train_text)
    shutil.rmtree(BPE_TOKENIZER_DIR, ignore_errors=True)
    tok.save_pretrained(str(BPE_TOKENIZER_DIR))
    # transformers 5 writes its own class name "TokenizersBackend", unknown to transformers 4.x;
    # "PreTrainedTokenizerFast" loads the same tokenizer.json under both.
    config_file = BPE_TOKENIZER_DIR / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    n_tokens = len(tok(train_text)["input_ids"])
    print(f"wrote {BPE_TOKENIZER_DIR}: {len(tok)} entries, {n_tokens:,} train tokens")


def write_hashes(deb: Path, sdist: Path) -> None:
    """SHA256SUMS.json: both sources and every file this script builds (trained models excluded)."""
    built = (CORPUS_DIR, GPT2_TOKENIZER_DIR, BPE_TOKENIZER_DIR)
    files = sorted(p for folder in built for p in folder.rglob("*") if p.is_file())
    hashes = {
        "sources": {deb.name: sha256(deb), sdist.name: sha256(sdist)},
        "outputs": {str(p.relative_to(DATA_DIR)): sha256(p) for p in files},
    }
    (DATA_DIR / "SHA256SUMS.json").write_text(json.dumps(hashes, indent=2) + "\n")
    print(json.dumps(hashes["sources"], indent=2))


def build_d3(workdir: Path) -> dict[str, str]:
    """d3.min.js and its LICENSE from the npm tarball; returns its provenance entry."""
    name, ver, licence = D3
    subprocess.run(["npm", "pack", "--silent", f"{name}@{ver}"], cwd=workdir, check=True)
    tgz = workdir / f"{name}-{ver}.tgz"
    with tarfile.open(tgz) as tar:
        (WEB_DIR / "d3.min.js").write_bytes(tar.extractfile("package/dist/d3.min.js").read())
        (WEB_DIR / "LICENSE-d3.txt").write_bytes(tar.extractfile("package/LICENSE").read())
    return {"package": f"npm {name}@{ver}", "licence": licence, "source_sha256": sha256(tgz)}


def build_plotly(workdir: Path) -> dict[str, str]:
    """plotly.min.js from the installed plotly version's wheel (plotly.js is MIT licensed)."""
    ver = version("plotly")
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*pip, "-d", str(workdir), f"plotly=={ver}"], check=True)
    wheel = next(workdir.glob(f"plotly-{ver}-*.whl"))
    with zipfile.ZipFile(wheel) as whl:
        js = whl.read("plotly/package_data/plotly.min.js")
        licence = next(n for n in whl.namelist() if n.endswith("LICENSE.txt"))
        (WEB_DIR / "LICENSE-plotly.txt").write_bytes(whl.read(licence))
    # Not written to WEB_DIR: offline_assets reads the installed plotly package's own copy, so
    # only its provenance is recorded here (no second 4.7 MB copy in the tree).
    js_version = js[:200].decode().split("plotly.js v", 1)[1].split()[0]
    return {
        "package": f"PyPI plotly=={ver} (plotly.js {js_version})",
        "licence": "MIT",
        "source_sha256": sha256(wheel),
        "sha256": hashlib.sha256(js).hexdigest(),
        "path": "plotly/package_data/plotly.min.js in the installed plotly package (not vendored)",
    }


def build_web_assets(workdir: Path) -> None:
    WEB_DIR.mkdir(parents=True, exist_ok=True)
    provenance = {"d3.min.js": build_d3(workdir), "plotly.min.js": build_plotly(workdir)}
    provenance["d3.min.js"]["sha256"] = sha256(WEB_DIR / "d3.min.js")
    (WEB_DIR / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deb", type=Path, help=f"a downloaded {DEB_NAME}_{DEB_VERSION}_all.deb")
    parser.add_argument(
        "--whisper-sdist", type=Path, help="a downloaded openai-whisper-20230124.tar.gz"
    )
    parser.add_argument("--web-only", action="store_true", help="only d3.min.js and plotly.min.js")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build_web_assets(Path(tmp))
        if args.web_only:
            return
        deb, sdist = args.deb, args.whisper_sdist
        if deb is None or sdist is None:
            deb, sdist = download(Path(tmp))
        splits = build_corpus(deb)
        build_gpt2(sdist)
        build_bpe(splits["train"])
        write_hashes(deb, sdist)


if __name__ == "__main__":
    main()
