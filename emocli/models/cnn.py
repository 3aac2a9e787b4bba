"""The report's CNN family: `conv` conv blocks and `fc` fully connected layers."""

from torch import nn

from emocli.models.factory import register_model

INPUT = 48


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def mlp_head(features: int, hidden: int, layers: int, dropout: float,
             num_classes: int) -> nn.Sequential:
    """`layers` linear layers: `layers - 1` hidden ones with ReLU and dropout, then the classifier."""
    mods: list[nn.Module] = [nn.Flatten()]
    for _ in range(layers - 1):
        mods += [nn.Dropout(dropout), nn.Linear(features, hidden), nn.ReLU(inplace=True)]
        features = hidden
    mods += [nn.Dropout(dropout), nn.Linear(features, num_classes)]
    return nn.Sequential(*mods)


@register_model
def cnn(num_classes: int = 7, conv: int = 3, fc: int = 2, width: int = 32, hidden: int = 256,
        dropout: float = 0.5) -> nn.Module:
    """The report's CNN: conv blocks (conv3x3, BN, ReLU, max-pool; widths doubling) and FC layers."""
    if not 1 <= conv <= 5:
        raise ValueError(f"conv must be 1-5, got {conv}")
    if not 1 <= fc <= 5:
        raise ValueError(f"fc must be 1-5, got {fc}")
    layers: list[nn.Module] = []
    cin = 1
    for i in range(conv):
        cout = width * 2**i
        layers += conv_bn_relu(cin, cout) + [nn.MaxPool2d(2)]
        cin = cout
    side = INPUT // 2**conv
    return nn.Sequential(*layers, mlp_head(cin * side * side, hidden, fc, dropout, num_classes))
