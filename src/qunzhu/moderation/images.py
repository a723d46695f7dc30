"""QR codes in pictures: the way group ads get past every text filter (a WeChat group card, a
personal QR, a mini-program code). None of the anchor bots reads them (moderation-anchors.md);
the WeCom anti-harassment rules and one NoneBot plugin do, through outside services. We decode
locally with zxing-cpp, so no chat picture leaves the machine.

And a picture's fingerprint (a difference hash: 64 bits, one per pair of neighbouring pixels of
a 9×8 grey thumbnail), the same for the same picture recompressed, resized or re-sent by
another account, so the behaviour layer can see one ad picture dropped into many groups.

And the text written in a picture (a poster saying 加微信 abc12345), read locally too, which
moderation judges as it judges a message's text.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import IO, Any

from qunzhu.i18n import tr

MAX_BYTES = 20 * 1024 * 1024  # larger than any chat picture: not worth decoding
MAX_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded
DECODE_SIDE = 2048  # big photos are shrunk first; a QR code a group can scan survives this


FINGERPRINT_MIN_SIDE = 300  # smaller pictures are stickers and memes, which travel by nature


def fingerprint(data: bytes) -> int | None:
    """The picture's difference hash; None for bytes that are not a picture, too large, or
    smaller than FINGERPRINT_MIN_SIDE on a side."""
    if not data or len(data) > MAX_BYTES:
        return None
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                return None
            if min(image.width, image.height) < FINGERPRINT_MIN_SIDE:
                return None
            image.draft("L", (64, 64))  # JPEG: decode at a small scale, much faster
            small = image.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    pixels = small.tobytes()  # one byte a pixel, row by row
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return bits


def fingerprints(images: Sequence[bytes]) -> tuple[int, ...]:
    """The fingerprints of a message's pictures, each once, those that have one."""
    return tuple(dict.fromkeys(p for p in map(fingerprint, images) if p is not None))


def qr_payloads(data: bytes) -> list[str]:
    """The texts of the QR codes in a picture; an empty list for a picture with none, and for
    bytes that are not a picture at all (a platform can hand over anything)."""
    if not data or len(data) > MAX_BYTES:
        return []
    import zxingcpp
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                return []
            image.draft("L", (DECODE_SIDE, DECODE_SIDE))  # JPEG: decode at a smaller scale
            image = image.convert("L")
        image.thumbnail((DECODE_SIDE, DECODE_SIDE))
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return []
    return [r.text for r in found if r.text]


OCR_SIDE = 1280  # longer sides are shrunk first: the text of a chat poster stays legible
OCR_MIN_SIDE = 100  # smaller pictures (faces, small stickers) hold no readable ad
# a longer picture (a long poster, a chat screenshot) is read in parts this long: read whole,
# its narrow side blown up for the text detector, it took 53 s instead of half a second
OCR_ASPECT = 2.0
# ... at most this many: the top, the bottom (where a long poster puts its contact) and parts
# spread evenly between; a longer picture has gaps between the parts read
OCR_PARTS = 4
# a sticker this long on its longer side may be a poster saved as a sticker (QQ marks any
# picture sent from a member's saved ones as a 表情); the memes of sticker packs are 512 or less
POSTER_SIDE = 640
_reader: Any = None
_reader_lock = threading.Lock()


def poster_sized(data: bytes) -> bool:
    """Whether a picture is large enough to be a poster (POSTER_SIDE); only its header is
    read, so it costs microseconds."""
    if not data or len(data) > MAX_BYTES:
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return max(image.size) >= POSTER_SIDE and min(image.size) >= OCR_MIN_SIDE
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def picture_text(data: bytes) -> str:
    """The text written in a picture, read on this machine (RapidOCR: PP-OCR models that come
    inside the package; no picture leaves the machine), one line per box, top to bottom; ""
    for a picture without text and for bytes that are not a picture. About half a second a
    poster on one core, so the engine reads pictures beside the event path, never in it."""
    if not data or len(data) > MAX_BYTES:
        return ""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                return ""
            if min(image.width, image.height) < OCR_MIN_SIDE:
                return ""
            image.draft("RGB", (OCR_SIDE, OCR_SIDE))
            image = image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return ""
    return "\n".join(t for t in map(_read, _parts(image)) if t)


def _parts(image: Any) -> list[Any]:
    """The picture, or for a long one the parts of it that are read (OCR_ASPECT, OCR_PARTS),
    each shrunk to OCR_SIDE at most."""
    width, height = image.size
    tall = height > width
    short, long = (width, height) if tall else (height, width)
    count = max(1, round(long / (OCR_ASPECT * short)))  # parts of 1.33 to 3 times as long as wide
    size = -(-long // count)
    chosen = sorted({round(k * (count - 1) / (OCR_PARTS - 1)) for k in range(OCR_PARTS)})
    parts = []
    for index in chosen if count > OCR_PARTS else range(count):
        start, end = index * size, min((index + 1) * size, long)
        box = (0, start, width, end) if tall else (start, 0, end, height)
        part = image.crop(box) if count > 1 else image
        part.thumbnail((OCR_SIDE, OCR_SIDE))
        parts.append(part)
    return parts


def _read(image: Any) -> str:
    import numpy as np

    pixels = np.asarray(image)[:, :, ::-1]  # the reader takes OpenCV's order: BGR
    with _reader_lock:  # one model in memory, used by one thread at a time
        found, _elapsed = _ocr()(pixels)
    return "\n".join(str(box[1]) for box in found or ())


class ReaderMissing(RuntimeError):
    """The text models cannot be loaded: a setup to fix, not a picture to skip."""


def _ocr() -> Any:
    """The reader, loaded at the first picture read (1-2 s); one thread each for its models,
    so that reading pictures leaves the engine's own thread a core."""
    global _reader
    if _reader is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:  # pip brings opencv-python, whose cv2 wants a display's libGL
            raise ReaderMissing(
                tr(
                    "cannot load the picture reader: {why} (installed with pip: install "
                    "opencv-python-headless in place of opencv-python)",
                    why=exc,
                )
            ) from None

        _reader = RapidOCR(
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            use_cls=False,
            det_limit_type="max",  # the detector shrinks big pictures but never blows one up
        )
    return _reader


def serve_picture_text(pictures: IO[bytes], texts: IO[bytes]) -> None:
    """Read pictures from `pictures` and write their text to `texts`, each a 4-byte length
    (big-endian) and that many bytes, until `pictures` ends: the loop of the child process
    the engine reads pictures in (`engine.reader.ReadingProcess`)."""
    told = False
    while len(head := pictures.read(4)) == 4:
        (size,) = struct.unpack(">I", head)
        data = pictures.read(size)
        if len(data) < size:
            return
        try:
            text = picture_text(data).encode()
        except ReaderMissing as exc:  # said once; the engine goes on without the text
            if not told:
                logging.getLogger(__name__).error("%s", exc)
                told = True
            text = b""
        texts.write(struct.pack(">I", len(text)) + text)
        texts.flush()


if __name__ == "__main__":  # the engine's picture reader: see serve_picture_text
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what a library prints goes to stderr, never into the texts
    serve_picture_text(sys.stdin.buffer, protocol)
