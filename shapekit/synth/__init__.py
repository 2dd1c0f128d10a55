"""shapekit.synth: the embedded micrograph simulator (an aged, precipitation-hardened alloy).

Physics-based ground truth for the demo, the tests, the GAN and the realism evaluator:

    TEMPERS, DOMAIN, process_model, hardness, temper_of, sample_process   # aging -> structure -> HV
    render_micrograph, simulate_microstructure, add_info_bar             # SE image formation
    measure_structure                                                    # threshold + labelling
    synthesize, SynthSet                                                 # labelled sets on disk

The models, equations and constants are documented in :mod:`shapekit.synth.physics` (process),
:mod:`shapekit.synth.microstructure` (geometry), :mod:`shapekit.synth.render` (imaging) and
:mod:`shapekit.synth.measure` (measurement).
"""

from __future__ import annotations

from shapekit.synth.dataset import COLUMNS, SynthSet, image_seed, synthesize
from shapekit.synth.measure import measure_structure, particle_labels, particle_levels
from shapekit.synth.microstructure import Microstructure
from shapekit.synth.physics import (DOMAIN, RC_NM, TEMPERS, UM_PER_PX_DEFAULT, hardness, lsw_pdf,
                                    process_model, sample_lsw, sample_process, temper_of)
from shapekit.synth.render import add_info_bar, render_micrograph, simulate_microstructure

__all__ = [
    "COLUMNS", "DOMAIN", "Microstructure", "RC_NM", "SynthSet", "TEMPERS", "UM_PER_PX_DEFAULT",
    "add_info_bar", "hardness", "image_seed", "lsw_pdf", "measure_structure", "particle_labels",
    "particle_levels",
    "process_model",
    "render_micrograph", "sample_lsw", "sample_process", "simulate_microstructure", "synthesize",
    "temper_of",
]
