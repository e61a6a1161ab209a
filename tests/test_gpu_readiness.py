"""GPU readiness (issue #23), checked on the CPU.

The batch-level HAP mask and its preprocessor, the encoder without host
syncs, the stop on GPUs that CUDA cannot start (simulated), the DDP wrapper
settings, slurm CPUs per task, the benchmark's AMP path and the mmcv build
selection of tools/env/setup_venv.sh (fake nvcc/nvidia-smi, nothing built).
"""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.overrides import TorchFunctionMode

import hap_mm  # noqa: F401  (registers the modules)
from hap_mm.datasets import LUPersonKeypointDataset
from hap_mm.engine import HAPRunner
from hap_mm.utils import device as hap_device

REPO = Path(__file__).resolve().parents[1]
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
GEN = dict(type='PartAwareMaskGenerator', mask_ratio=0.5, num_views=2)
PIPELINE = [
    dict(type='KeypointRandomResizedCrop', scale=(256, 128)),
    dict(type='KeypointRandomFlip'),
    dict(type='PackInputs',
         meta_keys=['img_path', 'data_issues', 'keypoints',
                    'keypoints_visible']),
]
NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
            to_rgb=True)


def _batch(demo_root, num=4, **kwargs) -> dict:
    ds = LUPersonKeypointDataset(str(demo_root), pipeline=PIPELINE)
    np.random.seed(0)
    return FUNCTIONS.get('hap_collate')([ds[i] for i in range(num)],
                                        mask_generator=GEN, **kwargs)


def _tiny_hap(batch_views=True):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='HAP',
            batch_views=batch_views,
            data_preprocessor=dict(type='HAPDataPreprocessor', **NORM),
            backbone=dict(
                type='HAPViT', arch=TINY, img_size=(256, 128),
                out_type='raw'),
            neck=dict(
                type='HAPPretrainDecoder', grid_size=(16, 8), embed_dim=32,
                decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2),
            head=dict(
                type='HAPPretrainHead', grid_size=(16, 8), norm_pix=True,
                loss=dict(type='PixelReconstructionLoss', criterion='L2')),
            align_loss=dict(type='StructureInvariantAlignLoss')))
    model.init_weights()
    return model


# ------------------------------------------- 4: one batch mask, no copies
def test_collate_returns_one_batch_mask_and_drops_the_keypoints(demo_root):
    batch = _batch(demo_root)
    assert batch['mask'].dtype == torch.bool
    assert batch['mask'].shape == (4, 2, 16, 8)
    assert batch['num_masked'] == 64  # 0.5 of the 16x8 grid
    assert 'part_mask' not in batch
    for sample in batch['data_samples']:
        for key in ('mask', 'part_mask', 'keypoints', 'keypoints_visible'):
            assert key not in sample, key
        assert sample.img_path  # the rest of the metadata stays
    # a visualiser asks for them
    batch = _batch(demo_root, visualise=True)
    assert batch['part_mask'].shape == (4, 2, 16, 8)
    assert all('keypoints' in s for s in batch['data_samples'])


def test_collate_refuses_views_with_different_counts(demo_root, monkeypatch):
    from hap_mm.datasets.hap_collate import build_mask_generator
    gen = build_mask_generator(GEN)
    make = gen.generate

    def uneven(*args, **kwargs):
        mask, part = make(*args, **kwargs)
        mask[0, 1].flat[np.flatnonzero(mask[0, 1])[0]] = False
        return mask, part

    monkeypatch.setattr(gen, 'generate', uneven)
    with pytest.raises(ValueError, match=r'same number of patches.*63, 64'):
        _batch(demo_root)


def test_preprocessor_moves_the_mask_once_and_copies_no_sample(
        demo_root, monkeypatch):
    batch = _batch(demo_root)
    copied = []
    monkeypatch.setattr(DataSample, 'to',
                        lambda self, *a, **k: copied.append(self) or self)

    class Spy:
        """Records how the preprocessor moves the mask."""

        def __init__(self, tensor):
            self.tensor, self.calls = tensor, []

        def to(self, *args, **kwargs):
            self.calls.append(kwargs)
            return self.tensor.to(*args, **kwargs)

    spy = Spy(batch['mask'])
    pre = MODELS.build(dict(type='HAPDataPreprocessor', **NORM))
    out = pre(dict(batch, mask=spy), True)
    assert copied == []
    assert all(a is b for a, b in zip(out['data_samples'],
                                      batch['data_samples']))
    assert spy.calls == [dict(non_blocking=True)]
    assert torch.equal(out['mask'], batch['mask'])
    assert out['num_masked'] == 64
    # the images as mmpretrain's SelfSupDataPreprocessor makes them
    ref = MODELS.build(dict(type='SelfSupDataPreprocessor', **NORM))
    expect = ref(dict(inputs=batch['inputs'], data_samples=None))['inputs']
    assert torch.equal(out['inputs'], expect)


