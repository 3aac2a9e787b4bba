"""torchvision's ResNet adapted to 48x48 gray faces: 3x3 stem, no early max-pool, any width."""

from torch import nn

from emocli.models.factory import register_model

_DEPTHS = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}


@register_model
def resnet(num_classes: int = 7, depth: int = 18, stem_stride: int = 1,
           dropout: float = 0.0, width: int = 64) -> nn.Module:
    """ResNet (torchvision BasicBlock) for 48x48: a 3x3 stem and no max-pool; depth 10, 18 or
    34; `width` channels in the first stage, doubling at each of the next three (64 is
    torchvision's)."""
    if depth not in _DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, _DEPTHS))}, got {depth}")
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
    if width < 8:
        raise ValueError(f"width must be at least 8, got {width}")
    from torchvision.models.resnet import BasicBlock, ResNet  # loaded only for a ResNet

    net = ResNet(BasicBlock, _DEPTHS[depth], num_classes=num_classes)
    net.conv1 = nn.Conv2d(1, width, 3, stride=stem_stride, padding=1, bias=False)
    net.maxpool = nn.Identity()
    if width != 64:  # torchvision fixes 64: rebuild the stages narrower, initialised as it does
        net.bn1 = nn.BatchNorm2d(width)
        net.inplanes = width
        for i, blocks in enumerate(_DEPTHS[depth]):
            stage = net._make_layer(BasicBlock, width << i, blocks, stride=1 if i == 0 else 2)
            setattr(net, f"layer{i + 1}", stage)
        net.fc = nn.Linear(width * 8, num_classes)
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    if dropout:
        net.fc = nn.Sequential(nn.Dropout(dropout), net.fc)
    return net
