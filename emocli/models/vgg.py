"""VGG-style network for 48x48 faces (the family of Khaireddin & Chen's 73% model)."""

from torch import nn

from emocli.models.cnn import conv_bn_relu, mlp_head
from emocli.models.factory import register_model


@register_model
def vgg(num_classes: int = 7, width: int = 32, stages: int = 4, convs: int = 1,
        hidden: int = 1024, fc: int = 3, dropout: float = 0.4) -> nn.Module:
    """VGG-style net: `stages` x (`convs` conv3x3-BN-ReLU, max-pool), widths doubling; MLP head."""
    if not 1 <= stages <= 5:
        raise ValueError(f"stages must be 1-5, got {stages}")
    if not 1 <= convs <= 4 or not 1 <= fc <= 5 or width < 1:
        raise ValueError("convs must be 1-4, fc 1-5 and width positive")
    layers: list[nn.Module] = []
    cin = 1
    for stage in range(stages):
        cout = width * 2**stage
        for i in range(convs):
            layers += conv_bn_relu(cin if i == 0 else cout, cout)
        layers.append(nn.MaxPool2d(2))
        cin = cout
    side = 48 // 2**stages
    return nn.Sequential(*layers, mlp_head(cin * side * side, hidden, fc, dropout, num_classes))
