"""Train the fusion models and export them to ONNX (npm run train).

  /usr/bin/python3 train/train.py [--data data/bev] [--out models] [--models intermediate,late,lidar_only]
                                  [--steps 1200] [--batch 16] [--threads 2] [--seed 0] [--smoke]
  fine-tuning: train/train.py --models intermediate --init models/fusion-intermediate.pt
                              --data data/bev-real --out /tmp/ft --steps 200 --lr 2e-4

Deterministic for a given seed and thread count: one numpy Generator drives batch order, flips,
modality dropout and health jitter; torch is seeded and runs on a fixed number of threads.
--smoke trains a few steps on a synthetic set into a temporary directory (CI).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contract as K  # noqa: E402
from data import BevDataset, select_time, synthetic  # noqa: E402
from export import export_onnx  # noqa: E402
from model import MODALITIES, FusionNet, ModelConfig, count_params  # noqa: E402

PRESETS = {
    "intermediate": dict(mode="intermediate", modalities=MODALITIES),
    "late": dict(mode="late", modalities=MODALITIES),
    "lidar_only": dict(mode="intermediate", modalities=("lidar",)),
}
# per-modality dropout probabilities (lidar, radar, camera) for the fusion models
P_DROP = np.array([0.25, 0.2, 0.2])
# centre offsets matter most (ATE, mAP at 0.5 m)
BOX_W = torch.tensor([2, 2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]).reshape(1, len(K.BOX_CHANNELS), 1, 1)


def focal(p, t, weight=None):
    """CenterNet focal loss on probabilities p against Gaussian targets t, (B, K, H, W)."""
    p = p.clamp(1e-4, 1 - 1e-4)
    pos = (t >= 0.999).float()
    lp = -torch.log(p) * (1 - p) ** 2 * pos
    ln = -torch.log(1 - p) * p**2 * (1 - t) ** 4 * (1 - pos)
    per = (lp + ln).sum(dim=(1, 2, 3))  # (B,)
    npos = pos.sum(dim=(1, 2, 3))
    if weight is not None:
        per, npos = per * weight, npos * weight
    return per.sum() / npos.sum().clamp(min=1.0)


# Huber transition per box channel (0 = plain L1). vy and sin 2yaw are within 0.05 of 0 in most
# regression cells (64 % and 79 %: traffic along x, axis-aligned roads): under L1 those outputs of
# the version-3 models sat at that median and died (DECISIONS L20). Quadratic near 0 keeps the
# gradient proportional to the error there.
HUBER_BETA = torch.tensor([0, 0, 0, 0, 0, 0, 0.1, 0.1, 1.0, 1.0]).reshape(1, len(K.BOX_CHANNELS), 1, 1)


def reg_loss(box, reg, regm):
    e = (box - reg).abs()
    quad = 0.5 * e * e / HUBER_BETA.clamp(min=1e-6)
    per = torch.where(e < HUBER_BETA, quad, e - 0.5 * HUBER_BETA)
    return (per * BOX_W * regm).sum() / regm.sum().clamp(min=1.0)


def augment(rng, ras, aux, heat, reg, regm, fusion: bool, p_drop=P_DROP, p_no_prev=0.0):
    """Mirror y (half the batch), modality dropout, health jitter, then the per-sample choice of
    target time (data.select_time). Targets come with a time axis (B, 2, ...). In place on numpy arrays.
    p_no_prev > 0: that share of samples loses the LiDAR previous-sweep channel (as at a LiDAR tick
    slower than the rasterizer's prevMaxAgeS, e.g. a nuScenes keyframe log at 2 Hz); 0 draws nothing,
    so the default recipe's random stream is unchanged."""
    B = ras.shape[0]
    flip = rng.random(B) < 0.5
    if flip.any():
        f = np.where(flip)[0]
        ras[f] = ras[f, :, :, ::-1]
        ras[f, K.channel("lidar", "mean_dy")] *= -1
        ras[f, K.channel("radar", "mean_vr_uy")] *= -1
        ras[f, K.channel("radar", "mean_dy")] *= -1
        aux[f, K.EGO_FEATURES.index("yaw_rate_0p5radps")] *= -1
        heat[f] = heat[f, ..., ::-1]
        regm_f = regm[f, ..., ::-1]
        reg_f = reg[f, ..., ::-1].copy()
        dy = K.box("dy_cells")
        reg_f[:, :, dy] = np.where(regm_f[:, :, 0] > 0, 1 - reg_f[:, :, dy], 0)  # dy offset
        reg_f[:, :, K.box("sin_2yaw")] *= -1
        reg_f[:, :, K.box("vy_mps")] *= -1
        reg[f] = reg_f
        regm[f] = regm_f
    if p_no_prev > 0:
        ras[rng.random(B) < p_no_prev, K.channel("lidar", "prev_log_count")] = 0
    NM, NC, NE, NH = K.NM, K.NC, K.NE, K.NH
    h = aux[:, NE:].reshape(B, NM, NH)
    mask, fresh, rate = K.health("mask"), K.health("freshness"), K.health("rate_ratio")
    present = h[:, :, mask] > 0
    # health features of present modalities vary live (health monitor) vs offline (tick-derived)
    h[:, :, fresh] = np.where(present, rng.uniform(0.5, 1.0, (B, NM)), 0)
    h[:, :, rate] = np.where(present, np.clip(h[:, :, rate] * rng.uniform(0.7, 1.05, (B, NM)), 0, 1), 0)
    if fusion:
        drop = rng.random((B, NM)) < p_drop[None, :]
        drop[drop.all(axis=1), 0] = False  # keep at least one modality
        for m in range(NM):
            d = np.where(drop[:, m])[0]
            ras[d, NC * m : NC * m + NC] = 0
            h[d, m, :] = 0
    aux[:, NE:] = h.reshape(B, NM * NH)
    heat, reg, regm = select_time(heat, reg, regm, h[:, K.MODALITIES.index("lidar"), mask] > 0)
    return ras, aux, heat, reg, regm


def to_inputs(ras, aux):
    r = torch.from_numpy(np.ascontiguousarray(ras))
    a = torch.from_numpy(np.ascontiguousarray(aux))
    NC = K.NC
    rasters = tuple(r[:, NC * m : NC * m + NC].contiguous() for m in range(K.NM))  # lidar, radar, camera
    return (*rasters, a[:, : K.NE].contiguous(), a[:, K.NE :].reshape(-1, K.NM, K.NH).contiguous())


def warm_start(model: FusionNet, lidar: FusionNet) -> int:
    """Copy the LiDAR path of the trained lidar_only model into a fusion model (same shapes):
    LiDAR encoder and gate, positional embedding, ego token, and the transformer + head (intermediate)
    or the LiDAR branch's transformer + head (late). Returns the number of tensors copied."""
    src = lidar.state_dict()
    dst = model.state_dict()
    mapping = {}
    for k in src:
        if k.startswith(("enc.0.", "gate.0.")) or k in ("pos",) or k.startswith("ego_tok."):
            mapping[k] = k
        elif model.c.mode == "intermediate" and k.startswith(("blocks.", "head.")):
            mapping[k] = k
        elif model.c.mode == "late" and k.startswith("blocks."):
            mapping[k] = "blocks.0." + k[len("blocks."):]
        elif model.c.mode == "late" and k.startswith("head."):
            mapping[k] = "heads.0." + k[len("head."):]
    n = 0
    for a, b in mapping.items():
        if b in dst and dst[b].shape == src[a].shape:
            dst[b] = src[a].clone()
            n += 1
    dst["mod_emb"][0] = src["mod_emb"][0]
    model.load_state_dict(dst)
    return n


def load_checkpoint(path: str, name: str):
    """A fusion-<model>.pt written by train.py: (config, state_dict, its training info). The config
    must be the preset's architecture (mode and modalities)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    d = dict(ckpt["config"])
    d["modalities"] = tuple(d["modalities"])
    cfg = ModelConfig(**d)
    want = ModelConfig(**PRESETS[name])
    if (cfg.mode, tuple(cfg.modalities)) != (want.mode, tuple(want.modalities)):
        raise SystemExit(f"train: --init {path} is a {cfg.mode} model of {cfg.modalities}, not '{name}'")
    return cfg, ckpt["state_dict"], ckpt.get("training", {})


def train_one(name, ds, val, args, out_dir, log, init_from=None):
    cfg = ModelConfig(**PRESETS[name])
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    init_info = None
    if args.init:
        cfg, state, prev = load_checkpoint(args.init, name)
        model = FusionNet(cfg)
        model.load_state_dict(state)
        init_info = {"checkpoint": os.path.basename(args.init), "steps": prev.get("steps"),
                     "dataset": (prev.get("dataset") or {}).get("rig")}
        log(f"[{name}] fine-tuning from {args.init} ({prev.get('steps')} steps on rig {init_info['dataset']})")
    else:
        model = FusionNet(cfg)
    if init_from is not None:
        log(f"[{name}] warm start from lidar_only: {warm_start(model, init_from)} tensors")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = {"intermediate": args.steps, "late": args.late_steps or args.steps, "lidar_only": args.lidar_steps or args.steps}[name]
    planned = steps
    warm = min(100, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    fusion = len(cfg.modalities) > 1
    order = np.array([], dtype=np.int64)
    t0 = time.time()
    model.train()
    hist = []
    for step in range(steps):
        if len(order) < args.batch:
            order = np.concatenate([order, rng.permutation(len(ds))])
        ids, order = order[: args.batch], order[args.batch :]
        ras, aux, heat, reg, regm = (x.copy() for x in ds.batch(ids))
        ras, aux, heat, reg, regm = augment(rng, ras, aux, heat, reg, regm, fusion, args.p_drop, args.p_no_prev)
        x = to_inputs(ras, aux)
        heat_t, reg_t, regm_t = (torch.from_numpy(np.ascontiguousarray(v)) for v in (heat, reg, regm))
        p, box, gates, per_mod = model(*x, aux=True)
        loss_h = focal(p, heat_t)
        loss_r = reg_loss(box, reg_t, regm_t)
        loss = loss_h + loss_r
        if per_mod is not None:
            for i, pm in enumerate(per_mod):
                loss = loss + 0.3 * focal(pm, heat_t, weight=x[4][:, model.midx[i], 0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        hist.append((loss_h.item(), loss_r.item()))
        if (step + 1) % args.log_every == 0 or step == steps - 1:
            h = np.mean(hist[-args.log_every :], axis=0)
            el = time.time() - t0
            log(f"[{name}] step {step + 1}/{steps} heat {h[0]:.3f} reg {h[1]:.3f} "
                f"gates {gates.mean(0).detach().numpy().round(2).tolist()} {el:.0f}s ({(step + 1) * args.batch / el:.1f} samples/s)")
        cap = args.max_minutes * (0.4 if name == "lidar_only" else 1.0)
        if cap and time.time() - t0 > cap * 60:
            log(f"[{name}] stopping at step {step + 1}: time cap {cap:.1f} min reached (this run is not deterministic)")
            steps = step + 1
            break
    train_s = time.time() - t0
    model.eval()
    vloss = evaluate_loss(model, val, args) if val is not None else None
    onnx_path = os.path.join(out_dir, f"fusion-{name}.onnx")
    info = {
        "steps": steps, "steps_planned": planned, "batch": args.batch, "seed": args.seed, "threads": args.threads, "lr": args.lr,
        "train_seconds": round(train_s, 1), "params": count_params(model), "val_loss": vloss,
        "train_samples": len(ds), "dataset": getattr(ds, "index", {}).get("summary"),
        "warm_start": "lidar_only" if init_from is not None else None,
        "fine_tuned_from": init_info,
        "p_drop": args.p_drop.tolist() if fusion else None,
        "p_no_prev": args.p_no_prev,
    }
    export_onnx(model, onnx_path, name, extra={"training": info})
    if name == "intermediate" or args.smoke:
        torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict(), "training": info},
                   os.path.join(out_dir, f"fusion-{name}.pt"))
    info["onnx_bytes"] = os.path.getsize(onnx_path)
    log(f"[{name}] done: {json.dumps(info)}")
    return info, model


@torch.no_grad()
def evaluate_loss(model, val, args):
    n = min(len(val), 128)
    tot_h = tot_r = 0.0
    for a in range(0, n, args.batch):
        ids = np.arange(a, min(n, a + args.batch))
        ras, aux, heat, reg, regm = val.batch(ids)
        heat, reg, regm = select_time(heat, reg, regm, aux[:, 2] > 0)
        p, box, _ = model(*to_inputs(ras, aux))
        tot_h += focal(p, torch.from_numpy(heat)).item() * len(ids)
        tot_r += reg_loss(box, torch.from_numpy(reg), torch.from_numpy(regm)).item() * len(ids)
    return {"heat": round(tot_h / n, 4), "reg": round(tot_r / n, 4), "samples": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    ap.add_argument("--data", default=os.path.join(repo, "data", "bev"))
    ap.add_argument("--out", default=os.path.join(repo, "models"))
    ap.add_argument("--models", default="intermediate,late,lidar_only")
    ap.add_argument("--steps", type=int, default=3000, help="optimizer steps of the intermediate model")
    ap.add_argument("--late-steps", type=int, default=1000, help="optimizer steps of the late model (0 = --steps)")
    ap.add_argument("--lidar-steps", type=int, default=1500, help="optimizer steps of the lidar_only model (0 = --steps)")
    ap.add_argument("--no-warm-start", action="store_true", help="do not start fusion models from lidar_only")
    ap.add_argument("--p-drop", default=",".join(str(p) for p in P_DROP),
                    help="modality dropout probabilities of the fusion models: lidar,radar,camera")
    ap.add_argument("--p-no-prev", type=float, default=0.0,
                    help="share of samples whose LiDAR previous-sweep channel is zeroed (logs whose LiDAR ticks "
                    "slower than 4 Hz, e.g. nuScenes keyframes, never have it); default 0")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 measured fastest on the shared 2-core box)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-minutes", type=float, default=28, help="safety stop per fusion model, lidar_only gets 0.4x (0 = off)")
    ap.add_argument("--smoke", action="store_true", help="a few steps on synthetic data into a temp dir")
    ap.add_argument("--init", help="fine-tune: start from this checkpoint (a fusion-<model>.pt written by train.py) "
                    "instead of from scratch; needs exactly one model in --models")
    args = ap.parse_args()
    try:
        args.p_drop = np.array([float(v) for v in args.p_drop.split(",")])
        assert args.p_drop.shape == (3,) and ((args.p_drop >= 0) & (args.p_drop < 1)).all()
    except (ValueError, AssertionError):
        print(f"train: --p-drop wants three probabilities in [0, 1), lidar,radar,camera (got '{args.p_drop}')",
              file=sys.stderr)
        return 2
    if not 0 <= args.p_no_prev < 1:
        print(f"train: --p-no-prev wants a probability in [0, 1) (got {args.p_no_prev})", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    log = lambda s: print(s, flush=True)  # noqa: E731
    if args.smoke:
        ds, val = synthetic(24, 0), synthetic(8, 1)
        if args.out == os.path.join(repo, "models"):
            args.out = tempfile.mkdtemp(prefix="fusion-smoke-")
    else:
        for split in ("train", "val"):
            if not os.path.exists(os.path.join(args.data, split, "index.json")):
                print(f"train: no dataset at {args.data}/{split} (run npm run dataset first)", file=sys.stderr)
                return 2
        ds, val = BevDataset(os.path.join(args.data, "train")), BevDataset(os.path.join(args.data, "val"))
    os.makedirs(args.out, exist_ok=True)
    log(f"train: {len(ds)} train / {len(val)} val samples, models {args.models}, {args.steps} steps, batch {args.batch}, "
        f"{args.threads} threads, out {args.out}")
    t0 = time.time()
    infos = {}
    names = args.models.split(",")
    for name in names:
        if name not in PRESETS:
            print(f"train: unknown model '{name}' (known: {', '.join(PRESETS)})", file=sys.stderr)
            return 2
    if args.init and len(names) != 1:
        print("train: --init fine-tunes one model: give exactly one in --models", file=sys.stderr)
        return 2
    if args.init and not os.path.exists(args.init):
        print(f"train: --init {args.init}: no such file", file=sys.stderr)
        return 2
    # lidar_only first: the fusion models start from its LiDAR path
    names.sort(key=lambda n: n != "lidar_only")
    lidar = None
    for name in names:
        init = lidar if (name != "lidar_only" and not args.no_warm_start) else None
        infos[name], model = train_one(name, ds, val, args, args.out, log, init_from=init)
        if name == "lidar_only":
            lidar = model
    summary = {"total_seconds": round(time.time() - t0, 1), "models": infos, "command": " ".join(sys.argv),
               "dataset": getattr(ds, "index", {}).get("summary")}
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(summary, f, indent=2)
    if not args.smoke:
        import model_card

        model_card.main(["--models", args.out])
    log(f"train: all done in {summary['total_seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
