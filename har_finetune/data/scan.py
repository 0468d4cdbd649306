"""The input scan as a run does it: reuse the recorded scan for unchanged files, decode the rest, share the work
among the ranks of a distributed run.

    scans = scan_dataset(source.reader, source.ids, record_file, recorder)   # one ScanResult per id, in order

Each rank checks every `world`-th id (ids[rank::world]) and the results are gathered on every rank
(`torch.distributed.all_gather_object`; the process group is the one Trainer's arguments initialise, gloo or
NCCL), so N ranks decode about 1/N of the images each and all end with the same list: the same split everywhere.
Each rank records the pixels it decodes into its own shard (cache.ScanRecorder); the store links them all.
What "unchanged" means: data/scan_record.py.
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import torch.distributed as dist
from tqdm.auto import tqdm

from har_finetune.core.machine import worker_count
from har_finetune.data.images import SCAN_CHUNK, ScanResult, quiet_bomb_warnings, scan_bytes
from har_finetune.data.scan_record import NO_STAMP, Checked, ScanRecord, file_hash

logger = logging.getLogger(__name__)


def scan_dataset(
    reader, ids: list[str], record_file: Path | None = None, recorder=None, workers: int | None = None
) -> list[ScanResult]:
    """One result per id: recorded where the file is unchanged (`record_file`, None: decode every image), else
    decoded (and handed to `recorder`). The record is rewritten by each node's first process."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if _distributed() else (0, 1)
    previous = ScanRecord.load_for(record_file, ids) if record_file else ScanRecord([], [])
    checks = check_images(reader, ids[rank::world], previous, recorder, workers)
    if world > 1:
        shares = [None] * world
        dist.all_gather_object(shares, (checks, recorder.share() if recorder is not None else None))
        checks = [None] * len(ids)
        for other, (share, recorded) in enumerate(shares):
            checks[other::world] = share
            if recorder is not None and other != rank:
                recorder.add(recorded)
    decoded = sum(check.decoded for check in checks)
    logger.info("input scan: %d images, %d decoded, %d known from the last scan", len(ids), decoded, len(ids) - decoded)
    if record_file and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        ScanRecord.save(record_file, ids, checks)
    return [check.result for check in checks]


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def check_images(reader, ids: list[str], previous: ScanRecord, on_image=None, workers=None) -> list[Checked]:
    """`check_one` for every id, on a thread pool (Pillow and the hashes release the GIL), with a progress bar."""
    workers = workers or worker_count()
    quiet_bomb_warnings()
    chunks = [ids[start : start + SCAN_CHUNK] for start in range(0, len(ids), SCAN_CHUNK)]
    check = partial(check_one, reader, previous=previous, on_image=on_image)
    checks = []
    with (
        ThreadPoolExecutor(workers) as pool,
        tqdm(total=len(ids), desc=f"checking {len(ids)} images", mininterval=2) as progress,
    ):
        for done in pool.map(lambda chunk: [check(image_id) for image_id in chunk], chunks):
            checks.extend(done)
            progress.update(len(done))
    return checks


def check_one(reader, image_id: str, previous: ScanRecord, on_image=None) -> Checked:
    """The recorded result if the file's stamp, else its bytes, are unchanged; else a decode."""
    stamp = _stamp(reader, image_id)
    known = previous.by_id(image_id)
    if known is not None and stamp != NO_STAMP and known.stamp == stamp:
        return Checked(known.result, stamp, known.file_hash, False)
    try:
        data = reader(image_id)
    except Exception as error:  # a file that vanished or cannot be read: never recorded as unchanged
        return Checked(
            ScanResult(False, error=f"unreadable image ({type(error).__name__}: {error})"), NO_STAMP, b"", True
        )
    digest = file_hash(data)
    same = previous.by_file_hash(digest)
    if same is not None:  # the same bytes as a recorded file (this one moved, renamed or copied): the same pixels
        return Checked(same.result, stamp, digest, False)
    return Checked(scan_bytes(image_id, data, on_image), stamp, digest, True)


def _stamp(reader, image_id: str) -> tuple[int, int, int, int]:
    """The file's stamp if the reader gives one (files do; Arrow rows of Hub-format data do not)."""
    stamp_of = getattr(reader, "stamp", None)
    if stamp_of is None:
        return NO_STAMP
    try:
        return stamp_of(image_id)
    except OSError:
        return NO_STAMP
