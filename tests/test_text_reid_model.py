"""Text ReID model: ranking loss by hand, BiLSTM pooling, a tiny local
BERT through the release config, and each config trained 2 iterations."""
import ast
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from transformers import BertModel

import hap_mm  # noqa: F401  (registers the modules)
from hap_mm.models import CrossModalRankingLoss, VocabBiLSTMTextEncoder
from hap_mm.models.utils.bilstm_pool import BiLSTMPool

CONFIGS = Path(__file__).resolve().parents[1] / 'configs' / 'downstream' / \
    'text_reid'
CONFIG_OF = {
    'CUHKPEDES': 'hapvit-b_bert-bilstm_1xb64-60e_cuhk-pedes-384x128.py',
    'ICFGPEDES': 'hapvit-b_bert-bilstm_1xb64-60e_icfg-pedes-384x128.py',
    'RSTPReid': 'hapvit-b_bert-bilstm_1xb64-60e_rstpreid-384x128.py',
}
TINY_VIT = dict(embed_dims=32, num_layers=1, num_heads=2,
                feedforward_channels=64)


# Rows: image anchors, columns: texts; pair labels 0, 0, 1, 2; margin 0.2.
SIMILARITY = torch.tensor([[0.8, 0.75, 0.7, 0.0],
                           [0.3, 0.5, 0.9, 0.45],
                           [0.1, 0.2, 0.6, 0.8],
                           [0.0, 0.1, 0.2, 0.9]])
LABELS = torch.tensor([0, 0, 1, 2])


def test_ranking_loss_hand_computed():
    """By hand, margin + s_neg - s_pos per anchor over the other-identity
    columns, semi-hard = in (0, 0.2):
    image 0: col 1 is semi-hard (0.15) but the same identity; col 2 gives
    0.1; image 1: col 2 is hard (0.6), col 3 gives 0.15; image 2: col 3 is
    hard (0.4); image 3: none. text 3: image 2 gives 0.1; texts 0-2: none
    (text 2: images 0 and 1 are hard). Total 0.1 + 0.15 + 0.1 = 0.35."""
    loss = CrossModalRankingLoss(margin=0.2)
    assert loss.sample_negatives(SIMILARITY, LABELS).tolist() == [2, 3, -1,
                                                                   -1]
    assert loss.sample_negatives(SIMILARITY.T, LABELS).tolist() == [
        -1, -1, -1, 2]
    assert float(loss.loss_from_similarity(SIMILARITY, LABELS)) == \
        pytest.approx(0.35)


def test_ranking_loss_uses_cosine_of_embeddings():
    gen = torch.Generator().manual_seed(1)
    image, text = torch.randn(6, 5, generator=gen), torch.randn(
        6, 5, generator=gen)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    cosine = torch.tensor([[float(torch.dot(a, b) / a.norm() / b.norm())
                            for b in text] for a in image])
    loss = CrossModalRankingLoss(margin=0.2, loss_weight=2.0)
    torch.manual_seed(3)
    got = loss(image * 4, text * 0.5, labels)
    torch.manual_seed(3)
    expected = loss.loss_from_similarity(cosine, labels)
    assert float(expected) > 0
    assert float(got) == pytest.approx(2 * float(expected), abs=1e-5)


def test_negative_is_never_the_same_identity():
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    # Everything is semi-hard against everything: same-identity columns
    # would be drawn if the identity mask were missing.
    sim = 0.5 + 0.05 * torch.rand(8, 8, generator=gen)
    sim.fill_diagonal_(0.55)
    loss = CrossModalRankingLoss(margin=0.2)
    seen = set()
    for _ in range(200):
        neg = loss.sample_negatives(sim, labels, generator=gen)
        assert (neg >= 0).all()
        assert (labels[neg] != labels).all()
        seen.add(int(neg[0]))
    # The draw is random over all other-identity columns of anchor 0.
    assert seen == {3, 4, 5, 6, 7}


