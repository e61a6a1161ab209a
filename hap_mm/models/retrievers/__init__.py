from .text_image_reid import TextImageReID

__all__ = ['TextImageReID']
