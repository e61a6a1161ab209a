"""Fill the attribute loss weights from the training labels."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ...models.losses.positive_ratio_bce_loss import PositiveRatioBCELoss


@HOOKS.register_module()
class PositiveRatioHook(Hook):
    """Before training, set every :class:`PositiveRatioBCELoss`'s
    ``pos_ratio`` to the fraction of positive labels per attribute, (A,),
    of the training set (``get_label_matrix()`` of the training dataset,
    looked up through dataset wrappers' ``.dataset``).
    """

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        while not hasattr(dataset, 'get_label_matrix') and hasattr(
                dataset, 'dataset'):
            dataset = dataset.dataset
        if not hasattr(dataset, 'get_label_matrix'):
            raise TypeError(
                f'PositiveRatioHook: the training dataset '
                f'{type(dataset).__name__} has no get_label_matrix()')
        ratio = dataset.get_label_matrix().mean(0)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        losses = [
            m for m in model.modules() if isinstance(m, PositiveRatioBCELoss)
        ]
        if not losses:
            raise TypeError('PositiveRatioHook: the model has no '
                            'PositiveRatioBCELoss')
        for loss in losses:
            loss.set_pos_ratio(ratio)
        runner.logger.info('PositiveRatioHook: positive ratio per attribute '
                           f'{[round(float(r), 4) for r in ratio]}')
