"""Model <-> service contract written into every exported ONNX model's metadata_props.

Must agree with src/fusion/bev/grid.ts (raster layout) and src/fusion/learned/contract.ts (the
loader checks these on load and refuses a mismatching model with a message naming the field).
"""
FORMAT = "fusion-bev-centerpoint"
VERSION = 3  # bump on any change of inputs, outputs or their meaning (2: stride-1 head, LiDAR-time targets;
#   3: box orientation as the axis, sin/cos of 2 yaw)
BEV_VERSION = 4  # src/fusion/bev/grid.ts BEV_VERSION
GRID = {"xMinM": -8, "yMinM": -32, "cellM": 1.0, "rows": 64, "cols": 64}
CHANNELS = {
    "lidar": ["log_count", "max_z", "mean_dx", "mean_intensity", "prev_log_count", "mean_dy"],
    "radar": ["log_count", "mean_dx", "mean_vr_ux", "mean_vr_uy", "mean_dy", "mean_rcs"],
    "camera": ["ray_car", "ray_truck", "ray_pedestrian", "ray_cyclist", "depth_splat", "fov"],
}
CLASSES = ["car", "truck", "pedestrian", "cyclist"]  # ObjectClass 1..4
EGO_FEATURES = ["speed_20mps", "yaw_rate_0p5radps"]
HEALTH_FEATURES = ["mask", "present", "freshness", "rate_ratio", "content_ok"]
BOX_CHANNELS = ["dx_cells", "dy_cells", "z_m", "log_l_m", "log_w_m", "log_h_m", "sin_2yaw", "cos_2yaw", "vx_mps", "vy_mps"]
OUT_STRIDE = 1  # output cell = OUT_STRIDE raster cells (1 m)
# Position targets: where the LiDAR saw the object (truth at the tick + ground velocity x the sweep
# time offset at the object's azimuth) for objects with LiDAR points when LiDAR is present, else the
# truth at the tick. The decoder hands that offset to the tracker (TrackDetection.dtS), as the
# classical engine does. Timing of the training rig's LiDAR (config/rigs/sim.yaml, the simulator
# spins clockwise, the sweep starting behind and ending at the stamp).
TARGET_TIME = {"convention": "lidar_observation", "rotation": "cw", "sweep_start_azimuth_rad": 3.141592653589793}
TRAIN_LIDAR = {"x_m": 0.9, "y_m": 0.0, "yaw_rad": 0.0, "period_s": 0.1}
INPUT_NAMES = ["lidar", "radar", "camera", "ego", "health"]
OUTPUT_NAMES = ["heatmap", "box", "gates"]
