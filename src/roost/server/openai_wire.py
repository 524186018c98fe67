"""The OpenAI request shapes Roost accepts, as models: tools, response formats and content
parts. Declared rather than read from loose dicts so the OpenAPI document says exactly
what is accepted (anything else is a 422 naming the field), decision 0230."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MEDIA_URL = r"^(https?://|data:)"
"""An http(s) URL or a data URL (what ``media_block`` takes)."""


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)


class FunctionDef(_Wire):
    name: str = Field(..., min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ChatTool(_Wire):
    type: Literal["function"] = "function"
    function: FunctionDef


class ResponsesTool(_Wire):
    """A Responses API function tool (flat: ``name`` beside ``type``)."""

    type: Literal["function"] = "function"
    name: str = Field(..., min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class TextFormat(_Wire):
    type: Literal["text"]


class JsonObjectFormat(_Wire):
    type: Literal["json_object"]


class JsonSchemaSpec(_Wire):
    name: str = Field("output", min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    description: str | None = None
    strict: bool | None = None


class JsonSchemaFormat(_Wire):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


class ResponsesJsonSchemaFormat(_Wire):
    """The Responses API's ``text.format`` of type ``json_schema`` (flat)."""

    type: Literal["json_schema"]
    name: str = Field("output", min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = None


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]
ResponsesFormat = Annotated[
    TextFormat | JsonObjectFormat | ResponsesJsonSchemaFormat, Field(discriminator="type")
]


class ResponsesText(_Wire):
    format: ResponsesFormat | None = None


class ImageUrl(_Wire):
    url: str = Field(..., pattern=MEDIA_URL)
    detail: str | None = None


class InputAudio(_Wire):
    data: str
    format: str = "wav"


class TextPart(_Wire):
    type: Literal["text", "input_text", "output_text"]
    text: str


class RefusalPart(_Wire):
    type: Literal["refusal"]
    refusal: str


class ImageUrlPart(_Wire):
    type: Literal["image_url"]
    image_url: ImageUrl


class InputImagePart(_Wire):
    type: Literal["input_image"]
    image_url: str = Field(..., pattern=MEDIA_URL)


class InputAudioPart(_Wire):
    type: Literal["input_audio"]
    input_audio: InputAudio


ContentPart = Annotated[
    TextPart | RefusalPart | ImageUrlPart | InputImagePart | InputAudioPart,
    Field(discriminator="type"),
]


class FunctionCallIn(_Wire):
    name: str = ""
    arguments: str = "{}"


class ToolCallIn(_Wire):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ResponsesItem(_Wire):
    """A Responses API input item: a message (the default), a function call or its output."""

    type: Literal["message", "function_call", "function_call_output"] = "message"
    role: Literal["user", "assistant", "system", "developer"] = "user"
    content: str | list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


class AgUiMessage(_Wire):
    """An AG-UI message (camelCase fields, the OpenAI shape otherwise)."""

    id: str | None = None
    role: Literal["system", "developer", "user", "assistant", "tool"] = "user"
    content: str | list[ContentPart] | None = None
    name: str | None = None
    toolCalls: list[ToolCallIn] | None = None
    toolCallId: str | None = None


class AgUiTool(_Wire):
    name: str = Field(..., min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
