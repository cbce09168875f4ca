"""The top-level forms of layer functions PyTorch also exports (`torch.conv2d`, `torch.max_pool2d`,
`torch.pixel_shuffle`, ...) whose signatures are nn.functional's: they are those functions. (The
losses are not here: PyTorch's top-level forms take the reduction as an ATen integer.)"""

from __future__ import annotations

from . import functional as _F

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "cosine_similarity",
           "pairwise_distance", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "selu", "celu", "max_pool1d",
           "max_pool2d", "max_pool3d", "avg_pool1d", "adaptive_avg_pool1d"]

conv1d, conv2d, conv3d = _F.conv1d, _F.conv2d, _F.conv3d
conv_transpose1d, conv_transpose2d, conv_transpose3d = _F.conv_transpose1d, _F.conv_transpose2d, _F.conv_transpose3d
cosine_similarity, pairwise_distance = _F.cosine_similarity, _F.pairwise_distance
pixel_shuffle, pixel_unshuffle, channel_shuffle = _F.pixel_shuffle, _F.pixel_unshuffle, _F.channel_shuffle
selu, celu = _F.selu, _F.celu
max_pool1d, max_pool2d, max_pool3d = _F.max_pool1d, _F.max_pool2d, _F.max_pool3d
avg_pool1d, adaptive_avg_pool1d = _F.avg_pool1d, _F.adaptive_avg_pool1d