def test_bilstm_pools_valid_tokens_unless_flagged():
    torch.manual_seed(0)
    pool = BiLSTMPool(4, 6)
    tokens = torch.randn(2, 5, 4)
    lengths = torch.tensor([5, 2])
    # Valid tokens only: the short caption pools as if it were alone.
    alone = pool(tokens[1:, :2], torch.tensor([2]))
    assert torch.allclose(pool(tokens, lengths)[1], alone[0], atol=1e-6)
    # The release's pooling: the zero outputs at the 3 padding positions
    # take part in the max.
    pool.pool_padding = True
    padded = pool(tokens, lengths)[1]
    assert torch.allclose(padded, alone[0].clamp(min=0), atol=1e-6)
    assert (alone < 0).any()


def _tiny_cfg(kind: str, root: Path, bert: Path, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(CONFIGS / CONFIG_OF[kind]))
    cfg.work_dir = str(work_dir)
    cfg.model.num_classes = 3  # tiny training split: pids 11, 12, 13
    cfg.model.feat_dims = 32
    cfg.model.embed_dims = 16
    cfg.model.image_backbone.arch = TINY_VIT
    cfg.model.image_backbone.init_cfg = None
    cfg.model.image_backbone.drop_path_rate = 0.0
    cfg.model.text_encoder.bert_path = str(bert)
    cfg.model.text_encoder.lstm_dims = 32
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(root)
        cfg[loader].batch_size = 4
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].pin_memory = False
    # 8 training captions / 4 = 2 iterations (ICFG-PEDES: 4 / 2)
    cfg.train_dataloader.batch_size = 2 if kind == 'ICFGPEDES' else 4
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    return cfg


def test_tiny_bert_loads_through_the_config(tmp_path, tiny_bert,
                                            keep_default_scope):
    cfg = _tiny_cfg('CUHKPEDES', tmp_path, tiny_bert, tmp_path / 'w')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    encoder = model.text_encoder
    saved = BertModel.from_pretrained(str(tiny_bert), add_pooling_layer=False)
    assert torch.equal(encoder.bert.embeddings.word_embeddings.weight,
                       saved.embeddings.word_embeddings.weight)
    assert not any(p.requires_grad for p in encoder.bert.parameters())
    model.train()
    assert not encoder.bert.training and encoder.pool.training
    captions = ['A person wearing a red shirt.', 'The man has a top.']
    # dropout 0.5 in BERT would make two passes differ in train mode
    first, second = encoder(captions), encoder(captions)
    assert torch.equal(first, second)
    first.sum().backward()
    assert encoder.pool.lstm.weight_ih_l0.grad is not None
    assert all(p.grad is None for p in encoder.bert.parameters())
    # The checkpoint holds the BiLSTM, not the frozen BERT.
    assert not any(k.startswith('text_encoder.bert')
                   for k in model.state_dict())


@pytest.mark.parametrize('kind', sorted(CONFIG_OF))
def test_config_trains_and_evaluates(tmp_path, tiny_bert, text_reid_tree,
                                     keep_default_scope, kind):
    root = text_reid_tree(kind, tmp_path / 'data')
    cfg = _tiny_cfg(kind, root, tiny_bert, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    # Section 4.3: Adam without weight decay, the image ViT at 1e-4, the
    # rest (BiLSTM, projection, classifier) at 1e-3.
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer).__name__ == 'Adam'
    lr_of = {id(p): g['lr'] for g in optimizer.param_groups
             for p in g['params']}
    assert all(g['weight_decay'] == 0 for g in optimizer.param_groups)
    for name, param in runner.model.named_parameters():
        expected = 1e-4 if name.startswith('image_backbone.') else 1e-3
        assert lr_of[id(param)] == pytest.approx(expected), name
    metrics = runner.test()
    assert set(metrics) == {f't2i_test/{k}'
                            for k in ('R1', 'R5', 'R10', 'mAP', 'mINP')}
    # 2 test ids: every caption finds its person within the top 10 of 3.
    assert metrics['t2i_test/R10'] == 100.0