@pytest.mark.parametrize('batch_views', [True, False])
def test_hap_loss_from_the_batch_mask_equals_the_per_sample_route(
        demo_root, batch_views, one_torch_thread):
    batch = _batch(demo_root)
    model = _tiny_hap(batch_views)
    data = model.data_preprocessor(batch, True)
    from_batch = model._run_forward(data, mode='loss')  # as train_step
    # the pipeline-step route: masks in the data samples
    samples = [DataSample(mask=m) for m in batch['mask']]
    per_sample = model.loss(data['inputs'], samples)
    assert set(from_batch) == {'loss_rec', 'loss_align', 'align_infonce'}
    for key, value in per_sample.items():
        torch.testing.assert_close(from_batch[key], value)


# --------------------------------------------- 5: no host sync in encoder
class NoHostSync(TorchFunctionMode):
    """Raises on every torch call that makes the host wait for the device:
    reading a value (``bool``, ``int``, ``.item()``, ``.tolist()``, ...),
    copies to the host, and ops whose output size depends on the data."""
    SYNCS = {
        'item', '__bool__', '__int__', '__float__', '__index__', 'tolist',
        'cpu', 'numpy', 'nonzero', 'masked_select', 'unique', 'is_nonzero',
        'equal', 'allclose'
    }

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        bool_index = name == '__getitem__' and any(
            isinstance(a, torch.Tensor) and a.dtype == torch.bool
            for a in args[1:])
        if name in self.SYNCS or bool_index:
            raise AssertionError(f'host sync: {name}')
        return func(*args, **(kwargs or {}))


def test_masked_encoder_makes_no_host_sync_with_the_count(demo_root):
    batch = _batch(demo_root)
    model = _tiny_hap()
    data = model.data_preprocessor(batch, True)
    x, mask = data['inputs'], data['mask']
    with NoHostSync():
        latent, _, _ = model.backbone(x, mask, data['num_masked'])
    assert latent.shape == (8, 1 + 64, 32)
    # the detector works: without the count the encoder counts itself
    with pytest.raises(AssertionError, match='host sync'), NoHostSync():
        model.backbone(x, mask)
    # a wrong count is still refused (on the CPU at once)
    with pytest.raises(RuntimeError, match='num_masked=63'):
        model.backbone(x, mask, 63)


# ---------------------------------------- 2: GPUs present, CUDA broken
FAKE_SMI = """#!/bin/sh
case "$1" in
  -L) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)";;
  --query-gpu=compute_cap) echo "9.0";;
  *) echo "NVIDIA-SMI 535.104.05  Driver Version: 535.104.05  CUDA Version: 12.2";;
esac
"""
FAKE_NVCC = """#!/bin/sh
echo "Cuda compilation tools, release 13.0, V13.0.88"
"""


@pytest.fixture
def fake_bin(tmp_path):
    """A folder with fake ``nvidia-smi`` (driver 535.104.05, CUDA 12.2, one
    H100) and ``nvcc`` (CUDA 13.0)."""
    folder = tmp_path / 'fake_bin'
    folder.mkdir()
    for name, text in (('nvidia-smi', FAKE_SMI), ('nvcc', FAKE_NVCC)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


def _no_nvidia_path(tmp_path) -> str:
    """PATH without any nvidia-smi: only a folder with the tools used."""
    folder = tmp_path / 'plain_bin'
    folder.mkdir(exist_ok=True)
    return str(folder)


def test_gpus_that_cuda_cannot_start_stop_at_once(tmp_path, fake_bin,
                                                  monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.version, 'cuda', '13.0')
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    # no device files, no nvidia-smi: the CPU route, unchanged
    monkeypatch.setattr(hap_device, 'NVIDIA_DEVICE_GLOB',
                        str(tmp_path / 'dev' / 'nvidia[0-9]*'))
    monkeypatch.setenv('PATH', _no_nvidia_path(tmp_path))
    hap_device.check_cuda_usable()
    # the driver's nvidia-smi works but torch cannot use the GPU
    monkeypatch.setenv('PATH', str(fake_bin))
    with pytest.raises(hap_device.CUDAUnavailableError) as err:
        hap_device.check_cuda_usable()
    msg = str(err.value)
    assert 'built for CUDA 13.0' in msg
    assert 'driver is 535.104.05' in msg and 'CUDA up to 12.2' in msg
    # device files alone are enough
    (tmp_path / 'dev').mkdir()
    (tmp_path / 'dev' / 'nvidia0').touch()
    monkeypatch.setenv('PATH', _no_nvidia_path(tmp_path))
    with pytest.raises(hap_device.CUDAUnavailableError, match='nvidia0'):
        hap_device.check_cuda_usable()
    # GPUs hidden on purpose: the CPU route
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '')
    hap_device.check_cuda_usable()


