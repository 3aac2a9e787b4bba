"""mini-Xception (Arriaga et al. 2017): about 60K parameters, real time on a CPU."""

import torch
from torch import nn

from emocli.models.factory import register_model


def _separable(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]


class _Module(nn.Module):
    """Two separable convs and a strided max-pool, with a strided 1x1 shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(cout))
        self.body = nn.Sequential(*_separable(cin, cout), nn.ReLU(inplace=True),
                                  *_separable(cout, cout), nn.MaxPool2d(3, 2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


@register_model
def mini_xception(num_classes: int = 7, base: int = 8, modules: int = 4) -> nn.Module:
    """mini-Xception: separable-conv residual modules and global pooling, ~60K params."""
    if not 1 <= modules <= 5 or base < 1:
        raise ValueError("modules must be 1-5 and base positive")
    layers: list[nn.Module] = []
    cin = 1
    for _ in range(2):
        layers += [nn.Conv2d(cin, base, 3, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True)]
        cin = base
    for i in range(modules):
        layers.append(_Module(cin, 2 * base * 2**i))
        cin = 2 * base * 2**i
    layers += [nn.Conv2d(cin, num_classes, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)
