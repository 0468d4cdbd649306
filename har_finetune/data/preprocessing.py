"""`Preprocessing`: what the data layer needs from a checkpoint's image processor, read once into a frozen value.

    preprocessing = Preprocessing.from_processor(AutoImageProcessor.from_pretrained(name))

The data layer (transforms, datasets, the pixel cache) takes this value, not the processor object (the pattern of
open_clip's `PreprocessCfg` and timm's `resolve_data_config`): it is hashable, picklable for loader workers, and
says in one place which of the processor's settings we honour. The one exception is a processor that builds each
batch itself (SigLIP 2 NaFlex: variable patch sequences): `Collator` still takes that processor.
"""

from dataclasses import dataclass

from torchvision.transforms import InterpolationMode
from transformers import BaseImageProcessor

# PIL resample codes (what processors store in `resample`)
_INTERPOLATION = {
    0: InterpolationMode.NEAREST,
    1: InterpolationMode.LANCZOS,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
}


@dataclass(frozen=True)
class Preprocessing:
    """The processor's deterministic preprocessing (evaluation) and the sizes augmentation works at."""

    resize: int | tuple[int, int] | None  # shortest edge, or (height, width); None: the processor sizes each image
    crop: tuple[int, int] | None  # centre crop (height, width), or None
    do_resize: bool
    interpolation: InterpolationMode
    mean: tuple[float, float, float]  # (0, 0, 0) / (1, 1, 1) when the processor does not normalise
    std: tuple[float, float, float]
    rescale: float  # 1.0 when the processor does not rescale
    processor_builds_batches: bool  # no fixed size (SigLIP 2 NaFlex): the processor patchifies every batch
    naflex_side: int | None = None  # such a processor's square training crop: patch_size * sqrt(max_num_patches)

    @classmethod
    def from_processor(cls, processor: BaseImageProcessor) -> "Preprocessing":
        size = getattr(processor, "size", None)
        if getattr(size, "shortest_edge", None):
            resize = size.shortest_edge
        elif getattr(size, "height", None):
            resize = (size.height, size.width)
        else:
            resize = None
        crop = None
        if getattr(processor, "do_center_crop", False) and processor.crop_size:
            crop = (processor.crop_size.height, processor.crop_size.width)
        do_rescale, do_normalize = getattr(processor, "do_rescale", True), getattr(processor, "do_normalize", True)
        builds = resize is None
        return cls(
            resize=resize,
            crop=crop,
            do_resize=bool(getattr(processor, "do_resize", True)),
            interpolation=_interpolation(getattr(processor, "resample", 3)),
            mean=_per_channel(processor.image_mean) if do_normalize else (0.0, 0.0, 0.0),
            std=_per_channel(processor.image_std) if do_normalize else (1.0, 1.0, 1.0),
            rescale=float(getattr(processor, "rescale_factor", 1 / 255)) if do_rescale else 1.0,
            processor_builds_batches=builds,
            naflex_side=processor.patch_size * int(processor.max_num_patches**0.5) if builds else None,
        )

    @property
    def has_fixed_size(self) -> bool:
        """False for processors that choose each image's size (SigLIP 2 NaFlex): no fixed geometry to cache."""
        return self.resize is not None

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the model's input."""
        if self.crop:
            return self.crop
        return self.resize if isinstance(self.resize, tuple) else (self.resize, self.resize)


def preprocessing_of(value: "Preprocessing | BaseImageProcessor") -> Preprocessing:
    """`value` itself, or read from an image processor: for callers that still pass a processor
    (benchmarks/bench.py passes one to `build_dataset`, `train_storage` and `DeviceTransform`)."""
    return value if isinstance(value, Preprocessing) else Preprocessing.from_processor(value)


def _interpolation(resample) -> InterpolationMode:
    if isinstance(resample, InterpolationMode):
        return resample
    return _INTERPOLATION.get(int(resample), InterpolationMode.BICUBIC)


def _per_channel(value) -> tuple[float, float, float]:
    return (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)
