"""Pydantic field types that carry the contract's wire ranges, so nothing that validates can break a proto.

A JSON body may hold numbers past uint32/uint64 or strings with lone surrogates (``"\\ud800"``); setting
those on a protobuf message raises, which would surface as a 500. These types turn both into a 422 that
names the field. Limits that the services' settings decide (context length, largest size…) are not
repeated here: the backend enforces them and its 400 names the field and the limit in force.
"""

from typing import Annotated

from pydantic import AfterValidator, Field


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"not valid UTF-8 text (character {error.start} is a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]
UInt32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
PositiveUInt32 = Annotated[int, Field(ge=1, le=2**32 - 1)]
UInt64 = Annotated[int, Field(ge=0, le=2**64 - 1)]
Temperature = Annotated[float, Field(ge=0, le=2, description="0 means greedy decoding")]
TopP = Annotated[float, Field(gt=0, le=1, description="nucleus sampling mass")]
TopK = Annotated[int, Field(ge=0, le=1000, description="keep the k most likely tokens; 0 turns it off")]
RepetitionPenalty = Annotated[float, Field(gt=0, le=10, description="1 means no penalty")]
ImageSide = Annotated[int, Field(ge=8, le=2**32 - 1, multiple_of=8, description="pixels, a multiple of 8")]
GuidanceScale = Annotated[float, Field(ge=0, allow_inf_nan=False, description="1 or less turns guidance off")]
Strength = Annotated[float, Field(allow_inf_nan=False, description="how much of the input image is redrawn, (0, 1]")]
