"""HAP's cost against its own baselines, every ratio measured in one run.

Each comparison interleaves the two variants and reports the median of
``--repeats`` timings, so machine noise hits both sides alike.

- step_time_ratio_vs_mae: HAP training step (2 part-masked views, alignment)
  over the 1-view MAE step (same HAP model, align off), same ViT/batch/ratio,
  the HAP step on the path ``HAP(batch_views=None)`` picks for the device
  (``default_views``: sequential on CPU, batched on CUDA); the other path's
  ratio is reported beside it.
- peak_mem_ratio_vs_mae: peak memory of the same two steps (CPU: RSS growth
  in a fresh process per variant, glibc's mmap threshold fixed so freed
  tensors leave RSS; CUDA: max allocated).
- batched_vs_sequential_views: the batched HAP step
  (``HAP(batch_views=True)``) over the same step with the two views encoded
  one after the other (``HAP(batch_views=False)``, the release's way).
- pipeline_ratio_vs_mae: images/s of the HAP data pipeline as
  configs/hap/hap_vitb_lup.py ships it (decode, keypoint crop, flip, pack,
  hap_collate making the batch's masks) over mmpretrain's MAE pipeline
  (decode, crop, flip, pack, default_collate) on the demo crops, both with
  the thread settings of a data worker (OpenCV 0 threads as the configs'
  env_cfg sets, 1 torch thread as torch's workers set), over
  ``--pipeline-repeats`` rounds; also with the masks made per sample
  (``_per_sample_masks``) and the spread of the per-round ratios.
- mask_speedup_vs_loop: per-sample time of a per-sample Python loop of the
  same masking algorithm (below) over PartAwareMaskGenerator's.
- flops_*: forward FLOPs (mmengine's FlopAnalyzer) of HAP vs MAE.
- machine: CPU, GPU name/memory/capability and driver, torch and its CUDA
  and cuDNN versions, ``--amp`` (the steps run under ``torch.autocast``:
  fp16 with a loss scale by default on CUDA, as the configs'
  ``AmpOptimWrapper``; bf16 selectable; off on CPU) and the attention kernel the
  encoder ran with (``attention_kernel``: flash, mem_efficient, cudnn or
  math, from the profiled aten ops in ``attention_ops``).

On a GPU node (docs/gpu.md, "First run on a GPU node"):

    python tools/analysis/benchmark.py --device cuda --json work_dirs/bench_gpu.json

    python tools/analysis/benchmark.py --quick --json work_dirs/bench.json
"""
import argparse
import contextlib
import gc
import json
import math
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List

import cv2
import mmcv
import mmengine
import mmpretrain
import numpy as np
import torch
from mmengine.dataset import Compose, default_collate
from mmengine.logging import MMLogger
from mmpretrain.registry import MODELS, TRANSFORMS

import hap_mm  # noqa: F401  (registers hap_mm modules)
from hap_mm.datasets import find_mask_generator, hap_collate
from hap_mm.datasets.coco_keypoints import BODY_PARTS
from hap_mm.datasets.keypoint_io import keypoints_from_object, safe_load_npy
from hap_mm.datasets.transforms import PartAwareMaskGenerator
from hap_mm.utils import HelpFormatter, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ARCHS = {
    'b': ('b', 768, 512, 8, 16),
    's': ('deit-s', 384, 256, 2, 8),  # ViT-S/16: 12 layers, 384-d
    'tiny': (dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=128), 64, 32, 1, 2),
}


# --------------------------------------------------------------- models
def build_model(arch: str, views: int, align: bool) -> torch.nn.Module:
    vit_arch, dim, dec_dim, dec_depth, dec_heads = ARCHS[arch]
    model = MODELS.build(
        dict(
            type='HAP',
            backbone=dict(
                type='HAPViT', arch=vit_arch, img_size=(256, 128),
                out_type='raw'),
            neck=dict(
                type='HAPPretrainDecoder',
                grid_size=(16, 8),
                embed_dim=dim,
                decoder_embed_dim=dec_dim,
                decoder_depth=dec_depth,
                decoder_num_heads=dec_heads),
            head=dict(
                type='HAPPretrainHead',
                grid_size=(16, 8),
                norm_pix=True,
                loss=dict(type='PixelReconstructionLoss', criterion='L2')),
            align_loss=dict(type='StructureInvariantAlignLoss')
            if align else None))
    model.init_weights()
    return model


