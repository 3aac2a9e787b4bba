"""The registry: every entry builds and runs; names, duplicates, plugins, --list."""

import pytest
import torch
from conftest import run

from emocli import models, optim
from emocli.errors import EmocliError
from emocli.models import registry


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


def test_entry_point_plugins_register(monkeypatch):
    class EP:
        name = "plugin_net"

        def load(self):
            def plugin_net(num_classes: int = 7, width: int = 4) -> torch.nn.Module:
                """A third-party network."""
                return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, num_classes))
            return plugin_net

    monkeypatch.setattr(registry, "entry_points", lambda group: [EP()])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_ARCHS", dict(registry._ARCHS))
    assert "plugin_net" in models.list_models()
    assert models.get_spec("plugin_net").description == "A third-party network."
    assert models.create_model("plugin_net")(torch.zeros(1, 1, 48, 48)).shape == (1, 7)


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
    from emocli.engine.predict import TTA as PREDICT_TTA
    from emocli.models import list_models
    from emocli.models.bundled import TTA
    from emocli.models.names import (
        ARCHITECTURES,
        OPTIMIZERS,
        SCHEDULES,
        architecture_names,
    )
    from emocli.optim import list_optimizers, list_schedules
    from emocli.video.detectors import list_detectors
    from emocli.video.options import DETECTORS

    assert set(list_models()) == set(architecture_names())  # built-ins and plugins
    assert set(ARCHITECTURES) <= set(list_models())
    assert sorted(OPTIMIZERS) == sorted(list_optimizers())
    assert sorted(SCHEDULES) == sorted(list_schedules())
    assert list(DETECTORS) == ["auto", *list_detectors()]
    assert TTA is PREDICT_TTA
