"""The 3DPW mesh config: its recipe against the HAP release's
(RELEASE_DOWNSTREAM.md section 5.3, values written out here), and a tiny
version of it that trains two iterations and evaluates on files written in
the public layouts."""
import importlib.util
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
CONFIG = (REPO / 'configs/downstream/mesh/'
          'hapvit-b_8xb192-11e_h36m-muco-coco-mpii-3dpw-256x256.py')

# RELEASE_DOWNSTREAM.md 5.3 (3dpw_vit_b_4gpu.yml, common/base.py, train.py)
RELEASE = dict(
    batch_per_gpu=192,
    gpus=8,
    optimizer='SGD',
    lr=1e-3,  # set_lr() gives every group the same lr
    momentum=0.0,
    weight_decay=0.0,
    lr_drop_epoch=10,
    lr_factor=0.1,
    epochs=11,
    pools=[['Human36M', 'MuCo'], ['COCO', 'MPII']],
    h36m_subjects=[1, 5, 6, 7, 8],
    h36m_every=5,
    scale=0.25,
    rot=30.0,  # degrees, normal x 30 clipped at 2 sigma
    rot_prob=0.6,
    colour=0.2,
    flip_prob=0.5,
    reported=('90.1', '56.0', '106.3'),  # MPJPE, PA-MPJPE, MPVPE (README)
)
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(str(CONFIG))


def test_name_and_header_state_the_release_row(cfg):
    name = CONFIG.stem
    assert f'{RELEASE["gpus"]}xb{RELEASE["batch_per_gpu"]}' in name
    assert f'-{RELEASE["epochs"]}e_' in name and name.endswith('256x256')
    header = CONFIG.read_text().split('\n\n')[0]
    for number in RELEASE['reported']:
        assert number in header
    assert 'test' in header and 'validation' in header


def test_optimizer_and_schedule_are_the_releases(cfg):
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == RELEASE['optimizer']
    assert opt.lr == pytest.approx(RELEASE['lr'])
    assert opt.get('momentum', 0.0) == RELEASE['momentum']
    assert opt.get('weight_decay', 0.0) == RELEASE['weight_decay']
    # one lr for every parameter: no per-group multipliers
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'  # the release's --amp
    assert cfg.train_cfg.max_epochs == RELEASE['epochs']
    (sched, ) = cfg.param_scheduler  # no warm-up
    assert sched.type == 'MultiStepLR' and sched.by_epoch
    assert list(sched.milestones) == [RELEASE['lr_drop_epoch']]
    assert sched.gamma == pytest.approx(RELEASE['lr_factor'])
    assert cfg.train_dataloader.batch_size == RELEASE['batch_per_gpu']
    assert cfg.auto_scale_lr.base_batch_size == \
        RELEASE['batch_per_gpu'] * RELEASE['gpus']


def test_data_pools_and_augmentation_are_the_releases(cfg):
    from mmpose.registry import TRANSFORMS

    import hap_mm.integrations.mmpose  # noqa: F401

    ds = cfg.train_dataloader.dataset
    assert ds.type == 'MeshMultipleDatasets' and ds.make_same_len
    names = [[d.type for d in pool] for pool in ds.datasets]
    assert names == [[f'Mesh{n}Dataset' for n in pool]
                     for pool in RELEASE['pools']]
    h36m = ds.datasets[0][0]
    assert list(h36m.subjects) == RELEASE['h36m_subjects']
    assert h36m.frame_interval == RELEASE['h36m_every']
    crop_cfg = next(t for t in h36m.pipeline if t.type == 'MeshAffineCrop')
    crop = TRANSFORMS.build(crop_cfg)
    assert crop.scale_factor == RELEASE['scale']
    assert crop.rot_factor == RELEASE['rot']
    assert crop.rot_prob == RELEASE['rot_prob']
    assert crop.color_factor == RELEASE['colour']
    assert crop.flip_prob == RELEASE['flip_prob']
    assert not crop.test_mode
    types = [t.type for t in h36m.pipeline]
    assert 'GenerateMeshInputJoints' in types  # PoseFix-style input joints
    # every member of both pools runs the same training pipeline
    for pool in ds.datasets:
        for member in pool:
            assert member.pipeline == h36m.pipeline


def test_model_trains_the_projection_and_normalises_like_pretraining(cfg):
    model = cfg.model
    assert model.train_feature_projection is True
    pre = model.data_preprocessor
    assert list(pre.mean) == IMAGENET_MEAN and list(pre.std) == IMAGENET_STD
    bb = model.backbone
    assert tuple(bb.img_size) == (256, 256) and bb.drop_path_rate == 0.3
    assert bb.patch_cfg == dict(padding=2) and not bb.with_cls_token