def demo_keypoints(num: int) -> np.ndarray:
    """(num, 17, 3) demo keypoints scaled into 256 x 128 crops."""
    rows = []
    for name in sorted(os.listdir(osp.join(ROOT, 'data/demo/keypoints/coco'))):
        with open(osp.join(ROOT, 'data/demo/keypoints/coco', name), 'rb') as f:
            kpts = keypoints_from_object(safe_load_npy(f.read()))
        img = osp.join(ROOT, 'data/demo/images/coco', name[:-4] + '.jpg')
        h, w = mmcv.imread(img).shape[:2]
        kpts[:, 0] *= 128 / w
        kpts[:, 1] *= 256 / h
        rows.append(kpts)
    return np.stack([rows[i % len(rows)] for i in range(num)])


def make_masks(batch: int, views: int, part_guided: bool) -> torch.Tensor:
    gen = PartAwareMaskGenerator(
        num_views=views, part_guided=part_guided, block_wise=part_guided)
    kpts = demo_keypoints(batch)
    mask, _ = gen.generate(kpts[..., :2], kpts[..., 2])
    return torch.from_numpy(mask.reshape(batch, views, -1))


AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def step_fn(model, x, mask, batch_views=None,
            amp: str = 'off') -> Callable[[], None]:
    """One AdamW training step of ``model`` (``HAP``), its views batched or
    run one after the other (``HAP.batch_views``; None: the device's
    default path), fed as in training (``hap_collate``'s batch mask and its
    count, no per-sample masks).

    ``amp``: 'off' (fp32), 'bf16' or 'fp16': the forward under
    ``torch.autocast`` on the device of ``x``, as ``AmpOptimWrapper`` runs
    it; fp16 on CUDA with a dynamic loss scale."""
    optim = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4)
    num_masked = int(mask[0, 0].sum())
    scaler = torch.amp.GradScaler(
        x.device.type, enabled=amp == 'fp16' and x.is_cuda)

    def step():
        model.batch_views = batch_views
        with torch.autocast(x.device.type, dtype=AMP_DTYPES.get(amp),
                            enabled=amp != 'off'):
            losses = model.loss(x, None, mask=mask, num_masked=num_masked)
        optim.zero_grad()
        scaler.scale(sum(losses.values())).backward()
        scaler.step(optim)
        scaler.update()
        if x.is_cuda:
            torch.cuda.synchronize()

    return step


def attention_ops(model, x, mask, amp: str) -> List[str]:
    """The aten attention implementations one masked encoder forward calls
    (torch picks flash, memory-efficient, cuDNN or math per device, dtype
    and shape), read from the profiler; empty when the encoder does not
    call ``scaled_dot_product_attention``."""
    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad(), torch.autocast(
            x.device.type, dtype=AMP_DTYPES.get(amp),
            enabled=amp != 'off'), profile(
                activities=[ProfilerActivity.CPU]) as prof:
        model.backbone(x, mask)
    return sorted({
        e.key for e in prof.key_averages()
        if e.key.startswith('aten::_scaled_dot_product')
        or e.key.startswith('aten::_flash_attention')
        or e.key.startswith('aten::_efficient_attention')
    })


def attention_kernel(ops: List[str]) -> str:
    """flash, mem_efficient, cudnn or math from :func:`attention_ops`."""
    for name, key in (('cudnn', 'cudnn'), ('flash', 'flash'),
                      ('mem_efficient', 'efficient'), ('math', 'math')):
        if any(key in op for op in ops):
            return name
    return 'none (no scaled_dot_product_attention call)'


