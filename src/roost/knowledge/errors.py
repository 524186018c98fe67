"""Knowledge-layer errors. Each has a stable ``code``; ingestion reports them per
document (``IngestReport.failed``) so one bad file never stops a batch."""

from __future__ import annotations

from roost.core import ConfigError, NotFound, RoostError


class KnowledgeError(RoostError):
    """The knowledge layer failed."""

    code = "knowledge_error"
    status = 500


class DocumentError(KnowledgeError):
    """A document cannot be ingested; the message names the document and the fix."""

    code = "document_invalid"
    status = 422


class DocumentEmpty(DocumentError):
    """The document is empty (0 bytes) or has no extractable text."""

    code = "document_empty"


class DocumentTooLarge(DocumentError):
    """The document is larger than the knowledge base's size limit."""

    code = "document_too_large"
    status = 413


class DocumentCorrupt(DocumentError):
    """The document is damaged or not in the format its name says."""

    code = "document_corrupt"


class DocumentEncrypted(DocumentError):
    """The document is password-protected."""

    code = "document_encrypted"


class DocumentEncodingUnknown(DocumentError):
    """The text's character encoding could not be determined."""

    code = "document_encoding_unknown"


class DocumentFormatUnsupported(DocumentError):
    """No reader handles this file type."""

    code = "document_format_unsupported"
    status = 415


class EmbeddingError(KnowledgeError):
    """The embedding model failed."""

    code = "embedding_failed"
    status = 502
    retryable = True


class EmbeddingTimeout(EmbeddingError):
    """The embedding endpoint did not answer in time."""

    code = "embedding_timeout"
    status = 504


class EmbeddingDimensionMismatch(KnowledgeError):
    """The embedder's vectors do not have the knowledge base's dimensions."""

    code = "embedding_dimension_mismatch"
    status = 409


class KnowledgeBaseNotFound(NotFound):
    """No knowledge base with that id (or not in the caller's tenant)."""

    code = "knowledge_base_not_found"


class DocumentNotFound(NotFound):
    """No document with that id in the knowledge base."""

    code = "document_not_found"


class MemoryNotFound(NotFound):
    """No memory with that id for this user."""

    code = "memory_not_found"


class KnowledgeBackendUnavailable(ConfigError):
    """A knowledge backend's library or server is missing."""

    code = "knowledge_backend_unavailable"
    status = 503
