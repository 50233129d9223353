"""R/G(/B) images on disk: PNG (8/16-bit), TIFF (8/16/32-bit float) and the original project's 8-bit BMP.

PNG and TIFF carry the B channel (the plan, :mod:`vocals2song.plan.channel`) like R and G: written when given, read back
as :attr:`ImageFile.plan`; files with B = 0 (older ones included) have no plan.

PNG and TIFF files carry a JSON record of the spectrogram scale and the audio length (a PNG ``tEXt`` chunk
or the TIFF ImageDescription), so they decode without guessing. On disk the frequency axis is flipped so
the image looks like a spectrogram (low frequencies at the bottom); arrays in memory keep row 0 = DC.

A ``.bmp`` is always the original project's format (linear magnitude with a per-image scale, no
metadata; see :func:`vocals2song.codec.spectrogram.legacy_image_to_spectrogram`), so both projects read each
other's BMPs.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import tifffile
from PIL import Image

from vocals2song.codec import spectrogram as codec
from vocals2song.config import SpectrogramConfig
from vocals2song.errors import ImageFormatError

FORMAT_NAME = "vocals2song-rg"
TEXT_KEY = b"vocals2song"
LEGACY_SAMPLE_RATE = 44100  # the original project's audio rate
MAX_PIXELS = 1025 * 200_000  # refuse absurd images before decoding them
BITS_BY_SUFFIX = {".png": (8, 16), ".tif": (8, 16, 32), ".tiff": (8, 16, 32), ".bmp": (8,)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# libpng's fastest settings (zlib level 1, run-length strategy, "sub" filter): noisy phase planes barely
# compress at any level, and these are 4-5x faster than the defaults for a file as small or smaller.
PNG_FAST = {"level": 1, "strategy": 3, "filter": 16}


@dataclass
class ImageFile:
    """An R/G image read from disk.

    Attributes:
        image: float32, shape (nb_bins, nb_frames, 3), row 0 = DC; R and G in [0, 1] (R may leave [0, 1]
            in the float form); B the plan in [0, 1] (0: no plan; always 0 for a legacy BMP).
        spectrogram_config: the scale it was written with (for a legacy BMP: 44.1 kHz, n_fft from its height).
        length: audio samples it encodes, or None if unknown.
        legacy: True for the original project's BMP format (R is linear, per-image scale).
        legacy_pixels: the raw uint8 pixels of a legacy BMP (None otherwise).
        bits: bits per channel stored in the file: 8, 16, or 32 (float).
    """

    image: np.ndarray
    spectrogram_config: SpectrogramConfig
    length: int | None
    legacy: bool = False
    legacy_pixels: np.ndarray | None = None
    bits: int = 8

    @property
    def plan(self) -> np.ndarray | None:
        """The B plane, float32 (nb_bins, nb_frames), or None when B is 0 everywhere (no plan)."""
        plane = self.image[..., 2]
        return None if self.legacy or not np.any(plane > 0) else plane

    def to_spectrogram(self) -> np.ndarray:
        """Complex STFT, shape (nb_bins, nb_frames)."""
        if self.legacy:
            return codec.legacy_image_to_spectrogram(self.legacy_pixels)
        return codec.image_to_spectrogram(self.image, self.spectrogram_config)

    def to_audio(self) -> np.ndarray:
        """Decoded float32 audio at ``spectrogram_config.sample_rate``; legacy audio is peak-normalised to 0.9."""
        audio = codec.istft(self.to_spectrogram(), self.spectrogram_config, length=self.length)
        if self.legacy:
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            audio = audio * (0.9 / peak) if peak > 0 else audio
        return audio


def check_bits(path: str | os.PathLike, bits: int) -> None:
    """Raise ``ImageFormatError`` unless the file's suffix can store ``bits`` per channel."""
    suffix = Path(path).suffix.lower()
    if suffix not in BITS_BY_SUFFIX:
        raise ImageFormatError(f"Unsupported image type '{suffix or Path(path).name}': use .png, .tif/.tiff or .bmp.")
    if bits not in BITS_BY_SUFFIX[suffix]:
        allowed = "/".join(str(b) for b in BITS_BY_SUFFIX[suffix])
        raise ImageFormatError(f"A {suffix} image stores {allowed} bits per channel, not {bits}.")


