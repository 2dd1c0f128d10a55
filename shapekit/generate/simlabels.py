"""The temper shapekit's simulator makes at a generator's conditions.

A generator trained on ``shapekit synth`` data (conditions ``aging_temperature_C`` and
``aging_time_h``, labels the three tempers) saw each temper only where
:func:`shapekit.synth.process_model` makes it. Without a temper asked for, each setting gets that
temper; a temper asked for where the simulator makes another is an extrapolation, with a warning.
The CLI (``shapekit generate``) and the server (``/api/generate``, ``/api/score``) both ask
:func:`simulator_labels`.
"""

from __future__ import annotations

from shapekit.errors import InputError


def simulator_labelled(codec: dict) -> bool:
    """Whether a model's conditions and labels are shapekit's simulator's (``shapekit synth``
    data, whose temper :func:`shapekit.synth.process_model` gives for each condition)."""
    from shapekit.synth.physics import TEMPERS

    return (sorted(codec.get("names", [])) == ["aging_temperature_C", "aging_time_h"]
            and sorted(codec.get("label_names", [])) == sorted(TEMPERS))


def simulator_tempers(codec: dict, fulls: list[dict[str, float]]) -> list[str] | None:
    """The simulator's temper at each setting, for a simulator-labelled model (else None).

    Parameters
    ----------
    codec : dict
        The model's condition codec (``ConditionCodec.to_dict()``: ``names``, ``label_names``).
    fulls : list of dict
        Every condition of each setting, by name.

    Examples
    --------
    >>> codec = {"names": ["aging_temperature_C", "aging_time_h"],
    ...          "label_names": ["over_aged", "peak_aged", "under_aged"]}
    >>> simulator_tempers(codec, [{"aging_temperature_C": 200.0, "aging_time_h": h} for h in (1, 16, 40)])
    ['under_aged', 'peak_aged', 'over_aged']
    >>> simulator_tempers({"names": ["T"], "label_names": ["a"]}, [{"T": 1.0}]) is None
    True
    """
    from shapekit.synth.physics import process_model

    if not simulator_labelled(codec):
        return None
    try:
        return [str(process_model(f["aging_temperature_C"], f["aging_time_h"])["temper"])
                for f in fulls]
    except InputError:  # a temperature below absolute zero: refused elsewhere
        return None


def simulator_conflicts(codec: dict, labels: list[str], fulls: list[dict[str, float]]) -> list[str]:
    """One warning per label asked for at conditions where shapekit's simulator makes another
    temper, for a model whose conditions and labels are the simulator's (``shapekit synth`` data:
    its training images were labelled by :func:`shapekit.synth.process_model`, so the model never
    saw that label there and the image is an extrapolation). Nothing for any other model.

    Parameters
    ----------
    codec : dict
        The model's condition codec (``ConditionCodec.to_dict()``).
    labels : list of str
        The labels asked for (each checked against every setting).
    fulls : list of dict
        Every condition of each setting, by name.

    Examples
    --------
    >>> codec = {"names": ["aging_temperature_C", "aging_time_h"],
    ...          "label_names": ["over_aged", "peak_aged", "under_aged"]}
    >>> simulator_conflicts(codec, ["over_aged"], [{"aging_temperature_C": 200.0, "aging_time_h": 1.0}])[0].split("; ")[-1]
    'at 200 C over_aged needs aging_time_h 22.6-100'
    >>> simulator_conflicts(codec, ["over_aged"], [{"aging_temperature_C": 200.0, "aging_time_h": 40.0}])
    []
    """
    import numpy as np

    from shapekit.synth.physics import DOMAIN, process_model

    t_name, h_name = "aging_temperature_C", "aging_time_h"
    if not simulator_labelled(codec):
        return []
    out = []
    for lab in sorted(set(labels)):
        bad = []
        for f in fulls:
            try:
                made = str(process_model(f[t_name], f[h_name])["temper"])
            except InputError:  # a temperature below absolute zero: refused elsewhere
                continue
            if made != lab:
                bad.append((f[t_name], f[h_name], made))
        if not bad:
            continue
        where = "; ".join(f"{t_name}={T:g}, {h_name}={h:g}: {m}" for T, h, m in bad[:3]) \
            + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
        hint = ""
        temps = sorted({T for T, _, _ in bad})
        if len(temps) == 1:  # where the label does occur at that temperature, within the domain
            grid = np.geomspace(*DOMAIN[h_name], 400)
            ok = grid[process_model(temps[0], grid)["temper"] == lab]
            hint = (f"; at {temps[0]:g} C {lab} needs {h_name} {ok.min():.3g}-{ok.max():.3g}"
                    if ok.size else f"; {lab} never occurs at {temps[0]:g} C")
        out.append(f"{lab} asked where the simulator that labelled this model's training images "
                   f"makes another temper ({where}): the model never saw {lab} there, so these "
                   f"images are an extrapolation{hint}")
    return out


def simulator_labels(codec: dict, label: str | None,
                     fulls: list[dict[str, float]]) -> tuple[list[str | None], list[str]]:
    """The label of each setting and the warnings, as ``generate`` gives them: ``label`` asked
    for -> it at every setting, with :func:`simulator_conflicts`'s warnings; none -> the
    simulator's temper at each setting for a simulator-labelled model, else ``None`` (the
    generator draws a class per image).

    Examples
    --------
    >>> codec = {"names": ["aging_temperature_C", "aging_time_h"],
    ...          "label_names": ["over_aged", "peak_aged", "under_aged"]}
    >>> simulator_labels(codec, None, [{"aging_temperature_C": 200.0, "aging_time_h": 40.0}])
    (['over_aged'], [])
    >>> labels, told = simulator_labels(codec, "over_aged", [{"aging_temperature_C": 200.0, "aging_time_h": 1.0}])
    >>> labels, len(told)
    (['over_aged'], 1)
    >>> simulator_labels({"names": ["T"], "label_names": ["a"]}, None, [{"T": 1.0}])
    ([None], [])
    """
    if label is not None:
        return [label] * len(fulls), simulator_conflicts(codec, [label], fulls)
    return list(simulator_tempers(codec, fulls) or [None] * len(fulls)), []
