"""Person masks with MediaPipe selfie segmentation.

The general model (256 x 256 input) runs on the crop shrunk to 256 x 256; its soft mask
is resized back to S x S and stored as uint8 0..255 (255 = person).
"""

from __future__ import annotations

import numpy as np

MODEL_SIDE = 256  # the general model's input side; larger inputs are resized to it anyway


class PersonSegmenter:
    """Callable: HxWx3 uint8 RGB -> HxW uint8 mask. Frames of one clip in order
    (the model keeps no state, so order only matters for speed)."""

    def __init__(self) -> None:
        from avatarzoo.trackers.runtime import Solution, solution

        selfie_segmentation = solution("selfie_segmentation")

        self._model = Solution(lambda: selfie_segmentation.SelfieSegmentation(model_selection=0))

    def __call__(self, img: np.ndarray) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        small = cv2.resize(img, (MODEL_SIDE, MODEL_SIDE), interpolation=cv2.INTER_AREA)
        soft = self._model.process(small).segmentation_mask  # float32 [256, 256] in 0..1
        soft = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(soft * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def close(self) -> None:
        self._model.close()

    def __enter__(self) -> "PersonSegmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