def save_image(
    path: str | os.PathLike,
    spectrogram: np.ndarray,
    config: SpectrogramConfig,
    bits: int = 16,
    length: int | None = None,
    plan: np.ndarray | None = None,
) -> Path:
    """Write a complex STFT as an R/G image file, atomically.

    Args:
        spectrogram: complex, shape (nb_bins, nb_frames).
        bits: 8 or 16 (PNG, TIFF), 32 = float (TIFF only); BMP is always the original's 8-bit format.
        length: audio samples encoded, stored so decoding restores the exact length.
        plan: the B plane, float (nb_bins, nb_frames) in [0, 1] (:func:`vocals2song.plan.channel.render_plan`); None
            writes B = 0. A BMP cannot carry it (the original's format has B = 0).
    """
    path = Path(path)
    check_bits(path, bits)
    if path.suffix.lower() == ".bmp":
        if plan is not None:
            raise ImageFormatError("A .bmp is the original project's format, which has no plan (B = 0): use .png or .tiff.")
        _write_atomically(path, _bmp_bytes(codec.spectrogram_to_legacy_image(spectrogram)))
        return path
    return save_image_array(path, codec.spectrogram_to_image(spectrogram, config, plan), config, bits, length)


def save_image_array(
    path: str | os.PathLike,
    image: np.ndarray,
    config: SpectrogramConfig,
    bits: int = 16,
    length: int | None = None,
) -> Path:
    """Write a float R/G image (as :func:`vocals2song.codec.spectrogram.spectrogram_to_image` makes) as a PNG or
    TIFF file, atomically, without going back through the complex STFT.

    Args:
        image: float32, shape (nb_bins, nb_frames, 3), row 0 = DC; B (the plan, or 0) is stored as it is.
        bits: 8 or 16 (PNG, TIFF), 32 = float (TIFF only).
        length: audio samples encoded, stored so decoding restores the exact length.
    """
    path = Path(path)
    check_bits(path, bits)
    suffix = path.suffix.lower()
    if suffix == ".bmp":
        raise ImageFormatError("A .bmp is the original project's linear format: write it with save_image.")
    metadata = json.dumps(
        {"format": FORMAT_NAME, "version": 1, "bits": bits, "length": length, "spectrogram": vars(config)}
    )
    stored = image.astype(np.float32) if bits == 32 else codec.quantize(image, bits)
    stored = np.ascontiguousarray(stored[::-1])  # low frequencies at the bottom
    payload = png_bytes(stored, metadata) if suffix == ".png" else _tiff_bytes(stored, metadata)
    _write_atomically(path, payload)
    return path


