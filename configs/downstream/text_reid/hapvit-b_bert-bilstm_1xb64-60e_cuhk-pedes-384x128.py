# Text-to-image person retrieval on CUHK-PEDES: HAP ViT-B/16 + BERT-BiLSTM,
# the HAP release's recipe (see _base_). R@1 reported by the HAP paper:
# 68.05 (selected on the TEST split by the release). Here the val split is
# evaluated every epoch (t2i/*), the best val R@1 checkpoint is kept, and
# the test split is evaluated once with tools/test.py (t2i_test/*).
# Convert the HAP checkpoint and save BERT first (docs/text_reid.md).
_base_ = ['_base_/hapvit-b_bert-bilstm_adam-60e_384x128.py']

dataset_type = 'CUHKPEDES'
data_root = 'data/CUHK-PEDES/'

model = dict(num_classes=11003)  # public train split identities
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline={{_base_.test_pipeline}}))
val_evaluator = dict(type='TextImageRetrievalMetric', prefix='t2i')
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline={{_base_.test_pipeline}}))
default_hooks = dict(
    checkpoint=dict(save_best='t2i/R1', rule='greater'))