def environment(args, model, x, mask) -> dict:
    """What the timings depend on: machine, versions, GPU, AMP and the
    attention kernel the encoder ran with."""
    from hap_mm.utils.device import driver_versions
    env = dict(
        cpu=platform.processor() or platform.machine(),
        cores=os.cpu_count(),
        device=args.device,
        amp=args.amp,
        python=platform.python_version(),
        torch=torch.__version__,
        torch_cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available() else None,
        mmengine=mmengine.__version__,
        mmpretrain=mmpretrain.__version__,
        numpy=np.__version__)
    if x.is_cuda:
        props = torch.cuda.get_device_properties(x.device)
        env.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_capability=f'{props.major}.{props.minor}',
            gpu_count=torch.cuda.device_count(),
            driver=driver_versions()[0])
    ops = attention_ops(model, x[:2], mask[:2], args.amp)
    env.update(attention_kernel=attention_kernel(ops), attention_ops=ops)
    return env


def with_usage(fn: Callable[[], None], usage: Dict[str, list],
               key: str) -> Callable[[], None]:
    """``fn`` that appends (minor page faults, system CPU seconds) of each
    call to ``usage[key]``."""

    def call():
        before = resource.getrusage(resource.RUSAGE_SELF)
        fn()
        after = resource.getrusage(resource.RUSAGE_SELF)
        usage.setdefault(key, []).append(
            (after.ru_minflt - before.ru_minflt,
             after.ru_stime - before.ru_stime))

    return call


def interleaved_times(fns: Dict[str, Callable[[], None]],
                      repeats: int) -> Dict[str, List[float]]:
    """Seconds of each call of each function, the functions timed in turn
    (``repeats`` rounds after one warm-up round)."""
    for fn in fns.values():  # warm-up
        fn()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return times


def interleaved_medians(fns: Dict[str, Callable[[], None]],
                        repeats: int) -> Dict[str, float]:
    """Median seconds per call of each function, timed in turn."""
    return {
        k: statistics.median(v)
        for k, v in interleaved_times(fns, repeats).items()
    }


def flops(model, x, mask) -> float:
    from mmengine.analysis import FlopAnalyzer

    class Forward(torch.nn.Module):

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x, mask):
            latent, _, ids = self.model.backbone(x, mask)
            return self.model.neck(latent, ids)

    analyzer = FlopAnalyzer(Forward(model), (x, mask))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return float(analyzer.total())


# ----------------------------------------------------- peak memory (CPU)
def peak_memory(args, variant: str) -> float:
    """Bytes of memory growth during one step of ``variant``."""
    if args.device.startswith('cuda'):
        model, x, mask = _setup(args, variant)
        fn = step_fn(model, x, mask, amp=args.amp)
        fn()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        return float(torch.cuda.max_memory_allocated() - base)
    # A fixed mmap threshold makes glibc hand every block of 64 KiB or more
    # back to the system when it is freed, so RSS follows the live tensors;
    # with its default (adaptive) threshold, freed memory is kept and reused
    # unpredictably, and the MAE step's growth varied by 15% run to run.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    out = subprocess.run([
        sys.executable, __file__, '--measure-mem', variant, '--arch',
        args.arch, '--batch-size',
        str(args.batch_size), '--amp', args.amp
    ],
                         capture_output=True,
                         text=True,
                         check=True,
                         env=env)
    return float(out.stdout.strip().splitlines()[-1])


def _setup(args, variant: str):
    views = 2 if variant == 'hap' else 1
    torch.manual_seed(0)
    model = build_model(args.arch, views, align=views == 2).to(args.device)
    x = torch.randn(args.batch_size, 3, 256, 128, device=args.device)
    mask = make_masks(args.batch_size, views, views == 2).to(args.device)
    return model, x, mask


