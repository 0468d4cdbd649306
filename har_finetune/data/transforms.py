"""Transforms built from `Preprocessing` (the checkpoint's image processor's size, crop, interpolation, mean and
std, read once: data/preprocessing.py).

Evaluation reproduces the processor (CLIP: resize the shortest edge, centre crop; SigLIP: square resize,
values in [-1, 1]) with its exact size and crop arithmetic. Training replaces resize+crop by a random resized
crop (and flip, and optionally a RandAugment / TrivialAugment policy). SigLIP 2 (NaFlex) patchifies in its
processor, so for it we only augment geometry here and let the processor build each batch.

Two granularities share the same arithmetic:
- `eval_transform` / `train_transform`: one PIL image -> normalised float tensor (the simple per-image path);
- the fast path splits that in two: uint8 geometry per image (`ProcessorGeometry`, `train_geometry`, run by the
  loader workers on cached pixels) and `DeviceTransform` per batch (policy + rescale + normalise on the GPU,
  or in the training process on a CPU), so that uint8, not float32, crosses process and PCIe boundaries.
"""

import math

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from har_finetune.core.defaults import AUGMENTATIONS
from har_finetune.data.preprocessing import Preprocessing, preprocessing_of

POLICIES = {"randaugment": v2.RandAugment, "trivialaugment": v2.TrivialAugmentWide}
CPU_BLOCK_BYTES = 512 * 1024  # Normalize's working set per block on one CPU thread (L2: 0.5-2 MiB per core)
CROP_SCALE = (0.25, 1.0)  # milder than torchvision's (0.08, 1): 6 epochs of fine-tuning, not training from scratch

# the op F.interpolate(mode="bilinear", antialias=True) ends in (see _bilinear_antialiased)
_UPSAMPLE_BILINEAR_AA = getattr(torch._C._nn, "_upsample_bilinear2d_aa", None)


def shortest_edge_size(height: int, width: int, shortest_edge: int) -> tuple[int, int]:
    """transformers' `get_resize_output_image_size`: the long side is truncated, not rounded."""
    if width <= height:
        return int(shortest_edge * height / width), shortest_edge
    return shortest_edge, int(shortest_edge * width / height)