def test_selection_on_validation_and_test_logged_as_test(cfg):
    assert cfg.val_dataloader.dataset.type == 'MeshPW3DDataset'
    assert cfg.val_dataloader.dataset.split == 'validation'
    assert cfg.test_dataloader.dataset.split == 'test'
    assert cfg.val_evaluator.type == cfg.test_evaluator.type == 'MeshMetric'
    assert cfg.val_evaluator.prefix == 'pw3d_val'
    assert cfg.test_evaluator.prefix == 'pw3d_test'
    hook = cfg.default_hooks.checkpoint
    assert hook.save_best == 'pw3d_val/MPJPE' and hook.rule == 'less'
    # validation as test: the OpenPose inputs (and boxes from them), no
    # augmentation
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.use_openpose_inputs
        crop = next(t for t in loader.dataset.pipeline
                    if t.type == 'MeshAffineCrop')
        assert crop.test_mode


# ------------------------------------------------------- tiny end to end
IMAGE = REPO / 'tests/data/pose/coco/000000000785.jpg'
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2,
                 feedforward_channels=64)


def _load_helper(name):
    spec = importlib.util.spec_from_file_location(
        f'mesh_helper_{name}', REPO / 'tests' / 'helpers' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_cfg(files):
    """The config in the working directory, on tiny data and the synthetic
    SMPL / VPoser files put where docs/mesh.md says (the config's default
    paths, relative: mmengine formats the config with yapf several times per
    run, and long paths make that much slower); a tiny ViT, CPU fp32, 2
    iterations of batch 2."""
    root = Path('data/mesh')
    _load_helper('mesh_data').write_mesh_data(root, IMAGE)
    bodies = root / 'body_models'
    (bodies / 'smpl').mkdir(parents=True)
    for name in ('SMPL_NEUTRAL.pkl', 'SMPL_MALE.pkl', 'SMPL_FEMALE.pkl'):
        (bodies / 'smpl' / name).symlink_to(Path(files['model_dir']) / name)
    for key in ('extra', 'h36m'):
        (bodies / Path(files[key]).name).symlink_to(files[key])
    _load_helper('mesh_files').write_vposer_snapshot(str(bodies / 'vposer'))
    cfg = Config.fromfile(str(CONFIG))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=2, num_workers=0,
                           persistent_workers=False)
    cfg.model.backbone.arch = TINY_ARCH
    cfg.model.feat_channels = 32
    cfg.model.init_checkpoint = None
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=cfg.optim_wrapper.optimizer)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = [dict(type='MultiStepLR', milestones=[1],
                                gamma=0.1, by_epoch=False)]
    cfg.default_hooks.checkpoint.update(interval=2, by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor = dict(by_epoch=False)
    cfg.work_dir = 'work'
    return cfg


def test_tiny_config_trains_two_iterations_and_evaluates(
        tmp_path, monkeypatch, mesh_body_files, build_runner,
        keep_default_scope):
    import math

    import torch
    torch.manual_seed(0)
    monkeypatch.chdir(tmp_path)
    cfg = _tiny_cfg(mesh_body_files)
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 2
    # validation ran on 3DPW validation during training and selected there
    # (the best checkpoint); its metrics are finite
    assert Path('work/best_pw3d_val_MPJPE_iter_2.pth').is_file()
    val = runner.val()
    assert all(math.isfinite(val[f'pw3d_val/{k}'])
               for k in ('MPJPE', 'PA-MPJPE', 'MPVPE'))
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    test = runner.test()
    assert set(test) == {'pw3d_test/MPJPE', 'pw3d_test/PA-MPJPE',
                         'pw3d_test/MPVPE'}
    for value in test.values():
        assert math.isfinite(value) and value > 0
    # show_mesh.py draws the trained model's meshes over the test samples
    cfg.dump('tiny_mesh.py')
    spec = importlib.util.spec_from_file_location(
        'hap_tool_show_mesh', REPO / 'tools/visualization/show_mesh.py')
    show_mesh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(show_mesh)
    monkeypatch.setattr('sys.argv', [
        'show_mesh.py', 'tiny_mesh.py', 'work/iter_2.pth', '--num', '5',
        '--height', '128', '--out', 'vis'])
    show_mesh.main()
    pictures = sorted(Path('vis').glob('*_mesh.jpg'))
    assert len(pictures) == 2  # the two usable 3DPW test people
    import mmcv
    picture = mmcv.imread(str(pictures[0]))
    assert picture.shape[0] == 128 + 16  # panel height + caption