def _rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def measure_mem_child(args) -> None:
    """In a fresh process: peak RSS above the starting RSS during one step
    (sampled every 0.5 ms), after a warm-up step that allocates the
    optimizer state, so what remains is the step's working memory."""
    model, x, mask = _setup(args, args.measure_mem)
    fn = step_fn(model, x, mask, amp=args.amp)
    fn()
    gc.collect()
    start, peak, done = _rss(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.0005)

    thread = threading.Thread(target=sample)
    thread.start()
    fn()
    done.set()
    thread.join()
    print(max(peak[0], _rss()) - start)


# -------------------------------------------------------------- pipeline
@contextlib.contextmanager
def data_worker_threads() -> Iterator[None]:
    """The thread settings a data worker runs the pipeline with: OpenCV
    sequential (the configs' ``env_cfg.mp_cfg.opencv_num_threads=0``, which
    mmengine's Runner applies) and one torch thread (torch's DataLoader
    workers set it); restored afterwards."""
    cv2_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(cv2_threads)
        torch.set_num_threads(torch_threads)


def pipeline_rates(num_images: int,
                   repeats: int) -> Dict[str, List[float]]:
    """Images/s of each pipeline in each of ``repeats`` rounds."""
    files = []
    for sub in sorted(os.listdir(osp.join(ROOT, 'data/demo/images'))):
        folder = osp.join(ROOT, 'data/demo/images', sub)
        files += [osp.join(folder, n) for n in sorted(os.listdir(folder))]
    files = [files[i % len(files)] for i in range(num_images)]
    samples = []
    for path in files:
        rel = osp.relpath(path, osp.join(ROOT, 'data/demo/images'))
        with open(osp.join(ROOT, 'data/demo/keypoints', rel[:-4] + '.npy'),
                  'rb') as f:
            kpts = keypoints_from_object(safe_load_npy(f.read()))
        with open(path, 'rb') as f:
            samples.append((f.read(), kpts))
    # HAP: the pipeline and collate of configs/hap/hap_vitb_lup.py as they
    # ship (masks per batch in hap_collate), and the same with the masks
    # made per sample by a pipeline step.
    loader = load_config(osp.join(ROOT, 'configs/hap/hap_vitb_lup.py'),
                         None).train_dataloader
    steps = list(loader.dataset.pipeline)
    gen_cfg = find_mask_generator(loader)
    hap = Compose(steps)
    hap_per_sample = Compose(steps[:-1] + [gen_cfg] + steps[-1:])
    # mmpretrain's MAE pipeline, with HAP's crop scale and the same backend
    # and interpolation as HAP's crop
    crop = [s for s in steps if s['type'] == 'KeypointRandomResizedCrop'][0]
    krrc = TRANSFORMS.build(crop)

    def mae_pipeline(**aspect):
        return Compose([
            dict(
                type='RandomResizedCrop',
                scale=(256, 128),
                crop_ratio_range=crop['crop_ratio_range'],
                interpolation=crop['interpolation'],
                **aspect),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ])

    # The same crops as HAP's (its aspect range is relative to 128 / 256);
    # mmpretrain's default aspect range (3/4, 4/3) cannot fit a 0.8-area
    # crop of a 1:2 person image and falls back to a fixed centre crop after
    # 10 attempts: reported separately as ``mae_default_aspect``.
    mae = mae_pipeline(aspect_ratio_range=krrc.aspect_ratio_range)
    mae_default = mae_pipeline()

    def load(pipeline, data, kpts):
        img = mmcv.imfrombytes(data)
        return pipeline(
            dict(img=img, img_shape=img.shape[:2],
                 keypoints=kpts[None, :, :2],
                 keypoints_visible=kpts[None, :, 2]))

    def run_hap():
        hap_collate([load(hap, *s) for s in samples],
                    mask_generator=gen_cfg)

    def run_hap_per_sample():
        default_collate([load(hap_per_sample, *s) for s in samples])

    def mae_run(pipeline):

        def run():
            batch = []
            for data, _ in samples:
                img = mmcv.imfrombytes(data)
                batch.append(pipeline(dict(img=img, img_shape=img.shape[:2])))
            default_collate(batch)

        return run

    with data_worker_threads():
        secs = interleaved_times(
            dict(
                hap=run_hap,
                mae=mae_run(mae),
                hap_per_sample_masks=run_hap_per_sample,
                mae_default_aspect=mae_run(mae_default)), repeats)
    return {k: [len(samples) / t for t in v] for k, v in secs.items()}


