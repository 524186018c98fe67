"""Knowledge: readers, chunkers, embedders, vector indexes, hybrid retrieval and
long-term memory. Imports only ``roost.core``, ``roost.models`` and ``roost.tools``;
heavy libraries (numpy, jieba, faiss, pypdf …) load when first used."""

from roost.knowledge.base import (
    DEFAULT_TENANT,
    DocumentInput,
    KnowledgeBase,
    KnowledgeStore,
    chunker_from_settings,
)
from roost.knowledge.chunkers import Chunker, MarkdownChunker, SentenceChunker, TokenChunker
from roost.knowledge.embedders import CachedEmbedder, Embedder, OpenAIEmbedder
from roost.knowledge.errors import (
    DocumentCorrupt,
    DocumentEmpty,
    DocumentEncodingUnknown,
    DocumentEncrypted,
    DocumentError,
    DocumentFormatUnsupported,
    DocumentNotFound,
    DocumentTooLarge,
    EmbeddingDimensionMismatch,
    EmbeddingError,
    EmbeddingTimeout,
    KnowledgeBackendUnavailable,
    KnowledgeBaseNotFound,
    KnowledgeError,
    MemoryNotFound,
)
from roost.knowledge.local_embedder import OnnxEmbedder, TorchEmbedder
from roost.knowledge.memory import LongTermMemory, MemoryRecord
from roost.knowledge.readers import read_document
from roost.knowledge.records import (
    Chunk,
    ChunkDraft,
    DocumentInfo,
    Hit,
    IngestFailure,
    IngestReport,
    IngestResult,
    KnowledgeBaseInfo,
    Section,
)
from roost.knowledge.retrieval import HttpReranker, Reranker, SearchMode, reciprocal_rank_fusion
from roost.knowledge.vector_index import FaissIndex, IndexState, VectorIndex

__all__ = [
    "DEFAULT_TENANT",
    "CachedEmbedder",
    "Chunk",
    "ChunkDraft",
    "Chunker",
    "DocumentCorrupt",
    "DocumentEmpty",
    "DocumentEncodingUnknown",
    "DocumentEncrypted",
    "DocumentError",
    "DocumentFormatUnsupported",
    "DocumentInfo",
    "DocumentInput",
    "DocumentNotFound",
    "DocumentTooLarge",
    "Embedder",
    "EmbeddingDimensionMismatch",
    "EmbeddingError",
    "EmbeddingTimeout",
    "FaissIndex",
    "Hit",
    "HttpReranker",
    "IndexState",
    "IngestFailure",
    "IngestReport",
    "IngestResult",
    "KnowledgeBackendUnavailable",
    "KnowledgeBase",
    "KnowledgeBaseInfo",
    "KnowledgeBaseNotFound",
    "KnowledgeError",
    "KnowledgeStore",
    "LongTermMemory",
    "MarkdownChunker",
    "MemoryNotFound",
    "MemoryRecord",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "Reranker",
    "SearchMode",
    "Section",
    "SentenceChunker",
    "TokenChunker",
    "TorchEmbedder",
    "VectorIndex",
    "chunker_from_settings",
    "read_document",
    "reciprocal_rank_fusion",
]