def test_train_stops_before_building_anything(tool, tmp_path, fake_bin):
    """tools/train.py on a node whose nvidia-smi works but whose GPUs CUDA
    cannot use (an unknown CUDA_VISIBLE_DEVICES makes CUDA fail on real GPU
    machines too)."""
    work = tmp_path / 'work'
    proc = tool(['tools/train.py', 'configs/hap/hap_demo.py', '--work-dir',
                 work, '--cfg-options', 'train_cfg.max_epochs=1'],
                timeout=300,
                env=dict(PATH=f'{fake_bin}:{os.environ["PATH"]}',
                         CUDA_VISIBLE_DEVICES='GPU-not-there'))
    assert proc.returncode != 0
    assert 'CUDA cannot start' in proc.stderr
    assert 'driver is 535.104.05' in proc.stderr
    assert not work.exists()


# ---------------------------------------------------- 7: the DDP wrapper
@pytest.fixture
def one_rank_group(tmp_path, monkeypatch):
    """A one-process gloo group, so DDP can be built in the test."""
    monkeypatch.setenv('LOCAL_RANK', '0')
    torch.distributed.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
        world_size=1)
    yield
    torch.distributed.destroy_process_group()


def _wrap(cfg: dict, wrapper_cfg: dict):
    runner = HAPRunner.__new__(HAPRunner)  # only what wrap_model reads
    runner.cfg = Config(cfg)
    runner._distributed = True
    return runner.wrap_model(
        Config(dict(w=wrapper_cfg)).w, torch.nn.Linear(2, 2))


def test_ddp_wrapper_settings_and_find_unused_parameters(one_rank_group):
    wrapper = dict(type='mmpretrain.HAPDistributedDataParallel')
    with warnings.catch_warnings():
        warnings.simplefilter('error', FutureWarning)  # no deprecated flag
        ddp = _wrap({}, wrapper)
    # buffers not broadcast before every forward (torch >= 2.14 names it
    # forward_sync_buffers)
    assert getattr(ddp, 'forward_sync_buffers', ddp.broadcast_buffers) is False
    assert ddp.gradient_as_bucket_view is True
    assert ddp.find_unused_parameters is False
    # a top-level find_unused_parameters reaches the wrapper
    assert _wrap(dict(find_unused_parameters=True),
                 wrapper).find_unused_parameters is True
    # the wrapper's own settings win where they are given
    ddp = _wrap({}, dict(wrapper, broadcast_buffers=True,
                         gradient_as_bucket_view=False))
    assert getattr(ddp, 'forward_sync_buffers', ddp.broadcast_buffers) is True
    assert ddp.gradient_as_bucket_view is False
    with pytest.raises(ValueError, match='find_unused_parameters'):
        _wrap(dict(find_unused_parameters=True),
              dict(wrapper, find_unused_parameters=False))


# ------------------------------------------- 6: slurm CPUs per task
@pytest.mark.parametrize('env, cpus, workers_option', [
    ({}, 12, None),  # hap_vitb_lup: num_workers=10
    ({'WORKERS': '4'}, 6, 'train_dataloader.num_workers=4'),
    ({'CPUS_PER_TASK': '7'}, 7, None),
])
def test_slurm_cpus_per_task_follow_the_workers(tmp_path, env, cpus,
                                                workers_option):
    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'srun').write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    (fake / 'srun').chmod(0o755)
    proc = subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'part', 'job',
         'configs/hap/hap_vitb_lup.py', str(tmp_path / 'work'), '--amp'],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PATH=f'{fake}:{os.environ["PATH"]}',
                 PYTHON=sys.executable, **env))
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.splitlines()
    assert f'--cpus-per-task={cpus}' in args
    assert f'{cpus} CPUs per task' in proc.stderr
    assert args[-1] == '--amp'  # the user's options come last
    if workers_option:
        i = args.index('--cfg-options')
        assert args[i + 1] == workers_option
    else:
        assert '--cfg-options' not in args