def load_image(path: str | os.PathLike) -> ImageFile:
    """Read an R/G image written by :func:`save_image` or by the original project (BMP)."""
    path = Path(path)
    if not path.is_file():
        raise ImageFormatError(f"No image file at '{path}'.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            pixels, metadata = _read_png(path)
        elif suffix in (".tif", ".tiff"):
            pixels, metadata = _read_tiff(path)
        elif suffix == ".bmp":
            return _read_legacy_bmp(path)
        else:
            raise ImageFormatError(f"Unsupported image type '{suffix}': use .png, .tif/.tiff or .bmp.")
    except ImageFormatError:
        raise
    except Exception as error:  # corrupt files raise all sorts of library errors
        raise ImageFormatError(f"Could not read the image '{path.name}': it is corrupt or not an image.") from error
    if metadata is None or metadata.get("format") != FORMAT_NAME:
        raise ImageFormatError(
            f"'{path.name}' has no Vocals2Song metadata, so its scale is unknown: decode PNG/TIFF images made by "
            "'vocals2song encode', or the original project's BMPs."
        )
    try:
        config = SpectrogramConfig(**metadata["spectrogram"])
    except (TypeError, ValueError, KeyError) as error:
        raise ImageFormatError(f"'{path.name}' has invalid Vocals2Song metadata ({error}).") from error
    pixels = pixels[::-1]
    if pixels.ndim != 3 or pixels.shape[2] < 2 or pixels.shape[0] != config.nb_bins:
        raise ImageFormatError(
            f"'{path.name}' is {pixels.shape[:2]} pixels but its metadata says {config.nb_bins} frequency rows."
        )
    image = pixels.astype(np.float32) if pixels.dtype.kind == "f" else codec.dequantize(pixels)
    length = metadata.get("length")
    bits = 32 if pixels.dtype.kind == "f" else 8 * pixels.dtype.itemsize
    return ImageFile(image=image[..., :3], spectrogram_config=config, length=int(length) if length else None,
                     bits=bits)  # fmt: skip


def display_image(image: np.ndarray) -> np.ndarray:
    """Float R/G image (row 0 = DC) → uint8 RGB for viewing, low frequencies at the bottom."""
    return np.ascontiguousarray(codec.quantize(image, 8)[::-1])


def png_bytes(pixels: np.ndarray, text: str | None = None, settings: dict | None = None) -> bytes:
    """Encode uint8 or uint16 pixels, shape (height, width, 3), as a PNG (libpng through imagecodecs; ``settings``
    are its level, strategy and filter, :data:`PNG_FAST` by default), with ``text`` in a ``tEXt`` chunk under
    the ``vocals2song`` keyword when given."""
    encoded = imagecodecs.png_encode(np.ascontiguousarray(pixels), **(settings or PNG_FAST))
    if text is None:
        return encoded
    after_header = len(PNG_SIGNATURE) + 8 + 13 + 4  # the signature, then IHDR (length, type, 13 bytes, CRC)
    return encoded[:after_header] + _png_chunk(b"tEXt", TEXT_KEY + b"\x00" + text.encode("latin-1")) + encoded[after_header:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _read_png(path: Path) -> tuple[np.ndarray, dict | None]:
    """Pixels (uint8 or uint16, shape (height, width, planes)) and the Vocals2Song metadata, if any."""
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ImageFormatError(f"Could not read the image '{path.name}': it is corrupt or not a PNG.")
    metadata = None
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + size]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            if width * height > MAX_PIXELS:
                raise ImageFormatError(f"'{path.name}' is too large ({width}x{height} pixels).")
        elif kind == b"tEXt" and body.startswith(TEXT_KEY + b"\x00"):
            metadata = json.loads(body[len(TEXT_KEY) + 1 :].decode("latin-1"))
        elif kind == b"IEND":
            break
        offset += 12 + size
    pixels = imagecodecs.png_decode(data)
    return (pixels if pixels.ndim == 3 else pixels[..., None]), metadata


def _tiff_bytes(pixels: np.ndarray, metadata: str) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb", description=metadata, metadata=None, compression="zlib")
    return buffer.getvalue()


def _read_tiff(path: Path) -> tuple[np.ndarray, dict | None]:
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        if int(np.prod(page.shape[:2])) > MAX_PIXELS:
            raise ImageFormatError(f"'{path.name}' is too large ({page.shape[1]}x{page.shape[0]} pixels).")
        description = page.description
        pixels = page.asarray()
    try:
        metadata = json.loads(description) if description else None
    except json.JSONDecodeError:
        metadata = None
    return pixels, metadata


def _bmp_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="BMP")
    return buffer.getvalue()


def _read_legacy_bmp(path: Path) -> ImageFile:
    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise ImageFormatError(f"'{path.name}' is too large ({opened.width}x{opened.height} pixels).")
            pixels = np.array(opened.convert("RGB"))
    except ImageFormatError:
        raise
    except Exception as error:
        raise ImageFormatError(f"Could not read the image '{path.name}': it is corrupt or not a BMP.") from error
    nb_bins = pixels.shape[0]
    if nb_bins < 3 or nb_bins % 2 == 0:
        raise ImageFormatError(
            f"'{path.name}' has {nb_bins} rows; an original Vocals2Song BMP has n_fft/2+1 (odd) frequency rows."
        )
    config = SpectrogramConfig(sample_rate=LEGACY_SAMPLE_RATE, n_fft=2 * (nb_bins - 1), hop_length=(nb_bins - 1) // 2)
    image = codec.dequantize(pixels)
    return ImageFile(image=image, spectrogram_config=config, length=None, legacy=True, legacy_pixels=pixels)


def _write_atomically(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
