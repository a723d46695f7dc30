"""Reading the text in pictures, next to what the engine already does with each picture.

    uv run python bench/picture_text_bench.py

The engine bench's 800×1000 JPEGs (`bench/engine.py`'s `posters()`: the 3 ad posters carry a
WeChat id and a phone number, the others none), each read three times: the first call (which
loads the models), then the median and worst time per picture of `picture_text`, against
`fingerprint` and `qr_payloads` on the same pictures; then pictures of extreme shapes (a long
screenshot, a strip), whose time must stay bounded; and the process's peak memory.
"""

from __future__ import annotations

import io
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from PIL import Image

from engine import posters
from qunzhu.moderation.images import fingerprint, picture_text, qr_payloads


def main() -> None:
    drawn = posters()
    others = [("fingerprint", fingerprint), ("qr_payloads", qr_payloads)]
    for name, fn in others:
        start = time.perf_counter()
        for p in drawn[:9] * 3:
            fn(p)
        print(f"{name}: {(time.perf_counter() - start) / 27 * 1000:.2f} ms a picture")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    start = time.perf_counter()
    first = picture_text(drawn[0])
    print(f"picture_text, first call (loads the models): {time.perf_counter() - start:.2f} s")
    for name, group in (("with text", drawn[:3]), ("without text", drawn[3:9])):
        times = []
        for p in group * 3:
            start = time.perf_counter()
            picture_text(p)
            times.append(time.perf_counter() - start)
        median, worst = statistics.median(times) * 1000, max(times) * 1000
        print(f"picture_text, {name}: median {median:.0f} ms, max {worst:.0f} ms")
    for size in ((120, 5000), (5000, 120), (1080, 8000), (4000, 4000)):
        buf = io.BytesIO()
        Image.new("RGB", size, (200, 100, 50)).save(buf, "PNG")
        start = time.perf_counter()
        picture_text(buf.getvalue())
        print(f"picture_text, {size[0]}×{size[1]} PNG: {time.perf_counter() - start:.2f} s")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak memory: {before} MB before reading, {after} MB after")
    print(f"read: {first!r}")


if __name__ == "__main__":
    main()
