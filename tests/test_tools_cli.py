"""What the tools promise a new user: tools/test.py writes metrics as JSON
and predictions on request, tools/train.py leaves stock configs' dataloaders
alone and turns a config's AMP off with --no-amp, converted checkpoints get
the usual file mode, and every tool's --help shows full sentences with the
defaults."""
import argparse
import ast
import importlib.util
import json
import os
import pickle
import stat
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from hap_mm.models.utils.backbone_converter import convert_checkpoint_file

REPO = Path(__file__).resolve().parents[1]
REID = REPO / 'tests' / 'data' / 'reid'


def _load_tool(path: str):
    """A tool script as a module (its ``main`` not run)."""
    name = 'hap_tool_' + Path(path).stem
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _train_module():
    return _load_tool('tools/train.py')


def _args(**kw):
    base = dict(no_validate=False, launcher='none', work_dir=None, amp=False,
                no_amp=False, resume=None, auto_scale_lr=False,
                no_pin_memory=False, no_persistent_workers=False,
                cfg_options=None, config='x.py')
    base.update(kw)
    return argparse.Namespace(**base)


def test_no_amp_turns_the_paper_configs_amp_off_and_the_wrapper_builds():
    train = _train_module()
    cfg = Config.fromfile(str(REPO / 'configs' / 'hap' / 'hap_vitb_lup.py'))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'  # the paper's recipe
    cfg = train.merge_args(cfg, _args(no_amp=True))
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    model = torch.nn.Linear(4, 2)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = model.weight.detach().clone()
    wrapper.update_params(model(torch.randn(3, 4)).square().sum())
    assert not torch.equal(before, model.weight)
    assert wrapper.optimizer.defaults['lr'] == pytest.approx(1.5e-4 * 16)


def test_collate_fn_is_set_only_for_mmpretrain_scope_configs():
    train = _train_module()
    loader = dict(batch_size=2, dataset=dict(type='X'))
    for scope, expected in (('mmdet', None), ('mmpose', None), ('mmseg', None),
                            ('mmpretrain', 'default_collate')):
        cfg = Config(dict(default_scope=scope, train_dataloader=loader,
                          test_dataloader=loader,
                          optim_wrapper=dict(type='OptimWrapper')))
        cfg = train.merge_args(cfg, _args())
        for field in ('train_dataloader', 'test_dataloader'):
            got = cfg[field].get('collate_fn')
            assert (got and got['type']) == expected, (scope, field, got)


@pytest.mark.parametrize('umask', [0o022, 0o002])
def test_converted_checkpoint_gets_the_mode_of_a_new_file(
        umask, release_checkpoint, tmp_path):
    converted, _, _ = release_checkpoint(
        dict(embed_dims=32, num_layers=1, num_heads=2,
             feedforward_channels=64), seed=1)
    old = os.umask(umask)
    try:
        dst = tmp_path / 'backbone.pth'
        convert_checkpoint_file(str(converted), str(dst))
    finally:
        os.umask(old)
    assert stat.S_IMODE(dst.stat().st_mode) == 0o666 & ~umask


TEST_CONFIG = '''
custom_imports = dict(imports=['hap_mm'], allow_failed_imports=False)
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='HAPViT', img_size=(64, 32), out_type='cls_token',
        arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                  feedforward_channels=64)),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=32))
test_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset', data_root='{root}', ann_file='{ann}',
        data_prefix='', with_label=True,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='Resize', scale=(32, 64)),
                  dict(type='PackInputs')]))
test_evaluator = dict(type='Accuracy', topk=(1, ))
test_cfg = dict()
'''


@pytest.fixture
def classifier(tmp_path):
    """A tiny classifier config over the ReID test crops and a checkpoint."""
    from mmpretrain.registry import MODELS

    import hap_mm  # noqa: F401
    names = sorted(p.name for p in REID.glob('*.jpg'))
    ann = tmp_path / 'ann.txt'
    ann.write_text(''.join(f'{n} {i % 2}\n' for i, n in enumerate(names)))
    cfg = tmp_path / 'cls.py'
    cfg.write_text(TEST_CONFIG.format(root=REID, ann=ann))
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    ckpt = tmp_path / 'cls.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return cfg, ckpt, len(names)


def test_test_py_writes_metrics_json_and_predictions_pickle(
        classifier, tool, tmp_path):
    cfg, ckpt, num = classifier
    metrics, preds = tmp_path / 'out' / 'metrics.json', tmp_path / 'preds.pkl'
    proc = tool(['tools/test.py', cfg, ckpt, '--work-dir', tmp_path / 'work',
                 '--out', metrics, '--dump-predictions', preds])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    values = json.loads(metrics.read_text())
    with open(preds, 'rb') as f:
        samples = pickle.load(f)
    assert len(samples) == num
    right = sum(int(s['pred_label'].item() == s['gt_label'].item())
                for s in samples)
    assert values['accuracy/top1'] == pytest.approx(100 * right / num)


