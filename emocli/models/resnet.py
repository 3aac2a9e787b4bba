"""torchvision's ResNet adapted to 48x48 gray faces: 3x3 stem, no early max-pool."""

from torch import nn

from emocli.models.factory import register_model

_DEPTHS = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}


@register_model
def resnet(num_classes: int = 7, depth: int = 18, stem_stride: int = 1,
           dropout: float = 0.0) -> nn.Module:
    """ResNet (torchvision BasicBlock) for 48x48: a 3x3 stem and no max-pool; depth 10, 18 or 34."""
    if depth not in _DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, _DEPTHS))}, got {depth}")
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
    from torchvision.models.resnet import BasicBlock, ResNet  # loaded only for a ResNet

    net = ResNet(BasicBlock, _DEPTHS[depth], num_classes=num_classes)
    net.conv1 = nn.Conv2d(1, 64, 3, stride=stem_stride, padding=1, bias=False)
    net.maxpool = nn.Identity()
    if dropout:
        net.fc = nn.Sequential(nn.Dropout(dropout), net.fc)
    return net