# ------------------------------------------- masking: the per-sample loop
def loop_masks(gen: PartAwareMaskGenerator, kpts: np.ndarray,
               scores: np.ndarray) -> np.ndarray:
    """The same algorithm as ``gen``, written per sample with Python loops:
    usable keypoints, the first k usable parts in random order, a
    floor(U(0, max_part_fraction) x size) share of each chosen part's
    patches first, BEiT blocks (``max_block_attempts`` tries per block)
    filling the rest of the budget, random fill, exact count. (The
    statistics match: tests/test_benchmark.py compares mask counts and part
    shares.)"""
    gh, gw = gen.grid
    n = gh * gw
    out = np.zeros((gen.num_views, n), bool)
    usable = [
        bool(np.isfinite(kpts[j]).all() and np.isfinite(scores[j])
             and scores[j] >= gen.score_thr and 0 <= kpts[j, 0] < 128
             and 0 <= kpts[j, 1] < 256) for j in range(17)
    ]
    parts = []
    for segments in BODY_PARTS.values():
        patches = set()
        for a, b in segments:
            if usable[a] and usable[b]:
                xs = sorted(int(kpts[i, 0] // gen.patch_size) for i in (a, b))
                ys = sorted(int(kpts[i, 1] // gen.patch_size) for i in (a, b))
                for r in range(ys[0], ys[1] + 1):
                    for c in range(xs[0], xs[1] + 1):
                        patches.add(r * gw + c)
        parts.append(sorted(patches))
    for v in range(gen.num_views):
        prio = set()
        k = np.random.randint(0, len(parts) + 1)
        chosen = [p for p in np.random.permutation(len(parts)) if parts[p]]
        for p in chosen[:k]:
            quota = int(np.random.uniform(0, gen.max_part_fraction) *
                        len(parts[p]))
            if quota:
                prio.update(np.random.choice(parts[p], quota, replace=False))
        taken = set(prio)
        fails = 0
        while len(taken) < gen.num_mask and fails < gen.max_block_attempts:
            remaining = gen.num_mask - len(taken)
            area = np.random.uniform(gen.min_block_patches, remaining)
            aspect = math.exp(np.random.uniform(*gen.log_aspect))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            fails += 1
            if h >= gh or w >= gw:
                continue
            top = np.random.randint(0, gh - h + 1)
            left = np.random.randint(0, gw - w + 1)
            new = {r * gw + c for r in range(top, top + h)
                   for c in range(left, left + w)} - taken
            if 0 < len(new) <= remaining:
                taken |= new
                fails = 0
        score = np.random.random_sample(n)
        for i in range(n):
            score[i] += 2.0 if i in prio else (1.0 if i in taken else 0.0)
        out[v, np.argsort(-score)[:gen.num_mask]] = True
    return out.reshape(gen.num_views, gh, gw)


def mask_times(num: int, repeats: int) -> Dict[str, float]:
    gen = PartAwareMaskGenerator()
    kpts = demo_keypoints(num)
    xy, sc = kpts[..., :2], kpts[..., 2]

    def loop():
        for i in range(num):
            loop_masks(gen, xy[i], sc[i])

    def batched():
        gen.generate(xy, sc)

    def per_sample():
        for i in range(num):
            gen(dict(img_shape=(256, 128), keypoints=xy[i:i + 1],
                     keypoints_visible=sc[i:i + 1]))

    secs = interleaved_medians(
        dict(loop=loop, batched=batched, per_sample=per_sample), repeats)
    return {k: v / num for k, v in secs.items()}


# ------------------------------------------------------------------ main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('--quick', action='store_true',
                        help='Use ViT-S, a small batch and few repeats '
                        '(< 5 min).')
    parser.add_argument('--json', help='Write the results here.')
    parser.add_argument('--device', default='cpu',
                        help='The device: cpu or cuda.')
    parser.add_argument('--arch', choices=sorted(ARCHS),
                        help='The encoder size (default: s with --quick, '
                        'else b).')
    parser.add_argument('--batch-size', type=int,
                        help='Images per step (default: 8 with --quick, '
                        '128 on CUDA, 32 on CPU).')
    parser.add_argument('--repeats', type=int,
                        help='Timed repeats (default: 3 with --quick, 10 on '
                        'CUDA, 5 on CPU).')
    parser.add_argument(
        '--num-images', type=int, default=256,
        help='Images per data-loader batch in the pipeline and mask '
        'timings (the 27 demo crops, cycled; the paper collates 512).')
    parser.add_argument(
        '--pipeline-repeats', type=int, default=25,
        help='Timed rounds of the pipelines (about 0.2 s per pipeline and '
        'round at 256 images; their noise is larger than the steps\').')
    parser.add_argument(
        '--amp', choices=['bf16', 'fp16', 'off'],
        help='Mixed precision of the training steps (torch.autocast, as '
        "the configs' AmpOptimWrapper); default fp16 on CUDA (what the "
        'configs train with), off on CPU.')
    parser.add_argument('--measure-mem', help=argparse.SUPPRESS)
    args = parser.parse_args()
    on_gpu = args.device.startswith('cuda')
    if args.amp is None:
        args.amp = 'fp16' if on_gpu else 'off'
    defaults = (('s', 8, 3) if args.quick else
                ('b', 128, 10) if on_gpu else ('b', 32, 5))
    args.arch = args.arch or defaults[0]
    args.batch_size = args.batch_size or defaults[1]
    args.repeats = args.repeats or defaults[2]
    return args


def main() -> None:
    args = parse_args()
    # the models' init_weights reports every parameter at INFO level
    MMLogger.get_instance('hap_benchmark', log_level='WARNING')
    torch.manual_seed(0)
    np.random.seed(0)
    if args.measure_mem:
        measure_mem_child(args)
        return
    res: dict = {}
    hap, x, hap_mask = _setup(args, 'hap')
    mae, _, mae_mask = _setup(args, 'mae')
    mae.load_state_dict(hap.state_dict(), strict=False)
    usage: Dict[str, list] = {}
    steps = interleaved_medians(
        dict(
            batched=with_usage(
                step_fn(hap, x, hap_mask, batch_views=True, amp=args.amp),
                usage, 'batched'),
            mae=with_usage(
                step_fn(mae, x, mae_mask, amp=args.amp), usage, 'mae'),
            sequential=with_usage(
                step_fn(hap, x, hap_mask, batch_views=False, amp=args.amp),
                usage, 'sequential')), args.repeats)
    res['step_time_s'] = steps
    hap.batch_views = None
    default = 'batched' if hap.views_batched(x.device) else 'sequential'
    res['default_views'] = default
    # what the kernel did for each step (CPU): page faults and system time
    # show memory the step had to fault in again, not computation; the
    # first call of each is the warm-up
    res['step_minor_faults'] = {
        k: statistics.median(u[0] for u in v[1:])
        for k, v in usage.items()}
    res['step_system_time_s'] = {
        k: statistics.median(u[1] for u in v[1:])
        for k, v in usage.items()}
    res['step_time_ratio_vs_mae'] = steps[default] / steps['mae']
    res['step_time_ratio_vs_mae_batched_views'] = (
        steps['batched'] / steps['mae'])
    res['step_time_ratio_vs_mae_sequential_views'] = (
        steps['sequential'] / steps['mae'])
    res['batched_vs_sequential_views'] = (
        steps['batched'] / steps['sequential'])
    mem = {v: peak_memory(args, v) for v in ('hap', 'mae')}
    res['peak_mem_bytes'] = mem
    res['peak_mem_ratio_vs_mae'] = mem['hap'] / mem['mae']
    per_round = pipeline_rates(args.num_images, args.pipeline_repeats)
    rates = {k: statistics.median(v) for k, v in per_round.items()}
    res['pipeline_images_per_s'] = rates
    res['pipeline_ratio_vs_mae'] = rates['hap'] / rates['mae']
    round_ratios = sorted(
        h / m for h, m in zip(per_round['hap'], per_round['mae']))
    res['pipeline_ratio_vs_mae_rounds'] = dict(
        min=round_ratios[0],
        median=statistics.median(round_ratios),
        max=round_ratios[-1])
    res['pipeline_ratio_vs_mae_per_sample_masks'] = (
        rates['hap_per_sample_masks'] / rates['mae'])
    res['pipeline_ratio_vs_mae_default_aspect'] = (
        rates['hap'] / rates['mae_default_aspect'])
    masks = mask_times(args.num_images, args.repeats)
    res['mask_time_per_sample_s'] = masks
    res['mask_speedup_vs_loop'] = masks['loop'] / masks['batched']
    res['mask_speedup_vs_loop_per_sample_transform'] = (
        masks['loop'] / masks['per_sample'])
    res['flops_hap_step'] = flops(hap, x[:1], hap_mask[:1])
    res['flops_mae_step'] = flops(mae, x[:1], mae_mask[:1])
    res['flops_ratio_vs_mae'] = res['flops_hap_step'] / res['flops_mae_step']
    res['machine'] = environment(args, hap, x, hap_mask)
    res['settings'] = dict(
        arch=args.arch, batch_size=args.batch_size, repeats=args.repeats,
        amp=args.amp,
        input='256x128', mask_ratio=0.5, num_images=args.num_images,
        pipeline_repeats=args.pipeline_repeats, flops_batch=1)
    print(f"{'measure':40s} {'value':>12s}  target")
    for key, target in (('step_time_ratio_vs_mae', '<= 2.1'),
                        ('step_time_ratio_vs_mae_batched_views', ''),
                        ('step_time_ratio_vs_mae_sequential_views', ''),
                        ('peak_mem_ratio_vs_mae', '<= 2.1'),
                        ('batched_vs_sequential_views', '<= 1 (faster)'),
                        ('pipeline_ratio_vs_mae', '>= 0.9'),
                        ('pipeline_ratio_vs_mae_per_sample_masks', ''),
                        ('pipeline_ratio_vs_mae_default_aspect', ''),
                        ('mask_speedup_vs_loop', '>= 5 (aim 20)'),
                        ('mask_speedup_vs_loop_per_sample_transform', ''),
                        ('flops_ratio_vs_mae', '')):
        print(f'{key:40s} {res[key]:12.3f}  {target}')
        if key == 'step_time_ratio_vs_mae':
            faults, system = res['step_minor_faults'], res['step_system_time_s']
            print(f"{'  default views path':40s} {default}")
            print(f"{'  page faults per step: hap / mae':40s} "
                  f"{faults[default]:.0f} / {faults['mae']:.0f} "
                  f"(system time {system[default]:.2f} / "
                  f"{system['mae']:.2f} s)")
        if key == 'pipeline_ratio_vs_mae':
            spread = res['pipeline_ratio_vs_mae_rounds']
            print(f"{'  per round: min / median / max':40s} "
                  f"{spread['min']:.3f} / {spread['median']:.3f} / "
                  f"{spread['max']:.3f}")
    print(f"settings: {res['settings']}")
    machine = res['machine']
    print(f"device: {machine.get('gpu', machine['cpu'])}, torch "
          f"{machine['torch']} (CUDA {machine['torch_cuda']}), amp "
          f"{machine['amp']}, attention {machine['attention_kernel']}")
    if args.json:
        mmengine.mkdir_or_exist(osp.dirname(osp.abspath(args.json)))
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
        print(f'wrote {args.json}')


if __name__ == '__main__':
    main()