def test_test_py_out_refuses_a_pickle_name(monkeypatch, capsys, tmp_path):
    test = _load_tool('tools/test.py')
    monkeypatch.setattr('sys.argv', [
        'test.py', 'cfg.py', 'ckpt.pth', '--out',
        str(tmp_path / 'm.pkl')
    ])
    with pytest.raises(SystemExit) as exit_:
        test.parse_args()
    assert exit_.value.code == 2
    assert '--dump-predictions' in capsys.readouterr().err
    assert not (tmp_path / 'm.pkl').exists()


# tools whose --help is checked; prepare_lup.py, extract_keypoints.py and
# benchmark.py are being reworked by their owners
HELP_CHECKED = [
    'tools/train.py', 'tools/test.py',
    'tools/model_converters/hap_to_backbone.py',
    'tools/analysis/mask_statistics.py', 'tools/analysis/summarize_run.py',
    'tools/data/coco_to_release.py', 'tools/data/build_demo_data.py',
    'tools/visualization/show_masks.py',
    'tools/visualization/show_reconstruction.py',
    'tools/visualization/show_mesh.py',
    'tools/infer/reid_search.py', 'tools/infer/attributes.py',
    'tools/infer/pose.py', 'tools/infer/text_search.py',
    'tools/deployment/export_onnx.py',
    'tools/data/prepare_lup.py', 'tools/data/extract_keypoints.py',
    'tools/analysis/benchmark.py', 'tools/analysis/benchmark_index.py',
    'tools/analysis/benchmark_batch_transfer.py',
    'tools/analysis/benchmark_reid_metric.py',
    'tools/analysis/estimate_gpu_memory.py'
]


@pytest.mark.parametrize('path', HELP_CHECKED)
def test_help_has_the_whole_docstring_and_full_sentence_options(path):
    """Read from the source: the parser shows the module docstring whole
    (not a first line cut mid-sentence) with a formatter that keeps its
    lines, and every argument has a help text that is a sentence."""
    tree = ast.parse((REPO / path).read_text())
    parsers, helps = [], []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        if node.func.attr == 'ArgumentParser':
            parsers.append(kw)
        elif node.func.attr == 'add_argument':
            text = kw.get('help')
            if text is not None and ast.unparse(text) == 'argparse.SUPPRESS':
                continue  # a hidden option (a worker's own) shows no help
            helps.append((ast.unparse(node.args[0]), text))
    assert len(parsers) == 1
    assert ast.unparse(parsers[0]['description']) == '__doc__'
    assert ast.unparse(parsers[0]['formatter_class']) in (
        'HelpFormatter', 'argparse.RawDescriptionHelpFormatter')
    assert helps
    for name, text in helps:
        assert isinstance(text, ast.Constant), name
        assert text.value[0].isupper() and text.value.endswith('.'), (
            name, text.value)


def test_help_formatter_shows_defaults_but_not_none_or_flags(
        monkeypatch, capsys):
    show_masks = _load_tool('tools/visualization/show_masks.py')
    monkeypatch.setattr('sys.argv', ['show_masks.py', '--help'])
    with pytest.raises(SystemExit):
        show_masks.parse_args()
    out = capsys.readouterr().out
    text = ' '.join(out.split())
    assert 'The number of samples to draw. (default: 4)' in text
    assert 'The random seed. (default: 0)' in text  # 0 == False, shown
    assert '(default: None)' not in text and '(default: False)' not in text
    # the docstring's usage line comes through unwrapped
    assert 'python tools/visualization/show_masks.py configs/hap/hap_demo.py' \
        in out


def test_paramwise_lines_go_to_debug_and_everything_else_passes():
    import logging
    train = _train_module()
    logger = logging.getLogger('hap_test_paramwise')
    logger.setLevel(logging.DEBUG)
    seen = []

    class Keep(logging.Handler):

        def emit(self, record):
            seen.append((record.levelname, record.getMessage()))

    handler = Keep(level=logging.INFO)
    logger.addHandler(handler)
    logger.addFilter(train.ParamwiseLinesToDebug())
    try:
        logger.info('paramwise_options -- backbone.ln1.bias:weight_decay=0.0')
        logger.info('Epoch(train) [1][2/2]')
        logger.warning('paramwise_options -- a host warning stays')
        handler.setLevel(logging.DEBUG)  # log_level='DEBUG'
        logger.info('paramwise_options -- backbone.ln1.weight:lr=1')
    finally:
        logger.removeHandler(handler)
    assert seen == [
        ('INFO', 'Epoch(train) [1][2/2]'),
        ('WARNING', 'paramwise_options -- a host warning stays'),
        ('DEBUG', 'paramwise_options -- backbone.ln1.weight:lr=1'),
    ]
