"""The registry: every entry builds and runs; names, duplicates, plugins, --list."""

import types

import pytest
import torch
from conftest import run

from emocli import models
from emocli import train as optim
from emocli.errors import EmocliError
from emocli.models import registry
from emocli.video.detectors import DETECTORS


@pytest.mark.parametrize("name", models.list_models())
def test_every_architecture_runs_a_48x48_batch(name):
    net = models.create_model(name).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 48, 48))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_mini_xception_is_about_60k_parameters():
    n = sum(p.numel() for p in models.create_model("mini_xception").parameters())
    assert 40_000 <= n <= 80_000


@pytest.mark.parametrize("depth,width", [(10, 64), (18, 32), (10, 40)])
def test_resnet_stages_double_from_its_width(depth, width):
    net = models.create_model("resnet", depth=depth, width=width, stem_stride=2)
    stages = [getattr(net, f"layer{i}") for i in range(1, 5)]
    assert [len(stage) for stage in stages] == [1 if depth == 10 else 2] * 4
    assert [stage[-1].conv2.out_channels for stage in stages] == [width << i for i in range(4)]
    assert net.fc.in_features == 8 * width
    assert net(torch.randn(2, 1, 48, 48)).shape == (2, 7)
    with pytest.raises(EmocliError, match="width must be at least 8"):
        models.create_model("resnet", width=4)


@pytest.mark.parametrize("conv,fc", [(2, 2), (3, 2), (5, 2), (5, 5), (1, 1)])
def test_cnn_family_shapes(conv, fc):
    net = models.create_model("cnn", conv=conv, fc=fc)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == conv and len(linears) == fc
    assert [c.out_channels for c in convs] == [32 * 2**i for i in range(conv)]


def test_none_kwargs_keep_defaults_and_strings_convert():
    net = models.create_model("cnn", conv=None, fc="3")
    assert sum(isinstance(m, torch.nn.Linear) for m in net.modules()) == 3


@pytest.mark.parametrize("kwargs,needle", [({"conv": 9}, "conv must be 1-5"),
                                           ({"bogus": 1}, "has no parameter 'bogus'"),
                                           ({"conv": "many"}, "conv must be int")])
def test_bad_architecture_arguments(kwargs, needle):
    with pytest.raises(EmocliError, match=needle):
        models.create_model("cnn", **kwargs)


def test_unknown_architecture_lists_the_names():
    with pytest.raises(EmocliError, match="choose from cnn, mini_xception, resnet, vgg"):
        models.create_model("alexnet")


def test_duplicate_name_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        models.register_model(lambda num_classes=7: None, name="cnn")


def fresh(monkeypatch, reg, entry_points):
    """`reg` as if nothing had been looked up yet, with these entry points installed."""
    monkeypatch.setattr(registry, "entry_points", lambda group: entry_points)
    monkeypatch.setattr(reg, "_entries", dict(reg._entries))
    monkeypatch.setattr(reg, "_loaded", False)


class EP:
    def __init__(self, name, load):
        self.name, self.load = name, load


def test_an_architecture_plugin_is_an_entry_point_to_a_function(monkeypatch):
    def plugin_net(num_classes: int = 7, width: int = 4) -> torch.nn.Module:
        """A third-party network."""
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, num_classes))

    def broken():
        raise ImportError("its own bug")

    fresh(monkeypatch, models.ARCHITECTURES, [EP("plugin_net", lambda: plugin_net),
                                              EP("broken_net", broken)])
    assert "plugin_net" in models.list_models() and "broken_net" not in models.list_models()
    assert models.get_spec("plugin_net").description == "A third-party network."
    assert models.create_model("plugin_net")(torch.zeros(1, 1, 48, 48)).shape == (1, 7)


def test_an_optimizer_plugin_is_a_module_that_registers_itself(monkeypatch):
    def load():
        optim.register_optimizer("sgd_plain", ("weight_decay",), 0.05, "SGD, no momentum")(
            lambda params, lr, weight_decay=0.0, **_: torch.optim.SGD(params, lr=lr))
        return types.ModuleType("emocli_plugin")

    fresh(monkeypatch, optim.OPTIMIZERS, [EP("sgd_plain", load)])
    assert "sgd_plain" in optim.list_optimizers()
    opt = optim.create_optimizer("sgd_plain", torch.nn.Linear(2, 2).parameters(), 0.05)
    assert isinstance(opt, torch.optim.SGD)


@pytest.mark.parametrize("reg", [models.ARCHITECTURES, optim.OPTIMIZERS, optim.SCHEDULES,
                                 DETECTORS], ids=lambda r: r.kind)
def test_every_registry_refuses_duplicates_and_names_the_choices(reg):
    first = reg.names()[0]
    with pytest.raises(ValueError, match=f"a {reg.kind} named '{first}' is already registered"):
        reg.add(first, reg.get(first))
    with pytest.raises(EmocliError, match=f"unknown {reg.kind} 'nope': choose from "
                                          f"{', '.join(reg.names())}"):
        reg.get("nope")


@pytest.mark.parametrize("name", optim.list_optimizers())
@pytest.mark.parametrize("schedule", optim.list_schedules())
def test_every_optimizer_and_schedule_steps(name, schedule):
    net = torch.nn.Linear(4, 2)
    opt = optim.create_optimizer(name, net.parameters(), 0.01)
    sched = optim.get_schedule(schedule).build(opt, epochs=2, steps_per_epoch=3)
    net(torch.randn(3, 4)).sum().backward()
    opt.step()
    sched.step(0.5) if schedule == "plateau" else sched.step()
    assert opt.param_groups[0]["lr"] > 0


def test_list_json_shape():
    result = run("train", "--list", "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert list(doc) == ["architectures", "optimizers", "schedules"]
    names = [a["name"] for a in doc["architectures"]]
    assert names == models.list_models()
    cnn = doc["architectures"][names.index("cnn")]
    assert set(cnn) == {"name", "params", "description"}
    assert cnn["params"]["conv"] == {"type": "int", "default": 3}
    assert {"sgd", "adam", "adamw"} <= {o["name"] for o in doc["optimizers"]}
    assert {"constant", "step", "cosine", "onecycle", "plateau"} <= \
        {s["name"] for s in doc["schedules"]}


def test_list_tables():
    result = run("train", "--list")
    assert result.exit_code == 0
    assert "Architectures" in result.stdout and "mini_xception" in result.stdout


def test_plain_name_lists_match_the_registries():
    """Completion and help read these lists without torch; they must not drift."""
    from emocli.models import TTA, list_models, registered_names
    from emocli.models.names import BUILTIN_NAMES
    from emocli.errors import OptionError
    from emocli.predict.loading import check_predict_args
    from emocli.train import list_optimizers, list_schedules
    from emocli.video import DETECTORS, list_detectors

    assert registered_names("architecture") == list_models()  # built-ins and plugins
    assert registered_names("optimizer") == list_optimizers()
    assert registered_names("schedule") == list_schedules()
    assert registered_names("detector") == sorted(list_detectors())
    assert list(DETECTORS) == ["auto", *list_detectors()] == ["auto", *BUILTIN_NAMES["detector"]]
    for mode in TTA:  # what both runtimes' predict_proba accept
        check_predict_args(mode, 1)
    with pytest.raises(OptionError):
        check_predict_args("mirror", 1)
