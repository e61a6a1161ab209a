"""Using a trained hap_mm model: build it from its config and checkpoint,
embed images and captions, search a gallery, read attributes, estimate
poses with a person detector."""
from .attributes import (
    attribute_names,
    attribute_picture,
    predict_attributes,
)
from .inference import (
    check_state_dict,
    extract_features,
    extract_text_features,
    file_sha256,
    init_model,
    list_images,
    load_image,
)
from .pose import estimate_poses, init_pose_inferencer, keypoint_names
from .retrieval import (
    atomic_write_bytes,
    cached_gallery_features,
    caption_picture,
    chunked_topk,
    encode_png,
    gallery_key,
    market_identity,
    rank_gallery,
    ranked_entries,
    ranked_picture,
    write_search_results,
)

__all__ = [
    'init_model', 'extract_features', 'list_images', 'load_image',
    'file_sha256', 'chunked_topk', 'gallery_key', 'cached_gallery_features',
    'market_identity', 'ranked_picture', 'atomic_write_bytes', 'encode_png',
    'predict_attributes', 'attribute_names', 'attribute_picture',
    'check_state_dict', 'init_pose_inferencer', 'estimate_poses',
    'keypoint_names', 'extract_text_features', 'caption_picture',
    'rank_gallery', 'ranked_entries', 'write_search_results'
]
