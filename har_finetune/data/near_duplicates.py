"""Near-duplicates: the same photo saved again at another JPEG quality, resized, slightly cropped or watermarked.

Their decoded pixels differ, so the exact de-duplication (data/split.py) keeps every copy; split on its own, each
copy could land in training while another is tested on. The scan gives each readable image a 64-bit perceptual
hash (`perceptual_hash`, from the pixels it decoded anyway; recorded with the scan), and images whose hashes differ
in at most `--near_duplicate_distance` bits are one group (transitively: connected components of the close pairs),
which the split keeps on one side (data/grouped_split.py).

    hashes = np.array([scan.perceptual_hash for scan in scans], dtype=np.uint64)
    group_of = near_duplicate_groups(hashes, max_distance=8)   # one label per image; a singleton has its own

The hash is pHash as imagehash (4.3) defines it: the 2-D DCT-II of a 32x32 grey image, its 8x8 lowest frequencies
compared with their median, 64 bits. imagehash itself gets that grey image by a Lanczos resize of the whole photo
and `imagehash.phash` then costs ~60% of a HAR photo's decode; here it comes from the pixels the scan already holds,
sampled on a 64x64 grid and averaged 2x2 (the averaging and the DCT are one precomputed 8x64 matrix on each side):
~30-70 us of CPU per image against imagehash's ~300 (docs/performance.md measures the scan's share).
tests/test_near_duplicates.py checks the bits against `imagehash.phash` of the same grey image. Measured rates of
missed copies and false groupings per kind of copy (benchmarks/near_duplicates.py): docs/performance.md,
"Near-duplicates".
"""

from functools import lru_cache

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

PERCEPTUAL_HASH = "phash-8x8-of-32x32-from-64x64-grid"  # recorded with the scan: another definition rehashes
GRID = 64  # pixels sampled per side (2x2 averaged to pHash's 32x32)
PAIR_BLOCK = 32  # rows of hashes compared at once: 32 x n bytes of buffers, no page faults (benchmarks/)
GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601 luma, as Pillow's convert("L")


def _low_frequencies() -> np.ndarray:
    """8x64: the 2x2 averaging (64 -> 32) then the first 8 rows of scipy.fftpack's unnormalised DCT-II (32)."""
    k, n = np.arange(8)[:, None], np.arange(32)[None, :]
    dct = 2 * np.cos(np.pi * k * (2 * n + 1) / 64)
    average = np.kron(np.eye(32), np.full((1, GRID // 32), 32 / GRID))
    return dct @ average


LOW = _low_frequencies().astype(np.float32)  # float32: half the time of float64, the same bits in tests
LOW_T = np.ascontiguousarray(LOW.T)


def perceptual_hash(pixels: np.ndarray) -> int:
    """The 64-bit pHash of decoded HWC uint8 pixels, as an unsigned integer (0 is a valid hash too). Few numpy calls,
    as each costs microseconds: one `take` of the 64x64 sampled pixels (cached indices), the grey weights and the two
    DCT sides as matrix products, the median of 64 values from one sort (`np.median` costs more than all the rest)."""
    height, width = pixels.shape[:2]
    grey = pixels.reshape(-1, 3).take(_grid(height, width), axis=0) @ GREY
    low = (LOW @ grey.reshape(GRID, GRID) @ LOW_T).ravel()
    ordered = np.sort(low)
    return int.from_bytes(np.packbits(low > (ordered[31] + ordered[32]) / 2).tobytes(), "big")


@lru_cache(maxsize=4096)
def _grid(height: int, width: int) -> np.ndarray:
    """The flat indices of the pixels sampled: the centre of each of 64 bands of rows and of columns."""
    rows = (np.arange(GRID) * height + height // 2) // GRID
    columns = (np.arange(GRID) * width + width // 2) // GRID
    return (rows[:, None] * width + columns[None, :]).ravel()


def close_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, distance) of every pair i < j whose hashes differ in at most `max_distance` bits.

    All n^2/2 pairs are compared, but in numpy: `PAIR_BLOCK` rows against every later hash at a time, XOR and
    popcount into reused buffers (12,600 hashes: 0.25-0.6 s on one core; 50,000: 4-9 s; benchmarks/near_duplicates.py).
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    xor = np.empty((PAIR_BLOCK, n), dtype=np.uint64)
    bits = np.empty((PAIR_BLOCK, n), dtype=np.uint8)
    close = np.empty((PAIR_BLOCK, n), dtype=bool)
    found = []
    for start in range(0, n, PAIR_BLOCK):
        rows, width = min(PAIR_BLOCK, n - start), n - start
        x, b, c = xor[:rows, :width], bits[:rows, :width], close[:rows, :width]
        np.bitwise_xor(hashes[start : start + rows, None], hashes[None, start:], out=x)
        np.bitwise_count(x, out=b)
        np.less_equal(b, max_distance, out=c)
        i, j = np.nonzero(c)
        later = j > i  # each pair once, and not an image with itself
        found.append((i[later] + start, j[later] + start, b[i[later], j[later]]))
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8)
    i, j, distance = (np.concatenate(column) for column in zip(*found))
    return i, j, distance


def near_duplicate_groups(hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """One group label per hash: hashes linked by a chain of pairs within `max_distance` bits share one.
    `max_distance` 0 turns grouping off (every image its own group, equal hashes included: the exact
    de-duplication has already run on the decoded pixels)."""
    n = len(hashes)
    if max_distance <= 0 or n < 2:
        return np.arange(n)
    i, j, _ = close_pairs(hashes, max_distance)
    graph = coo_matrix((np.ones(len(i), dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def hamming(a: int, b: int) -> int:
    """Bits in which two hashes differ."""
    return (int(a) ^ int(b)).bit_count()
