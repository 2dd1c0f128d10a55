"""A small ResNet for grey-level micrograph tiles, in plain torch, plus its Lightning module.

The network is the CNN baseline of TopTemp and the offline feature extractor other parts of
shapekit use (the realism evaluator's KID features, the representation-geometry tools). It is
written in torch only: ``torchvision`` does not import beside the CPU torch of this project.

References
----------
He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv 1512.03385).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from shapekit.errors import InputError

_PADDINGS = ("zeros", "circular", "reflect")


def _conv3x3(cin: int, cout: int, stride: int, padding_mode: str) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False, padding_mode=padding_mode)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut.

    Examples
    --------
    >>> import torch
    >>> BasicBlock(8, 16, stride=2)(torch.zeros(2, 8, 16, 16)).shape
    torch.Size([2, 16, 8, 8])
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride, padding_mode)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv3x3(cout, cout, 1, padding_mode)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet of ``len(depths)`` stages for small single-channel images.

    Stem 3x3 conv (stride 2) -> stages of :class:`BasicBlock` (channels ``width * 2**i``, stride 2
    from the second stage) -> global average pooling -> linear classifier. With
    ``standardize=True`` every input image is z-scored on its own first (mean 0, std 1), which makes
    the network blind to global brightness and contrast, as the TopTemp features are.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for grey micrographs).
    n_classes : int
        Number of output logits; ``0`` gives a pure feature extractor (``forward`` returns the
        embedding).
    width : int
        Channels of the first stage; the embedding has ``width * 2**(len(depths)-1)`` dimensions.
    depths : tuple of int
        Blocks per stage.
    padding : {"zeros", "circular", "reflect"}
        Padding mode of every 3x3 convolution ("circular" suits periodic textures).
    standardize : bool
        Per-image z-scoring of the input inside the network.

    Examples
    --------
    >>> import torch
    >>> net = SmallResNet(in_channels=1, n_classes=3, width=8)
    >>> net(torch.rand(4, 1, 32, 32)).shape
    torch.Size([4, 3])
    >>> net.features(torch.rand(4, 1, 32, 32)).shape
    torch.Size([4, 32])

    References
    ----------
    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 3, width: int = 16,
                 depths: tuple[int, ...] = (1, 1, 1), padding: str = "zeros",
                 standardize: bool = True) -> None:
        super().__init__()
        if padding not in _PADDINGS:
            raise InputError(f"padding must be one of {_PADDINGS}, got {padding!r}")
        if in_channels < 1 or width < 1 or n_classes < 0 or not depths or min(depths) < 1:
            raise InputError(f"invalid SmallResNet sizes: in_channels={in_channels}, "
                             f"width={width}, n_classes={n_classes}, depths={depths}")
        self.in_channels, self.n_classes, self.width = int(in_channels), int(n_classes), int(width)
        self.depths, self.padding, self.standardize = tuple(int(d) for d in depths), padding, standardize
        self.stem = nn.Sequential(_conv3x3(in_channels, width, 2, padding), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        stages, cin = [], width
        for i, depth in enumerate(self.depths):
            cout = width * 2 ** i
            blocks = [BasicBlock(cin, cout, 1 if i == 0 else 2, padding)]
            blocks += [BasicBlock(cout, cout, 1, padding) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.embedding_dim = cin
        self.head: nn.Module = nn.Linear(cin, n_classes) if n_classes > 0 else nn.Identity()

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that rebuild this architecture."""
        return {"in_channels": self.in_channels, "n_classes": self.n_classes, "width": self.width,
                "depths": list(self.depths), "padding": self.padding,
                "standardize": self.standardize}

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(f"expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        x = x.float()
        if self.standardize:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = x.std(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) / (std + 1e-3)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding: global-average-pooled last stage, shape ``(N, embedding_dim)``."""
        h = self.stages(self.stem(self._prep(x)))
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, n_classes)`` (the embedding when ``n_classes == 0``)."""
        return self.head(self.features(x))


class FeatureExtractor(nn.Module):
    """Wrap a :class:`SmallResNet` so that ``forward`` returns its embedding, in eval mode.

    Examples
    --------
    >>> import torch
    >>> fx = FeatureExtractor(SmallResNet(n_classes=2, width=4))
    >>> fx(torch.rand(3, 1, 16, 16)).shape
    torch.Size([3, 16])
    """

    def __init__(self, net: SmallResNet) -> None:
        super().__init__()
        self.net = net
        self.embedding_dim = net.embedding_dim
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def _find_config(obj: Any) -> dict | None:
    if isinstance(obj, dict):
        if "width" in obj and "depths" in obj:
            return obj
        for v in obj.values():
            found = _find_config(v)
            if found is not None:
                return found
    return None


def load_feature_extractor(source: Any) -> FeatureExtractor:
    """A :class:`FeatureExtractor` from a SmallResNet ``.safetensors`` file or a model directory.

    Parameters
    ----------
    source : path
        A ``.safetensors`` file with its architecture (:meth:`SmallResNet.config`) in
        ``<stem>.json``, or a directory holding one ``*.safetensors`` file and a JSON file whose
        content includes that architecture (a shapekit CNN model directory).

    Raises
    ------
    ModelFormatError
        Missing files, no architecture found, or weights that do not fit it.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> from safetensors.torch import save_file
    >>> d = pathlib.Path(tempfile.mkdtemp()); net = SmallResNet(n_classes=0, width=4)
    >>> save_file(net.state_dict(), str(d / "cnn.safetensors"))
    >>> _ = (d / "cnn.json").write_text(json.dumps(net.config()))
    >>> load_feature_extractor(d / "cnn.safetensors").embedding_dim
    16
    """
    import os
    from pathlib import Path

    from shapekit.errors import ModelFormatError

    p = Path(os.fspath(source))
    if not p.exists():
        raise ModelFormatError(f"feature extractor not found: {p}")
    if p.is_dir():
        weights = sorted(p.glob("*.safetensors"))
        if not weights:
            raise ModelFormatError(f"{p}: no *.safetensors weights in the model directory")
        wfile = next((w for w in weights if "cnn" in w.name), weights[0])
        jsons = [wfile.with_suffix(".json")] + [p / n for n in ("config.json", "model.json", "meta.json")]
        jsons += sorted(p.glob("*.json"))
    else:
        wfile = p
        jsons = [p.with_suffix(".json")]
    from shapekit.errors import InputError
    from shapekit.io.jsonfile import check_json, load_json
    from shapekit.temper.modeldir import ARCH_SCHEMA

    cfg = None
    for j in jsons:
        if j.is_file():
            try:
                cfg = _find_config(load_json(j, what="model JSON"))
            except (InputError, RecursionError):
                cfg = None
            if cfg is not None:
                break
    if cfg is None:
        what = _other_model(p if p.is_dir() else p.parent)
        if what:
            raise ModelFormatError(
                f"{p} is {what}, not a CNN: a feature extractor (--kid-model) is a shapekit CNN model "
                f"directory (shapekit train-classifier --model cnn) or a SmallResNet .safetensors "
                f"with its architecture in <stem>.json")
        raise ModelFormatError(f"{wfile}: no SmallResNet architecture (JSON with 'width' and 'depths') beside it")
    # bounds: a hostile JSON must not build a gigantic network before the weights are compared
    check_json(cfg, ARCH_SCHEMA, where=str(wfile), what="SmallResNet architecture")
    from safetensors.torch import load_file

    keys = ("in_channels", "n_classes", "width", "depths", "padding", "standardize")
    try:
        net = SmallResNet(**{k: (tuple(cfg[k]) if k == "depths" else cfg[k]) for k in keys if k in cfg})
        state = load_file(str(wfile))
        state = {k.removeprefix("net."): v for k, v in state.items()}
        net.load_state_dict(state, strict=False)
        missing = [k for k in net.state_dict() if k not in state and not k.startswith("head")]
    except Exception as exc:  # noqa: BLE001 - any failure here is a bad model file
        raise ModelFormatError(f"{wfile}: cannot load as SmallResNet ({type(exc).__name__}: {exc})") from None
    if missing:
        raise ModelFormatError(f"{wfile}: weights miss {len(missing)} tensors, e.g. {missing[0]}")
    return FeatureExtractor(net)


def _other_model(folder: Any) -> str | None:
    """What kind of non-CNN shapekit model ``folder`` holds (``"a TopTemp model directory"``)."""
    from shapekit.errors import InputError
    from shapekit.io.jsonfile import load_json

    if (folder / "generator.json").is_file():
        return "a GAN run directory (shapekit train-gan)"
    try:  # size- and depth-limited reading: a hostile config.json must fail as before
        kind = load_json(folder / "config.json", what="model JSON").get("kind")
    except (InputError, RecursionError, OSError, AttributeError):
        return None
    if kind == "toptemp":
        return "a TopTemp model directory (shapekit train-classifier)"
    return f"a model directory of kind {kind!r}" if isinstance(kind, str) and kind != "cnn" else None