# --------------------------------------------- 8: benchmark --amp on CPU
@pytest.fixture(scope='module')
def benchmark():
    spec = importlib.util.spec_from_file_location(
        'benchmark', REPO / 'tools/analysis/benchmark.py')
    bm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bm)
    return bm


def test_benchmark_amp_default_per_device(benchmark, monkeypatch):
    # on CUDA the configs' AmpOptimWrapper (fp16, dynamic loss scale)
    for device, expect in (('cpu', 'off'), ('cuda', 'fp16'),
                           ('cuda:1', 'fp16')):
        monkeypatch.setattr(sys, 'argv', ['benchmark.py', '--device', device])
        assert benchmark.parse_args().amp == expect
    monkeypatch.setattr(sys, 'argv',
                        ['benchmark.py', '--device', 'cuda', '--amp', 'bf16'])
    assert benchmark.parse_args().amp == 'bf16'


def test_benchmark_amp_step_runs_in_bf16_on_cpu(benchmark, one_torch_thread):
    class Args:
        arch, batch_size, device, amp = 'tiny', 2, 'cpu', 'bf16'

    model, x, mask = benchmark._setup(Args, 'hap')
    dtypes = []
    first_linear = next(m for m in model.backbone.layers[0].modules()
                        if isinstance(m, torch.nn.Linear))
    first_linear.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    benchmark.step_fn(model, x, mask, amp='bf16')()
    # autocast was on (one call per view on CPU's sequential default path)
    assert dtypes and set(dtypes) == {torch.bfloat16}
    changed = [not torch.equal(a, p) for a, p in zip(before,
                                                     model.parameters())]
    assert sum(changed) > len(changed) // 2  # the optimiser stepped
    for p in model.parameters():
        assert p.dtype == torch.float32 and torch.isfinite(p).all()
    env = benchmark.environment(Args, model, x, mask)
    assert env['amp'] == 'bf16' and env['torch'] == torch.__version__
    assert env['torch_cuda'] == torch.version.cuda
    # mmpretrain's attention calls torch's scaled_dot_product_attention
    assert env['attention_ops'], env
    assert env['attention_kernel'] in ('flash', 'mem_efficient', 'cudnn',
                                       'math')


# ------------------------------------- 1: mmcv build selection (no build)
def _fake_venv(tmp_path, torch_line: str) -> Path:
    """A venv whose python answers setup_venv.sh's torch question with
    ``torch_line`` ("<version tag> <CUDA version or nothing>")."""
    venv = tmp_path / f'venv_{len(list(tmp_path.glob("venv_*")))}'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'python').write_text(f'#!/bin/sh\necho "{torch_line}"\n')
    (venv / 'bin' / 'python').chmod(0o755)
    return venv