def center_crop(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """transformers' centre crop: zero-pad if too small, then offsets rounded down (torchvision rounds half up,
    which moves odd margins by one pixel)."""
    image_height, image_width = image.shape[-2:]
    if height > image_height or width > image_width:
        pad_w, pad_h = max(width - image_width, 0), max(height - image_height, 0)
        image = F.pad(image, [pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2], fill=0)
        image_height, image_width = image.shape[-2:]
    top, left = int((image_height - height) / 2.0), int((image_width - width) / 2.0)
    return image[..., top : top + height, left : left + width]


class ProcessorGeometry:
    """uint8 CHW -> uint8 CHW: the processor's resize and centre crop, nothing random (evaluation)."""

    def __init__(self, preprocessing: Preprocessing):
        preprocessing = preprocessing_of(preprocessing)
        self.resize, self.crop = preprocessing.resize, preprocessing.crop
        self.interpolation, self.do_resize = preprocessing.interpolation, preprocessing.do_resize

    @property
    def key(self) -> str:
        """Everything that changes the stored pixels (part of the pixel cache key)."""
        resize = (
            "none"
            if not self.do_resize
            else (f"{self.resize[0]}x{self.resize[1]}" if isinstance(self.resize, tuple) else f"short{self.resize}")
        )
        crop = f"-crop{self.crop[0]}x{self.crop[1]}" if self.crop else ""
        return f"eval-{resize}{crop}-{self.interpolation.value}"

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.do_resize:
            height, width = image.shape[-2:]
            if isinstance(self.resize, tuple):
                size = list(self.resize)
            else:
                size = list(shortest_edge_size(height, width, self.resize))
            image = F.resize(image, size, interpolation=self.interpolation, antialias=True)
        return center_crop(image, *self.crop) if self.crop else image


class ShortEdgeCap:
    """uint8 CHW -> uint8 CHW: shrink images whose shortest edge exceeds `max_short_edge` (never enlarge).

    This is the working resolution the training crops start from; HAR photos (~250x180) stay untouched, so a
    random crop of the cached pixels equals a random crop of the decoded file.
    """

    def __init__(self, max_short_edge: int, interpolation: InterpolationMode):
        self.max_short_edge, self.interpolation = max_short_edge, interpolation

    @property
    def key(self) -> str:
        return f"store-short{self.max_short_edge}-{self.interpolation.value}"

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        if min(height, width) <= self.max_short_edge:
            return image
        size = list(shortest_edge_size(height, width, self.max_short_edge))
        return F.resize(image, size, interpolation=self.interpolation, antialias=True)


def working_resolution(preprocessing: Preprocessing) -> int:
    """Shortest edge kept for training images: 8/7 of the model's input (224 -> 256), the usual resize ratio."""
    return math.ceil(max(preprocessing.output_size) * 8 / 7)


def train_storage(preprocessing: Preprocessing, max_short_edge: int | None = None) -> ShortEdgeCap:
    """How training images are stored in the pixel cache (default: `working_resolution`)."""
    preprocessing = preprocessing_of(preprocessing)
    return ShortEdgeCap(max_short_edge or working_resolution(preprocessing), preprocessing.interpolation)


class Normalize:
    """uint8 (CHW or NCHW) -> float32, with the processor's fused arithmetic: (x - mean/r) / (std/r), r the
    rescale factor, so the result is bit-for-bit what the processor computes from the same uint8 pixels.

    The layout is kept: channels-last pixels (the cache's) give channels-last floats, which models take as they
    are (a ViT's patch embedding is a convolution). Transposing them here would double the cost on a CPU.
    """

    def __init__(self, preprocessing: Preprocessing):
        rescale = preprocessing.rescale
        self.mean = torch.tensor(preprocessing.mean, dtype=torch.float32) * (1.0 / rescale)
        self.std = torch.tensor(preprocessing.std, dtype=torch.float32) * (1.0 / rescale)
        self._on = {}  # (device, row width or None) -> (mean, std) shaped for it, so a GPU copy is made once

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        # cast, then subtract and divide in place (a uint8 - float32 subtraction casts on the fly: ~5x slower)
        source_rows = _channels_last_rows(pixels)
        if source_rows is None:
            mean, std = self._constants(pixels.device, None)
            return pixels.to(torch.float32).sub_(mean).div_(std)
        # per-channel constants repeated along rows of interleaved RGB (vectorises)
        interleaved = torch.empty(pixels.movedim(-3, -1).shape, dtype=torch.float32, device=pixels.device)
        rows = interleaved.view(source_rows.shape)
        mean, std = self._constants(pixels.device, rows.shape[-1])
        block = _block_rows(rows)
        for source, target in zip(source_rows.split(block), rows.split(block)):
            target.copy_(source).sub_(mean).div_(std)
        return interleaved.movedim(-1, -3)  # channels-last, like the input

    def _constants(self, device: torch.device, row_width: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        if (device, row_width) not in self._on:
            if row_width is None:
                shaped = self.mean.view(-1, 1, 1), self.std.view(-1, 1, 1)
            else:
                shaped = self.mean.repeat(row_width // 3), self.std.repeat(row_width // 3)
            self._on[device, row_width] = tuple(t.to(device) for t in shaped)
        return self._on[device, row_width]


def _block_rows(rows: torch.Tensor) -> int:
    """Rows per pass. One torch thread on a CPU: blocks that stay in L2 cache across the three passes (~10% faster
    than whole batches). Several threads: the whole batch, three OpenMP regions in all. Each region ends in a
    barrier that waits for every thread, and when another process holds a core one thread is descheduled for a
    scheduler slice (ms): 300 blocks x 3 regions per batch of 256 made evaluation 25-100x slower on a busy
    machine (docs/performance.md, benchmarks/normalize_busy_cpu.py)."""
    if rows.device.type != "cpu" or torch.get_num_threads() > 1:
        return len(rows)
    return max(1, CPU_BLOCK_BYTES // (rows.shape[-1] * rows.element_size()))


def _channels_last_rows(pixels: torch.Tensor) -> torch.Tensor | None:
    """A (rows, width * 3) view of channels-last (N)CHW pixels (RGB interleaved along each row), else None."""
    interleaved = pixels.movedim(-3, -1)
    if pixels.dim() < 3 or pixels.stride(-3) != 1 or not interleaved.is_contiguous():
        return None
    return interleaved.view(-1, interleaved.shape[-2] * interleaved.shape[-1])


def policy(augmentation: str) -> v2.Transform | None:
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {augmentation!r}; choose one of {', '.join(AUGMENTATIONS)}")
    return POLICIES[augmentation]() if augmentation in POLICIES else None


class RandomResizedCropFlip:
    """uint8 CHW -> uint8 CHW: a random resized crop (torchvision's distribution: area fraction uniform in `scale`,
    aspect ratio log-uniform in 3/4..4/3, 10 tries, else a centre crop), then a mirror with probability 1/2.

    Built for speed on cached uint8 pixels, where the resize is the whole cost of a training image: one generator
    call for all parameters (torchvision's sampler makes ~30 tiny tensors), a slice, and one bilinear
    `interpolate` straight on uint8 (no float round trip; ~20% cheaper than bicubic, and only augmentation:
    evaluation keeps the processor's interpolation). About 2x v2.RandomResizedCrop + RandomHorizontalFlip.
    """

    def __init__(self, size: tuple[int, int], scale: tuple[float, float] = CROP_SCALE):
        self.size, self.scale, self.log_ratio = list(size), scale, (math.log(3 / 4), math.log(4 / 3))

    takes_generator = True  # the dataset seeds a generator per image; no need to fork the global one

    def params(self, height: int, width: int, generator: torch.Generator | None = None) -> tuple[int, ...]:
        draws = torch.rand(11, 4, generator=generator).tolist()
        flip = draws[10][0] < 0.5
        for area_draw, ratio_draw, top_draw, left_draw in draws[:10]:
            area = height * width * (self.scale[0] + area_draw * (self.scale[1] - self.scale[0]))
            ratio = math.exp(self.log_ratio[0] + ratio_draw * (self.log_ratio[1] - self.log_ratio[0]))
            crop_w, crop_h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < crop_w <= width and 0 < crop_h <= height:
                top, left = int(top_draw * (height - crop_h + 1)), int(left_draw * (width - crop_w + 1))
                return top, left, crop_h, crop_w, flip
        ratio = min(max(width / height, 3 / 4), 4 / 3)
        crop_h, crop_w = (height, round(height * ratio)) if width / height > ratio else (round(width / ratio), width)
        return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w, flip

    def __call__(self, image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        top, left, height, width, flip = self.params(*image.shape[-2:], generator)
        crop = image.permute(1, 2, 0)[top : top + height, left : left + width]  # HWC
        crop = crop.flip(1) if flip else crop.contiguous()  # one copy either way; mirroring first is exact
        # channels-last in, channels-last out: torch's AVX uint8 resize reads and writes packed pixels, so CHW
        # input would cost two transposes (~4x slower); Collator and Normalize keep the layout until the float cast
        batch_of_one = crop[None].permute(0, 3, 1, 2)  # (not crop.permute(2, 0, 1)[None]: torch reads that as CHW)
        return _bilinear_antialiased(batch_of_one, self.size)[0]


def _bilinear_antialiased(images: torch.Tensor, size: list[int]) -> torch.Tensor:
    """`F.interpolate(images, size, mode="bilinear", antialias=True)`, minus its argument checks: the op it ends in,
    called directly, saves ~40 us of Python per 224x224 image (a quarter of the resize). Same pixels (a test)."""
    if _UPSAMPLE_BILINEAR_AA is None:  # a torch without the private op: the public route
        return torch.nn.functional.interpolate(images, size=size, mode="bilinear", antialias=True)
    return _UPSAMPLE_BILINEAR_AA(images, size, False, None)


def train_geometry(preprocessing: Preprocessing, augmentation: str, with_policy: bool = True):
    """uint8 CHW -> uint8 CHW: random resized crop, flip, and (unless the device applies it) the policy."""
    crop_flip = RandomResizedCropFlip(preprocessing.output_size)
    chosen = policy(augmentation)
    return v2.Compose([crop_flip, chosen]) if chosen and with_policy else crop_flip


def eval_transform(preprocessing: Preprocessing):
    """Deterministic PIL -> tensor transform equal to the processor's own preprocessing (PIL -> PIL for processors
    that build batches)."""
    if preprocessing.processor_builds_batches:
        return _unchanged
    return v2.Compose([v2.PILToTensor(), ProcessorGeometry(preprocessing), Normalize(preprocessing)])


def _unchanged(image):
    return image


def train_transform(preprocessing: Preprocessing, augmentation: str):
    """Random PIL -> tensor transform (or PIL -> PIL for processors that build batches)."""
    if augmentation == "none":
        return eval_transform(preprocessing)
    if preprocessing.processor_builds_batches:
        side = preprocessing.naflex_side
        steps = [
            v2.RandomResizedCrop(
                (side, side), scale=CROP_SCALE, interpolation=preprocessing.interpolation, antialias=True
            ),
            v2.RandomHorizontalFlip(),
        ]
        chosen = policy(augmentation)
        return v2.Compose(steps + ([chosen] if chosen else []))  # PIL in, PIL out
    return v2.Compose([v2.PILToTensor(), train_geometry(preprocessing, augmentation), Normalize(preprocessing)])


class DeviceTransform:
    """The batch half of the fast path, run where the model runs: uint8 NCHW -> normalised float32.

    `seeds` (one int per image, from the dataset) apply the augmentation policy per image on the device, each
    image under its own seed, so GPU runs repeat exactly like CPU runs. Float batches (the per-image path)
    pass through untouched.
    """

    def __init__(self, preprocessing: Preprocessing, augmentation: str = "none"):
        self.normalize = Normalize(preprocessing_of(preprocessing))
        self.policy = policy(augmentation)

    def __call__(self, pixels: torch.Tensor, seeds: list[int] | None = None) -> torch.Tensor:
        if pixels.dtype != torch.uint8:
            return pixels
        if seeds is not None and self.policy is not None:
            pixels = torch.stack([self._augment(image, seed) for image, seed in zip(pixels, seeds)])
        return self.normalize(pixels)

    def _augment(self, image: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):  # v2 draws its parameters from the CPU generator
            torch.default_generator.manual_seed(seed)  # not torch.manual_seed: it would reseed the GPU's generator
            return self.policy(image)
