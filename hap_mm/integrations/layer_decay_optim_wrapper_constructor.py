"""Layer-wise lr decay for a ViT backbone inside any OpenMMLab model."""
from typing import Dict, List, Optional, Tuple

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm, _InstanceNorm
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

_NORMS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class HAPLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise lr decay for the ViT found inside a detector, segmentor,
    pose estimator or classifier.

    mmpose, mmseg and mmdet models have no ``get_layer_depth``; this
    constructor finds the backbone that has one (``HAPViT`` or any mmpretrain
    ``VisionTransformer``) and asks it for the depth of every parameter of
    the whole model: patch embedding, CLS token and position embedding are
    depth 0, block ``i`` is ``i + 1``, everything else (final norm, neck,
    heads) is ``num_layers + 1``. A parameter at depth ``d`` gets

        lr = base_lr * layer_decay_rate ** (num_layers + 1 - d)

    so the heads train at ``base_lr`` and the patch embedding at
    ``base_lr * layer_decay_rate ** (num_layers + 1)``.

    Use it from any host config (it lives in mmpretrain's registry)::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.1),
            constructor='mmpretrain.HAPLayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.75))

    ``paramwise_cfg`` keys (all optional):

    - ``layer_decay_rate`` (float): Decay per depth. Defaults to 1.0.
    - ``backbone`` (str): Module name of the ViT in the model, e.g.
      ``'backbone'``. Defaults to the outermost sub-module that has
      ``get_layer_depth`` (an error names the candidates if there are
      several).
    - ``norm_decay_mult`` (float): Weight-decay factor of normalisation
      layers' weights and biases. Defaults to 0.
    - ``bias_decay_mult`` (float): ... of other biases. Defaults to 0.
    - ``no_decay_names`` (sequence of str): Parameter names (the last part)
      whose weight decay is 0. Defaults to ``('pos_embed', 'cls_token')``.
    - ``flat_decay_mult`` (float): ... of other 1-D parameters. Defaults to
      None (unchanged).
    - ``custom_keys`` (dict): ``{substring: dict(lr_mult=, decay_mult=)}``;
      the longest key contained in a parameter's name multiplies its lr and
      weight decay on top of the rules above.

    Without ``paramwise_cfg`` there is no decay (rate 1) but the weight-decay
    rules still apply. Parameters with ``requires_grad=False`` (e.g. a fixed
    sin-cos position embedding) are left out. Parameters with the same
    depth, lr and weight decay share a param group, which records
    ``layer_depth`` and ``lr_scale``.
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        # an empty paramwise_cfg would make mmengine skip add_params
        super().__init__(optim_wrapper_cfg, paramwise_cfg
                         or dict(layer_decay_rate=1.0))

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   **kwargs) -> None:
        """Fill ``params`` with the groups of every parameter of ``module``
        (the whole model; mmengine calls this once, on the unwrapped
        model)."""
        cfg = self.paramwise_cfg
        vit_name, vit = self._find_vit(module)
        vit_prefix = f'{vit_name}.' if vit_name else ''
        rate = float(cfg.get('layer_decay_rate', 1.0))
        norm_mult = cfg.get('norm_decay_mult', 0.0)
        bias_mult = cfg.get('bias_decay_mult', 0.0)
        flat_mult = cfg.get('flat_decay_mult', None)
        no_decay = tuple(cfg.get('no_decay_names', ('pos_embed', 'cls_token')))
        custom_keys = cfg.get('custom_keys', {})
        sorted_keys = sorted(sorted(custom_keys), key=len, reverse=True)

        groups: Dict[Tuple, dict] = {}
        num_depths = None
        seen = set()  # a parameter shared by two modules goes in once
        for mod_name, mod in module.named_modules():
            is_norm = isinstance(mod, _NORMS)
            for leaf, param in mod.named_parameters(recurse=False):
                if not param.requires_grad or id(param) in seen:
                    continue
                seen.add(id(param))
                name = f'{mod_name}.{leaf}' if mod_name else leaf
                depth, num_depths = vit.get_layer_depth(name, vit_prefix)
                scale = rate**(num_depths - 1 - depth)
                if is_norm:
                    decay_mult = norm_mult
                elif leaf == 'bias':
                    decay_mult = bias_mult
                elif leaf in no_decay:
                    decay_mult = 0.0
                elif param.ndim == 1 and flat_mult is not None:
                    decay_mult = flat_mult
                else:
                    decay_mult = 1.0
                lr_mult = 1.0
                key = next((k for k in sorted_keys if k in name), None)
                if key is not None:
                    lr_mult = custom_keys[key].get('lr_mult', 1.0)
                    decay_mult *= custom_keys[key].get('decay_mult', 1.0)
                lr = self.base_lr * scale * lr_mult
                group_key = (depth, lr, decay_mult)
                if group_key not in groups:
                    groups[group_key] = dict(
                        params=[], lr=lr, lr_scale=scale * lr_mult,
                        layer_depth=depth)
                    if self.base_wd is not None:
                        groups[group_key]['weight_decay'] = \
                            self.base_wd * decay_mult
                groups[group_key]['params'].append(param)
        params.extend(groups.values())
        self._log(vit_name, vit, rate, num_depths, groups)

    def _find_vit(self, model: nn.Module) -> Tuple[str, nn.Module]:
        """(name, module) of the backbone whose depths decide the lrs."""
        name: Optional[str] = self.paramwise_cfg.get('backbone')
        if name is not None:
            vit = model.get_submodule(name)
            if not callable(getattr(vit, 'get_layer_depth', None)):
                raise TypeError(
                    f'paramwise_cfg.backbone={name!r} is a '
                    f'{type(vit).__name__}, which has no get_layer_depth')
            return name, vit
        found = [(n, m) for n, m in model.named_modules()
                 if n and callable(getattr(m, 'get_layer_depth', None))]
        outer = [(n, m) for n, m in found
                 if not any(n.startswith(o + '.') for o, _ in found)]
        if len(outer) == 1:
            return outer[0]
        if not outer and callable(getattr(model, 'get_layer_depth', None)):
            return '', model
        if not outer:
            raise TypeError(
                f'{type(model).__name__} has no sub-module with '
                'get_layer_depth (a ViT backbone such as HAPViT); layer-wise '
                'lr decay needs one')
        raise ValueError(
            'several sub-modules have get_layer_depth: '
            f'{[n for n, _ in outer]}; set paramwise_cfg.backbone to one')

    @staticmethod
    def _log(vit_name, vit, rate, num_depths, groups) -> None:
        logger = MMLogger.get_current_instance()
        if num_depths is None:
            logger.warning('HAPLayerDecayOptimWrapperConstructor: the model '
                           'has no trainable parameters')
            return
        no_decay = sum(
            len(g['params']) for g in groups.values()
            if g.get('weight_decay', 1) == 0)
        logger.info(
            f'layer-wise lr decay {rate} over the {num_depths} depths of '
            f'{vit_name or "the model"} ({type(vit).__name__}): lr x '
            f'{rate**(num_depths - 1):.3g} (patch embedding) to x 1 (heads); '
            f'{len(groups)} param groups, {no_decay} parameters without '
            'weight decay')