def _print_build(venv, path: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['bash', 'tools/env/setup_venv.sh', '--print-build', str(venv)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env=dict(PATH=path, HOME=str(venv), HAP_MM_WHEEL_CACHE='/wh', **env))


def _keys(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return dict(line.split('=', 1) for line in proc.stdout.splitlines())


def test_setup_venv_builds_cuda_ops_only_with_nvcc_and_a_gpu(
        tmp_path, fake_bin):
    path = f'{fake_bin}:/usr/bin:/bin'
    venv = _fake_venv(tmp_path, '2.14.1_cu130 13.0')
    gpu = _keys(_print_build(venv, path))
    assert gpu['mmcv_ops'] == 'cuda' and gpu['cuda_arch_list'] == '9.0'
    assert gpu['wheel_dir'] == '/wh/torch-2.14.1_cu130/cuda13.0_sm90'
    archs = _keys(_print_build(venv, path, TORCH_CUDA_ARCH_LIST='8.0;9.0'))
    assert archs['wheel_dir'] == '/wh/torch-2.14.1_cu130/cuda13.0_sm80-90'
    forced = _keys(_print_build(venv, path, HAP_MM_MMCV_CUDA='0'))
    assert forced['mmcv_ops'] == 'cpu'
    assert forced['wheel_dir'] == '/wh/torch-2.14.1_cu130/cpu'
    # a CPU-only torch cannot build CUDA ops: said, not built
    cpu_torch = _print_build(_fake_venv(tmp_path, '2.14.1_cpu '), path)
    assert cpu_torch.returncode != 0 and 'CPU-only' in cpu_torch.stderr
    if Path('/dev/nvidia0').exists():
        return  # a real GPU machine cannot simulate "nvcc but no GPU"
    (fake_bin / 'nvidia-smi').unlink()  # a login node with nvcc, no GPU
    login = _keys(_print_build(venv, path))
    assert login['mmcv_ops'] == 'cpu' and login['nvcc'] == str(
        fake_bin / 'nvcc')
    assert login['wheel_dir'] == forced['wheel_dir']


def test_setup_venv_stamp_includes_the_mmcv_build(tmp_path, fake_bin):
    """A venv stamped on a CPU machine is reused there, and rebuilt (here:
    the fake interpreter refuses to run pip) on a CUDA machine."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    calls = tmp_path / 'calls'
    (venv / 'bin' / 'python').write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\nexit 3\n')
    (venv / 'bin' / 'python').chmod(0o755)
    digest = hashlib.sha256()
    for path in sorted((REPO / 'requirements').glob('*.txt')) + [
            REPO / 'tools/env/setup_venv.sh', REPO / 'setup.py']:
        digest.update(path.read_bytes())
    digest.update(b'mmcv ops: cpu\n')
    (venv / '.hap_mm_env').write_text(digest.hexdigest() + '\n')
    system = '/usr/bin:/bin'

    def run(path):
        return subprocess.run(['bash', 'tools/env/setup_venv.sh', str(venv)],
                              cwd=REPO, capture_output=True, text=True,
                              timeout=120,
                              env=dict(PATH=path, HOME=str(tmp_path),
                                       HAP_MM_MMCV_CUDA=''))

    (fake_bin / 'nvidia-smi').rename(tmp_path / 'nvidia-smi')
    if not Path('/dev/nvidia0').exists():
        cpu = run(f'{fake_bin}:{system}')
        assert cpu.returncode == 0 and 'reusing' in cpu.stderr
        assert not calls.exists()
    (tmp_path / 'nvidia-smi').rename(fake_bin / 'nvidia-smi')
    gpu = run(f'{fake_bin}:{system}')
    assert gpu.returncode != 0 and 'reusing' not in gpu.stderr
    assert 'pip' in calls.read_text()


def test_memory_estimate_counts_parameters_and_scales_with_batch(
        tmp_path, monkeypatch, one_torch_thread, keep_default_scope):
    out = tmp_path / 'mem.json'
    spec = importlib.util.spec_from_file_location(
        'estimate_gpu_memory', REPO / 'tools/analysis/estimate_gpu_memory.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', [
        'estimate_gpu_memory.py', str(REPO / 'configs/hap/hap_demo.py'),
        '--batch-sizes', '8', '16', '--json', str(out)])
    tool.main()
    res = json.loads(out.read_text())
    # the demo model: 4-layer 192-d encoder, 2-layer 128-d decoder
    from hap_mm.utils import load_config
    cfg = load_config(str(REPO / 'configs/hap/hap_demo.py'))
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    params = [p for p in model.parameters() if p.requires_grad]
    assert res['trainable_params'] == sum(p.numel() for p in params)
    weights = sum(p.numel() for p in params if p.ndim >= 2)
    assert res['static_gib'] * 2**30 == pytest.approx(
        16 * res['trainable_params'] + 2 * weights)
    small, large = res['probe'].values()
    assert 0 < small < large  # saved activations grow with the batch
    rows = {r['batch']: r['activations_gib'] for r in res['rows']}
    per_image = res['activation_mib_per_image'] / 1024
    assert rows[16] - rows[8] == pytest.approx(8 * per_image)
    # at least one half-precision (bf16) image copy per view and image:
    # the patch embedding's input
    assert per_image * 2**30 > 2 * 3 * 256 * 128


def test_batch_transfer_benchmark_runs(monkeypatch, capsys,
                                       keep_default_scope):
    spec = importlib.util.spec_from_file_location(
        'benchmark_batch_transfer',
        REPO / 'tools/analysis/benchmark_batch_transfer.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, 'argv', [
        'benchmark_batch_transfer.py', '--batch-size', '4', '--repeats', '1'])
    tool.main()
    out = capsys.readouterr().out
    assert out.count('ratio') == 2 and 'batch of 4 on cpu' in out
