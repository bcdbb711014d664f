"""Model <-> service contract written into every exported ONNX model's metadata_props.

The constants shared with the service come from src/fusion/model-contract.json, the one file that
Python (here) and TypeScript (src/fusion/model-contract.ts: rasterizer, model loader, decoder) both
read; test/train/contract.test.ts fails when either side differs from it. The service refuses a
model whose metadata disagrees with its own constants, naming the field.
"""
import json
from pathlib import Path

CONTRACT_PATH = Path(__file__).resolve().parent.parent / "src" / "fusion" / "model-contract.json"
_C = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))

FORMAT = _C["format"]
VERSION = _C["version"]  # bump on any change of inputs, outputs or their meaning (2: stride-1 head,
#   LiDAR-time targets; 3: box orientation as the axis, sin/cos of 2 yaw)
BEV_VERSION = _C["bev_version"]
GRID = _C["grid"]
MODALITIES = tuple(_C["modalities"])
CHANNELS = _C["channels"]
CLASSES = _C["classes"]  # ObjectClass 1..4
EGO_FEATURES = _C["ego_features"]
HEALTH_FEATURES = _C["health_features"]
BOX_CHANNELS = _C["box_channels"]
OUT_STRIDE = _C["out_stride"]  # output cell = OUT_STRIDE raster cells (1 m)
INPUT_NAMES = _C["input_names"]
OUTPUT_NAMES = _C["output_names"]

# Training-side choices (not read by the service as constants; written into the model's metadata):
# Position targets: where the LiDAR saw the object (truth at the tick + ground velocity x the sweep
# time offset at the object's azimuth) for objects with LiDAR points when LiDAR is present, else the
# truth at the tick. The decoder hands that offset to the tracker (TrackDetection.dtS), as the
# classical engine does. Timing of the training rig's LiDAR (config/rigs/sim.yaml, the simulator
# spins clockwise, the sweep starting behind and ending at the stamp).
TARGET_TIME = {"convention": "lidar_observation", "rotation": "cw", "sweep_start_azimuth_rad": 3.141592653589793}
TRAIN_LIDAR = {"x_m": 0.9, "y_m": 0.0, "yaw_rad": 0.0, "period_s": 0.1}

# Sizes and positions derived from the lists above (training code indexes arrays with these, never
# with literal numbers, so a change of the file changes them all).
NM = len(MODALITIES)  # modality rasters
NC = len(CHANNELS[MODALITIES[0]])  # channels per modality raster (every modality has as many)
NE = len(EGO_FEATURES)
NH = len(HEALTH_FEATURES)
RASTER_CHANNELS = NM * NC  # the dataset's stacked rasters
AUX = NE + NM * NH  # the dataset's aux vector: ego features, then each modality's health vector


def channel(modality: str, name: str) -> int:
    """Index of a raster channel in the stacked (modality-major) rasters."""
    return MODALITIES.index(modality) * NC + CHANNELS[modality].index(name)


def box(name: str) -> int:
    """Index of a box output channel."""
    return BOX_CHANNELS.index(name)


def health(name: str) -> int:
    """Index of a health feature in a modality's health vector."""
    return HEALTH_FEATURES.index(name)
