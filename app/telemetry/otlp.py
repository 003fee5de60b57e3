"""OTLP trace protobuf, written directly in the wire format (opentelemetry-proto's
trace/v1/trace.proto and collector/trace/v1/trace_service.proto; field numbers below).

Why by hand: building the generated message classes field by field, as the SDK's encoder does,
was a fifth of the serving process's CPU at full sampling. A span here is encoded once, when it
ends, into the bytes of one `ScopeSpans.spans` element; a batch is those bytes joined under the
resource and scope encoded at start-up. Only what our spans use is written: string, bool, int and
float attributes, events, status, flags.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence

AttributeValue = str | bool | int | float

# Span.kind values (trace.proto SpanKind).
KIND_SERVER = 2
KIND_CLIENT = 3
# Status.code values (trace.proto Status.StatusCode).
STATUS_UNSET = 0
STATUS_ERROR = 2
# Span.flags: the W3C trace flags in the low byte; bit 8 says bit 9 is meaningful, bit 9 says
# the parent was remote (SpanFlags in trace.proto).
FLAG_SAMPLED = 0x01
FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200

_SMALL = [bytes([n]) for n in range(128)]
_pack_u64 = struct.Struct("<Q").pack
_pack_u32 = struct.Struct("<I").pack
_pack_f64 = struct.Struct("<d").pack


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while n > 127:
        out.append(n & 127 | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def _utf8(text: str) -> bytes:
    # A header value can hold lone surrogates (undecodable bytes): never an exception here.
    return text.encode("utf-8", "replace")


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field; `tag` is the key byte (field number << 3 | 2)."""
    return tag + _varint(len(payload)) + payload


def _any_value(value: AttributeValue) -> bytes:
    # AnyValue: string_value = 1, bool_value = 2, int_value = 3 (int64), double_value = 4.
    if isinstance(value, str):
        return _field(b"\x0a", _utf8(value))
    if isinstance(value, bool):  # before int: bool is an int
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFF_FFFF_FFFF_FFFF)  # int64: two's complement
    if isinstance(value, float):
        return b"\x21" + _pack_f64(value)
    return _field(b"\x0a", _utf8(str(value)))


def attributes(tag: bytes, values: Mapping[str, AttributeValue]) -> bytes:
    """Repeated KeyValue (key = 1, value = 2) under the field whose key byte is `tag`."""
    return b"".join([
        _field(tag, _field(b"\x0a", _utf8(key)) + _field(b"\x12", _any_value(value)))
        for key, value in values.items()
    ])


def encode_span(
    *,
    trace_id: int,
    span_id: int,
    parent_id: int | None,
    trace_state: str,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    attrs: Mapping[str, AttributeValue],
    events: Sequence[tuple[str, int, Mapping[str, AttributeValue]]],
    status: int,
    status_message: str,
    flags: int,
) -> bytes:
    """One span, as an element of ScopeSpans.spans (field 2)."""
    parts = [
        b"\x0a\x10", trace_id.to_bytes(16, "big"),  # trace_id = 1 (bytes)
        b"\x12\x08", span_id.to_bytes(8, "big"),  # span_id = 2
        _field(b"\x1a", _utf8(trace_state)) if trace_state else b"",  # trace_state = 3
        b"\x22\x08" + parent_id.to_bytes(8, "big") if parent_id else b"",  # parent_span_id = 4
        _field(b"\x2a", _utf8(name)),  # name = 5
        b"\x30", _SMALL[kind],  # kind = 6
        b"\x39", _pack_u64(start_ns),  # start_time_unix_nano = 7 (fixed64)
        b"\x41", _pack_u64(end_ns),  # end_time_unix_nano = 8
        attributes(b"\x4a", attrs),  # attributes = 9
    ]
    for event_name, time_ns, event_attrs in events:  # events = 11: time = 1, name = 2, attrs = 3
        parts.append(_field(b"\x5a", b"\x09" + _pack_u64(time_ns)
                            + _field(b"\x12", _utf8(event_name))
                            + attributes(b"\x1a", event_attrs)))
    if status != STATUS_UNSET:  # status = 15: message = 2, code = 3
        message = _field(b"\x12", _utf8(status_message)) if status_message else b""
        parts.append(_field(b"\x7a", message + b"\x18" + _SMALL[status]))
    parts.append(b"\x85\x01" + _pack_u32(flags))  # flags = 16 (fixed32)
    return _field(b"\x12", b"".join(parts))


def scope_prefix(resource: Mapping[str, AttributeValue], scope_name: str,
                 scope_version: str) -> tuple[bytes, bytes]:
    """The constant parts of every export: the encoded Resource and InstrumentationScope."""
    encoded_resource = attributes(b"\x0a", resource)  # Resource.attributes = 1
    scope = _field(b"\x0a", _utf8(scope_name)) + _field(b"\x12", _utf8(scope_version))
    return encoded_resource, scope


def export_request(resource: bytes, scope: bytes, spans: Iterable[bytes]) -> bytes:
    """ExportTraceServiceRequest{resource_spans = 1: ResourceSpans{resource = 1,
    scope_spans = 2: ScopeSpans{scope = 1, spans = 2}}} around already encoded spans."""
    scope_spans = _field(b"\x0a", scope) + b"".join(spans)
    resource_spans = _field(b"\x0a", resource) + _field(b"\x12", scope_spans)
    return _field(b"\x0a", resource_spans)
