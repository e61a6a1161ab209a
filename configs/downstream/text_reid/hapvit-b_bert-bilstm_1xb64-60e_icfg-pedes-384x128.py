# Text-to-image person retrieval on ICFG-PEDES: HAP ViT-B/16 + BERT-BiLSTM,
# the HAP release's recipe (see _base_). R@1 reported by the HAP paper:
# 61.80 (selected on the TEST split by the release). ICFG-PEDES has no
# validation split: the test split is evaluated every 5 epochs, logged as
# t2i_test/*, no checkpoint is selected on it: report the LAST checkpoint.
# Convert the HAP checkpoint and save BERT first (docs/text_reid.md).
_base_ = ['_base_/hapvit-b_bert-bilstm_adam-60e_384x128.py']

dataset_type = 'ICFGPEDES'
data_root = 'data/ICFG-PEDES/'

model = dict(num_classes=3102)  # public train split identities
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline={{_base_.test_pipeline}}))
val_evaluator = dict(type='TextImageRetrievalMetric', prefix='t2i_test')
test_dataloader = val_dataloader
train_cfg = dict(val_interval=5)