def test_vocab_encoder_needs_no_weights(tmp_path, text_reid_tree):
    root = text_reid_tree('CUHKPEDES', tmp_path)
    torch.manual_seed(0)
    encoder = VocabBiLSTMTextEncoder(
        dict(type='CUHKPEDES', data_root=str(root), split='train'),
        embed_dims=8, lstm_dims=8, min_count=3)
    # The 8 training captions: each colour word occurs twice (< 3), the
    # other words 4 times or more.
    assert encoder.words == sorted(
        ['a', 'person', 'wearing', 'shirt', 'and', 'dark', 'trousers', 'the',
         'man', 'has', 'top', 'he', 'walks'])
    # Unknown words (a colour below min_count, an unseen word) share id 1.
    out = encoder(['red', 'zebra', 'person'])
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2])
    state = encoder.state_dict()
    assert state['_extra_state'] == {'words': encoder.words}
    smaller = VocabBiLSTMTextEncoder(
        dict(type='CUHKPEDES', data_root=str(root), split='train'),
        embed_dims=8, lstm_dims=8, min_count=5)
    with pytest.raises(ValueError, match='vocabulary has 13 words'):
        smaller.load_state_dict(state)


def test_image_embedding_is_max_of_unnormalised_patch_tokens(
        tmp_path, tiny_bert, keep_default_scope):
    cfg = _tiny_cfg('RSTPReid', tmp_path, tiny_bert, tmp_path / 'w')
    assert cfg.model.image_backbone.img_size == (384, 128)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        # The tokens (CLS first) with the final norm skipped.
        raw = MODELS.build(
            dict(cfg.model.image_backbone, out_type='raw', final_norm=False))
    raw.load_state_dict(model.image_backbone.state_dict())
    model.eval()
    raw.eval()
    images = torch.randn(2, 3, 384, 128)
    tokens = raw(images)[-1]
    assert tokens.shape == (2, 1 + 24 * 8, 32)
    expected = tokens[:, 1:].max(dim=1).values @ model.projection.weight.T
    assert torch.allclose(model.embed_images(images), expected, atol=1e-5)


@pytest.mark.parametrize('kind', sorted(CONFIG_OF))
def test_schedule_decays_in_one_based_epochs_20_40_50(kind):
    """Section 4.3: the release steps MultiStepLR([20, 40, 50]) at the start
    of each epoch, so 1-based epochs 1-19 run at the base lr, 20-39 at
    x0.1, 40-49 at x0.01, 50-60 at x0.001."""
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = Config.fromfile(str(CONFIGS / CONFIG_OF[kind]))
    assert cfg.train_cfg.max_epochs == 60
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    (scheduler, ) = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
        for s in cfg.param_scheduler
    ]
    lr_of_epoch = {}
    for epoch in range(1, 61):  # 1-based
        lr_of_epoch[epoch] = optimizer.param_groups[0]['lr']
        scheduler.step()
    for epoch, lr in lr_of_epoch.items():
        expected = 1.0 if epoch < 20 else 0.1 if epoch < 40 else \
            0.01 if epoch < 50 else 0.001
        assert lr == pytest.approx(expected), epoch


def test_hap_mm_never_imports_transformers_at_module_level():
    """transformers is optional: only function bodies may import it (a
    subprocess cannot block it, since mmpretrain itself imports it once
    it is installed)."""
    package = Path(__file__).resolve().parents[1] / 'hap_mm'
    for path in package.rglob('*.py'):
        tree = ast.parse(path.read_text())
        nodes = [n for n in tree.body]
        while nodes:  # module level, incl. if / try / class bodies
            node = nodes.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or '']
            else:
                names = []
            assert not any(n.split('.')[0] == 'transformers' for n in names), \
                path
            nodes += [c for c in ast.iter_child_nodes(node)
                      if isinstance(c, ast.stmt)]
